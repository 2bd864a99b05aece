package dlq

import (
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Option configures a [Service] built by [New].
type Option func(*Service)

// WithLogger sets the logger for malformed entries, evictions and janitor
// errors. The default is [slog.Default].
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) {
		if l != nil {
			s.log = l
		}
	}
}

// DefaultMaxItems is the size cap of each kind's list unless [WithMaxItems]
// says otherwise. At about 350 bytes of Redis memory per entry it bounds
// one kind at roughly 35 MB. Entries beyond the cap are evicted oldest
// first, counted per kind, and logged at warning level: never silently.
const DefaultMaxItems = 100_000

// WithMaxItems caps each kind's list at n entries. A push that takes the
// list more than 1% over n (at most 256 entries over) evicts the oldest
// entries down to n before it returns; below a cap of 100 every push
// trims, and the cap is exact. n <= 0 turns the cap off, and the lists grow
// until Redis runs out of memory.
func WithMaxItems(n int) Option {
	return func(s *Service) { s.maxItems = max(n, 0) }
}

// capSlack is how far over the cap a list may grow before a push trims it.
func capSlack(maxItems int) int { return min(maxItems/100, 256) }

// WithMaxAge makes the janitor ([Service.Run], [Service.Sweep]) evict
// entries whose failed_at is older than d, counting them as evicted. d <= 0
// (the default) keeps entries however old they are.
func WithMaxAge(d time.Duration) Option {
	return func(s *Service) { s.maxAge = max(d, 0) }
}

// DefaultJanitorInterval is how often [Service.Run] sweeps unless
// [WithJanitorInterval] says otherwise.
const DefaultJanitorInterval = time.Minute

// WithJanitorInterval sets how often [Service.Run] sweeps. Values <= 0
// mean [DefaultJanitorInterval].
func WithJanitorInterval(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.janitorEvery = d
		}
	}
}

// WithRequeuer makes [Service.Retry] and [Service.RetryMatching] hand
// entries to r. Without one, Retry behaves like [Service.Pop] and
// RetryMatching returns [ErrNoRequeuer].
func WithRequeuer(r Requeuer) Option {
	return func(s *Service) { s.requeuer = r }
}

// DefaultClaimTimeout is how long a retry's claim on an entry lasts unless
// [WithClaimTimeout] says otherwise.
const DefaultClaimTimeout = 5 * time.Minute

// WithClaimTimeout sets how long a retry's claim on an entry lasts: the
// [Requeuer] must return well within it. If the process dies during a
// retry, the entry is retryable again once its claim expires. Values <= 0
// mean [DefaultClaimTimeout].
func WithClaimTimeout(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.claimTimeout = d
		}
	}
}

// WithKinds names kinds beyond the seed two, so that [Service.Kinds]
// lists them: the janitor sweeps them and the httpapi package serves them,
// in every process, not only those that pushed to them. Invalid kinds are
// ignored.
func WithKinds(kinds ...Kind) Option {
	return func(s *Service) {
		for _, k := range kinds {
			if k.Validate() == nil && !s.knows(k) {
				s.kinds = append(s.kinds, k)
			}
		}
	}
}

// PushOption sets optional fields of a pushed failure.
type PushOption func(*Item)

// WithJobID records the job that failed. Without it, job_id is null.
func WithJobID(id uuid.UUID) PushOption {
	return func(it *Item) {
		s := id.String()
		it.JobID = &s
	}
}

// WithRetryCount records how many times the job was retried before this
// failure; negative counts are stored as 0.
func WithRetryCount(n int) PushOption {
	return func(it *Item) { it.RetryCount = max(n, 0) }
}

// RetryOf is the push option for a new failure of a retried item: it keeps
// the item's job id and counts one more retry. A worker that fails an item
// it got from a Requeuer records it with
//
//	q.PushScrapeFailure(ctx, sourceID, err, dlq.RetryOf(it))
func RetryOf(it Item) PushOption {
	return func(n *Item) {
		n.RetryCount = it.RetryCount + 1
		if it.JobID != nil {
			job := *it.JobID
			n.JobID = &job
		}
	}
}

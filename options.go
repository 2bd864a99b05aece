package dlq

import (
	"log/slog"

	"github.com/google/uuid"
)

// Option configures a [Service] built by [New].
type Option func(*Service)

// WithLogger sets the logger for malformed entries and evictions. The
// default is [slog.Default].
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) {
		if l != nil {
			s.log = l
		}
	}
}

// DefaultMaxItems is the size cap of each kind's list unless [WithMaxItems]
// says otherwise. At about 600 bytes of Redis memory per entry it bounds one
// kind at roughly 60 MB. Entries beyond the cap are evicted oldest first,
// counted per kind, and logged at warning level: never silently.
const DefaultMaxItems = 100_000

// WithMaxItems caps each kind's list at n entries: a push that takes the
// list more than 1% over n (at most 256 entries over) starts a trim that
// evicts the oldest entries down to n. For n of 100 and more the trim runs
// in the background, one per kind at a time, so the list can briefly hold
// a few hundred entries more than n; below 100 the push trims itself and
// the cap is exact. No entry is evicted while the list holds n or fewer. n <= 0 turns the cap off, and
// the lists grow until Redis runs out of memory.
func WithMaxItems(n int) Option {
	return func(s *Service) {
		if n < 0 {
			n = 0
		}
		s.maxItems = n
	}
}

// capSlack is how far over the cap a list may grow before a push trims it.
func capSlack(maxItems int) int { return min(maxItems/100, 256) }

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
	return func(it *Item) {
		if n < 0 {
			n = 0
		}
		it.RetryCount = n
	}
}

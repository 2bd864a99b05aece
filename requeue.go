package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Requeuer puts a failed job back to work: typically it enqueues the item's
// source on the scrapers' own queue. [Service.Retry] and
// [Service.RetryMatching] call it.
type Requeuer interface {
	Requeue(ctx context.Context, it Item) error
}

// RequeueFunc adapts a function to [Requeuer].
type RequeueFunc func(ctx context.Context, it Item) error

// Requeue calls f(ctx, it).
func (f RequeueFunc) Requeue(ctx context.Context, it Item) error { return f(ctx, it) }

// ErrRequeue means the Requeuer failed (returned an error or panicked); the
// entry is back in the DLQ, unchanged.
var ErrRequeue = errors.New("dlq: requeue failed")

// DefaultRecoverAfter is how old a claim the janitor considers abandoned
// unless [WithRecoverAfter] says otherwise.
const DefaultRecoverAfter = 5 * time.Minute

// WithRequeuer makes [Service.Retry] hand entries to r instead of only
// removing them. Without one, Retry behaves like [Service.Pop].
func WithRequeuer(r Requeuer) Option {
	return func(s *Service) { s.requeuer = r }
}

// WithRecoverAfter sets how old an in-flight claim must be before the
// janitor puts its entry back (see [Service.Recover]); it should be well
// above the longest a Requeuer call can take. Values <= 0 mean
// [DefaultRecoverAfter].
func WithRecoverAfter(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.recoverAfter = d
		}
	}
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

// restoreTimeout bounds the Redis calls that end a claim after the
// caller's context has ended: they must run, or the entry waits in flight
// until Recover.
const restoreTimeout = 10 * time.Second

// Retry hands the entry with the given id to the [Requeuer] and removes it
// from the DLQ once the Requeuer succeeded. It returns the item, or an error
// wrapping [ErrNotFound] when there is no such entry.
//
// The entry moves atomically from the list to the kind's in-flight hash
// before the Requeuer runs, and only its success ends the claim. If the
// Requeuer returns an error or panics, the entry goes back to the tail of
// the list (among the entries of its age) unchanged (same id, same stored string) and Retry returns an
// error wrapping [ErrRequeue] and the Requeuer's error. If the process dies
// in between, [Service.Recover] (which the janitor runs) puts it back. The
// guarantee is at-least-once: an entry is never lost, and is requeued twice
// only if a claim outlives WithRecoverAfter, is recovered, and the first
// requeue then succeeds as well (Retry takes the recovered copy out of the
// DLQ again in that case, but a second Retry of it may have run meanwhile).
//
// Without a Requeuer, Retry is [Service.Pop].
func (s *Service) Retry(ctx context.Context, kind Kind, id string) (Item, error) {
	if s != nil && s.requeuer == nil {
		return s.Pop(ctx, kind, id)
	}
	claim := s.claimStamp()
	it, raw, err := s.remove(ctx, "retry", kind, id, claim)
	if err != nil {
		return Item{}, err
	}
	return it, s.requeueClaimed(ctx, kind, it, claim+":"+raw)
}

func (s *Service) claimStamp() string { return strconv.FormatInt(s.now().UnixMilli(), 10) }

// requeueClaimed runs the Requeuer on a claimed entry, then ends the claim
// or puts the entry back.
func (s *Service) requeueClaimed(ctx context.Context, kind Kind, it Item, claimed string) error {
	ks := s.state(kind).keys
	if rerr := s.callRequeuer(ctx, it); rerr != nil {
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
		defer cancel()
		_, err := restoreScript.Run(bg, s.rdb, []string{ks.list, ks.index, ks.inflight}, it.ID, claimed).Int64()
		if err != nil {
			return fmt.Errorf("dlq: retry %s %s: %w: %w (putting it back failed too: %v; Recover will)", kind, it.ID, ErrRequeue, rerr, err)
		}
		return fmt.Errorf("dlq: retry %s %s: %w: %w", kind, it.ID, ErrRequeue, rerr)
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	if err := releaseScript.Run(bg, s.rdb, []string{ks.list, ks.index, ks.inflight}, it.ID, claimed).Err(); err != nil {
		// The requeue happened; the claim stays, and Recover will put the
		// entry back in the DLQ: a duplicate, never a loss.
		s.logger().WarnContext(ctx, "dlq: requeued, but ending the claim failed; the entry will come back to the DLQ",
			"kind", string(kind), "id", it.ID, "error", err)
	}
	return nil
}

// callRequeuer runs the Requeuer, turning a panic into an error.
func (s *Service) callRequeuer(ctx context.Context, it Item) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("requeuer panicked: %v", r)
		}
	}()
	return s.requeuer.Requeue(ctx, it)
}

// Recover puts back in the DLQ every entry of every kind the janitor knows
// (the seed kinds and those this Service pushed to) that was claimed for a
// retry more than olderThan ago and never confirmed: its Requeuer did not
// return, typically because the process died. It returns how many it put
// back. The janitor runs it with [WithRecoverAfter]'s age.
func (s *Service) Recover(ctx context.Context, olderThan time.Duration) (int, error) {
	if s == nil || s.rdb == nil {
		return 0, errNoRedis
	}
	total := 0
	for _, k := range s.knownKinds() {
		n, err := s.recoverKind(ctx, s.state(k).keys, olderThan)
		total += n
		if err != nil {
			return total, opError("recover", k, err)
		}
	}
	return total, nil
}

func (s *Service) recoverKind(ctx context.Context, ks keys, olderThan time.Duration) (int, error) {
	cutoff := s.now().Add(-olderThan).UnixMilli()
	n, err := s.sweepHash(ctx, ks.inflight, restoreScript, []string{ks.list, ks.index, ks.inflight},
		func(_, v string) bool {
			ms, _, _ := strings.Cut(v, ":")
			claimed, err := strconv.ParseInt(ms, 10, 64)
			return err != nil || claimed <= cutoff
		})
	return int(n), err
}

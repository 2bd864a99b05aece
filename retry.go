package dlq

import (
	"context"
	"fmt"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
	"github.com/google/uuid"
)

// Requeuer puts a failed job back to work: typically it enqueues the item's
// source on the scrapers' own queue. [Service.Retry] and
// [Service.RetryMatching] call it, each time under a claim on the entry
// (see [WithClaimTimeout]); it must return well within the claim timeout.
type Requeuer interface {
	Requeue(ctx context.Context, it Item) error
}

// RequeueFunc adapts a function to [Requeuer].
type RequeueFunc func(ctx context.Context, it Item) error

// Requeue calls f(ctx, it).
func (f RequeueFunc) Requeue(ctx context.Context, it Item) error { return f(ctx, it) }

// endTimeout bounds the Redis calls that end a claim after the caller's
// context has ended: they should run, or the entry waits for its claim to
// expire.
const endTimeout = 10 * time.Second

// Retry hands the entry with the given id to the [Requeuer] and removes it
// from the DLQ once the Requeuer succeeded. It returns the item, or an
// error wrapping [ErrNotFound] when there is no such entry, or
// [ErrClaimed] when another retry holds a claim on it.
//
// The entry never moves: Retry marks it claimed until now plus the claim
// timeout ([WithClaimTimeout]), calls the Requeuer, and on success removes
// the exact entry and the claim in one script. If the Requeuer returns an
// error or panics, Retry drops the claim (the entry stays where it was,
// unchanged) and returns an error wrapping [ErrRequeue] and the Requeuer's
// error. If the process dies in between, the claim expires and the entry
// is retryable again. The guarantee is at-least-once: an entry is never
// lost, and is requeued twice only if a Requeuer call outlives the claim
// timeout and another retry claims the entry meanwhile.
//
// Without a Requeuer, Retry is [Service.Pop]: the item is removed and
// returned, so the caller has it.
func (s *Service) Retry(ctx context.Context, kind Kind, id string) (_ Item, retErr error) {
	if s == nil || s.rdb == nil {
		return Item{}, ErrNoRedis
	}
	defer func() { s.auditSingle(ctx, kind, AuditRetry, id, false, retErr) }()
	if s.requeuer == nil {
		return s.remove(ctx, "pop", kind, id, nil)
	}
	if err := s.check(kind); err != nil {
		return Item{}, err
	}
	if err := checkID(id); err != nil {
		return Item{}, err
	}
	ks := kind.keys()
	var c claim
	var err error
	if ts := v7Time(id); ts >= 0 {
		c, err = s.claim(ctx, ks, rdb.Target{ID: id, TS: ts})
	}
	if err == nil && c.raw == "" && !c.claimed {
		var cerr error // a claim's error stops the scan, and is Retry's
		err = s.scanFor(ctx, ks, id, func(raw string, index int64) bool {
			c, cerr = s.claim(ctx, ks, rdb.Target{ID: id, TS: -1, Raw: raw, Index: index})
			return cerr != nil || c.raw != "" || c.claimed
		})
		if err == nil {
			err = cerr
		}
	}
	switch {
	case err != nil:
		return Item{}, opError("retry", kind, err)
	case c.claimed:
		return Item{}, errorf(ErrClaimed, "%s id %q until %s", kind, id, c.until.UTC().Format(timeLayout))
	case c.raw == "":
		return Item{}, errorf(ErrNotFound, "%s id %q", kind, id)
	}
	return c.item, s.requeue(ctx, kind, c)
}

// claim is one entry claimed for a retry, or the claim that stopped it.
type claim struct {
	item    Item
	raw     string // the entry as stored; "" when not claimed
	index   int64  // where it was
	token   string
	claimed bool      // someone else's live claim stopped us
	until   time.Time // that claim's deadline
}

// claim stamps a claim on the target, for the claim timeout from now by
// the Redis server's clock.
func (s *Service) claim(ctx context.Context, ks rdb.Keys, t rdb.Target) (claim, error) {
	token := uuid.NewString()
	st, e, other, err := rdb.Claim(ctx, s.rdb, ks, t, s.shift(), s.claimTimeout, token)
	switch {
	case err != nil:
		return claim{}, err
	case st == rdb.Claimed:
		d, _ := rdb.ClaimDeadline(other)
		return claim{claimed: true, until: d}, nil
	case st != rdb.OK:
		return claim{}, nil
	}
	it, derr := decodeItem(e.Raw)
	if derr != nil {
		it = Item{ID: t.ID, raw: e.Raw}
	}
	it.InFlight, it.ClaimedUntil = true, e.Deadline.UTC()
	return claim{item: it, raw: e.Raw, index: e.Index, token: token, until: e.Deadline}, nil
}

// requeue runs the Requeuer on a claimed entry, then removes the entry or
// drops the claim.
func (s *Service) requeue(ctx context.Context, kind Kind, c claim) error {
	ks := kind.keys()
	// The Requeuer's call ends with the claim: past it, another retry may
	// take the entry.
	rctx, rcancel := context.WithTimeout(ctx, s.claimTimeout)
	rerr := s.callRequeuer(rctx, c.item)
	rcancel()
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	if rerr != nil {
		if _, err := rdb.Release(bg, s.rdb, ks, c.item.ID, c.token); err != nil {
			return fmt.Errorf("dlq: retry %s %s: %w: %w (the entry is still in the DLQ; dropping its claim failed too (%v), so it is retryable once the claim expires at %s)",
				kind, c.item.ID, ErrRequeue, rerr, err, c.item.ClaimedUntil.Format(timeLayout))
		}
		return fmt.Errorf("dlq: retry %s %s: %w: %w (the entry is still in the DLQ)", kind, c.item.ID, ErrRequeue, rerr)
	}
	removed, held, err := rdb.Ack(bg, s.rdb, ks, c.item.ID, c.token, c.raw, c.index)
	switch {
	case err != nil:
		// The requeue happened; the entry stays and becomes retryable
		// when the claim expires: a duplicate, never a loss.
		s.logger().WarnContext(ctx, "dlq: requeued, but removing the entry failed; it stays in the DLQ and is retryable when its claim expires",
			"kind", string(kind), "id", c.item.ID, "error", err)
	case !held:
		s.logger().WarnContext(ctx, "dlq: requeued after the claim expired; another retry may requeue it too",
			"kind", string(kind), "id", c.item.ID, "removed", removed)
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

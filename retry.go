package dlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
	"github.com/google/uuid"
)

// Requeuer puts a failed job back to work: typically it enqueues the item's
// source on the scrapers' own queue. [Service.Retry] and
// [Service.RetryMatching] call it, each time under a claim on the entry
// (see [WithClaimTimeout]); its context ends when the claim does, and it
// must return well within the claim timeout.
type Requeuer interface {
	Requeue(ctx context.Context, it Item) error
}

// RequeueFunc adapts a function to [Requeuer].
type RequeueFunc func(ctx context.Context, it Item) error

// Requeue calls f(ctx, it).
func (f RequeueFunc) Requeue(ctx context.Context, it Item) error { return f(ctx, it) }

// CanRetry reports whether the Service can hand entries back to work: it
// was built [WithRequeuer]. Without one, [Service.RetryMatching] returns
// [ErrNoRequeuer] and [Service.Retry] pops the entry and returns it.
func (s *Service) CanRetry() bool { return s != nil && s.requeuer != nil }

// RequeueError is the error of a retry whose Requeuer failed: the entry is
// still in the DLQ, unchanged and unclaimed. It wraps [ErrRequeue] and the
// Requeuer's own error, whose text it carries.
type RequeueError struct {
	Kind Kind
	ID   string
	Err  error // the Requeuer's error
	// Released is false when dropping the claim failed too: the entry is
	// retryable again once the claim expires.
	Released bool
}

func (e *RequeueError) Error() string {
	msg := fmt.Sprintf("dlq: retry %s %s: requeue failed: %v (the entry is still in the DLQ", e.Kind, e.ID, e.Err)
	if !e.Released {
		msg += "; dropping its claim failed too, so it is retryable once the claim expires"
	}
	return msg + ")"
}

// Unwrap returns ErrRequeue and the Requeuer's error.
func (e *RequeueError) Unwrap() []error { return []error{ErrRequeue, e.Err} }

// ErrNotRemoved means a retry requeued its job but could not remove the
// entry from the DLQ (Redis failed, e.g. during a failover, for as long as
// the library kept trying): the entry stays, claimed until its claim
// expires, after which it can be retried (and requeued) again.
var ErrNotRemoved = errors.New("dlq: requeued, but the entry could not be removed from the DLQ")

// endTimeout bounds the Redis calls that record what happened after the
// caller's context has ended (audit records, operation state).
const endTimeout = 10 * time.Second

// ackTimeout bounds how long the removal after a successful requeue keeps
// trying across Redis errors (within the claim's time).
const ackTimeout = 30 * time.Second

// Retry hands the entry with the given id to the [Requeuer] and removes it
// from the DLQ once the Requeuer succeeded. It returns the item, or an
// error wrapping [ErrNotFound] when there is no such entry (found as
// [Service.Pop] finds entries, within the same bounds), [ErrClaimed] when
// another retry holds a claim on it, or [ErrMalformed] when the entry
// cannot be decoded (then nothing changes: such an entry can only be
// discarded, with Pop or Delete).
//
// The entry never moves: Retry marks it claimed until now plus the claim
// timeout ([WithClaimTimeout]), calls the Requeuer with a context that
// ends before the claim does, and on success removes the exact entry and
// the claim in one script. If the Requeuer returns an error or panics,
// Retry drops the claim (the entry stays where it was, unchanged) and
// returns a [*RequeueError] (wrapping [ErrRequeue]). If removing the
// entry after a successful requeue fails, Retry keeps trying for up to 30
// seconds within the claim's time, across connection errors; if it still
// cannot, it returns an error wrapping [ErrNotRemoved]: the job was
// requeued and the entry remains, to be requeued again once its claim
// expires. Retry never returns nil while its entry remains, as far as
// Redis keeps what it acknowledged: Redis replicates asynchronously, so
// when a master dies before its replica got a removal (or a claim), the
// promoted replica has the entry back, unclaimed (see "Failover" in
// docs/design.md). If the process dies in between, the claim expires and
// the entry is retryable again. The guarantee is at-least-once.
//
// Without a Requeuer, Retry is [Service.Pop]: the item is removed and
// returned, so the caller has it.
func (s *Service) Retry(ctx context.Context, kind Kind, id string) (Item, error) {
	if s == nil || s.rdb == nil {
		return Item{}, ErrNoRedis
	}
	if s.requeuer == nil {
		return s.remove(ctx, "pop", AuditRetry, kind, id, nil)
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
	if v7Time(id) < 0 || (err == nil && c.foreign) {
		err = s.searchFor(ctx, ks, id, func(raw string, index int64) (bool, error) {
			var cerr error
			c, cerr = s.claim(ctx, ks, rdb.Target{ID: id, TS: -1, Raw: raw, Index: index})
			return c.raw != "" || c.claimed, cerr
		})
	}
	switch {
	case err != nil:
		return Item{}, opError("retry", kind, err)
	case c.claimed:
		return Item{}, errorf(ErrClaimed, "%s id %q until %s", kind, id, c.until.UTC().Format(timeLayout))
	case c.raw == "":
		return Item{}, errorf(ErrNotFound, "%s id %q", kind, id)
	}
	it, derr := decodeOf(kind, c.raw)
	if derr != nil {
		_, _ = s.endClaims(ctx, ks, c.token, []rdb.PageTarget{{Act: rdb.ActRelease, ID: id}}, rdb.Record{})
		return Item{}, fmt.Errorf("dlq: retry %s id %q: %w (it can only be discarded, with Pop or Delete)", kind, id, derr)
	}
	it.InFlight, it.ClaimedUntil = true, c.until.UTC()
	if err := s.requeue(ctx, kind, c, it); err != nil {
		return Item{}, err
	}
	it.InFlight, it.ClaimedUntil = false, time.Time{}
	return it, nil
}

// claim is one entry claimed for a retry, or the claim that stopped it.
type claim struct {
	raw     string // the entry as stored; "" when not claimed
	index   int64  // where it was
	n       int64  // the list's length then
	token   string
	claimed bool      // someone else's live claim stopped us
	foreign bool      // not found by time among other programs' entries (rdb.MissingForeign)
	until   time.Time // the claim's deadline, by Redis' clock
	ends    time.Time // the same deadline by the local clock, never later than the claim's end
}

// claim stamps a claim on the target, for the claim timeout from now by
// the Redis server's clock.
func (s *Service) claim(ctx context.Context, ks rdb.Keys, t rdb.Target) (claim, error) {
	token := uuid.NewString()
	sent := time.Now()
	var st rdb.Status
	var e rdb.ClaimedEntry
	var other string
	err := s.searching(ctx, func() error {
		var err error
		st, e, other, err = rdb.Claim(ctx, s.rdb, ks, t, s.claimTimeout, token)
		return err
	})
	switch {
	case err != nil:
		return claim{}, err
	case st == rdb.OOM:
		return claim{}, fmt.Errorf("%w: it refused to record the retry's claim (%s): nothing changed; free memory (delete entries) or raise maxmemory", ErrOutOfMemory, other)
	case st == rdb.Claimed:
		d, _ := rdb.ClaimDeadline(other)
		return claim{claimed: true, until: d}, nil
	case st == rdb.MissingForeign:
		return claim{foreign: true}, nil
	case st != rdb.OK:
		return claim{}, nil
	}
	return claim{raw: e.Raw, index: e.Index, n: e.Len, token: token, until: e.Deadline, ends: localDeadline(sent, e.Now, e.Deadline)}, nil
}

// localDeadline turns a claim's deadline by Redis' clock into the local
// clock: the claim was stamped after sent, at Redis' clock rounded down to
// its ms (now), which is less than 1 ms before the stamp wherever Redis'
// ms boundaries fall on the local clock; so sent less 1 ms plus its time
// left (deadline - now) is never later than its real end.
func localDeadline(sent, now, deadline time.Time) time.Time {
	return sent.Add(-time.Millisecond).Add(deadline.Sub(now))
}

// requeue runs the Requeuer on a claimed entry, then removes the entry or
// drops the claim.
func (s *Service) requeue(ctx context.Context, kind Kind, c claim, it Item) error {
	ks := kind.keys()
	rerr := s.callRequeuer(ctx, c.ends, it)
	if rerr != nil {
		rec := s.record(ctx, auditRec{kind: kind, action: AuditRetry, id: it.ID, result: "requeue_failed"})
		_, err := s.endClaims(ctx, ks, c.token, []rdb.PageTarget{{Act: rdb.ActRelease, ID: it.ID}}, rec)
		released := err == nil
		return &RequeueError{Kind: kind, ID: it.ID, Err: rerr, Released: released}
	}
	rec := s.record(ctx, auditRec{kind: kind, action: AuditRetry, id: it.ID, result: "ok"})
	ack := rdb.PageTarget{Act: rdb.ActAck, ID: it.ID, Raw: c.raw, Index: c.index, Len: c.n}
	res, err := s.endClaims(ctx, ks, c.token, []rdb.PageTarget{ack}, rec)
	if err == nil && res == string(rdb.Gone) {
		err = s.ackMissed(ctx, ks, c.token, ack)
	}
	if err != nil {
		return fmt.Errorf("dlq: retry %s %s: %w: %v (the job was requeued; the entry stays in the DLQ, claimed until %s, and can be requeued again after that)",
			kind, it.ID, ErrNotRemoved, err, c.until.UTC().Format(timeLayout))
	}
	return nil
}

// endClaims ends claims of token: acks (remove the entry, drop the claim)
// and releases (drop the claim), writing rec with them. It keeps trying
// across Redis errors, whatever they are (a failover answers with refused
// connections for seconds), for up to ackTimeout, and also after ctx ends:
// a claim not ended waits for its expiry. It returns page.lua's result of
// each target it got to (see rdb.Page): an ack answered rdb.Gone kept its
// claim (see ackMissed).
func (s *Service) endClaims(ctx context.Context, ks rdb.Keys, token string, ts []rdb.PageTarget, rec rdb.Record) (string, error) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	wait := 50 * time.Millisecond
	var results []byte
	for {
		res, err := rdb.Page(bg, s.rdb, ks, ts, s.claimTimeout, token, false, rec)
		results = append(results, res.Results...)
		if len(res.Results) > 0 {
			// The first call answered: it wrote the record.
			s.auditFailed(ctx, rec, res.AuditErr)
			rec = rdb.Record{}
		}
		if err == nil {
			return string(results), nil
		}
		// What the calls that answered did stands; go on with the rest.
		ts = ts[len(res.Results):]
		t := time.NewTimer(wait)
		select {
		case <-bg.Done():
			t.Stop()
			s.logger().ErrorContext(ctx, "dlq: ending retry claims failed; their entries stay claimed until the claims expire",
				"key", ks.List, "entries", len(ts), "error", err)
			return string(results), err
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// ackMissed ends the claim of a requeued entry whose ack did not find it
// where its claim saw it (corrected by the pushes since, as the list's
// length tells: a list at its cap does not grow while others push, so the
// correction misses them). The ack kept the claim; the entry is looked for
// by id, within the bounds of a lookup (see Retry), and acked where it is
// now, or its claim is dropped when it is not there: someone else removed
// it. An error leaves the claim to expire.
func (s *Service) ackMissed(ctx context.Context, ks rdb.Keys, token string, ack rdb.PageTarget) error {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	index, found, err := s.findStored(bg, ks, ack.ID, ack.Raw)
	if err != nil {
		return err
	}
	end := rdb.PageTarget{Act: rdb.ActRelease, ID: ack.ID}
	if found {
		end = rdb.PageTarget{Act: rdb.ActAck, ID: ack.ID, Raw: ack.Raw, Index: index}
	}
	res, err := s.endClaims(ctx, ks, token, []rdb.PageTarget{end}, rdb.Record{})
	if err == nil && found && res != string(rdb.Done) {
		return errors.New("the entry moved again between its lookup and its removal")
	}
	return err
}

// findStored looks for the exact stored string raw by its id, as Get finds
// entries (within the same bounds), and returns its position (see
// rdb.Target).
func (s *Service) findStored(ctx context.Context, ks rdb.Keys, id, raw string) (index int64, found bool, err error) {
	if ts := v7Time(id); ts >= 0 {
		var st rdb.Status
		var got string
		var p int64
		err = s.searching(ctx, func() error {
			var err error
			st, got, p, err = rdb.Locate(ctx, s.rdb, ks, id, ts)
			return err
		})
		switch {
		case err != nil:
			return 0, false, err
		case st == rdb.OK && got == raw:
			return p, true, nil
		case st != rdb.MissingForeign:
			return 0, false, nil
		}
	}
	err = s.searchFor(ctx, ks, id, func(r string, i int64) (bool, error) {
		if r == raw {
			index, found = i, true
		}
		return found, nil
	})
	return index, found, err
}

// callRequeuer runs the Requeuer with a context that ends when the claim
// does, turning a panic into an error.
func (s *Service) callRequeuer(ctx context.Context, ends time.Time, it Item) (err error) {
	rctx, cancel := context.WithDeadline(ctx, ends)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("requeuer panicked: %v", r)
		}
	}()
	return s.requeuer.Requeue(rctx, it)
}

package dlq

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
	"github.com/google/uuid"
)

// BulkOption configures [Service.RetryMatching] and
// [Service.DeleteMatching].
type BulkOption func(*bulkConfig)

type bulkConfig struct {
	dryRun bool
	rate   float64
	match  func(Item) bool // instead of the filter; for benchmarks
	// progress is called with the counts so far after each page and
	// each retried entry, from the bulk's goroutine; for operations (ops.go).
	progress func(BulkResult)
	// snapshot is the snapshot (snapshot.String) to act on instead of one
	// taken at the start; for operations that resume.
	snapshot string
}

// withProgress makes a bulk action report its counts as it goes.
func withProgress(fn func(BulkResult)) BulkOption { return func(c *bulkConfig) { c.progress = fn } }

// withSnapshot makes a bulk action act on the entries of an earlier
// snapshot (see snapshot.String).
func withSnapshot(s string) BulkOption { return func(c *bulkConfig) { c.snapshot = s } }

// DryRun makes a bulk action count the entries it would handle and touch
// nothing.
func DryRun() BulkOption { return func(c *bulkConfig) { c.dryRun = true } }

// WithRate limits a bulk retry to perSecond requeues a second, so that a
// redrive does not flatten the scrapers it feeds. 0 or less means no limit.
func WithRate(perSecond float64) BulkOption { return func(c *bulkConfig) { c.rate = perSecond } }

// BulkResult is what a bulk action did: every matched entry is counted
// once in Handled, Failed or Skipped (all 0 but Matched in a dry run, and
// fewer when the action stopped early on an error).
type BulkResult struct {
	// Matched counts the entries that matched the filter.
	Matched int `json:"matched"`
	// Handled counts the entries requeued and removed, or deleted.
	Handled int `json:"handled"`
	// Failed counts the entries whose requeue failed; they are still in
	// the DLQ, unclaimed.
	Failed int `json:"failed"`
	// Skipped counts the entries left alone: claimed by a retry under way,
	// or removed by someone else between the walk's read and the action.
	Skipped int `json:"skipped"`
}

// RetryMatching retries every entry of a kind that matches f and was in
// the DLQ when the call started, oldest first, each the way
// [Service.Retry] does: under a claim, and removed only when the Requeuer
// succeeded. Entries pushed after the start (by anyone, including jobs the
// Requeuer hands back that fail again at once) are never matched, so the
// call ends, and with no churn a [DryRun] reports the same Matched.
// Entries already claimed by another retry are skipped, as are entries
// removed by others before their turn. An entry whose requeue fails stays
// in the DLQ, unclaimed, and is not tried again in the same call.
// Malformed entries never match. On a Service without a Requeuer it
// returns an error wrapping [ErrNoRequeuer] and changes nothing.
//
// The list is walked from its oldest end in pages read outside any script
// (see "The walk" in docs/design.md: no entry present throughout is
// missed, none is handled twice). Each page's matches are claimed in one
// script and ended (removed, or released) in one script; every call is
// bounded (see "The budget" in docs/design.md). When ctx ends the walk
// stops between entries, the claims not used are dropped, and the error
// wraps ctx's; the result counts what was done.
//
// With [DryRun] it only counts; with [WithRate] it paces the requeues.
func (s *Service) RetryMatching(ctx context.Context, kind Kind, f Filter, opts ...BulkOption) (BulkResult, error) {
	if err := s.check(kind); err != nil {
		return BulkResult{}, err
	}
	if s.requeuer == nil {
		return BulkResult{}, opError("retry matching", kind, ErrNoRequeuer)
	}
	res, err := s.bulk(ctx, "retry matching", kind, f, true, opts)
	s.auditBulk(ctx, kind, AuditRetryMatching, f, opts, res, err)
	return res, err
}

// DeleteMatching removes every entry of a kind that matches f and was in
// the DLQ when the call started, the way [Service.RetryMatching] walks the
// list, skipping entries claimed by a retry under way. The zero Filter
// matches every well-formed entry: callers exposing this to people should
// ask for an explicit "all", as the HTTP API does. Malformed entries are
// never removed by a filter (discard them by id with [Service.Delete]). It
// removes with LTRIM, LREM and LSET only where Redis allows it, so it
// works when Redis is out of memory: it is the way to make room.
func (s *Service) DeleteMatching(ctx context.Context, kind Kind, f Filter, opts ...BulkOption) (BulkResult, error) {
	if err := s.check(kind); err != nil {
		return BulkResult{}, err
	}
	res, err := s.bulk(ctx, "delete matching", kind, f, false, opts)
	s.auditBulk(ctx, kind, AuditDeleteMatching, f, opts, res, err)
	return res, err
}

func (s *Service) bulk(ctx context.Context, op string, kind Kind, f Filter, retry bool, opts []BulkOption) (BulkResult, error) {
	var cfg bulkConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	match := f.Match
	if cfg.match != nil {
		match = cfg.match
	}
	ks := kind.keys()
	pace := newPacer(cfg.rate)
	var res BulkResult
	sn, err := parseSnapshot(cfg.snapshot)
	if cfg.snapshot == "" || err != nil {
		if err != nil {
			s.logger().WarnContext(ctx, "dlq: an operation's snapshot does not parse; acting on the entries present now", "kind", string(kind), "error", err)
		}
		if sn, err = s.takeSnapshot(ctx, ks.List); err != nil {
			return res, opError(op, kind, err)
		}
	}
	var dec entryDecoder
	err = s.walk(ctx, ks.List, sn, func(page []stored) (int, error) {
		if cfg.progress != nil {
			defer func() { cfg.progress(res) }()
		}
		var hits []rdb.PageTarget
		var items []Item
		var at []int // the page's index of each hit
		for i, e := range page {
			it, err := dec.decode(e.raw)
			if err != nil || !match(it) {
				continue
			}
			if it.Kind == "" {
				it.Kind = kind
			}
			res.Matched++
			if cfg.dryRun {
				continue
			}
			hits = append(hits, rdb.PageTarget{ID: it.ID, Raw: e.raw, Index: e.index, Len: e.n})
			items = append(items, it)
			at = append(at, i)
		}
		if len(hits) == 0 {
			return 0, nil
		}
		gone := make([]bool, len(hits))
		defer func() {
			for j, g := range gone {
				page[at[j]].removed = g
			}
		}()
		if retry {
			return s.retryPage(ctx, kind, hits, items, gone, pace, &res, cfg.progress)
		}
		return s.deletePage(ctx, ks, hits, gone, &res)
	})
	if err != nil {
		return res, opError(op, kind, err)
	}
	return res, nil
}

// deletePage removes a page's matches, in as few bounded scripts as the
// budget allows.
func (s *Service) deletePage(ctx context.Context, ks rdb.Keys, ts []rdb.PageTarget, gone []bool, res *BulkResult) (int, error) {
	for i := range ts {
		ts[i].Act = rdb.ActDelete
	}
	pr, err := rdb.Page(ctx, s.rdb, ks, ts, s.claimTimeout, "", false, rdb.Record{})
	removed := 0
	for i := range len(pr.Results) {
		if pr.Results[i] == rdb.Done {
			res.Handled++
			removed++
			gone[i] = true
		} else {
			res.Skipped++
		}
	}
	return removed, err
}

// maxClaimPage is the most entries a bulk retry claims at once.
const maxClaimPage = 128

// retryPage claims a page's matches in one script, calls the Requeuer on
// each under its claim, and ends the claims in one script: the entries
// requeued are removed, the others released. Claims are taken in chunks
// that the pace lets the Requeuer get through in half the claim timeout;
// a chunk whose claims are half spent before its turn is released and
// claimed anew, so that no Requeuer call runs on an expiring claim.
func (s *Service) retryPage(ctx context.Context, kind Kind, ts []rdb.PageTarget, items []Item, gone []bool, pace *pacer, res *BulkResult, progress func(BulkResult)) (int, error) {
	ks := kind.keys()
	chunk := maxClaimPage
	if pace.every > 0 {
		chunk = max(1, min(maxClaimPage, int(s.claimTimeout/2/pace.every)))
	}
	removed := 0
	for len(ts) > 0 {
		k := min(chunk, len(ts))
		n, done, err := s.retryChunk(ctx, kind, ks, ts[:k], items[:k], gone[:k], pace, res, progress)
		removed += n
		if err != nil {
			return removed, err
		}
		ts, items, gone = ts[done:], items[done:], gone[done:]
		rdb.ShiftHints(ts, n)
	}
	return removed, nil
}

// retryChunk runs the retries of one chunk: it returns how many entries
// it removed and how many of the chunk's entries it dealt with (the rest
// go to the next chunk).
func (s *Service) retryChunk(ctx context.Context, kind Kind, ks rdb.Keys, ts []rdb.PageTarget, items []Item, gone []bool, pace *pacer, res *BulkResult, progress func(BulkResult)) (removed, done int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	token := uuid.NewString()
	claims := make([]rdb.PageTarget, len(ts))
	for i, t := range ts {
		t.Act = rdb.ActClaim
		claims[i] = t
	}
	sent := time.Now()
	pr, err := rdb.Page(ctx, s.rdb, ks, claims, s.claimTimeout, token, false, rdb.Record{})
	if err != nil {
		_, _ = s.endClaims(ctx, ks, token, releases(ts[:len(pr.Results)], pr.Results), rdb.Record{})
		return 0, 0, err
	}
	ends := localDeadline(sent, pr.Now, pr.Deadline)
	until := pr.Deadline.UTC()
	var ending []rdb.PageTarget // acks and releases, in the chunk's order
	handled, tried := 0, 0
	i := 0
	for ; i < len(ts); i++ {
		switch pr.Results[i] {
		case rdb.Done:
		case rdb.Refused:
			err = fmt.Errorf("%w: it refused to record a retry's claim: the rest was not retried; free memory (delete entries) or raise maxmemory", ErrOutOfMemory)
		default:
			res.Skipped++ // claimed by another retry, or gone
			continue
		}
		// Progress first: an operation cancelled there stops before the
		// next Requeuer call, not with it.
		if progress != nil && tried > 0 {
			p := *res
			p.Handled += handled
			progress(p)
		}
		if err == nil {
			if err = pace.wait(ctx); err == nil {
				err = ctx.Err()
			}
		}
		if err == nil && tried > 0 && time.Until(ends) < s.claimTimeout/2 {
			break // claims half spent: release the rest, claim them anew
		}
		tried++
		if err != nil {
			ending = append(ending, releases(ts[i:], pr.Results[i:])...)
			i = len(ts)
			break
		}
		it := items[i]
		it.InFlight, it.ClaimedUntil = true, until
		if rerr := s.callRequeuer(ctx, ends, it); rerr != nil {
			res.Failed++
			ending = append(ending, rdb.PageTarget{Act: rdb.ActRelease, ID: ts[i].ID})
			continue
		}
		handled++
		gone[i] = true
		t := ts[i]
		t.Act = rdb.ActAck
		ending = append(ending, t)
	}
	if i < len(ts) { // claims half spent: hand the rest to the next chunk
		ending = append(ending, releases(ts[i:], pr.Results[i:])...)
	}
	results, eerr := s.endClaims(ctx, ks, token, ending, rdb.Record{})
	for j, t := range ending {
		if eerr == nil && t.Act == rdb.ActAck && j < len(results) && results[j] == rdb.Gone {
			eerr = s.ackMissed(ctx, ks, token, t) // not where it was seen: look for it by id
		}
	}
	if eerr != nil {
		res.Handled += handled
		return 0, i, fmt.Errorf("%w: %v (%d jobs were requeued; their entries stay in the DLQ, claimed until %s)",
			ErrNotRemoved, eerr, handled, until.Format(timeLayout))
	}
	res.Handled += handled
	return handled, i, err
}

// releases are the releases of the targets whose claims were taken
// (results[i] is Done).
func releases(ts []rdb.PageTarget, results string) []rdb.PageTarget {
	var out []rdb.PageTarget
	for i, t := range ts {
		if i < len(results) && results[i] == rdb.Done {
			out = append(out, rdb.PageTarget{Act: rdb.ActRelease, ID: t.ID})
		}
	}
	return out
}

// pacer spaces requeues at a rate.
type pacer struct {
	every time.Duration
	next  time.Time
}

func newPacer(rate float64) *pacer {
	p := &pacer{}
	if rate > 0 && !math.IsInf(rate, 1) { // NaN is not > 0: no limit
		// At most one requeue a day: a tiny rate must not overflow into
		// no limit at all.
		p.every = time.Duration(min(float64(time.Second)/rate, float64(24*time.Hour)))
	}
	return p
}

// wait blocks until the next requeue may start.
func (p *pacer) wait(ctx context.Context) error {
	if p.every <= 0 {
		return nil
	}
	now := time.Now()
	if p.next.After(now) {
		if err := sleepCtx(ctx, p.next.Sub(now)); err != nil {
			return err
		}
		now = p.next
	}
	p.next = now.Add(p.every)
	return nil
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("waiting for the rate limit: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

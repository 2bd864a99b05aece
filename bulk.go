package dlq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
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
}

// withProgress makes a bulk action report its counts as it goes.
func withProgress(fn func(BulkResult)) BulkOption { return func(c *bulkConfig) { c.progress = fn } }

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

// RetryMatching retries every entry of a kind that matches f, oldest
// first, each the way [Service.Retry] does: a claim stamped just before
// its Requeuer call, and the entry removed only when the Requeuer
// succeeded. Entries already claimed by another retry are skipped, as are
// entries removed by others before their turn. An entry whose requeue
// fails stays in the DLQ and is not tried again in the same call. On a
// Service without a Requeuer it returns an error wrapping [ErrNoRequeuer]
// and changes nothing.
//
// The list is walked from its oldest end in pages read outside any script
// (see "The walk" in docs/design.md: no entry present
// throughout is missed, none is handled twice). When ctx ends the walk
// stops between entries and the error wraps ctx's; the result counts what
// was done.
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

// DeleteMatching removes every entry of a kind that matches f, the way
// [Service.RetryMatching] walks the list, skipping entries claimed by a
// retry under way. The zero Filter matches every well-formed entry:
// callers exposing this to people should ask for an explicit "all", as the
// HTTP API does. Malformed entries are never removed. It removes with LREM
// only, so it works when Redis is out of memory: it is the way to make room.
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
	pace := newPacer(s, cfg.rate)
	var res BulkResult
	err := s.walk(ctx, ks.List, func(page []stored) (int, error) {
		if cfg.progress != nil {
			defer func() { cfg.progress(res) }()
		}
		var hits []rdb.Target
		for _, e := range page {
			it, err := decodeItem(e.raw)
			if err != nil || !match(it) {
				continue
			}
			res.Matched++
			if cfg.dryRun {
				continue
			}
			hits = append(hits, rdb.Target{ID: it.ID, TS: -1, Raw: e.raw, Index: e.index})
		}
		if len(hits) == 0 {
			return 0, nil
		}
		if retry {
			return s.retryEach(ctx, kind, hits, pace, &res, cfg.progress)
		}
		return s.deleteEach(ctx, ks, hits, &res)
	})
	if err != nil {
		return res, opError(op, kind, err)
	}
	return res, nil
}

// removeBudget bounds the list entries one remove script compares, so
// that no call keeps Redis busy for long: LREM from the nearer end
// compares about as many entries as lie between that end and the target.
const (
	removeBudget = 100_000
	removeBatch  = 128
)

// deleteEach removes targets in script calls of bounded work.
func (s *Service) deleteEach(ctx context.Context, ks rdb.Keys, ts []rdb.Target, res *BulkResult) (int, error) {
	removed := 0
	for len(ts) > 0 {
		k, cost := 0, int64(0)
		for k < len(ts) && k < removeBatch {
			c := distance(ts[k].Index) + 1
			if k > 0 && cost+c > removeBudget {
				break
			}
			cost += c
			k++
		}
		results, _, err := rdb.Remove(ctx, s.rdb, ks, ts[:k], s.shift(), false)
		if err != nil {
			return removed, err
		}
		batch := 0
		for _, r := range results {
			if r == '1' {
				res.Handled++
				batch++
			} else {
				res.Skipped++
			}
		}
		removed += batch
		ts = ts[k:]
		shiftHints(ts, batch)
	}
	return removed, nil
}

// shiftHints corrects the positions of a page's entries for the k older
// entries of the page removed before them: an entry named by its distance
// from the tail is k nearer to it.
func shiftHints(ts []rdb.Target, k int) {
	for i := range ts {
		if ts[i].Index < 0 {
			ts[i].Index = min(ts[i].Index+int64(k), -1)
		}
	}
}

// retryEach claims, requeues and removes targets one at a time.
func (s *Service) retryEach(ctx context.Context, kind Kind, ts []rdb.Target, pace *pacer, res *BulkResult, progress func(BulkResult)) (int, error) {
	ks := kind.keys()
	removed := 0
	for i := range ts {
		if progress != nil && i > 0 {
			progress(*res)
		}
		shiftHints(ts[i:i+1], removed) // the page's older entries this loop removed
		t := ts[i]
		if err := pace.wait(ctx); err != nil {
			return removed, err
		}
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		c, err := s.claim(ctx, ks, t)
		if err != nil {
			return removed, err
		}
		if c.raw == "" {
			res.Skipped++ // claimed by another retry, or gone
			continue
		}
		err = s.requeue(ctx, kind, c)
		switch {
		case err == nil:
			res.Handled++
			removed++
		case errors.Is(err, ErrRequeue):
			res.Failed++
		default:
			return removed, err
		}
	}
	return removed, nil
}

// pacer spaces requeues at a rate.
type pacer struct {
	s     *Service
	every time.Duration
	next  time.Time
}

func newPacer(s *Service, rate float64) *pacer {
	p := &pacer{s: s}
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
	now := p.s.now()
	if p.next.After(now) {
		if err := p.s.sleep(ctx, p.next.Sub(now)); err != nil {
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

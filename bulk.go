package dlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// BulkOption configures [Service.RetryMatching] and
// [Service.DeleteMatching].
type BulkOption func(*bulkConfig)

type bulkConfig struct {
	dryRun bool
	rate   float64
}

// DryRun makes a bulk action count the entries it would handle and touch
// nothing.
func DryRun() BulkOption { return func(c *bulkConfig) { c.dryRun = true } }

// WithRate limits a bulk retry to perSecond requeues a second, so that a
// redrive does not flatten the scrapers it feeds. 0 or less means no limit.
func WithRate(perSecond float64) BulkOption { return func(c *bulkConfig) { c.rate = perSecond } }

// BulkResult is what a bulk action did.
type BulkResult struct {
	// Matched counts the entries that matched the filter.
	Matched int `json:"matched"`
	// Handled counts the entries retried (requeued, or removed when the
	// Service has no Requeuer) or deleted. 0 in a dry run.
	Handled int `json:"handled"`
	// Failed counts the entries whose requeue failed; they are back in
	// the DLQ.
	Failed int `json:"-"`
}

// bulkWindow is how many entries a bulk action reads and removes per
// script call, walking from the oldest end of the list.
const bulkWindow = 200

// RetryMatching retries every entry of a kind that matches f, oldest
// first, each with the no-loss rule of [Service.Retry]: it is claimed,
// requeued, and removed only when the Requeuer succeeded, or put back
// unchanged. Without a Requeuer, matching entries are removed. An entry
// whose requeue fails is not tried again in the same call.
//
// The list is walked from its oldest end in windows of 200 entries; each
// window's matches are taken out in one script call that scans from the
// tail to the window, so the whole walk costs O(N) script work in steps of
// at most one scan. Pushes and pops may go on meanwhile. When ctx ends the
// walk stops between entries: entries already claimed but not requeued are
// put back, and the error wraps ctx's.
//
// With [DryRun] it only counts; with [WithRate] it paces the requeues.
func (s *Service) RetryMatching(ctx context.Context, kind Kind, f Filter, opts ...BulkOption) (BulkResult, error) {
	return s.bulk(ctx, "retry matching", kind, f, s.requeuer != nil, opts)
}

// DeleteMatching removes every entry of a kind that matches f, the way
// [Service.RetryMatching] walks the list, and returns how many matched and
// how many it removed. The zero Filter matches every well-formed entry:
// callers exposing this to people should ask for an explicit "all", as the
// HTTP API does. Malformed entries are never removed.
func (s *Service) DeleteMatching(ctx context.Context, kind Kind, f Filter, opts ...BulkOption) (BulkResult, error) {
	return s.bulk(ctx, "delete matching", kind, f, false, opts)
}

func (s *Service) bulk(ctx context.Context, op string, kind Kind, f Filter, requeue bool, opts []BulkOption) (BulkResult, error) {
	var res BulkResult
	if err := s.check(kind); err != nil {
		return res, err
	}
	var cfg bulkConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	ks := keysOf(kind)
	tombstone := "\x00dlq:tombstone:" + uuid.NewString()
	pace := newPacer(s, cfg.rate)
	seen := map[string]struct{}{} // ids matched so far: a put-back entry is not tried twice
	var off int64                 // entries at the tail that stay
	for {
		if err := ctx.Err(); err != nil {
			return res, opError(op, kind, err)
		}
		raws, err := s.rdb.LRange(ctx, ks.list, -(off + bulkWindow), -(off + 1)).Result()
		if err != nil {
			return res, opError(op, kind, err)
		}
		if len(raws) == 0 {
			return res, nil
		}
		var pairs []any
		items := map[string]Item{}
		complete := true // every match in the window is in pairs
		for i := len(raws) - 1; i >= 0; i-- {
			it, err := decodeItem(raws[i])
			if err != nil || !f.Match(it) {
				continue
			}
			if _, dup := seen[it.ID]; dup {
				continue
			}
			if cfg.rate > 0 && !cfg.dryRun && len(items) >= pace.burst() {
				complete = false // claim no more than the pacer lets go in about a second
				break
			}
			seen[it.ID] = struct{}{}
			res.Matched++
			pairs = append(pairs, it.ID, raws[i])
			items[it.ID] = it
		}
		taken := 0
		if !cfg.dryRun && len(pairs) > 0 {
			claim := ""
			if requeue {
				claim = s.claimStamp()
			}
			args := append([]any{off, len(raws), claim, tombstone}, pairs...)
			ids, err := takeScript.Run(ctx, s.rdb, []string{ks.list, ks.index, ks.inflight}, args...).StringSlice()
			if err != nil {
				return res, opError(op, kind, err)
			}
			taken = len(ids)
			if !requeue {
				res.Handled += taken
			} else if err := s.requeueTaken(ctx, kind, ids, items, pairs, claim, pace, &res); err != nil {
				return res, opError(op, kind, err)
			}
		}
		// Move past the window once all its matches were handled; else read
		// it again: what was taken is gone, and the rest comes next. (A match
		// that was not found, removed by someone else, is in seen and is not
		// looked for again.)
		if !cfg.dryRun && (!complete || taken < len(items)) {
			continue
		}
		off += int64(len(raws) - taken)
		if len(raws) < bulkWindow {
			return res, nil
		}
	}
}

// requeueTaken requeues claimed entries one by one. When ctx ends it puts
// the rest back and returns ctx's error.
func (s *Service) requeueTaken(ctx context.Context, kind Kind, ids []string, items map[string]Item, pairs []any, claim string, pace *pacer, res *BulkResult) error {
	raw := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		raw[pairs[i].(string)] = pairs[i+1].(string)
	}
	for i, id := range ids {
		err := pace.wait(ctx)
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			s.putBack(ctx, kind, ids[i:], raw, claim)
			return err
		}
		if err := s.requeueClaimed(ctx, kind, items[id], claim+":"+raw[id]); err != nil {
			if !errors.Is(err, ErrRequeue) {
				s.putBack(ctx, kind, ids[i+1:], raw, claim)
				return err
			}
			res.Failed++
			continue
		}
		res.Handled++
	}
	return nil
}

// putBack returns claimed entries to the DLQ, even after ctx ended; what it
// cannot put back, Recover will.
func (s *Service) putBack(ctx context.Context, kind Kind, ids []string, raw map[string]string, claim string) {
	if len(ids) == 0 {
		return
	}
	ks := keysOf(kind)
	args := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		args = append(args, id, claim+":"+raw[id])
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	if err := restoreScript.Run(bg, s.rdb, []string{ks.list, ks.index, ks.seq, ks.inflight}, args...).Err(); err != nil {
		s.logger().WarnContext(ctx, "dlq: putting claimed entries back failed; Recover will",
			"kind", string(kind), "entries", len(ids), "error", err)
	}
}

// pacer spaces requeues at a rate.
type pacer struct {
	s     *Service
	every time.Duration
	next  time.Time
}

func newPacer(s *Service, rate float64) *pacer {
	p := &pacer{s: s}
	if rate > 0 {
		p.every = time.Duration(float64(time.Second) / rate)
	}
	return p
}

// burst is how many entries to claim at once: about a second's worth.
func (p *pacer) burst() int {
	if p.every <= 0 {
		return bulkWindow
	}
	return max(1, min(bulkWindow, int(time.Second/p.every)))
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

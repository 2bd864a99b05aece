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
	match  func(Item) bool // instead of the filter; for benchmarks
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

// A bulk action reads the list from the oldest end, bulkRead entries at a
// time, and sends its matches to one script call when it has bulkBatch of
// them or has read bulkSpan entries since the last call.
const (
	bulkRead  = 512
	bulkBatch = 200
	bulkSpan  = 5000
)

// RetryMatching retries every entry of a kind that matches f, oldest
// first, each with the no-loss rule of [Service.Retry]: it is claimed,
// requeued, and removed only when the Requeuer succeeded, or put back
// unchanged. Without a Requeuer, matching entries are removed. An entry
// whose requeue fails is not tried again in the same call.
//
// The list is walked from its oldest end in pages read outside any script;
// matches are taken out in batches (200 matches, or every 5,000 entries
// read), each one script call with one LREM scan from the nearer end, so no
// call keeps Redis busy longer than a scan of the list and a walk of N
// entries costs about N/5,000 + matches/200 such calls. Pushes and pops may go on meanwhile. When ctx ends the
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
	match := f.Match
	if cfg.match != nil {
		match = cfg.match
	}
	s.syncIndex(ctx, kind)
	ks := s.state(kind).keys
	tombstone := "\x00dlq:tombstone:" + uuid.NewString()
	pace := newPacer(s, cfg.rate)
	seen := map[string]struct{}{} // ids matched so far: a put-back entry is not tried twice
	var off int64                 // distance from the tail of the next entry to read
	var pending []any             // triples of distance from the tail, id, entry, for take.lua
	batch := map[string]taken{}   // the same entries by id
	span := int64(0)              // entries read since the last flush
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		claim := ""
		if requeue {
			claim = s.claimStamp()
		}
		args := append([]any{claim, tombstone}, pending...)
		ids, err := takeScript.Run(ctx, s.rdb, []string{ks.list, ks.index, ks.inflight}, args...).StringSlice()
		if err != nil {
			return err
		}
		took := batch
		pending, batch, span = pending[:0], map[string]taken{}, 0
		off -= int64(len(ids)) // they were behind off
		if !requeue {
			res.Handled += len(ids)
			return nil
		}
		return s.requeueTaken(ctx, kind, ids, took, claim, pace, &res)
	}
	for {
		if err := ctx.Err(); err != nil {
			return res, opError(op, kind, err)
		}
		raws, err := s.rdb.LRange(ctx, ks.list, -(off + bulkRead), -(off + 1)).Result()
		if err != nil {
			return res, opError(op, kind, err)
		}
		reread := false
		for i := len(raws) - 1; i >= 0; i-- {
			pos := off + int64(len(raws)-1-i)
			it, err := decodeItem(raws[i])
			if err != nil || !match(it) {
				continue
			}
			if _, dup := seen[it.ID]; dup {
				continue
			}
			seen[it.ID] = struct{}{}
			res.Matched++
			if cfg.dryRun {
				continue
			}
			pending = append(pending, pos, it.ID, raws[i])
			batch[it.ID] = taken{it, raws[i]}
			if cfg.rate > 0 && len(batch) >= pace.burst() {
				// Claim no more than the pacer lets go in about a second;
				// what this read holds beyond pos is read again.
				off = pos + 1
				if err := flush(); err != nil {
					return res, opError(op, kind, err)
				}
				reread = true
				break
			}
		}
		if reread {
			continue
		}
		off += int64(len(raws))
		span += int64(len(raws))
		if len(batch) >= bulkBatch || span >= bulkSpan || len(raws) < bulkRead {
			if err := flush(); err != nil {
				return res, opError(op, kind, err)
			}
		}
		if len(raws) < bulkRead {
			return res, nil
		}
	}
}

// taken is an entry a bulk action read and sent to take.lua.
type taken struct {
	item Item
	raw  string // exactly as stored
}

// requeueTaken requeues claimed entries one by one. When ctx ends it puts
// the rest back and returns ctx's error.
func (s *Service) requeueTaken(ctx context.Context, kind Kind, ids []string, batch map[string]taken, claim string, pace *pacer, res *BulkResult) error {
	for i, id := range ids {
		err := pace.wait(ctx)
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			s.putBack(ctx, kind, ids[i:], batch, claim)
			return err
		}
		if err := s.requeueClaimed(ctx, kind, batch[id].item, claim+":"+batch[id].raw); err != nil {
			if !errors.Is(err, ErrRequeue) {
				s.putBack(ctx, kind, ids[i+1:], batch, claim)
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
func (s *Service) putBack(ctx context.Context, kind Kind, ids []string, batch map[string]taken, claim string) {
	if len(ids) == 0 {
		return
	}
	ks := s.state(kind).keys
	args := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		args = append(args, id, claim+":"+batch[id].raw)
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	if err := restoreScript.Run(bg, s.rdb, []string{ks.list, ks.index, ks.inflight}, args...).Err(); err != nil {
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

// burst is how many entries to claim at once: a batch, or about a
// second's worth under a rate limit.
func (p *pacer) burst() int {
	if p.every <= 0 {
		return bulkBatch
	}
	return max(1, min(bulkBatch, int(time.Second/p.every)))
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

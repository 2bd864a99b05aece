package dlq

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
)

// SweepResult is what one [Service.Sweep] did.
type SweepResult struct {
	EvictedByCap  int64 // entries over the size cap, removed from the tail
	EvictedByAge  int64 // entries older than the age limit
	ExpiredClaims int64 // claims past their deadline, dropped (their entries stay)
	Restored      int64 // entries an earlier version of dlq had moved out of the list, put back
}

// ageMaxRead is the most entries age eviction reads in one sweep.
const ageMaxRead = 100_000

// errAgeDone ends age eviction's walk.
var errAgeDone = errors.New("dlq: age eviction done")

// Sweep enforces the size cap and the age limit on a kind, and drops
// expired claims. Every removal takes the exact entry it judged, with
// commands Redis runs even when it is out of memory (LTRIM, LREM, HDEL);
// entries changed or removed by others meanwhile are left alone. Evictions
// are added to the kind's evicted counter and logged.
//
// A sweep of a kind with nothing to do reads a few hundred bytes: the
// list's length, the sizes of its helper hashes, and, with an age limit,
// the oldest 16 entries.
//
// [Service.Run] calls Sweep on a timer; hosts with their own scheduler can
// call it directly.
func (s *Service) Sweep(ctx context.Context, kind Kind) (SweepResult, error) {
	var res SweepResult
	if err := s.check(kind); err != nil {
		return res, err
	}
	err := s.sweep(ctx, kind, &res)
	s.auditSweep(ctx, kind, res)
	s.flushEvictLog(ctx, kind)
	if res.EvictedByAge > 0 {
		s.logger().WarnContext(ctx, "dlq: evicted entries older than the age limit",
			"kind", string(kind), "evicted", res.EvictedByAge, "max_age", s.maxAge)
	}
	if err != nil {
		return res, opError("sweep", kind, err)
	}
	return res, nil
}

func (s *Service) sweep(ctx context.Context, kind Kind, res *SweepResult) error {
	ks := kind.keys()
	var errs []error
	if s.maxItems > 0 {
		n, err := rdb.Len(ctx, s.rdb, ks.List)
		if err != nil {
			return err // no list to work on
		}
		if n > int64(s.maxItems) {
			res.EvictedByCap = s.trim(ctx, kind)
		}
	}
	// Each step runs whatever the others did: one that fails (a helper key
	// of another type, a full Redis refusing the migration's RPUSH) must
	// not stop the evictions.
	if s.maxAge > 0 {
		errs = append(errs, s.evictOld(ctx, kind, res))
	}
	errs = append(errs, s.dropExpiredClaims(ctx, ks, res))
	_, err := rdb.TrimHistory(ctx, s.rdb, ks, s.now())
	errs = append(errs, err)
	if _, done := s.migrated.Load(kind); !done {
		n, err := rdb.MigrateLegacy(ctx, s.rdb, ks)
		if err == nil {
			s.migrated.Store(kind, true)
		}
		errs = append(errs, err)
		res.Restored = n
		if n > 0 {
			s.logger().WarnContext(ctx, "dlq: put back entries an earlier version had taken out for a retry",
				"kind", string(kind), "entries", n)
		}
	}
	return errors.Join(errs...)
}

// evictOld removes entries older than the age limit from the tail end of
// the list, where the oldest are, with a walk (small first page, so that
// an idle sweep reads little). Young, malformed and claimed entries there
// stay and are stepped over; the eviction stops at the first page that has
// a young entry and no old one, or after reading ageMaxRead entries in one
// sweep.
func (s *Service) evictOld(ctx context.Context, kind Kind, res *SweepResult) error {
	ks := kind.keys()
	// Judged by Redis' clock, as claims are: processes whose clocks
	// disagree evict the same entries.
	now, err := rdb.Now(ctx, s.rdb)
	if err != nil {
		return err
	}
	cutoff := now.Add(-s.maxAge)
	var read int64
	err = s.walk(ctx, ks.List, nil, func(page []stored) (int, error) {
		var old []rdb.PageTarget
		var at []int // the page's index of each old entry
		young := false
		for i, e := range page {
			it, err := decodeItem(e.raw)
			switch {
			case err != nil:
			case it.FailedAt.Before(cutoff):
				old = append(old, rdb.PageTarget{Act: rdb.ActDelete, ID: it.ID, Raw: e.raw, Index: e.index, Len: e.n})
				at = append(at, i)
			default:
				young = true
			}
		}
		read += int64(len(page))
		if len(old) == 0 { // young entries, or a page of malformed ones to step over
			if young || read >= ageMaxRead {
				return 0, errAgeDone
			}
			return 0, nil
		}
		pr, err := rdb.Page(ctx, s.rdb, ks, old, s.claimTimeout, "", true, rdb.Record{})
		removed := 0
		for i := range len(pr.Results) {
			if pr.Results[i] == rdb.Done {
				removed++
				page[at[i]].removed = true
			}
		}
		res.EvictedByAge += int64(removed)
		if err != nil {
			return removed, err
		}
		if pr.CounterErr != "" {
			s.logger().ErrorContext(ctx, "dlq: evicted entries older than the age limit, but the evicted counter could not be written",
				"kind", string(kind), "evicted", removed, "error", pr.CounterErr)
		}
		if read >= ageMaxRead {
			return removed, errAgeDone
		}
		return removed, nil
	})
	if errors.Is(err, errAgeDone) {
		return nil
	}
	return err
}

// dropExpiredClaims drops the claims past their deadline: their retries
// died. Their entries never left the list.
func (s *Service) dropExpiredClaims(ctx context.Context, ks rdb.Keys, res *SweepResult) error {
	n, err := rdb.HLen(ctx, s.rdb, ks.Claims)
	if err != nil || n == 0 {
		return err
	}
	claims, now, err := rdb.Claims(ctx, s.rdb, ks)
	if err != nil {
		return err
	}
	var expired []string
	for id, v := range claims {
		if d, ok := rdb.ClaimDeadline(v); !ok || !d.After(now) {
			expired = append(expired, id)
		}
	}
	dropped, err := rdb.Expire(ctx, s.rdb, ks, expired) // judged again, atomically
	res.ExpiredClaims = dropped
	return err
}

// Run sweeps every kind of [Service.Kinds] and every other kind this
// Service pushed to, once at start and then every [DefaultJanitorInterval]
// (see [WithJanitorInterval]), until ctx is done; then it returns nil.
// Errors of a sweep are logged and the next sweep tries again, so a Redis
// outage does not stop the janitor. Running it in more than one process is
// safe.
//
// At start, and whenever it changes, Run logs a warning if Redis'
// maxmemory_policy is not "noeviction": any other policy lets a full Redis
// delete DLQ entries without a trace.
func (s *Service) Run(ctx context.Context) error {
	if s == nil || s.rdb == nil {
		return ErrNoRedis
	}
	t := time.NewTicker(s.janitorEvery)
	defer t.Stop()
	warned := ""
	for {
		if p := s.maxMemoryPolicy(ctx); p != "" && p != "noeviction" && p != warned {
			warned = p
			s.logger().WarnContext(ctx, "dlq: Redis maxmemory_policy is not noeviction: when Redis is full it deletes DLQ entries without a trace; set maxmemory-policy noeviction",
				"maxmemory_policy", p)
		}
		for _, k := range s.sweptKinds() {
			if _, err := s.Sweep(ctx, k); err != nil && ctx.Err() == nil {
				s.logger().ErrorContext(ctx, "dlq: janitor sweep failed", "kind", string(k), "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweptKinds is Kinds and the other kinds this Service pushed to.
func (s *Service) sweptKinds() []Kind {
	out := s.Kinds()
	s.pushers.Range(func(k, _ any) bool {
		if k := k.(Kind); !slices.Contains(out, k) {
			out = append(out, k)
		}
		return true
	})
	return out
}

// janitorState is what the janitor remembers in a Service.
type janitorState struct {
	migrated sync.Map // Kind -> true once MigrateLegacy ran
}

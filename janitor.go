package dlq

import (
	"context"
	"errors"
	"hash/maphash"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultJanitorInterval is how often [Service.Run] sweeps unless
// [WithJanitorInterval] says otherwise.
const DefaultJanitorInterval = time.Minute

// WithMaxAge makes the janitor ([Service.Run], [Service.Sweep]) evict
// entries whose failed_at is older than d, counting them as evicted. d <= 0
// (the default) keeps entries however old they are. Pushes do not check
// ages; the janitor does, so that old entries go even when no new failure
// arrives.
func WithMaxAge(d time.Duration) Option {
	return func(s *Service) {
		if d < 0 {
			d = 0
		}
		s.maxAge = d
	}
}

// WithJanitorInterval sets how often [Service.Run] sweeps. Values <= 0
// mean [DefaultJanitorInterval].
func WithJanitorInterval(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.janitorEvery = d
		}
	}
}

// Info describes one kind's list.
type Info struct {
	Kind Kind `json:"kind"`
	// Length is the number of entries, malformed ones included.
	Length int64 `json:"length"`
	// Evicted counts the entries the size cap and the age limit removed,
	// ever, as recorded in Redis.
	Evicted int64 `json:"evicted"`
	// Indexed is the number of index entries: the entries Pop finds
	// without scanning. The rest were written by other programs, or pushed
	// by another process in the last 10 ms (see [Service.Flush]). Index
	// entries whose entries another program removed count until the
	// janitor drops them.
	Indexed int64 `json:"indexed"`
	// InFlight is the number of entries handed to the Requeuer and not yet
	// confirmed; see [Service.Retry] and [Service.Recover].
	InFlight int64 `json:"in_flight"`
	// MaxItems and MaxAgeSeconds are this Service's limits; 0 means none.
	MaxItems      int   `json:"max_items"`
	MaxAgeSeconds int64 `json:"max_age_seconds"`
}

// Info returns the counters of a kind.
func (s *Service) Info(ctx context.Context, kind Kind) (Info, error) {
	if err := s.check(kind); err != nil {
		return Info{}, err
	}
	s.syncIndex(ctx, kind)
	c, err := s.counters(ctx, keysOf(kind))
	if err != nil {
		return Info{}, opError("info", kind, err)
	}
	return Info{
		Kind: kind, Length: c.length, Evicted: c.evicted, Indexed: c.indexed, InFlight: c.inflight,
		MaxItems: s.maxItems, MaxAgeSeconds: int64(s.maxAge / time.Second),
	}, nil
}

type counters struct{ length, indexed, evicted, inflight int64 }

func (s *Service) counters(ctx context.Context, ks keys) (counters, error) {
	v, err := infoScript.Run(ctx, s.rdb, []string{ks.list, ks.index, ks.evicted, ks.inflight}).Int64Slice()
	if err != nil {
		return counters{}, err
	}
	if len(v) != 4 {
		return counters{}, errors.New("info script answered " + strconv.Itoa(len(v)) + " values, want 4")
	}
	return counters{length: v[0], indexed: v[1], evicted: v[2], inflight: v[3]}, nil
}

// SweepResult is what one [Service.Sweep] did.
type SweepResult struct {
	EvictedByCap int64 // entries over the size cap, removed from the tail
	EvictedByAge int64 // entries older than the age limit
	Unindexed    int64 // index entries whose entries other programs had removed
	Recovered    int64 // claimed entries put back after WithRecoverAfter
}

// Batch sizes of a sweep: each script call does a bounded amount of work so
// that Redis keeps serving others between calls.
const (
	trimBatch    = 1000
	ageBatch     = 100
	unindexBatch = 100
	hscanCount   = 500
)

// Sweep enforces the size cap and the age limit on a kind, puts back
// entries claimed for a retry longer ago than [WithRecoverAfter] allows
// (see [Service.Recover]), and removes index entries that point at entries
// no longer in the list. Every removal is one
// atomic step that removes only the exact entry it judged; entries changed
// or removed by others in the meantime are left alone. Evictions are added
// to the kind's evicted counter and logged once per sweep.
//
// [Service.Run] calls Sweep on a timer; hosts with their own scheduler can
// call it directly.
func (s *Service) Sweep(ctx context.Context, kind Kind) (SweepResult, error) {
	var res SweepResult
	if err := s.check(kind); err != nil {
		return res, err
	}
	st := s.state(kind)
	_ = s.writeIndex(ctx, st, kind) // logged; the sweep goes on
	err := s.sweep(ctx, st.keys, &res)
	if n := st.takeUnlogged(s.now()); n > 0 {
		s.logEvictions(ctx, kind, n)
	}
	if res.EvictedByCap+res.EvictedByAge > 0 {
		s.logger().WarnContext(ctx, "dlq: evicted entries over the limits",
			"kind", string(kind), "by_cap", res.EvictedByCap, "by_age", res.EvictedByAge,
			"max_items", s.maxItems, "max_age", s.maxAge)
	}
	if err != nil {
		return res, opError("sweep", kind, err)
	}
	return res, nil
}

func (s *Service) sweep(ctx context.Context, ks keys, res *SweepResult) error {
	for s.maxItems > 0 {
		n, err := s.trimOnce(ctx, ks, trimBatch)
		res.EvictedByCap += n
		if err != nil {
			return err
		}
		if n < trimBatch {
			break
		}
	}
	if s.maxAge > 0 {
		if err := s.evictOld(ctx, ks, res); err != nil {
			return err
		}
	}
	n, err := s.recoverKind(ctx, ks, s.recoverAfter)
	res.Recovered += int64(n)
	if err != nil {
		return err
	}
	return s.repairIndex(ctx, ks, res)
}

// evictOld removes entries older than the age limit, reading from the
// tail, where the oldest are. It stops at the first page with an entry
// that is still young; malformed entries have no age and are kept.
func (s *Service) evictOld(ctx context.Context, ks keys, res *SweepResult) error {
	cutoff := s.now().Add(-s.maxAge)
	var off int64 // entries at the tail that stay: malformed ones
	for {
		raws, err := s.rdb.LRange(ctx, ks.list, -(off + ageBatch), -(off + 1)).Result()
		if err != nil {
			return err
		}
		args := []any{-1, 1, ""}
		young := false
		for i := len(raws) - 1; i >= 0; i-- {
			it, err := decodeItem(raws[i])
			switch {
			case err != nil:
			case it.FailedAt.Before(cutoff):
				args = append(args, it.ID, raws[i])
			default:
				young = true
			}
		}
		if old := (len(args) - 3) / 2; old > 0 {
			n, err := removeScript.Run(ctx, s.rdb, []string{ks.list, ks.index, ks.evicted, ks.inflight}, args...).Int64()
			if err != nil {
				return err
			}
			res.EvictedByAge += n
			off += int64(len(raws) - old)
		} else {
			off += int64(len(raws))
		}
		if young || len(raws) < ageBatch {
			return nil
		}
	}
}

// repairGrace is how recent an index entry's failed_at may be for the
// repair to leave it alone: it may have been pushed after the list was
// read, by a process whose clock is a little behind.
const repairGrace = time.Minute

// repairIndex drops index entries whose entries are gone from the list
// (removed by another program). It reads the whole list, then the index;
// index entries whose failed_at is within repairGrace of the read are not
// judged, and one is only dropped if it is unchanged since it was read. If
// other entries are removed while the list is read, a live entry can be
// missed and lose its index entry: it stays in the list, and Pop still
// finds it by scanning.
func (s *Service) repairIndex(ctx context.Context, ks keys, res *SweepResult) error {
	recent := s.now().Add(-repairGrace)
	c, err := s.counters(ctx, ks)
	if err != nil {
		return err
	}
	if c.indexed == 0 {
		return nil
	}
	seed := maphash.MakeSeed()
	live := make(map[uint64]struct{}, c.length)
	if err := s.eachFromTail(ctx, ks.list, func(raw string) bool {
		live[maphash.String(seed, raw)] = struct{}{}
		return true
	}); err != nil {
		return err
	}
	n, err := s.sweepHash(ctx, ks.index, unindexScript, []string{ks.index}, func(_, entry string) bool {
		if _, ok := live[maphash.String(seed, entry)]; ok {
			return false
		}
		it, err := decodeItem(entry)
		return err != nil || !it.FailedAt.After(recent)
	})
	res.Unindexed += n
	return err
}

// sweepHash scans a hash (the index, or the in-flight hash) and runs
// script, in batches, on the field and value pairs that pick selects. It
// returns the sum of the script's answers.
func (s *Service) sweepHash(ctx context.Context, key string, script *redis.Script, keys []string, pick func(field, value string) bool) (int64, error) {
	var batch []any
	var total int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := script.Run(ctx, s.rdb, keys, batch...).Int64()
		total += n
		batch = batch[:0]
		return err
	}
	var cursor uint64
	for {
		kvs, next, err := s.rdb.HScan(ctx, key, cursor, "", hscanCount).Result()
		if err != nil {
			return total, err
		}
		for i := 0; i+1 < len(kvs); i += 2 {
			if !pick(kvs[i], kvs[i+1]) {
				continue
			}
			if batch = append(batch, kvs[i], kvs[i+1]); len(batch) >= 2*unindexBatch {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
		if cursor = next; cursor == 0 {
			return total, flush()
		}
	}
}

// Run sweeps the seed kinds, and every other kind this Service has pushed
// to, once at start and then every [DefaultJanitorInterval] (see
// [WithJanitorInterval]), until ctx is done; then it writes the index
// entries of the last pushes (see [Service.Flush]) and returns nil. Errors of
// a sweep are logged and the next sweep tries again, so a Redis outage does
// not stop the janitor. Running it in more than one process is safe.
func (s *Service) Run(ctx context.Context) error {
	if s == nil || s.rdb == nil {
		return errNoRedis
	}
	t := time.NewTicker(s.janitorEvery)
	defer t.Stop()
	for {
		for _, k := range s.knownKinds() {
			if _, err := s.Sweep(ctx, k); err != nil && ctx.Err() == nil {
				s.logger().ErrorContext(ctx, "dlq: janitor sweep failed", "kind", string(k), "error", err)
			}
		}
		if s.swept != nil {
			s.swept()
		}
		select {
		case <-ctx.Done():
			// Index the last pushes before the host shuts down.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
			defer cancel()
			_ = s.Flush(fctx) // logged
			return nil
		case <-t.C:
		}
	}
}

// knownKinds is the seed kinds and every other kind this Service has
// pushed to.
func (s *Service) knownKinds() []Kind {
	out := []Kind{Scrape, Extraction}
	s.kinds.Range(func(k, _ any) bool {
		if k := k.(Kind); k != Scrape && k != Extraction {
			out = append(out, k)
		}
		return true
	})
	return out
}

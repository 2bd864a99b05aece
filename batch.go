package dlq

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Pushes of one kind that arrive while another is in flight are sent
// together in one LPUSH (group commit): under load, workers share round
// trips and Redis runs one LPUSH for many entries. A
// push that finds nothing in flight is sent at once, so a lone worker waits
// for nobody.
const (
	maxBatchEntries = 64
	maxBatchBytes   = 1 << 20
)

// kindState is what a Service keeps per kind it has pushed to: the kind's
// keys, the pushes waiting for the one in flight, whether a background trim
// runs, and the evictions not logged yet. The janitor sweeps the kinds that
// have one.
type kindState struct {
	keys keys

	mu      sync.Mutex // guards busy and waiting
	busy    bool       // a push for this kind is in flight
	waiting []*pushReq

	trimming atomic.Bool // a trim of this kind runs in the background

	idxMu      sync.Mutex  // guards idxPending and idxTimer
	idxPending []any       // id, entry pairs stored but not yet indexed
	idxTimer   *time.Timer // the scheduled write of idxPending, if any
	idxWrite   sync.Mutex  // held while index entries are written

	logMu    sync.Mutex // guards lastLog and unlogged
	lastLog  time.Time
	unlogged int64
}

type pushReq struct {
	ctx   context.Context
	id    string
	entry []byte
	taken bool          // in a call already; guarded by kindState.mu
	done  chan struct{} // closed when err is set
	err   error
}

func (s *Service) state(k Kind) *kindState {
	if st, ok := s.kinds.Load(k); ok {
		return st.(*kindState)
	}
	st, _ := s.kinds.LoadOrStore(k, &kindState{keys: keysOf(k)})
	return st.(*kindState)
}

// store writes one entry, alone or batched with
// concurrent pushes of the same kind.
func (s *Service) store(ctx context.Context, kind Kind, id string, entry []byte) error {
	q := s.state(kind)
	q.mu.Lock()
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		err := s.runPush(ctx, kind, q, []*pushReq{{id: id, entry: entry}})
		s.handOff(q, kind)
		return err
	}
	r := &pushReq{ctx: ctx, id: id, entry: entry, done: make(chan struct{})}
	q.waiting = append(q.waiting, r)
	q.mu.Unlock()

	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
	}
	q.mu.Lock()
	taken := r.taken
	if !taken {
		for i, w := range q.waiting {
			if w == r {
				q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
				break
			}
		}
	}
	q.mu.Unlock()
	if taken {
		return fmt.Errorf("%w (the failure may have been recorded all the same)", ctx.Err())
	}
	return ctx.Err() // nothing was written
}

// handOff ends a call: with pushes waiting, a drainer sends them.
func (s *Service) handOff(q *kindState, kind Kind) {
	q.mu.Lock()
	if len(q.waiting) == 0 {
		q.busy = false
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	go s.drain(q, kind)
}

// drain sends waiting pushes in batches until none are left.
func (s *Service) drain(q *kindState, kind Kind) {
	for {
		q.mu.Lock()
		if len(q.waiting) == 0 {
			q.busy = false
			q.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(q.waiting) && n < maxBatchEntries && (n == 0 || size+len(q.waiting[n].entry) <= maxBatchBytes) {
			size += len(q.waiting[n].entry)
			q.waiting[n].taken = true
			n++
		}
		batch := make([]*pushReq, n)
		copy(batch, q.waiting)
		q.waiting = append(q.waiting[:0], q.waiting[n:]...)
		q.mu.Unlock()

		ctx, release := mergeContexts(batch)
		err := s.runPush(ctx, kind, q, batch)
		release()
		for _, r := range batch {
			r.err = err
			close(r.done)
		}
	}
}

// mergeContexts returns a context that ends when the contexts of all the
// batch's pushes have ended: a call for many callers goes on while any of
// them still waits for it.
func mergeContexts(batch []*pushReq) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int32
	left.Store(int32(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, r := range batch {
		stops[i] = context.AfterFunc(r.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// runPush stores a batch with one LPUSH at the head of the list, and
// queues its index entries (see index.go). When the list is then more than
// capSlack over its cap, a trim evicts the oldest entries down to the cap
// in one atomic step (it checks the length itself, so concurrent trims
// never evict more than the excess): in the background for caps of 100 and
// more, at once for smaller ones.
func (s *Service) runPush(ctx context.Context, kind Kind, q *kindState, batch []*pushReq) error {
	entries := make([]any, len(batch))
	for i, r := range batch {
		entries[i] = r.entry
	}
	length, err := s.rdb.LPush(ctx, q.keys.list, entries...).Result()
	if err != nil {
		return err
	}
	s.queueIndex(ctx, q, kind, batch)
	slack := capSlack(s.maxItems)
	if s.maxItems <= 0 || length <= int64(s.maxItems+slack) {
		return nil
	}
	if slack == 0 {
		s.trim(ctx, kind, maxEvictPerPush+len(batch)) // small caps are exact
		return nil
	}
	// The push is done; the trim runs beside it, one per kind at a time,
	// so the pusher does not wait for a second round trip.
	if q.trimming.CompareAndSwap(false, true) {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
			defer cancel()
			s.trimInBackground(bg, q, kind, maxEvictPerPush+slack+len(batch))
		}()
	}
	return nil
}

// trimInBackground trims a kind while pushes go on, then hands the flag
// back; a push that found the flag taken left its excess to this trim, so
// the length is checked once more after the flag is free.
func (s *Service) trimInBackground(ctx context.Context, q *kindState, kind Kind, most int) {
	limit := int64(s.maxItems + capSlack(s.maxItems))
	for {
		for s.trim(ctx, kind, most) == int64(most) {
		}
		q.trimming.Store(false)
		n, err := s.rdb.LLen(ctx, kind.Key()).Result()
		if err != nil || n <= limit || !q.trimming.CompareAndSwap(false, true) {
			return
		}
	}
}

// trim writes the kind's waiting index entries (so that entries it evicts
// lose theirs too), evicts once, logs what it evicted and returns how many.
// A failure is logged, not returned: the push it follows is recorded, and
// the janitor trims later.
func (s *Service) trim(ctx context.Context, kind Kind, most int) int64 {
	q := s.state(kind)
	_ = s.writeIndex(ctx, q, kind) // logged
	evicted, err := s.trimOnce(ctx, q.keys, most)
	if err != nil {
		s.logger().WarnContext(ctx, "dlq: evicting over the cap failed; the janitor will",
			"kind", string(kind), "evicted", evicted, "error", err)
	}
	if evicted > 0 {
		s.logEvicted(ctx, kind, evicted)
	}
	if err != nil {
		return 0 // no background trim loops on a failing Redis
	}
	return evicted
}

// trimOnce evicts at most `most` entries from the tail while the list is
// over its cap, and drops their index entries. The eviction and its count
// are one transaction: MULTI, LRANGE of the last `most` entries, then the
// evict script, which LTRIMs the excess (at most `most`) and adds it to the
// evicted counter; the last n entries of the range are those it evicted.
// Their index entries are then deleted by id. If that fails, the error is
// returned with the count, and the janitor removes the index entries left
// pointing at nothing.
func (s *Service) trimOnce(ctx context.Context, ks keys, most int) (int64, error) {
	if s.maxItems <= 0 {
		return 0, nil
	}
	tail, evict, err := s.evictTx(ctx, ks, most)
	if redis.HasErrorPrefix(evict.Err(), "NOSCRIPT") {
		// Redis restarted, failed over or flushed its scripts: inside
		// MULTI there is no EVAL fallback, so load the script and retry.
		if err := evictScript.Load(ctx, s.rdb).Err(); err != nil {
			return 0, err
		}
		tail, evict, err = s.evictTx(ctx, ks, most)
	}
	if err != nil {
		return 0, err
	}
	n, err := evict.Int64()
	if err != nil || n <= 0 {
		return 0, err
	}
	gone := tail.Val()
	gone = gone[max(len(gone)-int(n), 0):]
	ids := make([]string, 0, len(gone))
	for _, raw := range gone {
		if id, ok := idOf(raw); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		if err := s.rdb.HDel(ctx, ks.index, ids...).Err(); err != nil {
			return n, fmt.Errorf("evicted %d entries; dropping their index entries: %w", n, err)
		}
	}
	return n, nil
}

// evictTx sends the transaction of trimOnce: LRANGE of the last `most`
// entries, then the evict script.
func (s *Service) evictTx(ctx context.Context, ks keys, most int) (*redis.StringSliceCmd, *redis.Cmd, error) {
	tx := s.rdb.TxPipeline()
	tail := tx.LRange(ctx, ks.list, -int64(most), -1)
	evict := tx.EvalSha(ctx, evictScript.Hash(), []string{ks.list, ks.evicted}, s.maxItems, most)
	_, err := tx.Exec(ctx)
	return tail, evict, err
}

package dlq

import (
	"context"
	"time"
)

// The index (id -> exact entry, in "{<list>}:index") lets Pop remove an
// entry without scanning the list. A push writes its entry at once, with
// one LPUSH, and its index entry shortly after: index entries of the
// pushes of one kind are collected and written together, by one HSET, at
// most 10 ms (defaultIndexDelay) after the first of them. A lone worker's
// push thus costs one command on its own round trip, and Redis inserts
// index entries in batches.
//
// Until its index entry is written, an entry is found the way other
// programs' entries are, by scanning; within this Service every operation
// that reads the index first writes what is pending, so it sees all the
// pushes that returned. If the process dies within 10 ms of a push,
// that entry stays unindexed: it is still recorded, and Pop still finds it.
const (
	defaultIndexDelay = 10 * time.Millisecond

	// maxPendingIndex bounds the index entries one kind keeps waiting:
	// the push that reaches it writes them itself.
	maxPendingIndex = 4096
)

// queueIndex adds a stored batch's index entries to those waiting, and
// makes sure a write is scheduled.
func (s *Service) queueIndex(ctx context.Context, q *kindState, kind Kind, batch []*pushReq) {
	q.idxMu.Lock()
	for _, r := range batch {
		q.idxPending = append(q.idxPending, r.id, r.entry)
	}
	full := len(q.idxPending)/2 >= maxPendingIndex
	if !full && q.idxTimer == nil {
		s.bg.Add(1)
		var t *time.Timer
		t = time.AfterFunc(s.indexDelay, func() {
			defer s.bg.Done()
			q.idxMu.Lock()
			if q.idxTimer == t { // not replaced after a write took its entries
				q.idxTimer = nil
			}
			q.idxMu.Unlock()
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
			defer cancel()
			_ = s.writeIndex(ctx, q, kind) // logged
		})
		q.idxTimer = t
	}
	q.idxMu.Unlock()
	if full {
		_ = s.writeIndex(ctx, q, kind) // logged; the push itself is recorded
	}
}

// writeIndex writes a kind's waiting index entries now, and returns when
// every write of them started earlier has ended too. A failed write is
// logged and returned, and its index entries are given up: their entries
// are recorded all the same, and found by scanning.
func (s *Service) writeIndex(ctx context.Context, q *kindState, kind Kind) error {
	q.idxWrite.Lock()
	defer q.idxWrite.Unlock()
	pairs := s.takeIndex(q)
	if len(pairs) == 0 {
		return nil
	}
	err := s.rdb.HSet(ctx, q.keys.index, pairs...).Err()
	if err != nil {
		s.logger().WarnContext(ctx, "dlq: writing index entries failed; Pop finds their entries by scanning",
			"kind", string(kind), "entries", len(pairs)/2, "error", err)
	}
	return err
}

// takeIndex returns a kind's waiting index entries and cancels the
// scheduled write of them. The caller holds q.idxWrite until it has
// written them.
func (s *Service) takeIndex(q *kindState) []any {
	q.idxMu.Lock()
	defer q.idxMu.Unlock()
	pairs := q.idxPending
	q.idxPending = nil
	if q.idxTimer != nil && q.idxTimer.Stop() { // nothing left for it to write
		q.idxTimer = nil
		s.bg.Done()
	}
	return pairs
}

// syncIndex writes a kind's waiting index entries, if this Service has
// any, before an operation that reads the index. A failure is logged: the
// operation goes on, and finds unindexed entries by scanning.
func (s *Service) syncIndex(ctx context.Context, kind Kind) {
	if st, ok := s.kinds.Load(kind); ok {
		_ = s.writeIndex(ctx, st.(*kindState), kind)
	}
}

// Flush writes the index entries of this Service's recent pushes now,
// instead of within the next 10 ms. Call it before the process exits, after
// the last Push: an entry whose index entry was never written is still
// recorded, listed and counted, but Pop, Retry and Delete find it by
// scanning the list. Flush returns the first error of a write, wrapped
// with its kind.
func (s *Service) Flush(ctx context.Context) error {
	var first error
	s.kinds.Range(func(k, st any) bool {
		if err := s.writeIndex(ctx, st.(*kindState), k.(Kind)); err != nil && first == nil {
			first = opError("flush", k.(Kind), err)
		}
		return true
	})
	return first
}

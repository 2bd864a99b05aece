package dlq

import (
	"context"
	"sync"
	"time"
)

// evictLogEvery is how often, at most, pushes log their evictions per kind.
// A DLQ at its cap evicts on every push; one line per push would flood the
// log just when an incident fills the DLQ.
const evictLogEvery = 10 * time.Second

// evictLog batches the eviction reports of pushes: the first eviction is
// logged at once, later ones at most every evictLogEvery, each line with
// the number evicted since the previous one. Nothing is dropped: every
// eviction is in some line and in the kind's evicted counter in Redis.
type evictLog struct {
	mu     sync.Mutex
	byKind map[Kind]*evictState
}

type evictState struct {
	last    time.Time
	pending int64
}

// note records n evictions of kind and reports whether to log now, and
// how many evictions the line should report.
func (l *evictLog) note(kind Kind, n int64, now time.Time) (report int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byKind == nil {
		l.byKind = map[Kind]*evictState{}
	}
	st := l.byKind[kind]
	if st == nil {
		st = &evictState{}
		l.byKind[kind] = st
	}
	st.pending += n
	if !st.last.IsZero() && now.Sub(st.last) < evictLogEvery {
		return 0, false
	}
	report, st.pending, st.last = st.pending, 0, now
	return report, true
}

// take returns and clears the evictions of kind not logged yet.
func (l *evictLog) take(kind Kind, now time.Time) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.byKind[kind]
	if st == nil || st.pending == 0 {
		return 0
	}
	n := st.pending
	st.pending, st.last = 0, now
	return n
}

// logEvicted reports evictions made by a push.
func (s *Service) logEvicted(ctx context.Context, kind Kind, n int64) {
	if report, ok := s.evictions.note(kind, n, s.now()); ok {
		s.logger().WarnContext(ctx, "dlq: evicted the oldest entries over the size cap",
			"kind", string(kind), "evicted", report, "max_items", s.maxItems)
	}
}

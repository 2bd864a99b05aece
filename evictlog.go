package dlq

import (
	"context"
	"time"
)

// evictLogEvery is how often, at most, pushes log their evictions per kind.
// A DLQ at its cap evicts on every push; one line per push would flood the
// log just when an incident fills the DLQ.
const evictLogEvery = 10 * time.Second

// noteEvicted records n evictions and reports whether to log now, and how
// many evictions the line should report: the first eviction is logged at
// once, later ones at most every evictLogEvery, each line with the number
// since the previous one. Nothing is dropped: every eviction is in some
// line (the janitor logs what is pending) and in the evicted counter.
func (st *kindState) noteEvicted(n int64, now time.Time) (report int64, ok bool) {
	st.logMu.Lock()
	defer st.logMu.Unlock()
	st.unlogged += n
	if !st.lastLog.IsZero() && now.Sub(st.lastLog) < evictLogEvery {
		return 0, false
	}
	report, st.unlogged, st.lastLog = st.unlogged, 0, now
	return report, true
}

// takeUnlogged returns and clears the evictions not logged yet.
func (st *kindState) takeUnlogged(now time.Time) int64 {
	st.logMu.Lock()
	defer st.logMu.Unlock()
	n := st.unlogged
	if n > 0 {
		st.unlogged, st.lastLog = 0, now
	}
	return n
}

// logEvicted reports evictions made by pushes, rate-limited per kind.
func (s *Service) logEvicted(ctx context.Context, kind Kind, n int64) {
	if report, ok := s.state(kind).noteEvicted(n, s.now()); ok {
		s.logEvictions(ctx, kind, report)
	}
}

func (s *Service) logEvictions(ctx context.Context, kind Kind, n int64) {
	s.logger().WarnContext(ctx, "dlq: evicted the oldest entries over the size cap",
		"kind", string(kind), "evicted", n, "max_items", s.maxItems)
}

package dlq

import (
	"sync"
	"testing"
	"time"
)

// clock is a fake clock for a Service; claims and ages follow it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newClock(e *env) *clock {
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	e.svc.now = c.Now
	return c
}

// requeued records the ids a Requeuer got, safely for concurrent calls.
type requeued struct {
	mu  sync.Mutex
	ids []string
}

func (r *requeued) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
}

func (r *requeued) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// withRequeuer rebuilds the env's service with a requeuer, keeping its
// logger and clock.
func withRequeuer(e *env, r Requeuer, opts ...Option) {
	now := e.svc.now
	e.svc = New(e.Client, append([]Option{WithLogger(e.svc.logger()), WithRequeuer(r)}, opts...)...)
	e.svc.now = now
}

func unique(ids []string) bool {
	m := map[string]bool{}
	for _, id := range ids {
		if m[id] {
			return false
		}
		m[id] = true
	}
	return true
}

// fillKind pushes n failures with the given error texts, oldest first.
func fillKind(t *testing.T, e *env, n int, text func(i int) string) []Item {
	t.Helper()
	var out []Item
	for i := range n {
		out = append(out, push(t, e, e.kind, text(i)))
	}
	return out
}

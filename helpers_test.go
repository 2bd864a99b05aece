package dlq

import (
	"fmt"

	"github.com/redis/go-redis/v9"
	"sync"
	"testing"
	"time"
)

// clock is a fake clock for a Service: ages and failed_at follow it, and
// claims too (Redis' clock, by which claims are judged, is shifted by as
// much as the clock was moved).
type clock struct {
	mu    sync.Mutex
	now   time.Time
	moved time.Duration
}

func (c *clock) Shift() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.moved
}

// use makes s follow the clock.
func (c *clock) use(s *Service) {
	s.now, s.clockShift = c.Now, c.Shift
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
	c.moved += d
}

// Set moves the clock to t.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newClock(e *env) *clock {
	c := &clock{now: time.Now().UTC()}
	c.use(e.svc)
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
	now, shift := e.svc.now, e.svc.clockShift
	e.svc = New(e.Client, append([]Option{WithLogger(e.svc.logger()), WithRequeuer(r)}, opts...)...)
	e.svc.now, e.svc.clockShift = now, shift
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

func nowMicro() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// universalOptions returns options for a second client of the env's
// backend.
func universalOptions(e *env) *redis.UniversalOptions {
	switch c := e.Client.(type) {
	case *redis.ClusterClient:
		return &redis.UniversalOptions{Addrs: c.Options().Addrs, IsClusterMode: true}
	case *redis.Client:
		return &redis.UniversalOptions{Addrs: []string{c.Options().Addr}, DB: c.Options().DB}
	}
	panic(fmt.Sprintf("unknown client %T", e.Client))
}

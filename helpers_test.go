package dlq

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

// clock is a fake clock for a Service's own stamps: the failed_at of its
// pushes, its history buckets and the pacing of its eviction logs. Claims
// and ages are judged by Redis' clock: see passRedisClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// use makes s follow the clock.
func (c *clock) use(s *Service) {
	s.now = c.Now
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
	c := &clock{now: time.Now().UTC()}
	c.use(e.svc)
	return c
}

// testClaimTimeout is a claim timeout for tests that outlive a claim (see
// passRedisClock): a minute on miniredis, whose clock is moved, and a few
// seconds on a real Redis, whose clock is waited for.
func testClaimTimeout(e *env) time.Duration {
	if e.Mini != nil {
		return time.Minute
	}
	return 3 * time.Second
}

// passRedisClock makes the Redis server's clock, by which claims are
// stamped and judged, pass until: miniredis' clock is set just past it (and
// stands still from then on); a real server's is waited for.
func passRedisClock(t *testing.T, e *env, until time.Time) {
	t.Helper()
	if e.Mini != nil {
		if now, err := e.Client.Time(context.Background()).Result(); err != nil {
			t.Fatal(err)
		} else if !now.After(until) {
			e.Mini.SetTime(until.Add(time.Millisecond))
		}
		return
	}
	if err := waitRedisClock(context.Background(), e.Client, until); err != nil {
		t.Fatal(err)
	}
}

// waitRedisClock polls the Redis server's clock (TIME) until it is past
// until: waiting for time to pass, on the clock that judges claims. It
// gives up a minute after until by the local clock.
func waitRedisClock(ctx context.Context, c redis.Cmdable, until time.Time) error {
	limit := time.Now().Add(time.Until(until) + time.Minute)
	for {
		now, err := c.Time(ctx).Result()
		if err != nil {
			return err
		}
		if now.After(until) {
			return nil
		}
		if time.Now().After(limit) {
			return fmt.Errorf("the Redis server's clock (%v) did not pass %v", now, until)
		}
		time.Sleep(min(until.Sub(now), 100*time.Millisecond) + time.Millisecond) // time to pass
	}
}

// afterPageReads returns a second client of c's Redis that calls fn after
// each reply to an LRANGE of key counted from the tail (a negative start),
// alone or in a pipeline: the page reads of a walk (walk.go), not the read
// of the newest entries a snapshot takes. A Service built on it runs fn
// where its walk has read a page and not yet acted on it, as another
// process could. fn runs on the Service's goroutine and must not use the
// returned client, which is closed when the test ends.
func afterPageReads(t *testing.T, c redis.UniversalClient, key string, fn func()) redis.UniversalClient {
	t.Helper()
	hooked := redis.NewUniversalClient(optionsOf(c))
	t.Cleanup(func() { _ = hooked.Close() })
	hooked.AddHook(dlqtest.AfterReply(func(_ context.Context, cmd redis.Cmder) {
		a := cmd.Args()
		if cmd.Name() != "lrange" || cmd.Err() != nil || len(a) != 4 || a[1] != key {
			return
		}
		if start, ok := a[2].(int64); ok && start < 0 {
			fn()
		}
	}))
	return hooked
}

// onLog is a slog.Handler that calls fn with each record, then hands it
// on: a test sees what the code under test logs as it logs it.
type onLog struct {
	slog.Handler
	fn func(slog.Record)
}

func (o onLog) Handle(ctx context.Context, r slog.Record) error {
	o.fn(r)
	return o.Handler.Handle(ctx, r)
}

func (o onLog) WithAttrs(as []slog.Attr) slog.Handler { return onLog{o.Handler.WithAttrs(as), o.fn} }
func (o onLog) WithGroup(name string) slog.Handler    { return onLog{o.Handler.WithGroup(name), o.fn} }

// logAttr returns the value of a record's attribute, or "".
func logAttr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
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

func nowMicro() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// universalOptions returns options for a second client of the env's
// backend.
func universalOptions(e *env) *redis.UniversalOptions { return optionsOf(e.Client) }

// optionsOf returns options for a second client of c's Redis, with c's
// timeouts (the miniredis backend's are long: see dlqtest.ForEach).
func optionsOf(c redis.UniversalClient) *redis.UniversalOptions {
	switch c := c.(type) {
	case *redis.ClusterClient:
		o := c.Options()
		return &redis.UniversalOptions{Addrs: o.Addrs, IsClusterMode: true, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout}
	case *redis.Client:
		o := c.Options()
		return &redis.UniversalOptions{Addrs: []string{o.Addr}, DB: o.DB, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout}
	}
	panic(fmt.Sprintf("unknown client %T", c))
}

package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/internal/dlqtest"
)

// testDB is this package's database on a real Redis.
const testDB = 12

// forEach runs fn against every backend with kinds unique to the test,
// whose keys are cleaned before and after.
func forEach(t *testing.T, fn func(t *testing.T, b *dlqtest.Backend, k, empty dlq.Kind)) {
	t.Helper()
	k := dlq.Kind(dlqtest.UniqueKind(t))
	empty := k + "-empty"
	dlqtest.ForEach(t, testDB, []string{string(k), string(empty)}, func(t *testing.T, b *dlqtest.Backend) {
		fn(t, b, k, empty)
	})
}

// newService is dlq.New with a logger that discards.
func newService(c dlq.Redis, opts ...dlq.Option) *dlq.Service {
	return dlq.New(c, append([]dlq.Option{dlq.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
}

func push(t *testing.T, s *dlq.Service, k dlq.Kind) dlq.Item {
	t.Helper()
	it, err := s.Push(context.Background(), k, uuid.New(), errors.New("boom"))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// expected is the exposition of the metrics of the given kinds, each as
// {entries, in_flight, oldest age, pushed, evicted, scrape errors}; a nil
// row is a kind that could not be read.
func expected(rows map[dlq.Kind][]float64) string {
	var kinds []dlq.Kind
	for k := range rows {
		kinds = append(kinds, k)
	}
	var b strings.Builder
	metric := func(name, typ, help string, col int) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, k := range kinds {
			if r := rows[k]; r != nil && r[col] >= 0 {
				fmt.Fprintf(&b, "%s{kind=%q} %g\n", name, k, r[col])
			}
		}
	}
	metric("dlq_entries", "gauge", "Entries in the dead letter queue, claimed and malformed ones included.", 0)
	metric("dlq_in_flight", "gauge", "Entries claimed by a retry under way.", 1)
	metric("dlq_oldest_entry_age_seconds", "gauge", "Age of the oldest entry (from its failed_at); 0 when the queue is empty.", 2)
	metric("dlq_pushed_total", "counter", "Entries pushed by the dlq library, as counted in Redis; pushes by other programs are not counted.", 3)
	metric("dlq_evicted_total", "counter", "Entries removed by the size cap or the age limit, as counted in Redis.", 4)
	metric("dlq_collector_errors_total", "counter", "Collections of these metrics that could not read the kind from Redis (Redis down or too slow).", 5)
	b.WriteString("# HELP dlq_audit_dropped_total Audit records this process could not write (Redis refused them, e.g. out of memory); the changes stand, the records were logged.\n# TYPE dlq_audit_dropped_total counter\ndlq_audit_dropped_total 0\n")
	return b.String()
}

// down is the row of a kind that could not be read: only its error count.
func down(errs float64) []float64 { return []float64{-1, -1, -1, -1, -1, errs} }

func compare(t *testing.T, c *Collector, rows map[dlq.Kind][]float64) {
	t.Helper()
	if err := testutil.CollectAndCompare(c, strings.NewReader(expected(rows))); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

// blockingRequeuer holds every Requeue until release is closed, and says
// when one started.
type blockingRequeuer struct {
	started chan dlq.Item
	release chan struct{}
}

func (r *blockingRequeuer) Requeue(ctx context.Context, it dlq.Item) error {
	r.started <- it
	select {
	case <-r.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestCollectorTwoServices checks the exact values after pushes, a pop, a
// claim and an eviction made by two Services on one Redis, as seen by a
// collector on each.
func TestCollectorTwoServices(t *testing.T) {
	forEach(t, func(t *testing.T, b *dlqtest.Backend, k, empty dlq.Kind) {
		ctx := context.Background()
		rq := &blockingRequeuer{started: make(chan dlq.Item, 1), release: make(chan struct{})}
		a := newService(b.Client)
		bb := newService(b.Client, dlq.WithMaxItems(5), dlq.WithRequeuer(rq))
		ca := NewCollector(a, WithKinds(k, empty))
		cb := NewCollector(bb, WithKinds(k, empty))

		compareBoth := func(rows map[dlq.Kind][]float64) {
			t.Helper()
			compare(t, ca, rows)
			compare(t, cb, rows)
		}
		compareBoth(map[dlq.Kind][]float64{k: {0, 0, 0, 0, 0, 0}, empty: {0, 0, 0, 0, 0, 0}})

		var as []dlq.Item
		for range 3 {
			as = append(as, push(t, a, k))
		}
		var bs []dlq.Item
		for range 3 {
			bs = append(bs, push(t, bb, k)) // the third takes the list over b's cap of 5: as[0] is evicted
		}
		// The oldest entry is now as[1]; the collectors' clocks say 90s later.
		later := func() time.Time { return as[1].FailedAt.Add(90 * time.Second) }
		ca.now, cb.now = later, later
		compareBoth(map[dlq.Kind][]float64{k: {5, 0, 90, 6, 1, 0}, empty: {0, 0, 0, 0, 0, 0}})

		if _, err := a.Pop(ctx, k, as[2].ID); err != nil {
			t.Fatal(err)
		}
		compareBoth(map[dlq.Kind][]float64{k: {4, 0, 90, 6, 1, 0}, empty: {0, 0, 0, 0, 0, 0}})

		// A retry under way on b: the entry is claimed until the Requeuer
		// returns.
		retried := make(chan error, 1)
		go func() {
			_, err := bb.Retry(ctx, k, bs[0].ID)
			retried <- err
		}()
		if it := <-rq.started; it.ID != bs[0].ID {
			t.Fatalf("requeued %s, want %s", it.ID, bs[0].ID)
		}
		compareBoth(map[dlq.Kind][]float64{k: {4, 1, 90, 6, 1, 0}, empty: {0, 0, 0, 0, 0, 0}})
		close(rq.release)
		if err := <-retried; err != nil {
			t.Fatal(err)
		}
		compareBoth(map[dlq.Kind][]float64{k: {3, 0, 90, 6, 1, 0}, empty: {0, 0, 0, 0, 0, 0}})

		// Retrying the oldest entry makes the next one, bs[1], the oldest.
		if bs[1].FailedAt.Equal(as[1].FailedAt) {
			t.Fatal("two pushes in one microsecond: the age below would not tell them apart")
		}
		if _, err := bb.Retry(ctx, k, as[1].ID); err != nil {
			t.Fatal(err)
		}
		later = func() time.Time { return bs[1].FailedAt.Add(30 * time.Second) }
		ca.now, cb.now = later, later
		compareBoth(map[dlq.Kind][]float64{k: {2, 0, 30, 6, 1, 0}, empty: {0, 0, 0, 0, 0, 0}})
	})
}

// TestCollectorRedisDown checks that a scrape while Redis is down answers
// at once with the error counters raised and nothing else.
func TestCollectorRedisDown(t *testing.T) {
	forEach(t, func(t *testing.T, b *dlqtest.Backend, k, empty dlq.Kind) {
		c := NewCollector(newService(b.Down(t)), WithKinds(k, empty))
		for _, n := range []float64{1, 3} { // compare scrapes twice: once to compare, once to lint
			start := time.Now()
			compare(t, c, map[dlq.Kind][]float64{k: down(n), empty: down(n)})
			if d := time.Since(start); d > time.Second {
				t.Errorf("two scrapes with Redis down took %v", d)
			}
		}
	})
}

// blackhole is a Redis address that accepts connections and never answers.
type blackhole struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newBlackhole(t *testing.T) *blackhole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &blackhole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(h.close)
	return h
}

// close stops listening and hangs up: the client's reads fail.
func (h *blackhole) close() {
	_ = h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		_ = c.Close()
	}
}

// pipelines counts the pipelines a client sends.
type pipelines struct{ n atomic.Int64 }

func (*pipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*pipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (p *pipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		p.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestCollectorTimeout checks that a scrape ends at its timeout even with
// a client that ignores context deadlines, and that a read cut off stops
// the next scrapes from piling more reads onto Redis until it ends.
func TestCollectorTimeout(t *testing.T) {
	h := newBlackhole(t)
	// go-redis' defaults: ContextTimeoutEnabled false, a 5s read timeout.
	client := redis.NewClient(&redis.Options{Addr: h.ln.Addr().String()})
	t.Cleanup(func() { _ = client.Close() })
	var sent pipelines
	client.AddHook(&sent)
	c := NewCollector(newService(client), WithKinds("a", "b"), WithTimeout(100*time.Millisecond))
	finished := make(chan struct{}, 1)
	c.finished = func() {
		select {
		case finished <- struct{}{}:
		default:
		}
	}

	start := time.Now()
	compare(t, c, map[dlq.Kind][]float64{"a": down(1), "b": down(1)}) // lint collects once more: 2 scrapes
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("two scrapes with a 100ms timeout took %v", d)
	}
	if n := sent.n.Load(); n != 1 {
		t.Fatalf("%d pipelines sent, want 1: kind a's read, still waiting; nothing more while it waits", n)
	}
	h.close() // kind a's read fails; kind b is not read: the scrape is over
	<-finished
	if n := c.stuck.Load(); n != 0 {
		t.Fatalf("stuck = %d after the read ended", n)
	}
	compare(t, c, map[dlq.Kind][]float64{"a": down(3), "b": down(3)})
	if n := sent.n.Load(); n < 2 {
		t.Fatalf("%d pipelines sent: after the stuck read ended, the next scrape must read Redis again", n)
	}
}

// TestScrapeRoundTrips checks that a scrape sends one pipeline per kind,
// plus one HGETALL for a kind with claims, whatever the length of the list.
func TestScrapeRoundTrips(t *testing.T) {
	forEach(t, func(t *testing.T, b *dlqtest.Backend, k, empty dlq.Kind) {
		ctx := context.Background()
		rq := &blockingRequeuer{started: make(chan dlq.Item, 1), release: make(chan struct{})}
		s := newService(b.Client, dlq.WithRequeuer(rq))
		c := NewCollector(s, WithKinds(k, empty))
		var cmds []string
		var mu sync.Mutex
		b.Client.AddHook(cmdLog{&mu, &cmds})
		scrape := func() []string {
			t.Helper()
			mu.Lock()
			cmds = nil
			mu.Unlock()
			if n := testutil.CollectAndCount(c); n != 13 {
				t.Fatalf("%d metrics, want 13 (12 per kind and dlq_audit_dropped_total)", n)
			}
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), cmds...)
		}
		scrape() // the first one also reads INFO memory
		push(t, s, k)
		one := scrape()
		if want := "pipeline pipeline"; strings.Join(one, " ") != want {
			t.Fatalf("a scrape sent %q, want %q", one, want)
		}
		raw, err := b.Client.LIndex(ctx, k.Key(), 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			args := make([]any, 1000)
			for i := range args {
				args[i] = raw
			}
			if err := b.Client.RPush(ctx, k.Key(), args...).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if got := scrape(); strings.Join(got, " ") != strings.Join(one, " ") {
			t.Fatalf("with 10001 entries a scrape sent %q, want %q as with 1", got, one)
		}
		it := push(t, s, k)
		retried := make(chan error, 1)
		go func() { _, err := s.Retry(ctx, k, it.ID); retried <- err }()
		<-rq.started
		if got, want := strings.Join(scrape(), " "), "pipeline pipeline pipeline"; got != want {
			t.Fatalf("with a claim a scrape sent %q, want %q", got, want)
		}
		close(rq.release)
		if err := <-retried; err != nil {
			t.Fatal(err)
		}
	})
}

// cmdLog records the commands and pipelines a client sends.
type cmdLog struct {
	mu   *sync.Mutex
	cmds *[]string
}

func (cmdLog) DialHook(next redis.DialHook) redis.DialHook { return next }
func (l cmdLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.mu.Lock()
		*l.cmds = append(*l.cmds, cmd.Name())
		l.mu.Unlock()
		return next(ctx, cmd)
	}
}
func (l cmdLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		l.mu.Lock()
		*l.cmds = append(*l.cmds, "pipeline")
		l.mu.Unlock()
		return next(ctx, cmds)
	}
}

package dlq

// Benchmarks of the figures of the issue "Bounded: no call can hold
// Redis…", on a real redis-server, each beside the raw Redis command that
// does the same search (ratio = dlq / raw):
//
//	DLQ_TEST_REDIS_ADDR=127.0.0.1:6379 go test -run '^$' -bench Bounded -count 3 .
//
// max-call-µs is the longest command of the benchmark's client as Redis
// timed it (SLOWLOG); client-bytes/op what the client received.

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// boundedSetup is a client named for SLOWLOG, a counting wrapper, and a
// kind of n entries.
func boundedSetup(b *testing.B, n int, tag string) (*redis.Client, *countingRedis, *slowlog, bool, Kind) {
	name := "dlq-bench-bounded-" + tag + "-" + strconv.Itoa(os.Getpid())
	c := benchClient(b, func(o *redis.Options) { o.ClientName = name; o.ReadTimeout = 10 * time.Second })
	sl, ok := newSlowlog(b, benchClient(b), name)
	k := freshKind(b, c, "bounded-"+tag)
	fill(b, c, k, n)
	return c, &countingRedis{Redis: c}, sl, ok, k
}

func reportCall(b *testing.B, sl *slowlog, ok bool) {
	if !ok {
		return
	}
	top, args, _ := sl.longest(b)
	b.ReportMetric(float64(top.Microseconds()), "max-call-µs")
	if len(args) > 0 {
		b.Logf("longest call: %.40s (%v)", strings.Join(args, " "), top)
	}
}

// BenchmarkBoundedMiss pops ids that are not there (a UUIDv7, a uuid4 and
// junk) from 100,000 entries, beside a raw LPOS of a missing string (the
// least a scan of the list costs).
func BenchmarkBoundedMiss(b *testing.B) {
	const n = 100_000
	c, cnt, sl, ok, k := boundedSetup(b, n, "miss")
	svc := benchService(cnt)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		id   func() string
	}{
		{"uuidv7", func() string { return uuid.Must(uuid.NewV7()).String() }},
		{"uuid4", uuid.NewString},
		{"junk", func() string { return "x" }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			_, _ = svc.Pop(ctx, k, tc.id()) // loads the scripts
			t0 := time.Now()
			if err := c.LPos(ctx, k.Key(), "not there", redis.LPosArgs{MaxLen: 0}).Err(); err != redis.Nil {
				b.Fatal(err)
			}
			raw := time.Since(t0)
			if ok {
				sl.reset(b)
			}
			cnt.bytes.Store(0)
			var d time.Duration
			ops := 0
			for b.Loop() {
				t0 := time.Now()
				if _, err := svc.Pop(ctx, k, tc.id()); !errors.Is(err, ErrNotFound) {
					b.Fatal(err)
				}
				d += time.Since(t0)
				ops++
			}
			b.ReportMetric(float64(d.Microseconds())/float64(ops), "dlq-µs/op")
			b.ReportMetric(float64(raw.Microseconds()), "raw-LPOS-scan-µs")
			b.ReportMetric(float64(cnt.bytes.Load())/float64(ops), "client-bytes/op")
			reportCall(b, sl, ok)
		})
	}
}

// BenchmarkBoundedPythonPop pops a Python (uuid4) entry among the newest
// and one at the far end of 100,000 entries; each is pushed (untimed)
// before its pop.
func BenchmarkBoundedPythonPop(b *testing.B) {
	const n = 100_000
	c, cnt, sl, ok, k := boundedSetup(b, n, "py")
	svc := benchService(cnt)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		push func(string) error
	}{
		{"newest", func(e string) error { return c.LPush(ctx, k.Key(), e).Err() }},
		{"far-end", func(e string) error { return c.RPush(ctx, k.Key(), e).Err() }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if ok {
				sl.reset(b)
			}
			cnt.bytes.Store(0)
			var d time.Duration
			ops := 0
			for b.Loop() {
				b.StopTimer()
				id := uuid.NewString()
				if err := tc.push(advEntry(id, "python", time.Now())); err != nil {
					b.Fatal(err)
				}
				cnt.bytes.Store(0)
				b.StartTimer()
				t0 := time.Now()
				if _, err := svc.Pop(ctx, k, id); err != nil {
					b.Fatal(err)
				}
				d += time.Since(t0)
				ops++
			}
			b.ReportMetric(float64(d.Microseconds())/float64(ops), "dlq-µs/op")
			b.ReportMetric(float64(cnt.bytes.Load()), "client-bytes/op")
			reportCall(b, sl, ok)
		})
	}
}

// BenchmarkBoundedBulk runs two DeleteMatching(all) at once, and a
// RetryMatching(all) with a no-op Requeuer, on 100,000 entries, beside one
// pass of LRANGE pages over the same list.
func BenchmarkBoundedBulk(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(svc *Service, k Kind) error
	}{
		{"two-delete-all", func(svc *Service, k Kind) error {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			res := make([]BulkResult, 2)
			for i := range 2 {
				wg.Add(1)
				go func() { defer wg.Done(); res[i], errs[i] = svc.DeleteMatching(ctx, k, Filter{}) }()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				return err
			}
			if h := res[0].Handled + res[1].Handled; h != n {
				return errors.New("handled " + strconv.Itoa(h))
			}
			return nil
		}},
		{"retry-all", func(svc *Service, k Kind) error {
			res, err := svc.RetryMatching(ctx, k, Filter{})
			if err == nil && res.Handled != n {
				err = errors.New("handled " + strconv.Itoa(res.Handled))
			}
			return err
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var d, raw time.Duration
			ops := 0
			var sl *slowlog
			var ok bool
			for b.Loop() {
				b.StopTimer()
				var c *redis.Client
				var k Kind
				c, _, sl, ok, k = boundedSetup(b, n, tc.name)
				svc := benchService(c, WithMaxItems(0), WithRequeuer(RequeueFunc(func(context.Context, Item) error { return nil })))
				t0 := time.Now()
				for off := int64(0); off < n; off += readPage {
					if err := c.LRange(ctx, k.Key(), -(off + readPage), -(off + 1)).Err(); err != nil {
						b.Fatal(err)
					}
				}
				raw += time.Since(t0)
				if ok {
					sl.reset(b)
				}
				b.StartTimer()
				t0 = time.Now()
				if err := tc.run(svc, k); err != nil {
					b.Fatal(err)
				}
				d += time.Since(t0)
				ops++
			}
			b.ReportMetric(d.Seconds()/float64(ops), "dlq-s/op")
			b.ReportMetric(float64(d)/float64(raw), "ratio")
			reportCall(b, sl, ok)
		})
	}
}

// BenchmarkBoundedBigEntries works on 2,500 entries of 64 KiB: misses, a
// pop, and DeleteMatching(all), and reports the longest call and Redis'
// peak memory over what the list holds.
func BenchmarkBoundedBigEntries(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		name := "dlq-bench-big-" + strconv.Itoa(os.Getpid())
		c := benchClient(b, func(o *redis.Options) { o.ClientName = name; o.ReadTimeout = 10 * time.Second })
		sl, ok := newSlowlog(b, benchClient(b), name)
		k := freshKind(b, c, "big")
		base := usedMemory(b, c)
		pad := strings.Repeat("x", 64<<10)
		var ids []string
		for i := range 2500 {
			it := benchItem(k, time.Now().UnixMilli()-2500+int64(i), pad)
			ids = append(ids, it.ID)
			if err := c.LPush(ctx, k.Key(), string(it.appendJSON(nil))).Err(); err != nil {
				b.Fatal(err)
			}
		}
		held := usedMemory(b, c) - base
		svc := benchService(c, WithMaxItems(0))
		if ok {
			sl.reset(b)
		}
		stop := make(chan struct{})
		var peak int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				peak = max(peak, usedMemoryOf(c)-base)
			}
		}()
		b.StartTimer()
		for _, id := range []string{uuid.Must(uuid.NewV7()).String(), uuid.NewString(), "x"} {
			if _, err := svc.Pop(ctx, k, id); !errors.Is(err, ErrNotFound) {
				b.Fatal(err)
			}
		}
		if _, err := svc.Pop(ctx, k, ids[1250]); err != nil {
			b.Fatal(err)
		}
		if res, err := svc.DeleteMatching(ctx, k, Filter{}); err != nil || res.Handled != 2499 {
			b.Fatal(res, err)
		}
		b.StopTimer()
		close(stop)
		wg.Wait()
		b.ReportMetric(float64(peak)/float64(held), "peak-memory/held")
		reportCall(b, sl, ok)
		b.StartTimer()
	}
}

func usedMemory(b *testing.B, c *redis.Client) int64 {
	n := usedMemoryOf(c)
	if n == 0 {
		b.Fatal("INFO memory says no used_memory")
	}
	return n
}

// usedMemoryOf is Redis' used_memory, 0 when it cannot be read.
func usedMemoryOf(c *redis.Client) int64 {
	s, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

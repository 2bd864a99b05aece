package dlq

// Benchmarks of each operation beside the raw Redis commands that do the
// same work, on a real redis-server:
//
//	DLQ_TEST_REDIS_ADDR=127.0.0.1:6379 go test -run '^$' -bench . -benchmem .
//
// They use database 12 and delete only their own keys.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

const benchDB = 12

// errBench is a typical scraper error; entries are about 250 bytes.
var errBench = errors.New(`GET https://shop.example.com/products/7731?page=2: 503 Service Unavailable`)

func benchClient(b *testing.B) *redis.Client {
	b.Helper()
	addr := os.Getenv(dlqtest.AddrEnv)
	if addr == "" {
		b.Skipf("set %s=host:port of a real redis-server to run the benchmarks", dlqtest.AddrEnv)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DB: benchDB, PoolSize: 64})
	if err := c.Ping(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// benchService is a Service that logs nothing, so that eviction warnings do
// not interleave with the results. Its background work ends before b's
// keys are deleted.
func benchService(b *testing.B, c *redis.Client, opts ...Option) *Service {
	svc := New(c, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	b.Cleanup(svc.bg.Wait)
	return svc
}

// freshKind returns a kind whose keys are deleted now and after b.
func freshKind(b *testing.B, c *redis.Client, name string) Kind {
	b.Helper()
	k := Kind("bench-" + name)
	clean := func() { _ = c.Del(context.Background(), dlqtest.Keys(string(k))...).Err() }
	clean()
	b.Cleanup(clean)
	return k
}

// fill pushes n entries the way Push stores them, 1,000 to a pipeline, and
// returns their ids, oldest first.
func fill(b *testing.B, svc *Service, k Kind, n int) []string {
	b.Helper()
	ctx := context.Background()
	c := svc.rdb.(*redis.Client)
	ks := keysOf(k)
	ids := make([]string, 0, n)
	for done := 0; done < n; {
		pipe := c.Pipeline()
		batch := 0
		for ; batch < 1000 && done < n; batch, done = batch+1, done+1 {
			it := Item{ID: uuid.NewString(), SourceID: uuid.NewString(), Error: errBench.Error(), FailedAt: time.Now(), Kind: k}
			entry := it.appendJSON(nil)
			pipe.LPush(ctx, ks.list, entry)
			pipe.HSet(ctx, ks.index, it.ID, entry)
			ids = append(ids, it.ID)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if over := n - svc.maxItems; svc.maxItems > 0 && over > 0 {
		if _, err := svc.trimOnce(ctx, ks, over); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

func sampleEntry(k Kind) []byte {
	return Item{ID: uuid.NewString(), SourceID: uuid.NewString(), Error: errBench.Error(), FailedAt: time.Now(), Kind: k}.appendJSON(nil)
}

// BenchmarkPush compares Push to a raw LPUSH of the same bytes, from 1 and
// from 32 goroutines: with the list at its cap, so that every push also
// evicts the oldest entry and its index entry, and below the cap.
func BenchmarkPush(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	const capN = 10_000
	for _, par := range []int{1, 32} {
		b.Run(fmt.Sprintf("clients=%d/raw-LPUSH", par), func(b *testing.B) {
			k := freshKind(b, c, "push-raw")
			entry := sampleEntry(k)
			runPar(b, par, func() error { return c.LPush(ctx, k.Key(), entry).Err() })
		})
		b.Run(fmt.Sprintf("clients=%d/dlq-at-cap", par), func(b *testing.B) {
			k := freshKind(b, c, "push-dlq")
			svc := benchService(b, c, WithMaxItems(capN))
			fill(b, svc, k, capN)
			src := uuid.New()
			b.ReportAllocs()
			runPar(b, par, func() error { _, err := svc.Push(ctx, k, src, errBench); return err })
		})
		b.Run(fmt.Sprintf("clients=%d/dlq-below-cap", par), func(b *testing.B) {
			k := freshKind(b, c, "push-dlq")
			svc := benchService(b, c)
			src := uuid.New()
			b.ReportAllocs()
			runPar(b, par, func() error { _, err := svc.Push(ctx, k, src, errBench); return err })
		})
	}
}

// runPar runs op b.N times over par goroutines.
func runPar(b *testing.B, par int, op func() error) {
	b.Helper()
	if par == 1 {
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism((par + 1) / 2) // GOMAXPROCS is 2 here; see README
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// rawItem is what a hand-written reader would decode entries into.
type rawItem struct {
	ID         string  `json:"id"`
	SourceID   string  `json:"source_id"`
	JobID      *string `json:"job_id"`
	Error      string  `json:"error"`
	FailedAt   string  `json:"failed_at"`
	RetryCount int     `json:"retry_count"`
	Kind       string  `json:"dlq_type"`
}

// BenchmarkList100 compares List(100) with LRANGE 0 99 plus json.Unmarshal
// of each entry.
func BenchmarkList100(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	svc := benchService(b, c)
	k := freshKind(b, c, "list")
	fill(b, svc, k, 1000)
	b.Run("raw-LRANGE+Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raws, err := c.LRange(ctx, k.Key(), 0, 99).Result()
			if err != nil {
				b.Fatal(err)
			}
			items := make([]rawItem, len(raws))
			for i, raw := range raws {
				if err := json.Unmarshal([]byte(raw), &items[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("dlq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if items, err := svc.List(ctx, k, 100); err != nil || len(items) != 100 {
				b.Fatal(len(items), err)
			}
		}
	})
}

// BenchmarkPopOldest pops the oldest entry at N entries: Pop by id beside a
// raw LREM of its exact stored string, from the head (count 1, what a
// list-scanning DLQ does) and from the tail (count -1). After each pop the
// entry is put back at the tail, untimed, so N and the position stay.
func BenchmarkPopOldest(b *testing.B) {
	benchPopAt(b, "oldest", func(ids []string) string { return ids[0] })
}

// BenchmarkPopNewest is the same for the newest entry.
func BenchmarkPopNewest(b *testing.B) {
	benchPopAt(b, "newest", func(ids []string) string { return ids[len(ids)-1] })
}

func benchPopAt(b *testing.B, where string, pick func(ids []string) string) {
	c := benchClient(b)
	ctx := context.Background()
	for _, n := range []int{1_000, 10_000, 100_000} {
		svc := benchService(b, c, WithMaxItems(0))
		k := freshKind(b, c, "pop-"+where)
		ks := keysOf(k)
		ids := fill(b, svc, k, n)
		id := pick(ids)
		entry, err := c.HGet(ctx, ks.index, id).Result()
		if err != nil {
			b.Fatal(err)
		}
		putBack := func() {
			if where == "oldest" {
				err = c.RPush(ctx, ks.list, entry).Err()
			} else {
				err = c.LPush(ctx, ks.list, entry).Err()
			}
			if err == nil {
				err = c.HSet(ctx, ks.index, id, entry).Err()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		for _, count := range []int64{1, -1} {
			b.Run(fmt.Sprintf("N=%d/raw-LREM-%d", n, count), func(b *testing.B) {
				for b.Loop() {
					if removed, err := c.LRem(ctx, ks.list, count, entry).Result(); err != nil || removed != 1 {
						b.Fatal(removed, err)
					}
					b.StopTimer()
					putBack()
					b.StartTimer()
				}
			})
		}
		b.Run(fmt.Sprintf("N=%d/dlq", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := svc.Pop(ctx, k, id); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				putBack()
				b.StartTimer()
			}
		})
		// Pop of an entry another program wrote: the paged scan.
		if where == "oldest" {
			b.Run(fmt.Sprintf("N=%d/dlq-unindexed", n), func(b *testing.B) {
				if err := c.HDel(ctx, ks.index, id).Err(); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := svc.Pop(ctx, k, id); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := c.RPush(ctx, ks.list, entry).Err(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkMemoryPerEntry pushes 100,000 entries and reports Redis memory
// per entry (INFO memory before and after) and its ratio to the entry's
// JSON size. It ignores b.N: one fill is the measurement.
func BenchmarkMemoryPerEntry(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	const n = 100_000
	k := freshKind(b, c, "memory")
	svc := benchService(b, c, WithMaxItems(0))
	before := usedMemory(b, c)
	fill(b, svc, k, n)
	after := usedMemory(b, c)
	raws, err := c.LRange(ctx, k.Key(), 0, 999).Result()
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, r := range raws {
		total += len(r)
	}
	jsonSize := float64(total) / float64(len(raws))
	perEntry := float64(after-before) / n
	for b.Loop() {
	}
	b.ReportMetric(perEntry, "redis-bytes/entry")
	b.ReportMetric(jsonSize, "json-bytes/entry")
	b.ReportMetric(perEntry/jsonSize, "ratio")
}

func usedMemory(b *testing.B, c *redis.Client) int64 {
	b.Helper()
	s, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}

// BenchmarkPushWhilePopping measures push latency at N = 100,000 from 8
// goroutines, without pops, with an operator popping entries at random
// positions 20 times a second, and with pops back to back: each pop's LREM
// scans from the nearer end and keeps Redis busy for up to the time of a
// scan of N/2 entries, which is what could stall pushers. Reports pushes/s,
// pops/s and the p50, p99 and max push latency. Run it with
// -benchtime=20000x or more.
func BenchmarkPushWhilePopping(b *testing.B) {
	for _, pops := range []struct {
		name  string
		every time.Duration // between pops; 0: back to back
	}{{"none", -1}, {"20-per-second", 50 * time.Millisecond}, {"back-to-back", 0}} {
		b.Run("pops="+pops.name, func(b *testing.B) {
			benchPushWhilePopping(b, pops.every)
		})
	}
}

// benchPushWhilePopping pops entries at random positions, one every
// `every` (back to back for 0, none for a negative value).
func benchPushWhilePopping(b *testing.B, every time.Duration) {
	c := benchClient(b)
	ctx := context.Background()
	const n = 100_000
	k := freshKind(b, c, "push-pop")
	svc := benchService(b, c, WithMaxItems(0))
	ids := fill(b, svc, k, n)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })

	stop := make(chan struct{})
	var pops atomic.Int64
	var wg sync.WaitGroup
	if every >= 0 {
		wg.Go(func() {
			tick := time.NewTicker(max(every, time.Microsecond))
			defer tick.Stop()
			for _, id := range ids {
				select {
				case <-stop:
					return
				default:
				}
				if every > 0 {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
				if _, err := svc.Pop(ctx, k, id); err != nil {
					b.Error(err)
					return
				}
				pops.Add(1)
			}
		})
	}

	const pushers = 8
	lat := make([][]time.Duration, pushers)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var pw sync.WaitGroup
	for g := range pushers {
		pw.Go(func() {
			src := uuid.New()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if _, err := svc.Push(ctx, k, src, errBench); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		})
	}
	pw.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	wg.Wait()

	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "pushes/s")
	b.ReportMetric(float64(pops.Load())/elapsed.Seconds(), "pops/s")
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(1), "max-µs")
}

func withMatch(m func(Item) bool) BulkOption { return func(c *bulkConfig) { c.match = m } }

// BenchmarkBulkDelete deletes the entries matching a filter from N =
// 100,000, for filters matching every entry, every 10th and every 100th,
// beside one pass of LRANGE over the list in the same windows: the least
// any bulk action must read.
func BenchmarkBulkDelete(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	const n = 100_000
	for _, every := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("match=1in%d", every), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				k := freshKind(b, c, "bulk")
				svc := benchService(b, c, WithMaxItems(0))
				ids := fill(b, svc, k, n)
				want := map[string]bool{}
				for i := 0; i < n; i += every {
					want[ids[i]] = true
				}
				f := Filter{}
				_ = c.ConfigResetStat(ctx).Err()
				b.StartTimer()
				res, err := svc.bulk(ctx, "bench", k, f, false, []BulkOption{withMatch(func(it Item) bool { return want[it.ID] })})
				if err != nil || res.Handled != len(want) {
					b.Fatal(res, err)
				}
			}
		})
	}
	b.Run("raw-LRANGE-pass", func(b *testing.B) {
		k := freshKind(b, c, "bulk-raw")
		fill(b, benchService(b, c, WithMaxItems(0)), k, n)
		for b.Loop() {
			for off := int64(0); off < n; off += bulkRead {
				if err := c.LRange(ctx, k.Key(), off, off+bulkRead-1).Err(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkPushAlternating measures one client's push throughput against a
// raw LPUSH of the same bytes on a noisy machine: the two run in alternating
// blocks of pushBlock operations within one loop, so both see the same
// minutes of the machine, and it reports the throughput ratio (raw time /
// dlq time). Blocks rather than single operations: go-redis sends
// pipelines over connections of their own, and a command right after a
// command on another connection costs more (a raw LPUSH alternating with
// a one-command pipeline took 71 µs instead of 60 µs), which would make
// both sides slower and the ratio look better than it is. Each dlq block
// ends by writing its pending index entries and waiting for its background
// trim, so that no work it caused is timed in the raw block. raw-vs-raw
// alternates two raw LPUSH loops and should read 1.00.
func BenchmarkPushAlternating(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	cases := []struct {
		name string
		capN int  // 0: no cap; -1: raw LPUSH on both sides
		full bool // with capN 0: the list and index start with DefaultMaxItems entries
	}{
		{name: "raw-vs-raw", capN: -1},
		{name: "at-cap=100000", capN: DefaultMaxItems},
		{name: "at-cap=10000", capN: 10_000},
		{name: "below-cap", capN: 0},
		// As large as at-cap=100000 but never trimmed: the difference
		// between the two is what the trims cost.
		{name: "100000-no-cap", capN: 0, full: true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			raw := freshKind(b, c, "alt-raw")
			k := freshKind(b, c, "alt-dlq")
			entry := sampleEntry(k)
			svc := benchService(b, c, WithMaxItems(max(tc.capN, 0)))
			if tc.capN > 0 {
				fill(b, svc, k, tc.capN)
			}
			if tc.full {
				fill(b, svc, k, DefaultMaxItems)
			}
			src := uuid.New()
			ours := func() error { _, err := svc.Push(ctx, k, src, errBench); return err }
			if tc.capN < 0 {
				ours = func() error { return c.LPush(ctx, k.Key(), entry).Err() }
			}
			var rawT, dlqT time.Duration
			i := 0
			for b.Loop() {
				t0 := time.Now()
				if i%(2*pushBlock) < pushBlock {
					if err := c.LPush(ctx, raw.Key(), entry).Err(); err != nil {
						b.Fatal(err)
					}
					rawT += time.Since(t0)
				} else {
					if err := ours(); err != nil {
						b.Fatal(err)
					}
					if i%(2*pushBlock) == 2*pushBlock-1 {
						// The block's background work (index writes,
						// trims) is timed with it, not with the raw block
						// that follows.
						if err := svc.Flush(ctx); err != nil {
							b.Fatal(err)
						}
						svc.bg.Wait()
					}
					dlqT += time.Since(t0)
				}
				i++
			}
			half := float64(b.N) / 2
			b.ReportMetric(float64(rawT)/float64(dlqT), "throughput-ratio")
			b.ReportMetric(float64(rawT.Microseconds())/half, "raw-µs/op")
			b.ReportMetric(float64(dlqT.Microseconds())/half, "dlq-µs/op")
		})
	}
}

// pushBlock is how many operations BenchmarkPushAlternating runs on one
// side before it switches to the other.
const pushBlock = 500

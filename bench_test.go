package dlq

// Benchmarks of the figures of issue #11, each beside the raw Redis
// commands doing the same work, on a real redis-server:
//
//	DLQ_TEST_REDIS_ADDR=127.0.0.1:6379 go test -run '^$' -bench . -count 5 .
//
// They use database 12 and delete only their own keys. Each one reports
// the ratio to its raw counterpart (b.ReportMetric) and is correct at one
// iteration (CI runs them with -benchtime=1x): lists of 100,000 entries are
// filled with pipelined LPUSHes of pre-encoded entries, in well under a
// second.

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
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
	"github.com/dlqkit/dlq/internal/rdb"
)

// benchDB is the benchmarks' database on the real server.
const benchDB = 12

// entryBytes is the size of every benchmark entry, as stored: a typical
// scraper failure.
const entryBytes = 317

func benchAddr(b *testing.B) string {
	b.Helper()
	addr := os.Getenv(dlqtest.AddrEnv)
	if addr == "" {
		b.Skipf("set %s=host:port of a real redis-server to run the benchmarks", dlqtest.AddrEnv)
	}
	return addr
}

// benchClient returns a client of the benchmarks' database, closed after b.
func benchClient(b *testing.B, opts ...func(*redis.Options)) *redis.Client {
	b.Helper()
	o := &redis.Options{Addr: benchAddr(b), DB: benchDB, PoolSize: 64}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	if err := c.Ping(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// benchService is a Service that logs nothing.
func benchService(c Redis, opts ...Option) *Service {
	return New(c, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
}

// freshKind returns a kind whose keys are deleted now and after b.
func freshKind(b *testing.B, c *redis.Client, name string) Kind {
	b.Helper()
	k := Kind("bench-" + name)
	clean := func() { _ = dlqtest.Clean(context.Background(), c, string(k)) }
	clean()
	b.Cleanup(clean)
	return k
}

// causeFor returns an error whose text makes a pushed entry of kind k
// exactly entryBytes long.
func causeFor(k Kind) error {
	base := len(benchItem(k, 0, "").appendJSON(nil))
	text := "GET https://shop.example.com/products/7731?page=2: 503 Service Unavailable; "
	text = strings.Repeat(text, entryBytes/len(text)+1)[:entryBytes-base]
	return fmt.Errorf("%s", text)
}

// benchItem is an item as Push writes it, pushed at unix millisecond ms.
func benchItem(k Kind, ms int64, text string) Item {
	u := uuid.New()
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | u[6]&0x0f // version 7; the variant bits of New's v4 stay
	return Item{
		ID:       u.String(),
		SourceID: uuid.NewString(),
		Error:    text,
		FailedAt: time.UnixMilli(ms).UTC(),
		Kind:     k,
	}
}

// fill pushes n entries the way Push stores them (LPUSH plus the pushed
// counter and the history buckets, through rdb.Push), 1,000 to a round
// trip, pushed one millisecond apart and ending now. It returns their ids
// and the stored strings, oldest first: entry j is at index n-1-j from the
// head.
func fill(b *testing.B, c *redis.Client, k Kind, n int) (ids, entries []string) {
	b.Helper()
	ctx := context.Background()
	text := causeFor(k).Error()
	start := time.Now().UnixMilli() - int64(n)
	ids, entries = make([]string, n), make([]string, n)
	batch := make([]any, 0, 1000)
	for j := range n {
		it := benchItem(k, start+int64(j), text)
		ids[j], entries[j] = it.ID, string(it.appendJSON(nil))
		batch = append(batch, entries[j])
		if len(batch) == cap(batch) || j == n-1 {
			if _, _, err := rdb.Push(ctx, c, k.keys(), batch, time.Now()); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return ids, entries
}

// sign is the LREM count that scans from the end nearer to index i of a
// list of n entries, as the library's scripts choose it.
func sign(i, n int) int64 {
	if 2*i < n {
		return 1
	}
	return -1
}

// BenchmarkMemoryPerEntry fills a kind with 100,000 entries of 317 bytes
// and reports MEMORY USAGE (SAMPLES 0: every element) of all the kind's
// keys per entry, beside the entry's JSON size. The raw counterpart is the
// JSON itself: ratio is Redis bytes per JSON byte. It ignores b.N: the
// fill is the measurement.
func BenchmarkMemoryPerEntry(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	const n = 100_000
	k := freshKind(b, c, "memory")
	_, entries := fill(b, c, k, n)
	jsonBytes := 0
	for _, e := range entries {
		jsonBytes += len(e)
	}
	var used int64
	for _, key := range k.keys().All() {
		m, err := c.MemoryUsage(ctx, key, 0).Result()
		if err != nil && err != redis.Nil {
			b.Fatal(err)
		}
		used += m
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(used)/n, "redis-B/entry")
	b.ReportMetric(float64(jsonBytes)/n, "json-B/entry")
	b.ReportMetric(float64(used)/float64(jsonBytes), "ratio")
}

// pushBlock is how many operations the alternating push benchmarks run on
// one side before they switch to the other.
const pushBlock = 500

// BenchmarkPushAlternating measures one client's Push against a raw LPUSH
// of an entry of the same size on a noisy machine: the two run in
// alternating blocks of pushBlock operations within one loop, so both see
// the same moments of the machine. Blocks rather than single operations:
// Push's pipeline goes over a connection of its own, and switching
// connections on every command would slow both sides alike. ratio is the
// throughput ratio (raw time per op / dlq time per op; ≥ 1 means Push is
// as fast). raw-vs-raw alternates two raw LPUSH loops and should read 1.00;
// raw-vs-raw-pipeline sends Push's round trip (LPUSH, INCRBY of the pushed
// counter, HINCRBY of two history buckets) raw: what the counters cost;
// raw-vs-raw-one-counter sends LPUSH and a single HINCRBY: what any
// counter in the push's round trip costs at the least; raw-vs-build-lpush
// builds each entry as Push does (a UUIDv7, the time, the JSON) and sends
// it with a raw LPUSH, no counter: what a push without counters would
// cost at the least.
func BenchmarkPushAlternating(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		fill int  // entries in the list before the first push
		raw  bool // raw LPUSH on both sides
		pipe bool // ours is Push's round trip sent raw: LPUSH, INCRBY, 2 HINCRBY
		one  bool // ours is LPUSH and one HINCRBY, raw
		make bool // ours builds the entry as Push does, then a raw LPUSH
	}{
		{name: "raw-vs-raw", raw: true},
		{name: "raw-vs-raw-pipeline", pipe: true},
		{name: "raw-vs-raw-one-counter", one: true},
		{name: "raw-vs-build-lpush", make: true},
		{name: "below-cap"},
		{name: "at-cap=100000", fill: DefaultMaxItems},
	} {
		b.Run(tc.name, func(b *testing.B) {
			raw := freshKind(b, c, "alt-raw")
			k := freshKind(b, c, "alt-dlq")
			cause := causeFor(k)
			entry := benchItem(k, time.Now().UnixMilli(), cause.Error()).appendJSON(nil)
			svc := benchService(c)
			if tc.fill > 0 {
				fill(b, c, k, tc.fill)
			}
			src := uuid.New()
			ours := func() error { _, err := svc.Push(ctx, k, src, cause); return err }
			if tc.raw {
				ours = func() error { return c.LPush(ctx, k.Key(), entry).Err() }
			}
			if tc.pipe {
				ks := k.keys()
				ours = func() error {
					p := c.Pipeline()
					p.LPush(ctx, ks.List, entry)
					p.IncrBy(ctx, ks.Pushed, 1)
					p.HIncrBy(ctx, ks.History, "m1", 1)
					p.HIncrBy(ctx, ks.History, "h1", 1)
					_, err := p.Exec(ctx)
					return err
				}
			}
			if tc.one {
				ks := k.keys()
				ours = func() error {
					p := c.Pipeline()
					p.LPush(ctx, ks.List, entry)
					p.HIncrBy(ctx, ks.History, "m1", 1)
					_, err := p.Exec(ctx)
					return err
				}
			}
			if tc.make {
				ours = func() error {
					id, err := uuid.NewV7()
					if err != nil {
						return err
					}
					it := Item{ID: id.String(), SourceID: src.String(), Error: cause.Error(),
						FailedAt: time.Now().UTC().Truncate(time.Microsecond), Kind: k}
					return c.LPush(ctx, k.Key(), it.appendJSON(make([]byte, 0, 192+len(it.Error)))).Err()
				}
			}
			theirs := func() error { return c.LPush(ctx, raw.Key(), entry).Err() }
			var rawT, dlqT time.Duration
			var rawN, dlqN int
			timed := func(op func() error, t *time.Duration, n *int) {
				t0 := time.Now()
				if err := op(); err != nil {
					b.Fatal(err)
				}
				*t += time.Since(t0)
				*n++
			}
			i := 0
			for b.Loop() {
				if i%(2*pushBlock) < pushBlock {
					timed(theirs, &rawT, &rawN)
				} else {
					timed(ours, &dlqT, &dlqN)
				}
				i++
			}
			if dlqN == 0 { // b.N < pushBlock: one op of ours all the same
				timed(ours, &dlqT, &dlqN)
			}
			reportPair(b, rawT, rawN, dlqT, dlqN)
		})
	}
}

// reportPair reports µs per op of both sides and their throughput ratio.
func reportPair(b *testing.B, rawT time.Duration, rawN int, dlqT time.Duration, dlqN int) {
	raw := rawT.Seconds() * 1e6 / float64(rawN)
	ours := dlqT.Seconds() * 1e6 / float64(dlqN)
	b.ReportMetric(raw, "raw-µs/op")
	b.ReportMetric(ours, "dlq-µs/op")
	b.ReportMetric(raw/ours, "ratio")
}

// BenchmarkPushParallel measures Push from 32 goroutines against raw
// LPUSH from 32 goroutines: rounds of parRound pushes on each side in
// turn, each round timed from its first push to its last reply. ratio is
// the throughput ratio (raw wall time / dlq wall time for as many pushes);
// Push's group commit sends the pushes that wait for one another in one
// round trip. raw-vs-raw should read 1.00.
func BenchmarkPushParallel(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	const clients = 32
	for _, rawBoth := range []bool{true, false} {
		name := "clients=32/dlq"
		if rawBoth {
			name = "clients=32/raw-vs-raw"
		}
		b.Run(name, func(b *testing.B) {
			raw := freshKind(b, c, "par-raw")
			k := freshKind(b, c, "par-dlq")
			cause := causeFor(k)
			entry := benchItem(k, time.Now().UnixMilli(), cause.Error()).appendJSON(nil)
			svc := benchService(c)
			src := uuid.New()
			ours := func() error { _, err := svc.Push(ctx, k, src, cause); return err }
			if rawBoth {
				ours = func() error { return c.LPush(ctx, k.Key(), entry).Err() }
			}
			theirs := func() error { return c.LPush(ctx, raw.Key(), entry).Err() }
			var rawT, dlqT time.Duration
			var rawN, dlqN int
			b.ResetTimer()
			for done := 0; done < b.N; {
				m := min(parRound, b.N-done)
				rawT += runClients(b, clients, m, theirs)
				dlqT += runClients(b, clients, m, ours)
				rawN, dlqN = rawN+m, dlqN+m
				done += m
			}
			b.StopTimer()
			reportPair(b, rawT, rawN, dlqT, dlqN)
		})
	}
}

// parRound is how many pushes one side of BenchmarkPushParallel runs
// before the other side's turn.
const parRound = 3200

// runClients runs op m times over the given number of goroutines and
// returns the wall time.
func runClients(b *testing.B, clients, m int, op func() error) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(m) {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(t0)
}

// asynqRunTask is the script of asynq's RDB.RunTask for an archived task
// (hibiken/asynq, internal/rdb/inspect.go, runTaskCmd): check the task
// hash, read its state, ZREM the id from the state's ZSET, LPUSH it to the
// pending list, and set the state. RDB.RunTask first checks that the queue
// exists with SISMEMBER asynq:queues (checkQueueExists), in a round trip of
// its own; asynqQueue.run does both.
//
// KEYS[1] the task hash, KEYS[2] the pending list
// ARGV[1] the task id, ARGV[2] the queue's key prefix
var asynqRunTask = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'active' or state == 'pending' then return -1 end
if redis.call('ZREM', ARGV[2] .. state, ARGV[1]) == 0 then
  return redis.error_reply('task not in ' .. tostring(state))
end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'pending')
return 1
`)

// asynqQueue is an emulated asynq queue holding archived tasks: a ZSET of
// ids scored by time, one hash per task with its message and state.
type asynqQueue struct {
	c      *redis.Client
	name   string // the queue's name, a member of asynqQueues
	prefix string // asynq:{name}:
}

// asynqQueues is asynq's set of all queue names (base.AllQueues).
const asynqQueues = "asynq:queues"

func (q asynqQueue) task(id string) string { return q.prefix + "t:" + id }

// newAsynqQueue archives one task per entry, with the entry as its
// message; its keys are deleted after b.
func newAsynqQueue(b *testing.B, c *redis.Client, name string, ids, entries []string) asynqQueue {
	b.Helper()
	ctx := context.Background()
	q := asynqQueue{c: c, name: "bench-" + name, prefix: "asynq:{bench-" + name + "}:"}
	clean := func() {
		for lo := 0; lo < len(ids); lo += 1000 {
			keys := []string{q.prefix + "archived", q.prefix + "pending"}
			for _, id := range ids[lo:min(lo+1000, len(ids))] {
				keys = append(keys, q.task(id))
			}
			_ = c.Del(ctx, keys...).Err()
		}
	}
	clean()
	b.Cleanup(func() { clean(); _ = c.SRem(ctx, asynqQueues, q.name).Err() })
	if err := c.SAdd(ctx, asynqQueues, q.name).Err(); err != nil {
		b.Fatal(err)
	}
	for lo := 0; lo < len(ids); lo += 1000 {
		p := c.Pipeline()
		for j := lo; j < min(lo+1000, len(ids)); j++ {
			p.ZAdd(ctx, q.prefix+"archived", redis.Z{Score: float64(j), Member: ids[j]})
			p.HSet(ctx, q.task(ids[j]), "msg", entries[j], "state", "archived")
		}
		if _, err := p.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return q
}

// run does what asynq's RDB.RunTask does: check that the queue exists,
// then run the script.
func (q asynqQueue) run(ctx context.Context, id string) error {
	ok, err := q.c.SIsMember(ctx, asynqQueues, q.name).Result()
	if err != nil || !ok {
		return fmt.Errorf("asynq queue %s: exists %v, %v", q.name, ok, err)
	}
	return q.script(ctx, id)
}

// script runs RunTask's script alone, without the SISMEMBER before it.
func (q asynqQueue) script(ctx context.Context, id string) error {
	n, err := asynqRunTask.Run(ctx, q.c, []string{q.task(id), q.prefix + "pending"}, id, q.prefix).Int()
	if err == nil && n != 1 {
		err = fmt.Errorf("asynq RunTask answered %d", n)
	}
	return err
}

// archive puts a task run by run back into the archive.
func (q asynqQueue) archive(ctx context.Context, id string, score int) error {
	p := q.c.Pipeline()
	p.ZAdd(ctx, q.prefix+"archived", redis.Z{Score: float64(score), Member: id})
	p.HSet(ctx, q.task(id), "state", "archived")
	p.Del(ctx, q.prefix+"pending")
	_, err := p.Exec(ctx)
	return err
}

// BenchmarkPopEnd pops the oldest and the newest entry at N = 10,000 and
// 100,000 entries, beside asynq's RunTask of an archived task in a queue of
// N archived tasks (its way of taking one entry out of its DLQ: SISMEMBER,
// then its script; see asynqRunTask), its script alone, and a raw LREM of
// the entry from its nearer end. The four alternate, one op each; after
// each, the entry or task is put back, untimed, so N and the position stay.
// ratio is asynq's RunTask time per op / dlq's (≥ 1: Pop is as fast as
// asynq's RunTask); ratio-to-script compares with its script alone, one
// round trip like Pop; raw-LREM-µs/op is the floor.
func BenchmarkPopEnd(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	for _, where := range []string{"oldest", "newest"} {
		for _, n := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/N=%d", where, n), func(b *testing.B) {
				k := freshKind(b, c, "pop-end")
				svc := benchService(c, WithMaxItems(0))
				ids, entries := fill(b, c, k, n)
				q := newAsynqQueue(b, c, "pop-end", ids, entries)
				j, count := 0, int64(-1) // the oldest: at the tail
				if where == "newest" {
					j, count = n-1, 1
				}
				id, entry := ids[j], entries[j]
				putBack := func() {
					var err error
					if where == "oldest" {
						err = c.RPush(ctx, k.Key(), entry).Err()
					} else {
						err = c.LPush(ctx, k.Key(), entry).Err()
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				var dlqT, asynqT, scriptT, rawT time.Duration
				ops := 0
				for b.Loop() {
					t0 := time.Now()
					if _, err := svc.Pop(ctx, k, id); err != nil {
						b.Fatal(err)
					}
					dlqT += time.Since(t0)
					putBack()

					t0 = time.Now()
					if err := q.run(ctx, id); err != nil {
						b.Fatal(err)
					}
					asynqT += time.Since(t0)
					if err := q.archive(ctx, id, j); err != nil {
						b.Fatal(err)
					}

					t0 = time.Now()
					if err := q.script(ctx, id); err != nil {
						b.Fatal(err)
					}
					scriptT += time.Since(t0)
					if err := q.archive(ctx, id, j); err != nil {
						b.Fatal(err)
					}

					t0 = time.Now()
					if got, err := c.LRem(ctx, k.Key(), count, entry).Result(); err != nil || got != 1 {
						b.Fatal(got, err)
					}
					rawT += time.Since(t0)
					putBack()
					ops++
				}
				us := func(t time.Duration) float64 { return t.Seconds() * 1e6 / float64(ops) }
				b.ReportMetric(us(dlqT), "dlq-µs/op")
				b.ReportMetric(us(asynqT), "asynq-µs/op")
				b.ReportMetric(us(scriptT), "asynq-script-µs/op")
				b.ReportMetric(us(rawT), "raw-LREM-µs/op")
				b.ReportMetric(float64(asynqT)/float64(dlqT), "ratio")
				b.ReportMetric(float64(scriptT)/float64(dlqT), "ratio-to-script")
			})
		}
	}
}

// BenchmarkPopRandom pops entries at random positions of a list of
// 100,000 entries pushed by this library, beside a raw LREM of the same
// entry from its nearer end: each iteration picks an entry, removes it
// with LREM, puts it back in its place (LINSERT, untimed), pops it with
// Pop, and puts it back again. ratio is dlq's time per op / the raw
// LREM's (target ≤ 1.5).
func BenchmarkPopRandom(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	const n = 100_000
	k := freshKind(b, c, "pop-random")
	svc := benchService(c, WithMaxItems(0))
	ids, entries := fill(b, c, k, n)
	rng := rand.New(rand.NewPCG(1, 2))
	putBack := func(j int) {
		var err error
		if j == 0 {
			err = c.RPush(ctx, k.Key(), entries[0]).Err()
		} else {
			// entries[j-1] is the older neighbour, at the next index.
			err = c.LInsertBefore(ctx, k.Key(), entries[j-1], entries[j]).Err()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	var dlqT, rawT time.Duration
	ops := 0
	for b.Loop() {
		j := rng.IntN(n)
		t0 := time.Now()
		if got, err := c.LRem(ctx, k.Key(), sign(n-1-j, n), entries[j]).Result(); err != nil || got != 1 {
			b.Fatal(got, err)
		}
		rawT += time.Since(t0)
		putBack(j)

		t0 = time.Now()
		if _, err := svc.Pop(ctx, k, ids[j]); err != nil {
			b.Fatal(err)
		}
		dlqT += time.Since(t0)
		putBack(j)
		ops++
	}
	us := func(t time.Duration) float64 { return t.Seconds() * 1e6 / float64(ops) }
	b.ReportMetric(us(rawT), "raw-µs/op")
	b.ReportMetric(us(dlqT), "dlq-µs/op")
	b.ReportMetric(float64(dlqT)/float64(rawT), "ratio")
}

// countingConn counts the bytes read from Redis.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// BenchmarkJanitorIdle runs Sweep on a kind of 100,000 entries with
// nothing to do (at its cap, entries younger than the age limit, no
// claims), through a client that counts the bytes Redis sends, and reports
// the bytes read per sweep. The first sweep of a process also checks for
// an earlier version's keys; it runs before the timer and is not counted.
// The raw counterpart reads what any janitor must read to know there is
// nothing to do: LLEN, the claims' and history's HLEN, and with an age
// limit the oldest 16 entries, in one pipeline. ratio is dlq's bytes / the
// raw bytes.
func BenchmarkJanitorIdle(b *testing.B) {
	var read atomic.Int64
	c := benchClient(b, func(o *redis.Options) {
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: conn, n: &read}, nil
		}
	})
	ctx := context.Background()
	const n = 100_000
	k := freshKind(b, c, "janitor")
	fill(b, c, k, n)
	ks := k.keys()
	for _, maxAge := range []time.Duration{0, 24 * time.Hour} {
		b.Run(fmt.Sprintf("N=100000/max-age=%v", maxAge), func(b *testing.B) {
			svc := benchService(c, WithMaxItems(n), WithMaxAge(maxAge))
			if _, err := svc.Sweep(ctx, k); err != nil {
				b.Fatal(err)
			}
			rawSweep := func() error {
				p := c.Pipeline()
				p.LLen(ctx, ks.List)
				p.HLen(ctx, ks.Claims)
				p.HLen(ctx, ks.History)
				if maxAge > 0 {
					p.LRange(ctx, ks.List, -readFirstPage, -1)
				}
				_, err := p.Exec(ctx)
				return err
			}
			if err := rawSweep(); err != nil { // the pipeline's connection
				b.Fatal(err)
			}
			var dlqB, rawB int64
			ops := 0
			for b.Loop() {
				before := read.Load()
				res, err := svc.Sweep(ctx, k)
				if err != nil || res != (SweepResult{}) {
					b.Fatal(res, err)
				}
				dlqB += read.Load() - before
				before = read.Load()
				if err := rawSweep(); err != nil {
					b.Fatal(err)
				}
				rawB += read.Load() - before
				ops++
			}
			b.ReportMetric(float64(dlqB)/float64(ops), "dlq-B/sweep")
			b.ReportMetric(float64(rawB)/float64(ops), "raw-B/sweep")
			b.ReportMetric(float64(dlqB)/float64(rawB), "ratio")
		})
	}
}

// maxHook records the longest command or pipeline round trip of a client.
type maxHook struct{ max atomic.Int64 }

func (h *maxHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *maxHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		t0 := time.Now()
		err := next(ctx, cmd)
		h.note(time.Since(t0))
		return err
	}
}

func (h *maxHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		t0 := time.Now()
		err := next(ctx, cmds)
		h.note(time.Since(t0))
		return err
	}
}

func (h *maxHook) note(d time.Duration) {
	for {
		old := h.max.Load()
		if int64(d) <= old || h.max.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// slowlog logs every command of the server for the benchmark's duration:
// it sets slowlog-log-slower-than to 0 and slowlog-max-len up, and puts
// both back after b. The server is shared: longest only reads the entries
// of the client named name.
type slowlog struct {
	c    *redis.Client
	name string
}

func newSlowlog(b *testing.B, c *redis.Client, name string) (*slowlog, bool) {
	b.Helper()
	ctx := context.Background()
	saved := map[string]string{}
	for _, p := range []string{"slowlog-log-slower-than", "slowlog-max-len"} {
		v, err := c.ConfigGet(ctx, p).Result()
		if err != nil || v[p] == "" {
			b.Logf("CONFIG GET %s: %v; no SLOWLOG figures", p, err)
			return nil, false
		}
		saved[p] = v[p]
	}
	b.Cleanup(func() {
		for p, v := range saved {
			if err := c.ConfigSet(ctx, p, v).Err(); err != nil {
				b.Errorf("restoring %s %s: %v", p, v, err)
			}
		}
	})
	if err := c.ConfigSet(ctx, "slowlog-max-len", "100000").Err(); err != nil {
		b.Logf("CONFIG SET slowlog-max-len: %v; no SLOWLOG figures", err)
		return nil, false
	}
	if err := c.ConfigSet(ctx, "slowlog-log-slower-than", "0").Err(); err != nil {
		b.Logf("CONFIG SET slowlog-log-slower-than: %v; no SLOWLOG figures", err)
		return nil, false
	}
	return &slowlog{c: c, name: name}, true
}

func (s *slowlog) reset(b *testing.B) {
	if err := s.c.Do(context.Background(), "SLOWLOG", "RESET").Err(); err != nil {
		b.Fatal(err)
	}
}

// longest returns the longest command of the named client logged since
// the reset, and how many of its commands were logged.
func (s *slowlog) longest(b *testing.B) (time.Duration, []string, int) {
	logs, err := s.c.SlowLogGet(context.Background(), 100_000).Result()
	if err != nil {
		b.Fatal(err)
	}
	var top time.Duration
	var args []string
	n := 0
	for _, l := range logs {
		if l.ClientName != s.name {
			continue
		}
		n++
		if l.Duration > top {
			top, args = l.Duration, l.Args
		}
	}
	return top, args, n
}

// BenchmarkBulkDeleteAll deletes all 100,000 entries of a kind with
// DeleteMatching and reports its wall time, the longest Redis call it made
// as Redis timed it (SLOWLOG, with slowlog-log-slower-than at 0 for the
// benchmark) and as the client saw it (a round trip, network included),
// beside one pass of LRANGE pages over the same list: the least any bulk
// action must read. ratio is dlq's time / the raw pass's.
func BenchmarkBulkDeleteAll(b *testing.B) {
	name := "dlq-bench-bulk-" + strconv.Itoa(os.Getpid())
	c := benchClient(b, func(o *redis.Options) { o.ClientName = name })
	hook := &maxHook{}
	c.AddHook(hook)
	admin := benchClient(b)
	ctx := context.Background()
	const n = 100_000
	sl, haveSlowlog := newSlowlog(b, admin, name)
	var dlqT, rawT, slowest, rtt time.Duration
	var slowArgs []string
	logged, ops := 0, 0
	for b.Loop() {
		b.StopTimer()
		k := freshKind(b, c, "bulk")
		svc := benchService(c, WithMaxItems(0))
		fill(b, c, k, n)
		t0 := time.Now()
		for off := int64(0); off < n; off += readPage {
			if err := c.LRange(ctx, k.Key(), -(off + readPage), -(off + 1)).Err(); err != nil {
				b.Fatal(err)
			}
		}
		rawT += time.Since(t0)
		if haveSlowlog {
			sl.reset(b)
		}
		hook.max.Store(0)
		b.StartTimer()

		t0 = time.Now()
		res, err := svc.DeleteMatching(ctx, k, Filter{})
		dlqT += time.Since(t0)

		b.StopTimer()
		if err != nil || res != (BulkResult{Matched: n, Handled: n}) {
			b.Fatal(res, err)
		}
		if left, err := c.LLen(ctx, k.Key()).Result(); err != nil || left != 0 {
			b.Fatal(left, err)
		}
		rtt = max(rtt, time.Duration(hook.max.Load()))
		if haveSlowlog {
			top, args, m := sl.longest(b)
			logged += m
			if top > slowest {
				slowest, slowArgs = top, args
			}
		}
		ops++
		b.StartTimer()
	}
	b.ReportMetric(dlqT.Seconds()/float64(ops), "dlq-s/op")
	b.ReportMetric(rawT.Seconds()/float64(ops), "raw-LRANGE-s/op")
	b.ReportMetric(float64(dlqT)/float64(rawT), "ratio")
	b.ReportMetric(float64(rtt.Microseconds()), "max-rtt-µs")
	if haveSlowlog {
		b.ReportMetric(float64(slowest.Microseconds()), "max-call-µs")
		b.ReportMetric(float64(logged)/float64(ops), "calls/op")
		if len(slowArgs) > 0 {
			b.Logf("longest call: %s (%v)", slowArgs[0], slowest)
		}
	}
}

// BenchmarkAuditOverhead measures what the audit log costs Pop, Delete and
// Retry: two Services on one client, one with the log (the default) and
// one without (WithAuditLimit(0)), take turns, one op each, on a kind of
// 1,000 entries. Before each op an entry is pushed at the head, untimed,
// so each op removes an existing entry near the head and the list keeps
// its length. Retry's Requeuer does nothing. ratio is the time per op with
// the log / without (target ≤ 1.10); median-ratio is the median of each
// turn's ratio, which one stall on a noisy machine does not move;
// pop-control runs two Services without the log and should read 1.00.
func BenchmarkAuditOverhead(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	noop := WithRequeuer(RequeueFunc(func(context.Context, Item) error { return nil }))
	for _, tc := range []struct {
		name    string
		control bool
		op      func(s *Service, k Kind, id string) error
	}{
		{name: "pop", op: func(s *Service, k Kind, id string) error { _, err := s.Pop(ctx, k, id); return err }},
		{name: "delete", op: func(s *Service, k Kind, id string) error { return s.Delete(ctx, k, id) }},
		{name: "retry", op: func(s *Service, k Kind, id string) error { _, err := s.Retry(ctx, k, id); return err }},
		{name: "pop-control", control: true, op: func(s *Service, k Kind, id string) error { _, err := s.Pop(ctx, k, id); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			k := freshKind(b, c, "audit-"+tc.name)
			fill(b, c, k, 1000)
			on := benchService(c, WithMaxItems(0), noop)
			if tc.control {
				on = benchService(c, WithMaxItems(0), noop, WithAuditLimit(0))
			}
			off := benchService(c, WithMaxItems(0), noop, WithAuditLimit(0))
			text := causeFor(k).Error()
			timed := func(s *Service, t *time.Duration) time.Duration {
				it := benchItem(k, time.Now().UnixMilli(), text)
				if err := c.LPush(ctx, k.Key(), it.appendJSON(nil)).Err(); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if err := tc.op(s, k, it.ID); err != nil {
					b.Fatal(err)
				}
				d := time.Since(t0)
				*t += d
				return d
			}
			var onT, offT time.Duration
			var pairs []float64 // each turn's ratio
			for b.Loop() {
				a := timed(on, &onT)
				pairs = append(pairs, float64(a)/float64(timed(off, &offT)))
			}
			slices.Sort(pairs)
			us := func(t time.Duration) float64 { return t.Seconds() * 1e6 / float64(len(pairs)) }
			b.ReportMetric(us(onT), "audit-µs/op")
			b.ReportMetric(us(offT), "no-audit-µs/op")
			b.ReportMetric(float64(onT)/float64(offT), "ratio")
			b.ReportMetric(pairs[len(pairs)/2], "median-ratio")
			if n, err := c.XLen(ctx, k.keys().Audit).Result(); err != nil || (n == 0) != tc.control {
				b.Fatalf("audit stream holds %d records, %v", n, err)
			}
		})
	}
}

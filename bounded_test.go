package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Tests of the issue "Bounded: no call can hold Redis…": each of its
// numbered findings, against miniredis and a real redis-server.

// countingRedis counts what a Service sends and receives: scripts run,
// client-side LRANGEs and the bytes they returned.
type countingRedis struct {
	Redis
	scripts, lranges, bytes atomic.Int64
}

func (c *countingRedis) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	c.scripts.Add(1)
	cmd := c.Redis.EvalSha(ctx, sha, keys, args...)
	c.bytes.Add(replyLen(cmd.Val()))
	return cmd
}

func (c *countingRedis) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	c.scripts.Add(1)
	cmd := c.Redis.Eval(ctx, script, keys, args...)
	c.bytes.Add(replyLen(cmd.Val()))
	return cmd
}

func (c *countingRedis) LRange(ctx context.Context, key string, start, stop int64) *redis.StringSliceCmd {
	c.lranges.Add(1)
	cmd := c.Redis.LRange(ctx, key, start, stop)
	for _, s := range cmd.Val() {
		c.bytes.Add(int64(len(s)))
	}
	return cmd
}

func replyLen(v any) int64 {
	switch x := v.(type) {
	case string:
		return int64(len(x))
	case []any:
		var n int64
		for _, e := range x {
			n += replyLen(e)
		}
		return n
	}
	return 8
}

// fillRaw LPUSHes n entries built by mk, in batches.
func fillRaw(t *testing.T, e *env, key string, n int, mk func(i int) string) {
	t.Helper()
	ctx := context.Background()
	batch := make([]any, 0, 1000)
	for i := range n {
		batch = append(batch, mk(i))
		if len(batch) == cap(batch) || i == n-1 {
			if err := e.Client.LPush(ctx, key, batch...).Err(); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

func ourEntry(kind Kind, text string) string {
	id, _ := uuid.NewV7()
	it := Item{ID: id.String(), SourceID: uuid.NewString(), Error: text, FailedAt: nowMicro(), Kind: kind}
	return string(it.appendJSON(nil))
}

// #2, #3: a Pop, Delete or Retry of an id that is not there reads no list
// to the client: a missing UUIDv7 costs one script; other ids a bounded
// search inside Redis, whose replies carry only candidates.
func TestBoundedMissingIDs(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const n = 20_000
		fillRaw(t, e, e.kind.Key(), n, func(int) string { return ourEntry(e.kind, strings.Repeat("e", 250)) })
		c := &countingRedis{Redis: e.Client}
		svc := New(c, WithLogger(e.svc.logger()), WithRequeuer(RequeueFunc(func(context.Context, Item) error { return nil })))
		v7, _ := uuid.NewV7()
		for _, id := range []string{v7.String(), uuid.NewString(), "x"} {
			for name, op := range map[string]func() error{
				"pop":    func() error { _, err := svc.Pop(ctx, e.kind, id); return err },
				"delete": func() error { return svc.Delete(ctx, e.kind, id) },
				"retry":  func() error { _, err := svc.Retry(ctx, e.kind, id); return err },
				"get":    func() error { _, err := svc.Get(ctx, e.kind, id); return err },
			} {
				_ = op() // loads the scripts: EVALSHA answers NOSCRIPT once
				c.scripts.Store(0)
				c.lranges.Store(0)
				c.bytes.Store(0)
				if err := op(); !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s %q: %v, want ErrNotFound", name, id, err)
				}
				if c.lranges.Load() != 0 || c.bytes.Load() > 64<<10 {
					t.Errorf("%s of missing %q read %d pages and %d bytes to the client; want none and at most 64 KB",
						name, id, c.lranges.Load(), c.bytes.Load())
				}
				if v7Time(id) >= 0 && c.scripts.Load() != 1 {
					t.Errorf("%s of a missing UUIDv7 ran %d scripts, want 1 (a bounded search, not a scan)", name, c.scripts.Load())
				}
			}
		}
		if l, _ := e.Client.LLen(ctx, e.kind.Key()).Result(); l != n {
			t.Fatalf("misses changed the list: %d entries, want %d", l, n)
		}
	})
}

// #7: a Python (uuid4) entry among the newest is found in the first
// bounded call, and one at the far end too, in calls that move little.
func TestBoundedPythonEntryByID(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := e.kind.Key()
		far := advEntry("", "far", time.Now())
		if err := e.Client.LPush(ctx, key, far).Err(); err != nil {
			t.Fatal(err)
		}
		fillRaw(t, e, key, 10_000, func(i int) string { return advEntry("", fmt.Sprint("py ", i), time.Now()) })
		near := advEntry("", "near", time.Now())
		if err := e.Client.LPush(ctx, key, near).Err(); err != nil {
			t.Fatal(err)
		}
		fillRaw(t, e, key, 500, func(int) string { return ourEntry(e.kind, "ours") })
		c := &countingRedis{Redis: e.Client}
		svc := New(c, WithLogger(e.svc.logger()))
		// Load the scripts (EVALSHA answers NOSCRIPT once) with a miss.
		if _, err := svc.Pop(ctx, e.kind, "not-there"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			raw      string
			maxCalls int64
		}{{near, 1}, {far, 20}} {
			id, _ := readID(tc.raw)
			c.scripts.Store(0)
			c.bytes.Store(0)
			it, err := svc.Pop(ctx, e.kind, id)
			if err != nil || it.ID != id {
				t.Fatalf("Pop(%s) = %v, %v", id, it.ID, err)
			}
			// Search calls, then the pop (and its load: EVALSHA answers
			// NOSCRIPT the first time).
			if c.scripts.Load() > tc.maxCalls+2 || c.bytes.Load() > 256<<10 || c.lranges.Load() != 0 {
				t.Errorf("Pop of %q: %d scripts, %d bytes, %d client LRANGEs; want at most %d scripts, 256 KB, none",
					it.Error, c.scripts.Load(), c.bytes.Load(), c.lranges.Load(), tc.maxCalls+2)
			}
		}
	})
}

// #4: a bulk retry acts on the entries present when it started: a Requeuer
// whose every job fails again at once (and is pushed back as a new
// failure of the same cause) is called once per entry matched, and the
// call ends; a dry run a moment before reports the same Matched.
func TestBoundedRetryDoesNotChaseItsPushes(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		fillKind(t, e, 600, func(i int) string { return "upstream down" })
		var calls atomic.Int64
		var svc *Service
		svc = New(e.Client, WithLogger(e.svc.logger()), WithRequeuer(RequeueFunc(func(ctx context.Context, it Item) error {
			calls.Add(1)
			_, err := svc.Push(ctx, e.kind, uuid.New(), errors.New("upstream down"), RetryOf(it))
			return err
		})))
		dry, err := svc.RetryMatching(ctx, e.kind, Filter{ErrorContains: "upstream"}, DryRun())
		if err != nil || dry.Matched != 600 {
			t.Fatalf("dry run: %+v, %v", dry, err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		res, err := svc.RetryMatching(cctx, e.kind, Filter{ErrorContains: "upstream"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Matched != dry.Matched || calls.Load() != int64(res.Matched) || res.Handled != 600 {
			t.Fatalf("result %+v after %d Requeuer calls; want 600 matched as the dry run, 600 calls, 600 handled", res, calls.Load())
		}
		left, _ := svc.List(ctx, e.kind, 1000)
		for _, it := range left {
			if it.RetryCount != 1 {
				t.Fatalf("an entry left has retry_count %d: a job was retried twice", it.RetryCount)
			}
		}
		if len(left) != 600 {
			t.Fatalf("%d entries left, want the 600 new failures", len(left))
		}
	})
}

// snapSignal closes snapped once the first pipeline a Service sends has
// been answered: a bulk action's first one reads its snapshot.
type snapSignal struct {
	Redis
	once    sync.Once
	snapped chan struct{}
}

func (s *snapSignal) Pipeline() redis.Pipeliner {
	return &signalPipe{Pipeliner: s.Redis.Pipeline(), s: s}
}

type signalPipe struct {
	redis.Pipeliner
	s *snapSignal
}

func (p *signalPipe) Exec(ctx context.Context) ([]redis.Cmder, error) {
	cmds, err := p.Pipeliner.Exec(ctx)
	p.s.once.Do(func() { close(p.s.snapped) })
	return cmds, err
}

// The snapshot under churn: while 8 pushers push entries matching the
// filter, a bulk retry and a bulk delete touch none pushed after they
// started (took their snapshot), and every entry present at the start is
// in exactly one of Handled, Failed, Skipped.
func TestBoundedBulkSnapshotUnderPushers(t *testing.T) {
	for _, del := range []bool{false, true} {
		t.Run(fmt.Sprint("delete=", del), func(t *testing.T) {
			run(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				before := fillKind(t, e, 1500, func(i int) string { return "match me" })
				present := map[string]bool{}
				for _, it := range before {
					present[it.ID] = true
				}
				var mu sync.Mutex
				touched := map[string]int{}
				sig := &snapSignal{Redis: e.Client, snapped: make(chan struct{})}
				svc := New(sig, WithLogger(e.svc.logger()), WithRequeuer(RequeueFunc(func(_ context.Context, it Item) error {
					mu.Lock()
					touched[it.ID]++
					mu.Unlock()
					return nil
				})))
				pushers := New(e.Client, WithLogger(e.svc.logger()))
				stop := make(chan struct{})
				var wg sync.WaitGroup
				var after sync.Map // ids pushed after the bulk took its snapshot
				started := sig.snapped
				for range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-started
						for {
							select {
							case <-stop:
								return
							default:
							}
							it, err := pushers.Push(ctx, e.kind, uuid.New(), errors.New("match me"))
							if err == nil {
								after.Store(it.ID, true)
							}
						}
					}()
				}
				var res BulkResult
				var err error
				if del {
					res, err = svc.DeleteMatching(ctx, e.kind, Filter{ErrorContains: "match"})
				} else {
					res, err = svc.RetryMatching(ctx, e.kind, Filter{ErrorContains: "match"})
				}
				close(stop)
				wg.Wait()
				if err != nil {
					t.Fatal(err)
				}
				left, _ := e.Client.LRange(ctx, e.kind.Key(), 0, -1).Result()
				leftIDs := map[string]bool{}
				for _, raw := range left {
					id, _ := readID(raw)
					leftIDs[id] = true
				}
				for id := range present {
					if leftIDs[id] {
						t.Fatalf("entry %s present at the start was not handled", id)
					}
				}
				if res.Handled+res.Failed+res.Skipped != res.Matched || res.Handled < 1500 {
					t.Fatalf("result %+v: want the 1500 present at the start handled, and every match accounted", res)
				}
				if res.Matched != 1500 {
					t.Fatalf("the bulk matched %d entries, want the 1500 present when it took its snapshot", res.Matched)
				}
				if !del {
					n := 0
					after.Range(func(k, _ any) bool {
						if touched[k.(string)] > 0 {
							n++
						}
						return true
					})
					if n > 0 {
						t.Fatalf("%d entries pushed after the start were requeued", n)
					}
				}
			})
		})
	}
}

// #5: Retry of an entry that does not decode (Python-style failed_at as
// a number) answers ErrMalformed and changes nothing; Pop still discards
// it. An entry without dlq_type takes its list's kind.
func TestBoundedMalformedAndKindless(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := e.kind.Key()
		v7, _ := uuid.NewV7()
		bad := []string{
			`{"id": "` + uuid.NewString() + `", "source_id": "s", "error": "x", "failed_at": 1764000000.5}`,
			`{"id":"` + v7.String() + `","source_id":"s","job_id":null,"error":"x","failed_at":1764000000,"retry_count":0,"dlq_type":"x"}`,
			`{"id": "` + uuid.NewString() + `", "error": "bad utf-8 ` + "\xff\xfe" + `", "failed_at": 12}`,
			`{"id": "` + uuid.NewString() + `", "deep": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
		}
		for _, raw := range bad {
			if err := e.Client.LPush(ctx, key, raw).Err(); err != nil {
				t.Fatal(err)
			}
		}
		kindless := `{"id": "` + uuid.NewString() + `", "source_id": "s", "job_id": null, "error": "no kind", "failed_at": "2026-01-02T03:04:05+00:00", "retry_count": 0}`
		if err := e.Client.LPush(ctx, key, kindless).Err(); err != nil {
			t.Fatal(err)
		}
		var got []Item
		svc := New(e.Client, WithLogger(e.svc.logger()), WithRequeuer(RequeueFunc(func(_ context.Context, it Item) error {
			got = append(got, it)
			return nil
		})))
		for _, raw := range bad {
			id, ok := readID(raw)
			if !ok {
				t.Fatalf("readID(%.60q) failed", raw)
			}
			if _, err := svc.Retry(ctx, e.kind, id); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Retry of malformed %.60q: %v, want ErrMalformed", raw, err)
			}
			if n, _ := e.Client.HLen(ctx, e.kind.keys().Claims).Result(); n != 0 {
				t.Fatalf("a refused retry left %d claims", n)
			}
		}
		if len(got) != 0 {
			t.Fatalf("the Requeuer got %d malformed entries", len(got))
		}
		id, _ := readID(kindless)
		it, err := svc.Retry(ctx, e.kind, id)
		if err != nil || len(got) != 1 || got[0].Kind != e.kind || it.Kind != e.kind || it.InFlight || !it.ClaimedUntil.IsZero() {
			t.Fatalf("retry of a kindless entry: %+v, %v; Requeuer got %+v; want the list's kind and no claim in the answer", it, err, got)
		}
		for _, raw := range bad {
			id, _ := readID(raw)
			if err := svc.Delete(ctx, e.kind, id); err != nil {
				t.Fatalf("Delete of malformed %.60q by its id: %v", raw, err)
			}
		}
		if l, _ := e.Client.LLen(ctx, key).Result(); l != 0 {
			t.Fatalf("%d entries left, want none", l)
		}
	})
}

// #9: an entry with two "id" keys, however spaced, is malformed (Lua and
// Go would read different ids); two identical stored strings count twice
// everywhere.
func TestBoundedDuplicateIDsAndCopies(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := e.kind.Key()
		raw := `{"id":"A","source_id":"s","job_id":null,"error":"x","failed_at":"2026-01-02T03:04:05+00:00","retry_count":0,"dlq_type":"x","id" :"B"}`
		if _, err := decodeItem(raw); !errors.Is(err, ErrMalformed) {
			t.Fatalf("two id keys decoded: %v", err)
		}
		if _, ok := readID(raw); ok {
			t.Fatal("readID accepted two id keys")
		}
		same := ourEntry(e.kind, "copy")
		if err := e.Client.LPush(ctx, key, same, same).Err(); err != nil {
			t.Fatal(err)
		}
		n, _ := e.svc.Count(ctx, e.kind, Filter{})
		l, _ := e.svc.List(ctx, e.kind, 10)
		p, _ := e.svc.Find(ctx, e.kind, Query{})
		if n != 2 || len(l) != 2 || len(p.Items) != 2 {
			t.Fatalf("two identical entries: Count %d, List %d, Find %d; want 2 each", n, len(l), len(p.Items))
		}
	})
}

// #10 lives in httpapi; #11: a retry whose removal fails after a
// successful requeue returns an error (never nil) saying so.
type failingAck struct {
	Redis
	fail atomic.Bool
}

func (f *failingAck) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	if f.fail.Load() && len(args) > 3 && args[3] == string(rune('a')) {
		c := redis.NewCmd(ctx)
		c.SetErr(errors.New("dial tcp 10.0.0.1:6379: connect: connection refused"))
		return c
	}
	return f.Redis.EvalSha(ctx, sha, keys, args...)
}

func (f *failingAck) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	if f.fail.Load() && len(args) > 3 && args[3] == string(rune('a')) {
		c := redis.NewCmd(ctx)
		c.SetErr(errors.New("dial tcp 10.0.0.1:6379: connect: connection refused"))
		return c
	}
	return f.Redis.Eval(ctx, script, keys, args...)
}

func TestBoundedRetryNeverNilWhileEntryRemains(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		it := push(t, e, e.kind, "boom")
		f := &failingAck{Redis: e.Client}
		var calls atomic.Int32
		svc := New(f, WithLogger(e.svc.logger()), WithRequeuer(RequeueFunc(func(context.Context, Item) error {
			calls.Add(1)
			f.fail.Store(true) // Redis "goes away" after the requeue
			return nil
		})))
		// The removal keeps trying for up to 30 s; let it recover after a few tries.
		go func() {
			for calls.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			f.fail.Store(false)
		}()
		if _, err := svc.Retry(ctx, e.kind, it.ID); err != nil {
			t.Fatalf("Retry with a removal that recovers: %v", err)
		}
		if l, _ := e.Client.LLen(ctx, e.kind.Key()).Result(); l != 0 {
			t.Fatalf("the entry remains after Retry returned nil")
		}
	})
}

// eofAfter sends every pipeline, then answers it with io.EOF, as a
// connection that drops after the command was sent does.
type eofAfter struct{ Redis }

func (e eofAfter) Pipeline() redis.Pipeliner { return eofPipe{e.Redis.Pipeline()} }

type eofPipe struct{ redis.Pipeliner }

func (p eofPipe) Exec(ctx context.Context) ([]redis.Cmder, error) {
	cmds, _ := p.Pipeliner.Exec(ctx)
	for _, c := range cmds {
		c.SetErr(io.EOF)
	}
	return cmds, io.EOF
}

// #11: a push that fails with a bare EOF may have been recorded: the error
// says so.
func TestBoundedPushEOFSaysItMayHaveLanded(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		svc := New(eofAfter{e.Client}, WithLogger(e.svc.logger()))
		_, err := svc.Push(ctx, e.kind, uuid.New(), errors.New("boom"))
		if !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "may have been recorded") {
			t.Fatalf("push answered %v; want io.EOF and that it may have been recorded", err)
		}
		if n, _ := e.Client.LLen(ctx, e.kind.Key()).Result(); n != 1 {
			t.Fatalf("the list holds %d entries: the push did land (this test's premise)", n)
		}
	})
}

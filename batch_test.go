package dlq

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

func TestConcurrentPushesAllLand(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const workers, each = 32, 30
		var wg sync.WaitGroup
		pushed := make([][]string, workers)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					it, err := e.svc.Push(ctx, e.kind, uuid.New(), fmt.Errorf("w%d-%d", w, i))
					if err != nil {
						t.Error(err)
						return
					}
					pushed[w] = append(pushed[w], it.ID)
				}
			})
		}
		wg.Wait()
		items, err := e.svc.List(ctx, e.kind, MaxLimit)
		if err != nil || len(items) != workers*each {
			t.Fatalf("List = %d items, %v; want %d", len(items), err, workers*each)
		}
		pos := map[string]int{}
		for i, it := range items {
			if _, dup := pos[it.ID]; dup {
				t.Fatalf("id %s listed twice", it.ID)
			}
			pos[it.ID] = i
		}
		// Each worker's pushes are listed newest first.
		for w, ids := range pushed {
			for i := 1; i < len(ids); i++ {
				if pos[ids[i]] >= pos[ids[i-1]] {
					t.Fatalf("worker %d: push %d listed after push %d", w, i, i-1)
				}
			}
		}
		checkIndex(t, e, e.kind)
		if info, _ := e.svc.Info(ctx, e.kind); info.Indexed != workers*each {
			t.Fatalf("indexed %d of %d", info.Indexed, workers*each)
		}
	})
}

// gatedRedis holds every LPUSH until the test lets it through.
type gatedRedis struct {
	redis.UniversalClient
	entered chan struct{}
	release chan struct{}
}

func (g *gatedRedis) LPush(ctx context.Context, key string, values ...any) *redis.IntCmd {
	g.entered <- struct{}{}
	<-g.release
	return g.UniversalClient.LPush(ctx, key, values...)
}

// waitQueued waits until n pushes of kind wait behind the call in flight.
func waitQueued(t *testing.T, s *Service, k Kind, n int) {
	t.Helper()
	q := s.state(k)
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.mu.Lock()
		got := len(q.waiting)
		q.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pushes queued, want %d", got, n)
		}
		runtime.Gosched()
	}
}

type pushResult struct {
	it  Item
	err error
}

func goPush(ctx context.Context, s *Service, k Kind, cause string) chan pushResult {
	ch := make(chan pushResult, 1)
	go func() {
		it, err := s.Push(ctx, k, uuid.New(), errors.New(cause))
		ch <- pushResult{it, err}
	}()
	return ch
}

func TestBatchedPushCancellation(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		g := &gatedRedis{UniversalClient: e.Client, entered: make(chan struct{}), release: make(chan struct{})}
		svc := New(g, WithLogger(e.svc.logger()))
		bg := context.Background()

		// A is in flight; B and C queue behind it.
		a := goPush(bg, svc, e.kind, "A")
		<-g.entered
		ctxB, cancelB := context.WithCancel(bg)
		b := goPush(ctxB, svc, e.kind, "B")
		waitQueued(t, svc, e.kind, 1)
		c := goPush(bg, svc, e.kind, "C")
		waitQueued(t, svc, e.kind, 2)

		// B gives up while still queued: an error, and nothing written.
		cancelB()
		if r := <-b; !errors.Is(r.err, context.Canceled) || strings.Contains(r.err.Error(), "may have been recorded") {
			t.Fatalf("B = %v, want a plain context.Canceled", r.err)
		}
		waitQueued(t, svc, e.kind, 1)

		g.release <- struct{}{} // A goes through
		if r := <-a; r.err != nil {
			t.Fatal(r.err)
		}
		<-g.entered // C, batched alone now
		g.release <- struct{}{}
		if r := <-c; r.err != nil {
			t.Fatal(r.err)
		}
		if got := causes(t, e, e.kind); got != "C A" {
			t.Fatalf("stored %q, want C and A without B", got)
		}

		// D is in flight; E and F queue and go in one call; E gives up
		// while that call is under way, which goes on for F.
		d := goPush(bg, svc, e.kind, "D")
		<-g.entered
		ctxE, cancelE := context.WithCancel(bg)
		ev := goPush(ctxE, svc, e.kind, "E")
		waitQueued(t, svc, e.kind, 1)
		f := goPush(bg, svc, e.kind, "F")
		waitQueued(t, svc, e.kind, 2)
		g.release <- struct{}{}
		if r := <-d; r.err != nil {
			t.Fatal(r.err)
		}
		<-g.entered // E and F together
		cancelE()
		if r := <-ev; !errors.Is(r.err, context.Canceled) || !strings.Contains(r.err.Error(), "may have been recorded") {
			t.Fatalf("E = %v, want context.Canceled saying it may have been recorded", r.err)
		}
		g.release <- struct{}{}
		if r := <-f; r.err != nil {
			t.Fatal(r.err)
		}
		if got := causes(t, e, e.kind); got != "F E D C A" {
			t.Fatalf("stored %q, want F E D C A", got)
		}
		checkIndex(t, e, e.kind)
	})
}

func causes(t *testing.T, e *env, k Kind) string {
	t.Helper()
	items, err := e.svc.List(context.Background(), k, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Error)
	}
	return strings.Join(out, " ")
}

// scriptsDown fails every script call, as a Redis with scripting disabled
// or a proxy that refuses EVAL would.
type scriptsDown struct{ redis.UniversalClient }

func (scriptsDown) EvalSha(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(errors.New("ERR scripts refused"))
	return cmd
}

func (s scriptsDown) Eval(ctx context.Context, src string, keys []string, args ...any) *redis.Cmd {
	return s.EvalSha(ctx, "", keys, args...)
}

// TxPipeline refuses the EVAL queued in a transaction the way Redis
// answers EXEC then: EXECABORT.
func (s scriptsDown) TxPipeline() redis.Pipeliner {
	return refusedTx{s.UniversalClient.TxPipeline()}
}

type refusedTx struct{ redis.Pipeliner }

func (refusedTx) Exec(context.Context) ([]redis.Cmder, error) {
	return nil, errors.New("EXECABORT Transaction discarded because of previous errors: ERR scripts refused")
}

// TestPushSucceedsWhenTheTrimFails: the pipeline stored the entry; a
// failed trim is logged and left to the janitor, not reported as a failed
// push (which would make callers push the failure twice).
func TestPushSucceedsWhenTheTrimFails(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		svc := New(scriptsDown{e.Client}, WithMaxItems(1), WithLogger(e.svc.logger()))
		for i := range 3 {
			if _, err := svc.Push(ctx, e.kind, uuid.New(), fmt.Errorf("e%d", i)); err != nil {
				t.Fatalf("push %d: %v", i, err)
			}
		}
		if n := len(rawList(t, e, e.kind)); n != 3 {
			t.Fatalf("%d entries stored, want 3", n)
		}
		if !strings.Contains(e.logs.String(), "evicting over the cap failed") {
			t.Fatalf("the failed trim was not logged:\n%s", e.logs)
		}
		res, err := New(e.Client, WithMaxItems(1)).Sweep(ctx, e.kind)
		if err != nil || res.EvictedByCap != 2 || len(rawList(t, e, e.kind)) != 1 {
			t.Fatalf("janitor after failed trims: %+v, %v", res, err)
		}
		checkIndex(t, e, e.kind)
	})
}

// TestPushWhenAWriteFails makes each of a push's two writes fail, the way
// Redis fails them (WRONGTYPE on a key another program broke). Without
// the index the push is recorded, the failed write is logged, and Pop finds
// the entry by scanning; without the list the push fails and writes no
// index entry.
func TestPushWhenAWriteFails(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ks := keysOf(e.kind)

		if err := e.Client.Set(ctx, ks.index, "not a hash", 0).Err(); err != nil {
			t.Fatal(err)
		}
		it := push(t, e, e.kind, "stored without its index entry")
		if err := e.svc.Flush(ctx); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Fatalf("Flush onto a string key = %v, want WRONGTYPE", err)
		}
		if !strings.Contains(e.logs.String(), "writing index entries failed") {
			t.Fatalf("the failed index write was not logged:\n%s", e.logs)
		}
		if err := e.Client.Del(ctx, ks.index).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := e.svc.Pop(ctx, e.kind, it.ID); err != nil || got.ID != it.ID {
			t.Fatalf("Pop of the unindexed entry = %+v, %v", got, err)
		}

		if err := e.Client.Set(ctx, ks.list, "not a list", 0).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Push(ctx, e.kind, uuid.New(), errors.New("not stored"))
		if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Fatalf("Push onto a string key = %v, want WRONGTYPE", err)
		}
		if err := e.svc.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.Client.Exists(ctx, ks.index).Result(); n != 0 {
			t.Fatal("a push that failed wrote an index entry")
		}
	})
}

// TestEvictAfterScriptFlush: the eviction sends EVALSHA inside MULTI; after
// SCRIPT FLUSH (or a restart, or a failover to a replica without the
// script) it loads the script and goes on.
func TestEvictAfterScriptFlush(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for i := range 5 {
			push(t, e, e.kind, fmt.Sprint("e", i))
		}
		if err := e.Client.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		newest := push(t, e, e.kind, "over the cap")
		raws := rawList(t, e, e.kind)
		if len(raws) != 3 || !strings.Contains(raws[0], newest.ID) {
			t.Fatalf("after SCRIPT FLUSH the list holds %d entries, want the newest 3", len(raws))
		}
		if info, err := e.svc.Info(ctx, e.kind); err != nil || info.Evicted != 3 || info.Indexed != 3 {
			t.Fatalf("Info = %+v, %v; want 3 evicted and 3 indexed", info, err)
		}
		checkIndex(t, e, e.kind)
	}, WithMaxItems(3))
}

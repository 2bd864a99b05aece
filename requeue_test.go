package dlq

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// requeued collects what a test Requeuer was handed.
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

// withRequeuer rebuilds the env's service with a requeuer.
func withRequeuer(e *env, r Requeuer) {
	e.svc = New(e.Client, WithLogger(e.svc.logger()), WithRequeuer(r))
}

func TestRetryRequeues(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var got requeued
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error { got.add(it.ID); return nil }))
		a := push(t, e, e.kind, "a", WithRetryCount(2))
		b := push(t, e, e.kind, "b")
		it, err := e.svc.Retry(ctx, e.kind, a.ID)
		if err != nil || !itemsEqual(it, a) {
			t.Fatalf("Retry = %+v, %v; want %+v", it, err, a)
		}
		if ids := got.list(); len(ids) != 1 || ids[0] != a.ID {
			t.Fatalf("requeued %v, want [%s]", ids, a.ID)
		}
		if _, err := e.svc.Retry(ctx, e.kind, a.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Retry: %v, want ErrNotFound", err)
		}
		if left := ids(mustList(t, e)); len(left) != 1 || left[0] != b.ID {
			t.Fatalf("left %v, want [%s]", left, b.ID)
		}
		if info, _ := e.svc.Info(ctx, e.kind); info.InFlight != 0 {
			t.Fatalf("%d entries left in flight", info.InFlight)
		}
		// The worker that fails it again records one more retry.
		again, err := e.svc.Push(ctx, e.kind, uuid.MustParse(a.SourceID), errors.New("a again"), RetryOf(it))
		if err != nil || again.RetryCount != 3 || again.JobID != nil {
			t.Fatalf("RetryOf: %+v, %v", again, err)
		}
	})
}

func mustList(t *testing.T, e *env) []Item {
	t.Helper()
	items, err := e.svc.List(context.Background(), e.kind, MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestRetryFailurePutsTheEntryBackUnchanged(t *testing.T) {
	for _, name := range []string{"error", "panic"} {
		t.Run(name, func(t *testing.T) {
			run(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				boom := errors.New("queue full")
				withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error {
					if name == "panic" {
						panic("requeuer bug")
					}
					return boom
				}))
				foreign := `{"id": "py-1", "source_id": "s", "job_id": null, "error": "e", "failed_at": "2026-11-26T21:43:52Z", "retry_count": 0, "dlq_type": "x"}`
				if err := e.Client.LPush(ctx, e.kind.Key(), foreign).Err(); err != nil {
					t.Fatal(err)
				}
				ours := push(t, e, e.kind, "ours")
				before := rawList(t, e, e.kind)
				for _, id := range []string{ours.ID, "py-1"} {
					_, err := e.svc.Retry(ctx, e.kind, id)
					if !errors.Is(err, ErrRequeue) || name == "error" && !errors.Is(err, boom) {
						t.Fatalf("Retry(%s) = %v, want ErrRequeue wrapping the requeuer's error", id, err)
					}
				}
				after := rawList(t, e, e.kind)
				if len(after) != 2 || !sameSet(before, after) {
					t.Fatalf("entries changed:\nbefore %q\nafter  %q", before, after)
				}
				if info, _ := e.svc.Info(ctx, e.kind); info.InFlight != 0 || info.Indexed != 2 {
					t.Fatalf("info after failed retries: %+v", info)
				}
				checkIndex(t, e, e.kind)
				// Both can be popped, the foreign one through the index now.
				for _, id := range []string{ours.ID, "py-1"} {
					if _, err := e.svc.Pop(ctx, e.kind, id); err != nil {
						t.Fatal(err)
					}
				}
			})
		})
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

// crash is a Requeuer that ends its goroutine before returning, as a
// process dying mid-retry would: nothing after the requeue runs.
func crash(context.Context, Item) error {
	runtime.Goexit()
	return nil
}

func TestRecoverAfterACrash(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		withRequeuer(e, RequeueFunc(crash))
		clk := newClock(e)
		var pushed []string
		for i := range 5 {
			pushed = append(pushed, push(t, e, e.kind, fmt.Sprint("e", i)).ID)
		}
		for _, id := range pushed[:3] {
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = e.svc.Retry(ctx, e.kind, id)
			}()
			<-done
		}
		if info, _ := e.svc.Info(ctx, e.kind); info.InFlight != 3 || info.Length != 2 {
			t.Fatalf("after 3 crashed retries: %+v", info)
		}
		// Too young to recover.
		if n, err := e.svc.Recover(ctx, time.Minute); err != nil || n != 0 {
			t.Fatalf("Recover of young claims = %d, %v", n, err)
		}
		clk.Add(2 * time.Minute)
		if n, err := e.svc.Recover(ctx, time.Minute); err != nil || n != 3 {
			t.Fatalf("Recover = %d, %v; want 3", n, err)
		}
		if got := ids(mustList(t, e)); !sameSet(got, pushed) {
			t.Fatalf("after Recover: %v, want %v", got, pushed)
		}
		checkIndex(t, e, e.kind)
	})
}

// TestReleaseAfterRecover: a claim outlives the recovery age, is put back,
// and then the requeue succeeds: the put-back copy leaves the DLQ again.
func TestReleaseAfterRecover(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var svc *Service
		clk := &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
		svc = New(e.Client, WithRequeuer(RequeueFunc(func(ctx context.Context, it Item) error {
			clk.Add(time.Hour)
			if n, err := svc.Recover(ctx, time.Minute); err != nil || n != 1 {
				return fmt.Errorf("recover in requeuer: %d, %v", n, err)
			}
			return nil
		})))
		svc.now = clk.Now
		it, err := svc.Push(ctx, e.kind, uuid.New(), errors.New("slow"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Retry(ctx, e.kind, it.ID); err != nil {
			t.Fatal(err)
		}
		if info, _ := svc.Info(ctx, e.kind); info.Length != 0 || info.InFlight != 0 || info.Indexed != 0 {
			t.Fatalf("after a requeue that succeeded late: %+v", info)
		}
	})
}

func TestRetryMatchingFlakyRequeuer(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var calls atomic.Int64
		var got requeued
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error {
			if calls.Add(1)%2 == 0 {
				return errors.New("every other call fails")
			}
			got.add(it.ID)
			return nil
		}))
		const n = 1000
		fillKind(t, e, n, func(i int) string { return fmt.Sprint("GET https://a.com/p/", i, ": 503") })
		res, err := e.svc.RetryMatching(ctx, e.kind, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		left := ids(mustList(t, e))
		if res.Matched != n || res.Handled != len(got.list()) || res.Failed != n-res.Handled {
			t.Fatalf("result %+v; requeued %d", res, len(got.list()))
		}
		if len(got.list())+len(left) != n || !unique(append(left, got.list()...)) {
			t.Fatalf("requeued %d + left %d != %d, or duplicates", len(got.list()), len(left), n)
		}
		if info, _ := e.svc.Info(ctx, e.kind); info.InFlight != 0 {
			t.Fatalf("%d left in flight", info.InFlight)
		}
		checkIndex(t, e, e.kind)
	})
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

func TestBulkByFilterAndDryRun(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var got requeued
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error { got.add(it.ID); return nil }))
		items := fillKind(t, e, 450, func(i int) string {
			if i%3 == 0 {
				return fmt.Sprintf("GET https://a.com/p/%d: 404 Not Found", i)
			}
			return fmt.Sprintf("GET https://a.com/p/%d: 503 Service Unavailable", i)
		})
		if err := e.Client.LPush(ctx, e.kind.Key(), "not json").Err(); err != nil {
			t.Fatal(err)
		}
		f := Filter{Signature: Signature(items[0].Error)} // the 404s
		dry, err := e.svc.RetryMatching(ctx, e.kind, f, DryRun())
		if err != nil || dry != (BulkResult{Matched: 150}) {
			t.Fatalf("dry run = %+v, %v", dry, err)
		}
		if n, err := e.svc.Count(ctx, e.kind, f); err != nil || n != 150 {
			t.Fatalf("Count = %d, %v", n, err)
		}
		if len(got.list()) != 0 || len(rawList(t, e, e.kind)) != 451 {
			t.Fatal("the dry run touched something")
		}
		res, err := e.svc.RetryMatching(ctx, e.kind, f)
		if err != nil || res.Matched != 150 || res.Handled != 150 {
			t.Fatalf("RetryMatching = %+v, %v", res, err)
		}
		for _, it := range mustList(t, e) {
			if f.Match(it) {
				t.Fatalf("a 404 is still there: %s", it.Error)
			}
		}
		// Delete the first 100 503s by time, then all the rest.
		cut := items[151].FailedAt
		del, err := e.svc.DeleteMatching(ctx, e.kind, Filter{ErrorContains: "SERVICE unavailable", FailedBefore: cut})
		if err != nil || del.Matched != 100 || del.Handled != 100 {
			t.Fatalf("DeleteMatching by time = %+v, %v", del, err)
		}
		del, err = e.svc.DeleteMatching(ctx, e.kind, Filter{})
		if err != nil || del.Matched != 200 || del.Handled != 200 {
			t.Fatalf("DeleteMatching all = %+v, %v", del, err)
		}
		if raws := rawList(t, e, e.kind); len(raws) != 1 || raws[0] != "not json" {
			t.Fatalf("left %q; the malformed entry must stay", raws)
		}
		checkIndex(t, e, e.kind)
	})
}

func TestBulkRetryCancelledMidway(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var got requeued
		withRequeuer(e, RequeueFunc(func(_ context.Context, it Item) error {
			got.add(it.ID)
			if len(got.list()) == 7 {
				cancel()
			}
			return nil
		}))
		const n = 300
		fillKind(t, e, n, func(i int) string { return fmt.Sprint("e", i) })
		_, err := e.svc.RetryMatching(ctx, e.kind, Filter{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		left := ids(mustList(t, e))
		if len(got.list()) != 7 || len(left) != n-7 || !unique(append(left, got.list()...)) {
			t.Fatalf("requeued %d, left %d", len(got.list()), len(left))
		}
		if info, _ := e.svc.Info(context.Background(), e.kind); info.InFlight != 0 {
			t.Fatalf("%d left in flight after the cancel", info.InFlight)
		}
	})
}

func TestBulkRetryCrashThenRecover(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var got requeued
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error {
			if len(got.list()) == 5 {
				runtime.Goexit() // the process dies here
			}
			got.add(it.ID)
			return nil
		}))
		clk := newClock(e)
		const n = 250
		fillKind(t, e, n, func(i int) string { return fmt.Sprint("e", i) })
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = e.svc.RetryMatching(ctx, e.kind, Filter{})
		}()
		<-done
		info, _ := e.svc.Info(ctx, e.kind)
		if info.InFlight == 0 || int(info.Length)+int(info.InFlight)+len(got.list()) != n {
			t.Fatalf("after the crash: %+v, requeued %d", info, len(got.list()))
		}
		clk.Add(time.Hour)
		if _, err := e.svc.Sweep(ctx, e.kind); err != nil { // the janitor recovers
			t.Fatal(err)
		}
		left := ids(mustList(t, e))
		if len(left)+len(got.list()) != n || !unique(append(left, got.list()...)) {
			t.Fatalf("left %d + requeued %d != %d", len(left), len(got.list()), n)
		}
		checkIndex(t, e, e.kind)
	})
}

func TestBulkRetryRacesPushesAndPops(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var got requeued
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error { got.add(it.ID); return nil }))
		initial := fillKind(t, e, 400, func(i int) string { return fmt.Sprint("old ", i) })
		var pushedMu sync.Mutex
		var pushed []string
		var popped requeued
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 50 {
					it, err := e.svc.Push(ctx, e.kind, uuid.New(), fmt.Errorf("new %d-%d", w, i))
					if err != nil {
						t.Error(err)
						return
					}
					pushedMu.Lock()
					pushed = append(pushed, it.ID)
					pushedMu.Unlock()
				}
			})
		}
		wg.Go(func() {
			for i := 0; i < len(initial); i += 7 {
				if _, err := e.svc.Pop(ctx, e.kind, initial[i].ID); err == nil {
					popped.add(initial[i].ID)
				} else if !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
			}
		})
		res, err := e.svc.RetryMatching(ctx, e.kind, Filter{ErrorContains: "old"})
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		var oldLeft, newLeft []string
		for _, it := range mustList(t, e) {
			if f := (Filter{ErrorContains: "old"}); f.Match(it) {
				oldLeft = append(oldLeft, it.ID)
			} else {
				newLeft = append(newLeft, it.ID)
			}
		}
		all := append(append(append([]string(nil), got.list()...), popped.list()...), oldLeft...)
		if len(all) != len(initial) || !unique(all) {
			t.Fatalf("requeued %d + popped %d + left %d != %d (or duplicates); result %+v",
				len(got.list()), len(popped.list()), len(oldLeft), len(initial), res)
		}
		if !sameSet(newLeft, pushed) {
			t.Fatalf("new entries: %d in the DLQ, %d pushed", len(newLeft), len(pushed))
		}
		checkIndex(t, e, e.kind)
	})
}

func TestBulkRetryRate(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var got requeued
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error { got.add(it.ID); return nil }))
		var waited time.Duration
		var waits int
		clk := newClock(e)
		e.svc.sleep = func(_ context.Context, d time.Duration) error { clk.Add(d); waited += d; waits++; return nil }
		fillKind(t, e, 25, func(i int) string { return fmt.Sprint("e", i) })
		res, err := e.svc.RetryMatching(ctx, e.kind, Filter{}, WithRate(10))
		if err != nil || res.Handled != 25 {
			t.Fatalf("RetryMatching = %+v, %v", res, err)
		}
		// 25 requeues at 10/s: 24 gaps of 100ms (the clock stands still
		// but for the waits).
		if waits != 24 || waited != 2400*time.Millisecond {
			t.Fatalf("waited %v in %d waits, want about 2.4s", waited, waits)
		}
	})
}

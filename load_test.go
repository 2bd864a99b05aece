package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

// ledger records what every actor did, by each failure's unique error text.
type ledger struct {
	mu        sync.Mutex
	pushed    map[string]bool // pushes that returned success
	maybe     map[string]bool // pushes that returned an error: outcome unknown
	requeued  map[string]int  // handed to the requeuer, successfully
	popped    map[string]int  // returned by Pop or deleted by Delete
	unsure    map[string]bool // ids whose Pop/Delete/Retry returned an error other than ErrNotFound
	latencies []time.Duration
}

func newLedger() *ledger {
	return &ledger{pushed: map[string]bool{}, maybe: map[string]bool{}, requeued: map[string]int{},
		popped: map[string]int{}, unsure: map[string]bool{}}
}

func (l *ledger) do(f func(l *ledger)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

// TestLoadWithARedisRestart runs 32 pushers against a redis-server it
// starts, while others list, pop, delete, retry through a requeuer and
// bulk-retry; a third of the way in it kills the server and starts it
// again. Then it accounts for every failure: each successful push is in
// the DLQ, in flight, requeued, or popped/deleted exactly once; none is
// lost or duplicated. It runs with DLQ_TEST_LOAD=1 (.ci/run sets it) and
// takes about 10 seconds.
func TestLoadWithARedisRestart(t *testing.T) {
	if os.Getenv("DLQ_TEST_LOAD") == "" {
		t.Skip("set DLQ_TEST_LOAD=1 to run the load test (about 10 s, needs redis-server)")
	}
	srv := dlqtest.StartServer(t)
	baseline := runtime.NumGoroutine()
	rdb := redis.NewClient(&redis.Options{
		Addr: srv.Addr, PoolSize: 64,
		// No retries: a retried write whose first attempt landed would be
		// written twice; callers that want retries accept duplicates.
		MaxRetries: -1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1,
		ReadTimeout: time.Second, WriteTimeout: time.Second,
	})
	led := newLedger()
	kind := Kind("load")
	svc := New(rdb, WithMaxItems(0), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		WithRequeuer(RequeueFunc(func(ctx context.Context, it Item) error {
			led.do(func(l *ledger) { l.requeued[it.Error]++ })
			return nil
		})))
	if err := dlqtest.Clean(context.Background(), rdb, string(kind)); err != nil {
		t.Fatal(err)
	}

	const (
		pushers = 32
		runFor  = 9 * time.Second
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var pushErrs, otherErrs atomic.Int64
	for w := range pushers {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				cause := fmt.Sprintf("load-%d-%d", w, n)
				t0 := time.Now()
				_, err := svc.Push(ctx, kind, uuid.New(), errors.New(cause))
				d := time.Since(t0)
				led.do(func(l *ledger) {
					if err == nil {
						l.pushed[cause] = true
						l.latencies = append(l.latencies, d)
					} else {
						l.maybe[cause] = true
					}
				})
				if err != nil {
					pushErrs.Add(1)
					if ctx.Err() == nil {
						time.Sleep(5 * time.Millisecond) // back off while Redis is down
					}
				}
			}
		})
	}
	// someItems lists a few entries for the operators to act on.
	someItems := func(rng *rand.Rand) []Item {
		items, err := svc.List(ctx, kind, 200)
		if err != nil {
			otherErrs.Add(1)
			time.Sleep(5 * time.Millisecond) // back off while Redis is down
			return nil
		}
		rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		return items[:min(len(items), 5)]
	}
	settle := func(id string, err error) {
		if err != nil && !errors.Is(err, ErrNotFound) {
			otherErrs.Add(1)
			led.do(func(l *ledger) { l.unsure[id] = true })
		}
	}
	ops := []func(rng *rand.Rand){
		func(rng *rand.Rand) { // an operator popping
			for _, it := range someItems(rng) {
				got, err := svc.Pop(ctx, kind, it.ID)
				if err == nil {
					led.do(func(l *ledger) { l.popped[got.Error]++ })
				}
				settle(it.ID, err)
			}
		},
		func(rng *rand.Rand) { // an operator retrying one by one
			for _, it := range someItems(rng) {
				_, err := svc.Retry(ctx, kind, it.ID)
				settle(it.ID, err)
			}
		},
		func(rng *rand.Rand) { // an operator discarding
			for _, it := range someItems(rng) {
				err := svc.Delete(ctx, kind, it.ID)
				if err == nil {
					led.do(func(l *ledger) { l.popped[it.Error]++ })
				}
				settle(it.ID, err)
			}
		},
		func(rng *rand.Rand) { // a bulk retry of one pusher's failures
			f := Filter{ErrorContains: fmt.Sprintf("load-%d-", rng.IntN(pushers))}
			if _, err := svc.RetryMatching(ctx, kind, f); err != nil {
				otherErrs.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		},
		func(rng *rand.Rand) { // dashboards polling
			_, err1 := svc.Stats(ctx)
			_, err2 := svc.Groups(ctx, kind)
			if err1 != nil || err2 != nil {
				otherErrs.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		},
	}
	for i, op := range ops {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for ctx.Err() == nil {
				op(rng)
			}
		})
	}

	start := time.Now()
	time.Sleep(runFor / 3) // the load's schedule, not synchronisation
	srv.Stop()
	down := time.Now()
	time.Sleep(time.Second)
	srv.Start()
	upAgain := time.Now()
	time.Sleep(runFor - time.Since(start))
	stop()
	wg.Wait()
	elapsed := time.Since(start)

	// An entry whose requeue succeeded while Redis went away before its
	// removal is still in the DLQ, claimed: it comes back when the claim
	// expires (at least once, by design). Count it once, as requeued.
	final := map[string]int{}
	items, err := svc.Find(context.Background(), kind, Query{Limit: MaxLimit})
	for err == nil {
		for _, it := range items.Items {
			if it.InFlight && led.requeued[it.Error] > 0 {
				continue
			}
			final[it.Error]++
		}
		if items.Next == "" {
			break
		}
		items, err = svc.Find(context.Background(), kind, Query{Limit: MaxLimit, Cursor: items.Next})
	}
	if err != nil {
		t.Fatalf("reading the DLQ after the load: %v", err)
	}

	var lost, dup int
	for cause := range led.pushed {
		n := final[cause] + led.requeued[cause] + led.popped[cause]
		switch {
		case n > 1:
			dup++
			t.Errorf("%s accounted for %d times (DLQ %d, requeued %d, popped %d)", cause, n, final[cause], led.requeued[cause], led.popped[cause])
		case n == 0:
			lost++
		}
	}
	for cause, n := range final {
		if n+led.requeued[cause]+led.popped[cause] > 1 && !led.pushed[cause] {
			dup++
			t.Errorf("%s (push outcome unknown) accounted for %d times", cause, n+led.requeued[cause]+led.popped[cause])
		}
		if !led.pushed[cause] && !led.maybe[cause] {
			t.Errorf("%s is in the DLQ but was never pushed", cause)
		}
	}
	// A push lost can only be one whose removal had an unknown outcome:
	// Pop, Delete or Retry returned an error after Redis may have acted.
	if lost > len(led.unsure) {
		t.Errorf("%d successful pushes are nowhere; only %d removals had an unknown outcome", lost, len(led.unsure))
	}
	slices.Sort(led.latencies)
	q := func(p float64) time.Duration { return led.latencies[int(p*float64(len(led.latencies)-1))] }
	requeued, popped := 0, 0
	for _, n := range led.requeued {
		requeued += n
	}
	for _, n := range led.popped {
		popped += n
	}
	inDLQ := 0
	for _, n := range final {
		inDLQ += n
	}
	t.Logf("load: %d pushes ok in %v (%.0f/s), push p50 %v p99 %v; Redis down %v, back %v after the start",
		len(led.pushed), elapsed.Round(time.Millisecond), float64(len(led.pushed))/elapsed.Seconds(),
		q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), upAgain.Sub(down).Round(time.Millisecond), upAgain.Sub(start).Round(time.Millisecond))
	t.Logf("accounting: %d in the DLQ or in flight, %d requeued, %d popped or deleted; %d push errors (outcome unknown: %d of them landed), %d operator errors; lost %d (each after an operator call with an unknown outcome: %d such calls), duplicated %d",
		inDLQ, requeued, popped, pushErrs.Load(), countLanded(led, final), otherErrs.Load(), lost, len(led.unsure), dup)
	if pushErrs.Load() == 0 {
		t.Error("no push failed while Redis was down: the restart did not happen")
	}
	if len(led.pushed) < 1000 {
		t.Errorf("only %d pushes succeeded", len(led.pushed))
	}

	// The service kept working after the restart without being rebuilt.
	if _, err := svc.Push(context.Background(), kind, uuid.New(), errors.New("after")); err != nil {
		t.Fatalf("push after the load: %v", err)
	}
	// No goroutines left behind.
	_ = rdb.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline+2 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > baseline+2 {
		t.Errorf("%d goroutines after the load, %d before", n, baseline)
	}
}

func countLanded(l *ledger, final map[string]int) int {
	n := 0
	for cause := range l.maybe {
		if final[cause]+l.requeued[cause]+l.popped[cause] > 0 {
			n++
		}
	}
	return n
}

package dlq

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// clock is a settable time source for the service.
type clock struct {
	mu  sync.Mutex
	now time.Time
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

func newClock(e *env) *clock {
	c := &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	e.svc.now = c.Now
	return c
}

func TestMaxAge(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		clk := newClock(e)
		old := map[string]bool{}
		for i := range 5 {
			old[push(t, e, e.kind, fmt.Sprint("old ", i)).ID] = true
		}
		// Another program's old entry, and a malformed one with no age.
		foreign := fmt.Sprintf(`{"id": "py-old", "source_id": "s", "failed_at": "%s", "dlq_type": "%s"}`, clk.Now().Format(time.RFC3339), e.kind)
		for _, raw := range []string{foreign, "garbage"} {
			if err := e.Client.LPush(ctx, e.kind.Key(), raw).Err(); err != nil {
				t.Fatal(err)
			}
		}
		clk.Add(50 * time.Minute)
		var young []string
		for i := range 3 {
			young = append([]string{push(t, e, e.kind, fmt.Sprint("young ", i)).ID}, young...)
		}
		clk.Add(20 * time.Minute) // the old ones are 70 minutes old now

		res, err := e.svc.Sweep(ctx, e.kind)
		if err != nil {
			t.Fatal(err)
		}
		if res.EvictedByAge != 6 || res.EvictedByCap != 0 {
			t.Fatalf("Sweep = %+v, want 6 evicted by age", res)
		}
		items, _ := e.svc.List(ctx, e.kind, 100)
		if fmt.Sprint(ids(items)) != fmt.Sprint(young) {
			t.Fatalf("left %v, want the young %v", ids(items), young)
		}
		if raws := rawList(t, e, e.kind); len(raws) != 4 || raws[3] != "garbage" {
			t.Fatalf("the malformed entry must stay: %q", raws)
		}
		info, err := e.svc.Info(ctx, e.kind)
		if err != nil || info.Evicted != 6 || info.Length != 4 || info.Indexed != 3 || info.MaxAgeSeconds != 3600 {
			t.Fatalf("Info = %+v, %v", info, err)
		}
		if n := strings.Count(e.logs.String(), "evicted entries over the limits"); n != 1 {
			t.Errorf("logged %d times, want once per sweep:\n%s", n, e.logs)
		}
		checkIndex(t, e, e.kind)

		// A second sweep finds nothing to do.
		if res, err := e.svc.Sweep(ctx, e.kind); err != nil || res != (SweepResult{}) {
			t.Fatalf("second Sweep = %+v, %v", res, err)
		}
	}, WithMaxAge(time.Hour))
}

func TestRunSweepsOnATimer(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		clk := newClock(e)
		rounds := make(chan struct{})
		e.svc.swept = func() { rounds <- struct{}{} }
		push(t, e, e.kind, "will age")

		done := make(chan error, 1)
		go func() { done <- e.svc.Run(ctx) }()
		<-rounds // the first round, at start: nothing is old yet
		if n := len(rawList(t, e, e.kind)); n != 1 {
			t.Fatalf("first round removed a young entry: %d left", n)
		}
		clk.Add(2 * time.Hour)
		// A round may have been under way while the clock moved; the
		// second round from now began after it.
		<-rounds
		<-rounds
		if n := len(rawList(t, e, e.kind)); n != 0 {
			t.Fatalf("the janitor left %d old entries", n)
		}
		cancel()
		for {
			select {
			case <-rounds:
				continue
			case err := <-done:
				if err != nil {
					t.Fatalf("Run returned %v, want nil on cancel", err)
				}
				return
			}
		}
	}, WithMaxAge(time.Hour), WithJanitorInterval(time.Millisecond))
}

func TestSweepEnforcesALoweredCap(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		unbounded := New(e.Client, WithMaxItems(0))
		for i := range 2*trimBatch + 10 {
			if _, err := unbounded.Push(ctx, e.kind, uuid.New(), fmt.Errorf("e%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		// The pushing process has written its index entries (as it does
		// within 10 ms) before the other one sweeps.
		if err := unbounded.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		capped := New(e.Client, WithMaxItems(5), WithLogger(e.svc.logger()))
		res, err := capped.Sweep(ctx, e.kind)
		if err != nil || res.EvictedByCap != 2*trimBatch+5 {
			t.Fatalf("Sweep = %+v, %v; want %d evicted by cap", res, err, 2*trimBatch+5)
		}
		items, _ := capped.List(ctx, e.kind, 100)
		if len(items) != 5 || items[0].Error != fmt.Sprintf("e%d", 2*trimBatch+9) {
			t.Fatalf("left %d items starting with %q", len(items), items[0].Error)
		}
		checkIndex(t, e, e.kind)
	})
}

// TestIndexLeakFree mixes pushes, pops, cap evictions, and another
// program's pushes and removals, then sweeps and checks that every index
// entry points at a live entry and every live entry of ours is indexed.
func TestIndexLeakFree(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		clk := newClock(e)
		rng := rand.New(rand.NewPCG(1, 2))
		var ours []string
		for i := range 600 {
			switch r := rng.IntN(10); {
			case r < 5:
				ours = append(ours, push(t, e, e.kind, fmt.Sprint("push ", i)).ID)
			case r < 6 && len(ours) > 0: // pop one of ours, maybe evicted already
				id := ours[rng.IntN(len(ours))]
				if _, err := e.svc.Pop(ctx, e.kind, id); err != nil && !errors.Is(err, ErrNotFound) {
					t.Fatal(err)
				}
			case r < 8: // the other program pushes its own entry
				raw := fmt.Sprintf(`{"id": "py-%d", "source_id": "s", "job_id": null, "error": "e", "failed_at": "2026-11-26T21:43:52+00:00", "retry_count": 0, "dlq_type": "x"}`, i)
				if err := e.Client.LPush(ctx, e.kind.Key(), raw).Err(); err != nil {
					t.Fatal(err)
				}
			default: // the other program removes any entry, ours too
				raws := rawList(t, e, e.kind)
				if len(raws) > 0 {
					if err := e.Client.LRem(ctx, e.kind.Key(), 1, raws[rng.IntN(len(raws))]).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		e.svc.bg.Wait() // evictions past the cap run in the background
		// Before the sweep, index entries of externally removed entries
		// are stale; the sweep must find exactly those, once they are
		// older than repairGrace (they might belong to pushes racing the
		// sweep's read of the list).
		if res, err := e.svc.Sweep(ctx, e.kind); err != nil || res.Unindexed != 0 {
			t.Fatalf("a sweep right after the pushes = %+v, %v; want nothing unindexed yet", res, err)
		}
		clk.Add(repairGrace)
		info, _ := e.svc.Info(ctx, e.kind)
		res, err := e.svc.Sweep(ctx, e.kind)
		if err != nil {
			t.Fatal(err)
		}
		liveOurs := 0
		for _, raw := range rawList(t, e, e.kind) {
			if !strings.Contains(raw, `"py-`) {
				liveOurs++
			}
		}
		if res.Unindexed != info.Indexed-int64(liveOurs) || res.Unindexed == 0 {
			t.Errorf("sweep dropped %d index entries; %d were indexed and %d of ours live", res.Unindexed, info.Indexed, liveOurs)
		}
		after, _ := e.svc.Info(ctx, e.kind)
		if after.Indexed != int64(liveOurs) || after.Length != int64(len(rawList(t, e, e.kind))) {
			t.Errorf("after sweep: %+v; %d of ours live", after, liveOurs)
		}
		if after.Evicted == 0 {
			t.Error("the cap of 100 evicted nothing; the test does not exercise trims")
		}
		checkIndex(t, e, e.kind)
		// Every live entry can still be popped.
		for _, raw := range rawList(t, e, e.kind) {
			it, err := decodeItem(raw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Pop(ctx, e.kind, it.ID); err != nil {
				t.Fatalf("Pop(%s): %v", it.ID, err)
			}
		}
		if info, _ := e.svc.Info(ctx, e.kind); info.Length != 0 || info.Indexed != 0 {
			t.Fatalf("after popping all: %+v", info)
		}
	}, WithMaxItems(100))
}

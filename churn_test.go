package dlq

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

// TestBulkActionsUnderChurn deletes, then retries, 100,000 entries with
// a filter while 8 pushers push at the cap (so trims evict at the tail the
// walk reads), a popper pops from the tail, and another program LPUSHes
// and LREMs. Every target ends up handled, popped, LREMed by the other
// program or evicted; none is left behind (missed), none is requeued
// twice or both popped and requeued, and the result adds up. It runs with
// DLQ_TEST_LOAD=1 against DLQ_TEST_REDIS_ADDR (.ci/run sets both).
func TestBulkActionsUnderChurn(t *testing.T) {
	addr := os.Getenv(dlqtest.AddrEnv)
	if os.Getenv("DLQ_TEST_LOAD") == "" || addr == "" {
		t.Skip("set DLQ_TEST_LOAD=1 and " + dlqtest.AddrEnv + " to run the 100k churn test")
	}
	for _, action := range []string{"delete", "retry"} {
		t.Run(action, func(t *testing.T) {
			ctx := context.Background()
			c := redis.NewClient(&redis.Options{Addr: addr, DB: testDB})
			defer c.Close()
			kind := Kind(dlqtest.UniqueKind(t))
			_ = dlqtest.Clean(ctx, c, string(kind))
			defer dlqtest.Clean(ctx, c, string(kind))
			const n = 100_000
			e := &env{Backend: &dlqtest.Backend{Client: c}}
			fillEntries(t, e, kind, n) // the targets: "failure <i>"

			var requeued requeued
			var pages atomic.Int64 // pages the walk read
			q := New(afterPageReads(t, c, kind.Key(), func() { pages.Add(1) }), WithMaxItems(n), WithRequeuer(RequeueFunc(func(ctx context.Context, it Item) error {
				requeued.add(it.ID)
				return nil
			})))
			var mu sync.Mutex
			popped, lremmed := map[string]bool{}, map[string]bool{}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			// actor runs step until stop (or until step returns false),
			// paced at every beside a bulk retry, which walks slower than
			// a bulk delete.
			actor := func(every time.Duration, step func() bool) {
				wg.Go(func() {
					pace := time.NewTicker(every)
					defer pace.Stop()
					for {
						if action == "retry" {
							select {
							case <-stop:
								return
							case <-pace.C:
							}
						}
						select {
						case <-stop:
							return
						default:
						}
						if !step() {
							return
						}
					}
				})
			}
			// Pushers: a bulk retry handles a few thousand entries a
			// second, so they are paced beside it, or the cap's evictions
			// would take every target before the walk gets there.
			for range 8 {
				actor(5*time.Millisecond, func() bool {
					if _, err := q.Push(ctx, kind, uuid.New(), errors.New("other")); err != nil {
						t.Error(err)
						return false
					}
					return true
				})
			}
			// The popper pops targets at the tail. Each Pop of an entry
			// gone meanwhile reads the whole list to be sure.
			actor(10*time.Millisecond, func() bool {
				raws, err := c.LRange(ctx, kind.Key(), -5, -1).Result()
				if err != nil || len(raws) == 0 {
					return true
				}
				it, err := decodeItem(raws[rand.IntN(len(raws))])
				if err != nil || !strings.HasPrefix(it.Error, "failure") {
					return true
				}
				if _, err := q.Pop(ctx, kind, it.ID); err == nil {
					mu.Lock()
					popped[it.ID] = true
					mu.Unlock()
				} else if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrClaimed) {
					t.Error(err)
					return false
				}
				return true
			})
			// Another program: LPUSH, and LREM near the tail.
			actor(time.Millisecond, func() bool {
				_ = c.LPush(ctx, kind.Key(), fmt.Sprintf(`{"id":"py-%s","failed_at":"2026-01-01T00:00:00","error":"other"}`, uuid.NewString())).Err()
				raws, err := c.LRange(ctx, kind.Key(), -200, -1).Result()
				if err != nil || len(raws) == 0 {
					return true
				}
				raw := raws[rand.IntN(len(raws))]
				it, err := decodeItem(raw)
				if err != nil || !strings.HasPrefix(it.Error, "failure") {
					return true
				}
				if k, _ := c.LRem(ctx, kind.Key(), 1, raw).Result(); k == 1 {
					mu.Lock()
					lremmed[it.ID] = true
					mu.Unlock()
				}
				return true
			})
			evictedBefore, _ := c.Get(ctx, kind.keys().Evicted).Int64()
			f := Filter{ErrorContains: "failure"}
			var res BulkResult
			var err error
			if action == "delete" {
				res, err = q.DeleteMatching(ctx, kind, f)
			} else {
				res, err = q.RetryMatching(ctx, kind, f)
			}
			walked := pages.Load()
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			left, err := q.Count(ctx, kind, f)
			if err != nil {
				t.Fatal(err)
			}
			evictedAfter, _ := c.Get(ctx, kind.keys().Evicted).Int64()
			evicted := int(evictedAfter - evictedBefore)
			mu.Lock()
			defer mu.Unlock()
			t.Logf("%s: %+v; popped %d, LREMmed by the other program %d, evicted %d (any kind), left %d; the walk read %d pages",
				action, res, len(popped), len(lremmed), evicted, left, walked)
			if left != 0 {
				t.Errorf("%d targets left in the list: missed by the walk", left)
			}
			if res.Matched != res.Handled+res.Failed+res.Skipped || res.Failed != 0 {
				t.Errorf("result %+v does not add up", res)
			}
			// A bulk retry claims a page, requeues, then removes: the other
			// program's raw LREM ignores claims, so an entry may be
			// requeued and LREMmed both (handled + others may pass n).
			// Nothing may be missed.
			if others := len(popped) + len(lremmed); res.Handled > n || res.Handled+others+evicted < n {
				t.Errorf("handled %d + popped %d + LREMmed %d + evicted %d do not account for %d targets",
					res.Handled, len(popped), len(lremmed), evicted, n)
			}
			if action == "retry" {
				got := requeued.list()
				if !unique(got) || len(got) != res.Handled {
					t.Errorf("requeued %d ids (unique: %v), handled %d", len(got), unique(got), res.Handled)
				}
				for _, id := range got {
					if popped[id] {
						t.Errorf("%s was both popped and requeued", id)
					}
				}
			}
		})
	}
}

package dlq

import (
	"context"
	"errors"
	"fmt"
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

// TestClusterSlotMigration moves the slot of scrape:dlq to another master
// and back three times, the way redis-cli --cluster reshard does (SETSLOT IMPORTING
// and MIGRATING, MIGRATE of every key, SETSLOT NODE), while workers push,
// list, pop and retry. No call fails, and no caller sees ASK, MOVED or
// TRYAGAIN. It needs DLQ_TEST_REDIS_CLUSTER (.ci/run starts a cluster).
func TestClusterSlotMigration(t *testing.T) {
	addrs := os.Getenv(dlqtest.ClusterEnv)
	if addrs == "" {
		t.Skip("set " + dlqtest.ClusterEnv + " to run the slot migration test (.ci/run's race run does)")
	}
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	defer cc.Close()
	if err := dlqtest.Clean(ctx, cc, string(Scrape)); err != nil {
		t.Fatal(err)
	}
	defer dlqtest.Clean(ctx, cc, string(Scrape))

	var got atomic.Int64
	q := New(cc, WithClaimTimeout(time.Minute), WithRequeuer(RequeueFunc(func(context.Context, Item) error {
		got.Add(1)
		return nil
	})))
	// A list large enough that MIGRATE takes a while.
	e := &env{Backend: &dlqtest.Backend{Client: cc, Cluster: true}}
	fillEntries(t, e, Scrape, 50_000)

	var calls, failures atomic.Int64
	var mu sync.Mutex
	var errs []string
	note := func(op string, err error) {
		calls.Add(1)
		if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrClaimed) {
			return
		}
		failures.Add(1)
		mu.Lock()
		if len(errs) < 10 {
			errs = append(errs, op+": "+err.Error())
		}
		mu.Unlock()
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for wctx.Err() == nil {
				_, err := q.PushScrapeFailure(ctx, uuid.New(), errors.New("migrating"))
				note("push", err)
				items, err := q.ListScrape(ctx, 5)
				note("list", err)
				if len(items) == 0 {
					continue
				}
				it := items[len(items)-1]
				if w%2 == 0 {
					_, err = q.Retry(ctx, Scrape, it.ID)
					note("retry", err)
				} else {
					_, err = q.Pop(ctx, Scrape, it.ID)
					note("pop", err)
				}
			}
		})
	}

	slot, err := cc.ClusterKeySlot(ctx, ScrapeKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	from, to := slotOwner(t, cc, slot)
	before := calls.Load()
	for range 3 {
		migrateSlot(t, int(slot), from, to)
		migrateSlot(t, int(slot), to, from)
	}
	during := calls.Load() - before
	if during == 0 {
		t.Fatal("no call ran while the slot moved")
	}
	for calls.Load() < before+during+200 { // and some after the moves
		if failures.Load() > 0 {
			break
		}
	}
	stop()
	wg.Wait()
	t.Logf("%d calls during six moves of slot %d, %d in all; %d failed; %d requeued", during, slot, calls.Load(), failures.Load(), got.Load())
	if failures.Load() > 0 {
		t.Fatalf("%d calls failed, e.g.:\n%s", failures.Load(), strings.Join(errs, "\n"))
	}
}

// node is one master of the cluster.
type node struct {
	id, addr string
	c        *redis.Client
}

// slotOwner returns the master that serves slot, and another master.
func slotOwner(t *testing.T, cc *redis.ClusterClient, slot int64) (owner, other node) {
	t.Helper()
	ctx := context.Background()
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var masters []node
	for _, s := range shards {
		var n node
		for _, m := range s.Nodes {
			if m.Role == "master" {
				n = node{id: m.ID, addr: fmt.Sprintf("%s:%d", m.IP, m.Port)}
			}
		}
		if n.id == "" {
			continue
		}
		for _, r := range s.Slots {
			if r.Start <= slot && slot <= r.End {
				owner = n
			}
		}
		masters = append(masters, n)
	}
	for _, m := range masters {
		if m.id != owner.id {
			other = m
			break
		}
	}
	if owner.id == "" || other.id == "" {
		t.Fatalf("no owner or no other master for slot %d in %+v", slot, shards)
	}
	owner.c = redis.NewClient(&redis.Options{Addr: owner.addr})
	other.c = redis.NewClient(&redis.Options{Addr: other.addr})
	t.Cleanup(func() { _ = owner.c.Close(); _ = other.c.Close() })
	return owner, other
}

// migrateSlot moves a slot's keys from one master to another as
// redis-cli --cluster reshard does. Whatever goes wrong, it leaves the slot
// whole on one node (the target), so that the tests after it find a stable
// cluster: a MIGRATE that fails is tried again, then with REPLACE.
func migrateSlot(t *testing.T, slot int, from, to node) {
	t.Helper()
	ctx := context.Background()
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	note(to.c.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", from.id).Err())
	note(from.c.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", to.id).Err())
	host, port, _ := strings.Cut(to.addr, ":")
	for tries := 0; tries < 1000; tries++ {
		keys, err := from.c.ClusterGetKeysInSlot(ctx, slot, 1).Result()
		if err != nil {
			note(err)
			continue
		}
		if len(keys) == 0 {
			break
		}
		// One key at a time: the window in which a script's keys are
		// split between the nodes (TRYAGAIN) is as wide as it gets.
		args := []any{"MIGRATE", host, port, "", 0, 30000}
		if tries >= 10 {
			args = append(args, "REPLACE") // repair: the slot must end whole
		}
		args = append(args, "KEYS")
		for _, k := range keys {
			args = append(args, k)
		}
		switch err := from.c.Do(ctx, args...).Err(); {
		case err == nil, strings.Contains(err.Error(), "NOKEY"):
		case strings.Contains(err.Error(), "BUSYKEY"):
			// The target holds the key already: seen once in CI and not
			// yet explained (a write that reached the target while the
			// source still held the key). redis-cli --cluster fix answers
			// it with REPLACE, as the next try does; the calls' errors are
			// what this test judges.
			t.Logf("MIGRATE %v: %v; moving it with REPLACE", keys, err)
			tries = max(tries, 9)
		default:
			note(fmt.Errorf("MIGRATE %v: %w", keys, err))
		}
	}
	for _, n := range []node{to, from} {
		note(n.c.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", to.id).Err())
	}
	if len(errs) > 0 {
		t.Fatalf("moving slot %d from %s to %s: %v", slot, from.addr, to.addr, errors.Join(errs...))
	}
}

package dlq

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

// TestClusterFailoverRetries kills -9 the master holding the slot of
// scrape:dlq while Retry and RetryMatching run (at a moment when a Retry
// is in its Requeuer, so that its removal meets the failure), on a
// cluster of its own (3 masters, 3 replicas, node timeout 1 s), and
// checks what a failover may not do: no Retry returns nil while its entry remains, no job is
// requeued twice within its claim timeout, and every entry is in the list
// or was requeued. It logs how long calls failed and how the Retry calls
// ended. It needs DLQ_TEST_LOAD=1 and the redis-server and redis-cli
// binaries (.ci/run has both).
func TestClusterFailoverRetries(t *testing.T) {
	if os.Getenv("DLQ_TEST_LOAD") == "" {
		t.Skip("set DLQ_TEST_LOAD=1 to run the failover test (it starts a cluster of its own)")
	}
	cl := dlqtest.StartCluster(t, 7300, 3, 1)
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                      cl.Addrs,
		ClusterStateReloadInterval: time.Second,
		MaxRetries:                 2,
		DialTimeout:                500 * time.Millisecond,
		ReadTimeout:                time.Second,
		WriteTimeout:               time.Second,
	})
	t.Cleanup(func() { _ = cc.Close() })

	const n = 5000
	const claimTimeout = 20 * time.Second
	e := &env{Backend: &dlqtest.Backend{Client: cc, Cluster: true}}
	fillEntries(t, e, Scrape, n)
	initial := listIDs(t, cc)
	slices.Reverse(initial) // oldest first
	slot, err := cc.ClusterKeySlot(ctx, ScrapeKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	owner, _ := slotOwner(t, cc, slot)
	// The replica has every entry before anything is retried.
	if err := owner.c.Do(ctx, "WAIT", 1, 5000).Err(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	requeues := map[string][]time.Time{} // id -> when the Requeuer got it
	// The master dies while a Retry is in its Requeuer: that retry's
	// removal meets the failure.
	var armed atomic.Bool
	inside := make(chan string, 1)
	q := New(cc, WithClaimTimeout(claimTimeout), WithRequeuer(RequeueFunc(func(ctx context.Context, it Item) error {
		mu.Lock()
		requeues[it.ID] = append(requeues[it.ID], time.Now())
		mu.Unlock()
		if ctx.Value(retryWorker{}) != nil && armed.CompareAndSwap(true, false) {
			inside <- it.ID
		}
		time.Sleep(20 * time.Millisecond) // a short requeue
		return nil
	})))

	// The ids not yet retried, oldest first. Workers pick among the oldest
	// few, where RetryMatching walks too, so that claims are contended.
	open := slices.Clone(initial)
	settle := func(id string) {
		mu.Lock()
		defer mu.Unlock()
		if i := slices.Index(open, id); i >= 0 {
			open = slices.Delete(open, i, i+1)
		}
	}
	pick := func() (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(open) == 0 {
			return "", false
		}
		return open[rand.IntN(min(len(open), 200))], true
	}
	type call struct {
		id         string
		start, end time.Time
		err        error
	}
	var calls []call
	var failedFrom, failedTo time.Time // the first and last failed call
	var lastOK time.Time
	note := func(c call) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, c)
		if c.err != nil && !errors.Is(c.err, ErrNotFound) && !errors.Is(c.err, ErrClaimed) {
			if failedFrom.IsZero() || c.start.Before(failedFrom) {
				failedFrom = c.start
			}
			if c.end.After(failedTo) {
				failedTo = c.end
			}
		} else {
			lastOK = c.end
		}
	}

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for wctx.Err() == nil {
				id, ok := pick()
				if !ok {
					return
				}
				c := call{id: id, start: time.Now()}
				_, c.err = q.Retry(context.WithValue(ctx, retryWorker{}, true), Scrape, id)
				c.end = time.Now()
				note(c)
				if c.err == nil || errors.Is(c.err, ErrNotFound) {
					settle(id)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	var bulk []string
	wg.Go(func() {
		for wctx.Err() == nil {
			start := time.Now()
			res, err := q.RetryMatching(wctx, Scrape, Filter{ErrorContains: "failure 1"}, WithRate(50))
			mu.Lock()
			bulk = append(bulk, fmtBulk(res, err))
			mu.Unlock()
			if wctx.Err() != nil {
				return // the test's end stopped it
			}
			if err != nil {
				note(call{start: start, end: time.Now(), err: err})
				time.Sleep(100 * time.Millisecond)
			}
		}
	})

	time.Sleep(time.Second)
	armed.Store(true)
	var crossing string
	select {
	case crossing = <-inside:
	case <-time.After(10 * time.Second):
		t.Fatal("no Retry reached its Requeuer")
	}
	killed := time.Now()
	if err := cl.Kill(owner.addr); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the master %s holding slot %d of %s", owner.addr, slot, ScrapeKey)
	promoted := waitPromoted(t, cl, owner.addr, slot)
	// Let calls run until they succeed again for 2 s (or the ids run out).
	deadline := killed.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		recovered := !lastOK.IsZero() && lastOK.After(failedTo) && time.Since(failedTo) > 2*time.Second
		left := len(open)
		mu.Unlock()
		if (recovered && !failedTo.IsZero()) || left == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	wg.Wait()

	// rel says when t was, relative to the kill.
	rel := func(t time.Time) string {
		return fmt.Sprintf("%+dms", t.Sub(killed).Milliseconds())
	}

	// What the cluster holds now.
	inList := map[string]int{}
	for _, id := range listIDs(t, cc) {
		inList[id]++
	}
	var ok, across, notFound, claimed, notRemoved, other int
	var otherErrs []string
	for _, c := range calls {
		if c.id == "" {
			continue // RetryMatching
		}
		switch {
		case c.err == nil:
			ok++
			if c.start.Before(killed) && c.end.Sub(c.start) > time.Second {
				across++ // its removal was tried again across the failure
			}
			if inList[c.id] > 0 {
				t.Errorf("Retry(%s) returned nil (called at %s, returned at %s after the kill), and the entry is still in the list", c.id, rel(c.start), rel(c.end))
			}
			if len(requeues[c.id]) == 0 {
				t.Errorf("Retry(%s) returned nil, and the Requeuer never got it", c.id)
			}
		case errors.Is(c.err, ErrNotFound):
			notFound++
		case errors.Is(c.err, ErrClaimed):
			claimed++
		case errors.Is(c.err, ErrNotRemoved):
			notRemoved++
		default:
			other++
			if len(otherErrs) < 5 {
				otherErrs = append(otherErrs, c.err.Error())
			}
		}
	}
	for _, c := range calls {
		if c.id == crossing && c.start.Before(killed) {
			t.Logf("the Retry in its Requeuer when the master died returned at %s: %v", rel(c.end), c.err)
			if c.err != nil && !errors.Is(c.err, ErrNotRemoved) {
				t.Errorf("the Retry in its Requeuer when the master died: %v, want nil or ErrNotRemoved", c.err)
			}
		}
	}
	twice := 0
	for id, ts := range requeues {
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); gap < claimTimeout {
				twice++
				t.Errorf("%s requeued twice %v apart (at %s and %s after the kill), within its claim timeout of %v",
					id, gap.Round(time.Millisecond), rel(ts[i-1]), rel(ts[i]), claimTimeout)
			}
		}
	}
	lost := 0
	for _, id := range initial {
		if inList[id] == 0 && len(requeues[id]) == 0 {
			lost++
			if lost <= 5 {
				t.Errorf("%s is neither in the list nor requeued", id)
			}
		}
		if inList[id] > 1 {
			t.Errorf("%s is in the list %d times", id, inList[id])
		}
	}
	window := "no call failed"
	if !failedFrom.IsZero() {
		window = fmt.Sprintf("calls failed from %s to %s (%v)", rel(failedFrom), rel(failedTo), failedTo.Sub(failedFrom).Round(time.Millisecond))
	}
	t.Logf("replica promoted %v after the kill; %s", promoted.Sub(killed).Round(time.Millisecond), window)
	t.Logf("Retry calls: %d nil (%d of them took over 1 s, across the failure), %d ErrNotFound, %d ErrClaimed, %d ErrNotRemoved, %d other errors; %d of %d entries requeued, %d left in the list; %d lost, %d requeued twice within the claim timeout",
		ok, across, notFound, claimed, notRemoved, other, len(requeues), n, len(inList), lost, twice)
	if len(otherErrs) > 0 {
		t.Logf("other errors, e.g.:\n%s", strings.Join(otherErrs, "\n"))
	}
	if len(bulk) > 0 {
		t.Logf("RetryMatching calls: %s", strings.Join(bulk, "; "))
	}
}

// retryWorker marks the context of the failover test's Retry calls.
type retryWorker struct{}

// fmtBulk describes one RetryMatching call for the failover test's log.
func fmtBulk(r BulkResult, err error) string {
	s := fmt.Sprintf("handled %d, failed %d, skipped %d", r.Handled, r.Failed, r.Skipped)
	if err != nil {
		s += " (" + err.Error() + ")"
	}
	return s
}

// waitPromoted waits until a node other than dead serves slot as master
// and every node still running answers cluster_state:ok, and returns when.
func waitPromoted(t *testing.T, cl *dlqtest.Cluster, dead string, slot int64) time.Time {
	t.Helper()
	ctx := context.Background()
	var nodes []*redis.Client
	for _, a := range cl.Addrs {
		if a != dead {
			c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
			defer c.Close()
			nodes = append(nodes, c)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for _, c := range nodes {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				done = false
				break
			}
		}
		if done {
			shards, err := nodes[0].ClusterShards(ctx).Result()
			done = err == nil && slotServedElsewhere(shards, dead, slot)
		}
		if done {
			return time.Now()
		}
		time.Sleep(20 * time.Millisecond) // waiting for the cluster
	}
	t.Fatalf("no replica took over slot %d within 20 s", slot)
	return time.Time{}
}

// slotServedElsewhere reports whether a master other than dead, online,
// serves slot.
func slotServedElsewhere(shards []redis.ClusterShard, dead string, slot int64) bool {
	for _, s := range shards {
		if !slices.ContainsFunc(s.Slots, func(r redis.SlotRange) bool { return r.Start <= slot && slot <= r.End }) {
			continue
		}
		for _, m := range s.Nodes {
			if m.Role == "master" && m.Health == "online" && fmt.Sprintf("%s:%d", m.IP, m.Port) != dead {
				return true
			}
		}
	}
	return false
}

// TestClusterFailoverReplicaLag shows what Redis' asynchronous replication
// does to retries that end just before a master dies: the replica of the
// slot of scrape:dlq is stopped (SIGSTOP, a replica lagging behind), ten
// entries are retried (each Retry returns nil), the master is killed, and
// the replica, resumed, takes over without those removals. The entries
// are back, unclaimed: Retry returned nil while its entry remains, and a
// second Retry requeues the job again within the claim timeout. It runs
// with DLQ_TEST_FAILOVER_LAG=1 and fails until retries wait for a replica
// (WAIT) before they answer.
func TestClusterFailoverReplicaLag(t *testing.T) {
	if os.Getenv("DLQ_TEST_FAILOVER_LAG") == "" {
		t.Skip("set DLQ_TEST_FAILOVER_LAG=1 to show the removals a lagging replica loses in a failover")
	}
	cl := dlqtest.StartCluster(t, 7300, 3, 1)
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs, ClusterStateReloadInterval: time.Second})
	t.Cleanup(func() { _ = cc.Close() })
	e := &env{Backend: &dlqtest.Backend{Client: cc, Cluster: true}}
	fillEntries(t, e, Scrape, 100)
	slot, err := cc.ClusterKeySlot(ctx, ScrapeKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	owner, _ := slotOwner(t, cc, slot)
	if err := owner.c.Do(ctx, "WAIT", 1, 5000).Err(); err != nil {
		t.Fatal(err)
	}
	replica := replicaOf(t, cc, owner.addr)
	var mu sync.Mutex
	requeues := map[string]int{}
	q := New(cc, WithClaimTimeout(time.Minute), WithRequeuer(RequeueFunc(func(_ context.Context, it Item) error {
		mu.Lock()
		defer mu.Unlock()
		requeues[it.ID]++
		return nil
	})))
	ids := listIDs(t, cc)[:10]

	if err := cl.Signal(replica, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Fill the sockets' buffers between master and replica, so that what
	// follows stays in the master's memory.
	junk := strings.Repeat("x", 1<<20)
	for i := range 64 {
		if err := owner.c.Set(ctx, fmt.Sprintf("{%s}:junk%d", ScrapeKey, i), junk, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if _, err := q.Retry(ctx, Scrape, id); err != nil {
			t.Fatalf("Retry(%s) before the failover: %v", id, err)
		}
	}
	if err := cl.Kill(owner.addr); err != nil {
		t.Fatal(err)
	}
	if err := cl.Signal(replica, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitPromoted(t, cl, owner.addr, slot)

	left := map[string]bool{}
	for _, id := range listIDs(t, cc) {
		left[id] = true
	}
	back := 0
	for _, id := range ids {
		if left[id] {
			back++
		}
	}
	again := 0
	for _, id := range ids {
		if _, err := q.Retry(ctx, Scrape, id); err == nil {
			again++
		}
	}
	t.Logf("of %d entries Retry removed (each returned nil), %d are in the list after the failover; %d were requeued a second time within the claim timeout", len(ids), back, again)
	if back > 0 || again > 0 {
		t.Errorf("a failover lost the removals of %d retries that returned nil, and %d jobs were requeued twice within the claim timeout", back, again)
	}
}

// replicaOf returns the address of a replica of the master at addr.
func replicaOf(t *testing.T, cc *redis.ClusterClient, addr string) string {
	t.Helper()
	shards, err := cc.ClusterShards(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shards {
		var master, replica string
		for _, n := range s.Nodes {
			a := fmt.Sprintf("%s:%d", n.IP, n.Port)
			if n.Role == "master" {
				master = a
			} else {
				replica = a
			}
		}
		if master == addr && replica != "" {
			return replica
		}
	}
	t.Fatalf("no replica of %s in %+v", addr, shards)
	return ""
}

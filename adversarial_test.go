package dlq

// Adversarial tests of the rebuilt core (issue 11). Each test states what
// it expects of a correct core; a failing test is a finding.

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
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

// advEntry is an entry another program writes: Python's json.dumps
// separators (", ", ": "), a uuid4 id unless one is given.
func advEntry(id, errText string, failedAt time.Time) string {
	if id == "" {
		id = uuid.NewString()
	}
	return fmt.Sprintf(`{"id": %q, "source_id": %q, "job_id": null, "error": %q, "failed_at": %q, "retry_count": 0, "dlq_type": "x"}`,
		id, uuid.NewString(), errText, failedAt.UTC().Format("2006-01-02T15:04:05.000000+00:00"))
}

// advBlocking is a Requeuer that records calls and blocks until released.
type advBlocking struct {
	mu      sync.Mutex
	calls   []string
	entered chan string
	release chan struct{}
}

func newAdvBlocking() *advBlocking {
	return &advBlocking{entered: make(chan string, 100), release: make(chan struct{})}
}

func (b *advBlocking) Requeue(ctx context.Context, it Item) error {
	b.mu.Lock()
	b.calls = append(b.calls, it.ID)
	b.mu.Unlock()
	b.entered <- it.ID
	<-b.release
	return nil
}

// Clock skew between processes: claims carry a deadline written with the
// claimer's clock and are judged with the reader's. A process whose clock
// is an hour ahead sees every live claim of the others as expired, so it
// retries (and requeues) an entry whose Requeuer call is still running,
// well inside the claim timeout; its janitor drops the others' live claims.
func TestAdvClockSkewBreaksClaims(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		it := push(t, e, e.kind, "boom")

		blocking := newAdvBlocking()
		a := New(e.Client, WithLogger(e.svc.logger()), WithRequeuer(blocking)) // correct clock
		var bCalls atomic.Int32
		b := New(e.Client, WithLogger(e.svc.logger()), WithRequeuer(RequeueFunc(func(context.Context, Item) error {
			bCalls.Add(1)
			return nil
		})))
		b.now = func() time.Time { return time.Now().Add(time.Hour) } // another host, an hour ahead

		done := make(chan error, 1)
		go func() { _, err := a.Retry(ctx, e.kind, it.ID); done <- err }()
		<-blocking.entered // a's Requeuer is running under a 5-minute claim

		// b's janitor must not drop a live claim.
		res, err := b.Sweep(ctx, e.kind)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExpiredClaims != 0 {
			t.Errorf("a skewed janitor dropped %d live claim(s) one second into a 5-minute claim", res.ExpiredClaims)
		}
		// Nor may b retry the entry while a's Requeuer runs.
		_, err = b.Retry(ctx, e.kind, it.ID)
		close(blocking.release)
		if aerr := <-done; aerr != nil {
			t.Fatalf("a.Retry: %v", aerr)
		}
		if !errors.Is(err, ErrClaimed) || bCalls.Load() != 0 {
			t.Errorf("b.Retry during a's claim = %v, b's Requeuer called %d times; want ErrClaimed and 0: the entry was requeued twice inside the claim timeout",
				err, bCalls.Load())
		}
	})
}

// advRedisErr is a Redis error reply, as go-redis returns them.
type advRedisErr string

func (e advRedisErr) Error() string { return string(e) }
func (advRedisErr) RedisError()     {}

// advStuck answers every script with a Cluster error that never clears.
type advStuck struct {
	Redis
	answer string
}

func (s advStuck) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	c := redis.NewCmd(ctx)
	c.SetErr(advRedisErr(s.answer))
	return c
}

func (s advStuck) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return s.EvalSha(ctx, "", keys, args...)
}

// A cluster that is down for good (CLUSTERDOWN), or a plain client pointed
// at a cluster node that does not own the slot (MOVED forever), makes every
// call with a context without deadline hang forever: rdb.retry retries
// until ctx ends, with no bound of its own.
func TestAdvRetryLoopHasNoBound(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		it := push(t, e, e.kind, "boom")
		for _, answer := range []string{"CLUSTERDOWN The cluster is down", "MOVED 1234 127.0.0.1:7101"} {
			svc := New(advStuck{Redis: e.Client, answer: answer}, WithLogger(e.svc.logger()))
			ctx, cancel := context.WithCancel(context.Background()) // no deadline, like context.Background()
			t.Cleanup(cancel)
			done := make(chan error, 1)
			go func() { _, err := svc.Pop(ctx, e.kind, it.ID); done <- err }()
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("%s: Pop succeeded", answer)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("%s: Pop with a context without deadline still running after 5 s; it retries forever", answer)
			}
		}
	})
}

// Two identical stored strings (Python retrying an LPUSH that timed out
// writes exactly that) are walked once: DeleteMatching of everything leaves
// one behind and reports success, Count under-counts.
func TestAdvIdenticalEntriesSurviveDeleteMatching(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		raw := advEntry("", "timeout", time.Now())
		if err := e.Client.LPush(ctx, e.kind.Key(), raw, raw).Err(); err != nil {
			t.Fatal(err)
		}
		n, err := e.svc.Count(ctx, e.kind, Filter{})
		if err != nil || n != 2 {
			t.Errorf("Count = %d, %v; want 2 (two entries in the list)", n, err)
		}
		res, err := e.svc.DeleteMatching(ctx, e.kind, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		left := rawList(t, e, e.kind)
		if len(left) != 0 {
			t.Errorf("DeleteMatching(all) = %+v, nil; %d entries left in the list", res, len(left))
		}
	})
}

// Age eviction gives up at the first tail page without an old entry. 16
// entries it cannot judge (not JSON, or a failed_at it cannot parse) at the
// tail stop it for good: nothing behind them is ever evicted by age.
func TestAdvAgeEvictionStalledByMalformedTail(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var junk []any
		for i := range 16 {
			junk = append(junk, fmt.Sprintf("not json %d", i))
		}
		if err := e.Client.LPush(ctx, e.kind.Key(), junk...).Err(); err != nil {
			t.Fatal(err)
		}
		c := newClock(e)
		c.Add(-3 * time.Hour)
		fillKind(t, e, 50, func(i int) string { return fmt.Sprint("old ", i) })
		c.Add(3 * time.Hour)
		e.svc.maxAge = time.Hour
		res, err := e.svc.Sweep(ctx, e.kind)
		if err != nil {
			t.Fatal(err)
		}
		if res.EvictedByAge != 50 {
			t.Errorf("Sweep evicted %d of 50 entries 3 h old with a 1 h limit (16 malformed entries at the tail)", res.EvictedByAge)
		}
	})
}

// advHook runs a hook after each LRANGE.
type advHook struct {
	Redis
	after func(n int)
	calls atomic.Int32
}

func (h *advHook) LRange(ctx context.Context, key string, start, stop int64) *redis.StringSliceCmd {
	c := h.Redis.LRange(ctx, key, start, stop)
	h.after(int(h.calls.Add(1)))
	return c
}

// Pop and Retry of an entry whose id carries no time scan from the tail in
// pages that overlap by 32. More than 32 removals at the tail between two
// pages (a trim at the cap by another process, RPOPs) jump the scan over
// the entry: ErrNotFound for an entry that was in the list throughout.
// The bulk walk's step-back rule does not skip here; the scan lacks it.
func TestAdvPopScanSkipsUnderTailRemovals(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := e.kind.Key()
		for _, op := range []string{"pop", "retry"} {
			target := advEntry("", "target", time.Now())
			targetID := target[8:44]
			// 1500 entries; the target is the 541st from the tail.
			var all []any
			for i := range 1500 {
				if i == 540 {
					all = append(all, target)
					continue
				}
				all = append(all, advEntry("", fmt.Sprint("filler ", i), time.Now()))
			}
			e.Client.Del(ctx, key)
			if err := e.Client.LPush(ctx, key, all...).Err(); err != nil { // all[0] at the tail
				t.Fatal(err)
			}
			hook := &advHook{Redis: e.Client}
			hook.after = func(n int) {
				if n == 1 { // after the scan's first page: another process trims 100 from the tail
					e.Client.RPopCount(ctx, key, 100)
				}
			}
			svc := New(hook, WithLogger(e.svc.logger()))
			if op == "retry" {
				svc.requeuer = RequeueFunc(func(context.Context, Item) error { return nil })
			}
			var err error
			if op == "pop" {
				_, err = svc.Pop(ctx, e.kind, targetID)
			} else {
				_, err = svc.Retry(ctx, e.kind, targetID)
			}
			_, perr := e.Client.LPos(ctx, key, target, redis.LPosArgs{}).Result()
			if err != nil {
				t.Errorf("%s of an entry present throughout: %v (still in the list: %v)", op, err, perr == nil)
			}
		}
	})
}

// An entry another program wrote with a readable id but a failed_at we do
// not parse (a Unix timestamp, "+0000") cannot be popped or deleted by id:
// the scan decodes entries and skips those that fail. It is not listed
// either, so no API call can remove it.
func TestAdvMalformedEntryCannotBePoppedByID(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, fa := range []string{`1767322800.5`, `"2026-01-02T03:04:05.123+0000"`} {
			id := uuid.NewString()
			raw := fmt.Sprintf(`{"id": %q, "source_id": "s", "job_id": null, "error": "e", "failed_at": %s, "retry_count": 0, "dlq_type": "scrape"}`, id, fa)
			if err := e.Client.LPush(ctx, e.kind.Key(), raw).Err(); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.Delete(ctx, e.kind, id); err != nil {
				t.Errorf("Delete(%s) of an entry with failed_at %s: %v", id, fa, err)
			}
		}
		if n := len(rawList(t, e, e.kind)); n != 0 {
			t.Errorf("%d entries left that no call can remove", n)
		}
	})
}

// A hostile entry with two "id" keys: Lua's locate matches the first (the
// prefix {"id":"X"), Go's decoder would keep the last (Y). Such an entry is
// malformed: no retry can claim it by Y, so no Pop of X can get past a
// claim on it.
func TestAdvDuplicateIDKeysBypassClaim(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		x, _ := uuid.NewV7()
		y := uuid.NewString()
		raw := fmt.Sprintf(`{"id":%q,"id":%q,"source_id":"s","job_id":null,"error":"e","failed_at":"2026-01-02T03:04:05.000000+00:00","retry_count":0,"dlq_type":"x"}`, x.String(), y)
		if err := e.Client.LPush(ctx, e.kind.Key(), raw).Err(); err != nil {
			t.Fatal(err)
		}
		blocking := newAdvBlocking()
		withRequeuer(e, blocking)
		if _, err := e.svc.Retry(ctx, e.kind, y); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Retry by the second id of an entry with two: %v, want ErrNotFound", err)
		}
		if _, err := e.svc.Pop(ctx, e.kind, x.String()); err != nil {
			t.Fatalf("Pop by its first id: %v", err)
		}
	})
}

// A legacy key the migration cannot read (or, under OOM, an in-flight hash
// whose RPUSH Redis refuses) makes every Sweep fail before the cap and age
// eviction run: the janitor never trims again.
func TestAdvBadLegacyKeyStopsEveryTrim(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ks := e.kind.keys()
		var entries []any
		for i := range 30 {
			entries = append(entries, advEntry("", fmt.Sprint("e", i), time.Now()))
		}
		if err := e.Client.LPush(ctx, ks.List, entries...).Err(); err != nil {
			t.Fatal(err)
		}
		if err := e.Client.Set(ctx, ks.LegacyInflight, "not a hash", 0).Err(); err != nil {
			t.Fatal(err)
		}
		e.svc.maxItems = 10
		for range 2 {
			res, err := e.svc.Sweep(ctx, e.kind)
			if res.EvictedByCap != 20 || err == nil {
				t.Errorf("Sweep = %+v, %v; want the 20 entries over the cap evicted whatever the legacy keys hold, and the legacy key's error", res, err)
			}
			if err := e.Client.LPush(ctx, ks.List, entries[:20]...).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// A Requeuer call is not bounded by its claim: the ctx it gets has no
// deadline, so a slow Requeuer succeeds after the claim expired and
// another retry took the entry.
func TestAdvRequeuerCtxNotBoundedByClaim(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		it := push(t, e, e.kind, "boom")
		var deadline time.Time
		var has bool
		var got Item
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error {
			deadline, has = ctx.Deadline()
			got = it
			return nil
		}), WithClaimTimeout(time.Minute))
		if _, err := e.svc.Retry(context.Background(), e.kind, it.ID); err != nil {
			t.Fatal(err)
		}
		if !has || got.ClaimedUntil.IsZero() || deadline.After(got.ClaimedUntil) {
			t.Errorf("Requeuer ctx deadline = %v (set %v); want at most the claim's deadline %v", deadline, has, got.ClaimedUntil)
		}
	})
}

// WithRate with a tiny rate overflows the interval to a negative duration
// and turns the limit off.
func TestAdvTinyRateDisablesPacing(t *testing.T) {
	for _, r := range []float64{1e-12, 1e-300} {
		p := newPacer(r)
		if p.every <= 0 {
			t.Errorf("WithRate(%g): interval %v; a tiny rate must pace slowly, not not at all", r, p.every)
		}
	}
}

// Many callers on the same entries at once: every entry is requeued,
// popped, deleted, bulk-deleted or still there, exactly once; none twice;
// the bulk results add up; no goroutine is left behind.
func TestAdvConcurrentMixedOps(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var reqMu sync.Mutex
		requeued := map[string]int{}
		withRequeuer(e, RequeueFunc(func(_ context.Context, it Item) error {
			reqMu.Lock()
			requeued[it.ID]++
			reqMu.Unlock()
			if rand.Intn(5) == 0 {
				return errors.New("flaky")
			}
			return nil
		}))
		const n = 300
		items := fillKind(t, e, n, func(i int) string { return fmt.Sprint("mixed ", i%3) })
		// Some foreign entries with uuid4 ids.
		for i := range 30 {
			raw := advEntry("", fmt.Sprint("mixed ", i%3), time.Now())
			e.Client.LPush(ctx, e.kind.Key(), raw)
			var it Item
			_ = it.UnmarshalJSON([]byte(raw))
			items = append(items, it)
		}
		var mu sync.Mutex
		popped := map[string]int{}
		var bulkDeleted, bulkMatched, bulkAccounted int
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewSource(int64(w)))
				for range 60 {
					it := items[r.Intn(len(items))]
					var err error
					switch r.Intn(4) {
					case 0:
						_, err = e.svc.Retry(ctx, e.kind, it.ID)
					case 1:
						_, err = e.svc.Pop(ctx, e.kind, it.ID)
						if err == nil {
							mu.Lock()
							popped[it.ID]++
							mu.Unlock()
						}
					case 2:
						err = e.svc.Delete(ctx, e.kind, it.ID)
						if err == nil {
							mu.Lock()
							popped[it.ID]++
							mu.Unlock()
						}
					case 3:
						_, err = e.svc.Retry(ctx, e.kind, it.ID)
					}
					if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrClaimed) && !errors.Is(err, ErrRequeue) {
						t.Errorf("unexpected error: %v", err)
					}
				}
			}()
		}
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := Filter{ErrorContains: fmt.Sprint("mixed ", w)}
				var res BulkResult
				var err error
				if w == 0 {
					res, err = e.svc.RetryMatching(ctx, e.kind, f)
				} else {
					res, err = e.svc.DeleteMatching(ctx, e.kind, f)
				}
				if err != nil {
					t.Errorf("bulk: %v", err)
				}
				mu.Lock()
				bulkMatched += res.Matched
				bulkAccounted += res.Handled + res.Failed + res.Skipped
				if w == 1 {
					bulkDeleted += res.Handled
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if bulkMatched != bulkAccounted {
			t.Errorf("bulk results: matched %d, accounted %d", bulkMatched, bulkAccounted)
		}
		left := map[string]int{}
		for _, raw := range rawList(t, e, e.kind) {
			it, _ := decodeItem(raw)
			left[it.ID]++
		}
		// requeued successfully = requeue calls minus failures is unknown per
		// id; check only that no id is both popped and still there, popped
		// twice, or gone without a trace.
		gone := 0
		for _, it := range items {
			p, l := popped[it.ID], left[it.ID]
			if p > 1 || p+l > 1 {
				t.Errorf("%s: popped %d, left %d", it.ID, p, l)
			}
			if p == 0 && l == 0 {
				gone++
			}
		}
		reqMu.Lock()
		succeededOrBulk := 0
		for id := range requeued {
			if left[id] == 0 && popped[id] == 0 {
				succeededOrBulk++
			}
		}
		reqMu.Unlock()
		if gone > succeededOrBulk+bulkDeleted {
			t.Errorf("%d entries gone; at most %d requeued and %d bulk-deleted explain it", gone, succeededOrBulk, bulkDeleted)
		}
		advNoDLQGoroutines(t)
	})
}

// advNoDLQGoroutines fails if a goroutine is running code of this package
// other than the test itself (go-redis' pool and miniredis' server keep
// their own).
func advNoDLQGoroutines(t *testing.T) {
	t.Helper()
	time.Sleep(20 * time.Millisecond)
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "dlqkit/dlq.") && !strings.Contains(g, "advNoDLQGoroutines") &&
			!strings.Contains(g, "testing.tRunner") && !strings.Contains(g, "TestAdvRetryLoopHasNoBound") {
			t.Errorf("goroutine left running:\n%s", g)
		}
	}
}

// advOwnRedis starts a redis-server of the test's own (no persistence), so
// that CONFIG SET maxmemory touches nothing shared.
func advOwnRedis(t *testing.T) *redis.Client {
	t.Helper()
	return dlqtest.OwnRedis(t, nil)
}

// Redis full (maxmemory, noeviction): cleanup must work. Pop, Delete,
// DeleteMatching, the cap trim, and a Sweep with an earlier version's
// in-flight hash left behind (its migration RPUSHes, which Redis refuses).
func TestAdvOOMCleanup(t *testing.T) {
	c := advOwnRedis(t)
	ctx := context.Background()
	svc := New(c, WithMaxItems(0))
	big := errors.New(strings.Repeat("x", 4000))
	// An earlier version's in-flight entry, left by a crash.
	ks := Scrape.keys()
	if err := c.HSet(ctx, ks.LegacyInflight, "old-id", "1:"+advEntry("old-id", "old", time.Now())).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(ctx, "maxmemory", "6mb").Err(); err != nil {
		t.Fatal(err)
	}
	var items []Item
	for {
		it, err := svc.Push(ctx, Scrape, uuid.New(), big)
		if err != nil {
			if !strings.Contains(err.Error(), "OOM") {
				t.Fatalf("push failed with %v, want OOM", err)
			}
			break
		}
		items = append(items, it)
	}
	t.Logf("full after %d pushes", len(items))
	if _, err := svc.Pop(ctx, Scrape, items[0].ID); err != nil {
		t.Errorf("Pop under OOM: %v", err)
	}
	if err := svc.Delete(ctx, Scrape, items[len(items)-1].ID); err != nil {
		t.Errorf("Delete under OOM: %v", err)
	}
	// The janitor with a cap: must trim even though Redis is full.
	capped := New(c, WithMaxItems(len(items)/2))
	res, err := capped.Sweep(ctx, Scrape)
	if err != nil || res.EvictedByCap == 0 {
		t.Errorf("Sweep under OOM with a legacy in-flight hash = %+v, %v; want the cap enforced", res, err)
	}
	// Without the legacy key the same sweep trims: the migration is what
	// blocks it.
	c.Del(ctx, ks.LegacyInflight)
	res, err = capped.Sweep(ctx, Scrape)
	ev, _ := c.Get(ctx, ks.Evicted).Result()
	t.Logf("Sweep without the legacy key under OOM = %+v, %v; evicted counter %q", res, err, ev)
	res2, err := svc.DeleteMatching(ctx, Scrape, Filter{})
	if err != nil || res2.Handled == 0 {
		t.Errorf("DeleteMatching under OOM = %+v, %v", res2, err)
	}
	if _, err := svc.Push(ctx, Scrape, uuid.New(), big); err != nil {
		t.Errorf("push after cleanup: %v", err)
	}
}

// A bulk delete while another program, between every two reads of the
// walk, removes 100 random other entries (anywhere), LPUSHes 50 and
// RPUSHes 50: every target present throughout is deleted, and the result
// accounts for each.
func TestAdvWalkUnderChurn(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := e.kind.Key()
		var all []any
		targets := 0
		for i := range 3000 {
			text := "other"
			if i%2 == 0 {
				text = "target"
				targets++
			}
			all = append(all, advEntry("", text, time.Now()))
		}
		if err := e.Client.LPush(ctx, key, all...).Err(); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewSource(1))
		var busy atomic.Bool
		hook := &advHook{Redis: e.Client}
		hook.after = func(int) {
			if !busy.CompareAndSwap(false, true) {
				return
			}
			defer busy.Store(false)
			raws, _ := e.Client.LRange(ctx, key, 0, -1).Result()
			removed := 0
			for _, i := range r.Perm(len(raws)) {
				if removed == 100 {
					break
				}
				if strings.Contains(raws[i], `"other"`) {
					e.Client.LRem(ctx, key, 1, raws[i])
					removed++
				}
			}
			for range 50 {
				e.Client.LPush(ctx, key, advEntry("", "other", time.Now()))
				e.Client.RPush(ctx, key, advEntry("", "other", time.Now()))
			}
		}
		svc := New(hook, WithLogger(e.svc.logger()))
		res, err := svc.DeleteMatching(ctx, e.kind, Filter{ErrorContains: "target"})
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, raw := range rawList(t, e, e.kind) {
			if strings.Contains(raw, `"target"`) {
				left++
			}
		}
		if left != 0 || res.Matched != targets || res.Handled+res.Failed+res.Skipped != res.Matched {
			t.Errorf("DeleteMatching under churn = %+v; %d targets, %d left", res, targets, left)
		}
	})
}

// Group commit with contexts cancelled at random points: every push that
// returned nil is stored; every push that said nothing was written (a bare
// context error, without "may have been recorded") is not.
func TestAdvPushCancelAtEveryPoint(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		var mu sync.Mutex
		stored := map[string]bool{}  // source ids that must be in the list
		notWrit := map[string]bool{} // source ids that must not be
		var wg sync.WaitGroup
		for w := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewSource(int64(w)))
				for range 40 {
					src := uuid.New()
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(r.Intn(400))*time.Microsecond)
					_, err := e.svc.Push(ctx, e.kind, src, errors.New("x"))
					cancel()
					mu.Lock()
					switch {
					case err == nil:
						stored[src.String()] = true
					case !strings.Contains(err.Error(), "may have been recorded"):
						notWrit[src.String()] = true
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		in := map[string]bool{}
		for _, raw := range rawList(t, e, e.kind) {
			it, _ := decodeItem(raw)
			in[it.SourceID] = true
		}
		for s := range stored {
			if !in[s] {
				t.Errorf("push of %s returned nil but it is not stored", s)
			}
		}
		for s := range notWrit {
			if in[s] {
				t.Errorf("push of %s said nothing was written, but it is stored", s)
			}
		}
		t.Logf("%d stored, %d not written", len(stored), len(notWrit))
		advNoDLQGoroutines(t)
	})
}

// Another instance of this library on a host whose clock is an hour ahead
// writes ids an hour ahead into the same list. Pop of our own entries then
// no longer finds them by time: it falls back to reading the list from
// Go (the scan), the cost the figure forbids. So does a burst of
// 9 Python entries (no time in their prefix) at a probe.
func TestAdvLocateGivesUpOnSkewedOrForeignNeighbours(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := e.kind.Key()
		ahead := func() string {
			id, _ := uuid.NewV7()
			b := id // overwrite the 48-bit time with one an hour ahead
			ms := uint64(time.Now().Add(time.Hour).UnixMilli())
			for i := range 6 {
				b[i] = byte(ms >> (40 - 8*i))
			}
			it := Item{ID: b.String(), SourceID: uuid.NewString(), Error: "skewed", FailedAt: time.Now(), Kind: e.kind}
			return string(it.appendJSON(nil))
		}
		for _, tc := range []struct {
			name  string
			other func() string
		}{
			{"skewed host", ahead},
			{"python burst", func() string { return advEntry("", "py", time.Now()) }},
		} {
			e.Client.Del(ctx, key)
			var ours []Item
			for i := range 2000 {
				if i%20 < 10 {
					if err := e.Client.LPush(ctx, key, tc.other()).Err(); err != nil {
						t.Fatal(err)
					}
					continue
				}
				ours = append(ours, push(t, e, e.kind, "ours"))
			}
			hook := &advHook{Redis: e.Client, after: func(int) {}}
			svc := New(hook, WithLogger(e.svc.logger()))
			scans := 0
			for _, it := range ours[:100] {
				before := hook.calls.Load()
				if _, err := svc.Pop(ctx, e.kind, it.ID); err != nil {
					t.Fatal(err)
				}
				if hook.calls.Load() != before {
					scans++
				}
			}
			if scans > 0 {
				t.Errorf("%s: %d of 100 pops of our own entries fell back to a Go-side scan of the list", tc.name, scans)
			}
		}
	})
}

// Every method on a nil or zero-value Service returns an error wrapping
// ErrNoRedis and does not panic.
func TestAdvNilAndZeroService(t *testing.T) {
	ctx := context.Background()
	for _, s := range []*Service{nil, {}} {
		calls := map[string]func() error{
			"Push":           func() error { _, err := s.Push(ctx, Scrape, uuid.New(), errors.New("x")); return err },
			"List":           func() error { _, err := s.List(ctx, Scrape, 1); return err },
			"Find":           func() error { _, err := s.Find(ctx, Scrape, Query{}); return err },
			"Count":          func() error { _, err := s.Count(ctx, Scrape, Filter{}); return err },
			"Groups":         func() error { _, err := s.Groups(ctx, Scrape); return err },
			"Stats":          func() error { _, err := s.Stats(ctx); return err },
			"Info":           func() error { _, err := s.Info(ctx, Scrape); return err },
			"Pop":            func() error { _, err := s.Pop(ctx, Scrape, "x"); return err },
			"Delete":         func() error { return s.Delete(ctx, Scrape, "x") },
			"Retry":          func() error { _, err := s.Retry(ctx, Scrape, "x"); return err },
			"RetryMatching":  func() error { _, err := s.RetryMatching(ctx, Scrape, Filter{}); return err },
			"DeleteMatching": func() error { _, err := s.DeleteMatching(ctx, Scrape, Filter{}); return err },
			"Sweep":          func() error { _, err := s.Sweep(ctx, Scrape); return err },
			"Run":            func() error { return s.Run(ctx) },
		}
		for name, call := range calls {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s on %v Service panicked: %v", name, s == nil, r)
					}
				}()
				if err := call(); !errors.Is(err, ErrNoRedis) {
					t.Errorf("%s on nil=%v Service = %v, want ErrNoRedis", name, s == nil, err)
				}
			}()
		}
	}
}

// A helper key of the wrong type (someone ran HSET on the evicted counter)
// must be reported as a warning, like a counter that is not a number, not
// make Info and Find fail.
func TestAdvWrongTypeCounter(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		push(t, e, e.kind, "x")
		e.Client.HSet(ctx, e.kind.keys().Evicted, "f", "v")
		if _, err := e.svc.Info(ctx, e.kind); err != nil {
			t.Errorf("Info with a wrong-type counter: %v", err)
		}
		if _, err := e.svc.Find(ctx, e.kind, Query{}); err != nil {
			t.Errorf("Find with a wrong-type counter: %v", err)
		}
	})
}

// Fidelity: a foreign entry's unknown keys come back unchanged, including
// ones that happen to be named like the HTTP-only keys.
func TestAdvForeignInFlightKeyKept(t *testing.T) {
	raw := `{"id": "a", "source_id": "s", "job_id": null, "error": "e", "failed_at": "2026-01-02T03:04:05+00:00", "retry_count": 0, "dlq_type": "scrape", "in_flight": "python-worker-3"}`
	it, err := decodeItem(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := it.MarshalJSON()
	if !strings.Contains(string(b), `"in_flight":"python-worker-3"`) {
		t.Errorf("stored key in_flight lost: %s", b)
	}
}

// Push returns the item as stored: an error text with invalid UTF-8 is
// stored with U+FFFD, but the returned Item keeps the raw bytes, so the
// item Push returned and the one Pop returns differ.
func TestAdvPushReturnsWhatIsStored(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		it := push(t, e, e.kind, "bad \xff byte")
		got, err := e.svc.Pop(context.Background(), e.kind, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Error != it.Error {
			t.Errorf("Push returned Error %q, Pop returned %q", it.Error, got.Error)
		}
	})
}

// An id is matched by a script on the stored string's start {"id":"<id>",
// so only canonical UUIDv7 ids may take that way. A 36-byte id that
// carries a quote (the HTTP API unescapes %22 in a path) and otherwise
// looked enough like a UUIDv7 matched the start of another program's
// entry with a shorter id: Pop, Delete and Retry of an id no entry has
// removed or requeued that entry. (Found by a second adversarial review.)
func TestAdvCraftedIDMatchesNoOtherEntry(t *testing.T) {
	const victim = `{"id":"01900000-0000-7abc","k":"xxxxxxxxxxx","source_id":"s","job_id":null,"error":"e","failed_at":"2026-01-02T03:04:05.000000+00:00","retry_count":0,"dlq_type":"x"}`
	crafted := victim[7:43] // 01900000-0000-7abc","k":"xxxxxxxxxxx
	if len(crafted) != 36 || victim[43] != '"' {
		t.Fatal("bad fixture")
	}
	for _, op := range []string{"Pop", "Delete", "Retry"} {
		t.Run(op, func(t *testing.T) {
			run(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				var requeued atomic.Int64
				withRequeuer(e, RequeueFunc(func(context.Context, Item) error { requeued.Add(1); return nil }))
				if err := e.Client.LPush(ctx, e.kind.Key(), victim).Err(); err != nil {
					t.Fatal(err)
				}
				var err error
				switch op {
				case "Pop":
					_, err = e.svc.Pop(ctx, e.kind, crafted)
				case "Delete":
					err = e.svc.Delete(ctx, e.kind, crafted)
				case "Retry":
					_, err = e.svc.Retry(ctx, e.kind, crafted)
				}
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("%s(%q): %v, want ErrNotFound", op, crafted, err)
				}
				if raws := rawList(t, e, e.kind); len(raws) != 1 || requeued.Load() != 0 {
					t.Errorf("%s(%q) left %d entries and requeued %d; want the other entry untouched", op, crafted, len(raws), requeued.Load())
				}
				if n, _ := e.Client.HLen(ctx, e.kind.keys().Claims).Result(); n != 0 {
					t.Errorf("%s(%q) left %d claims", op, crafted, n)
				}
			})
		})
	}
}

// A claim script's error during Retry's scan (here a claims key of the
// wrong type; under OOM, the claim's HSET) is Retry's answer: it was
// dropped, and Retry answered ErrNotFound for an entry that is there.
func TestAdvRetryScanReportsTheClaimsError(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		withRequeuer(e, RequeueFunc(func(context.Context, Item) error { return nil }))
		py := advEntry("", "py", time.Now())
		id, _ := readID(py)
		if err := e.Client.LPush(ctx, e.kind.Key(), py).Err(); err != nil {
			t.Fatal(err)
		}
		if err := e.Client.Set(ctx, e.kind.keys().Claims, "not a hash", 0).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Retry(ctx, e.kind, id)
		if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Errorf("Retry with a broken claims key: %v, want its WRONGTYPE error", err)
		}
		if raws := rawList(t, e, e.kind); len(raws) != 1 {
			t.Errorf("%d entries left, want 1", len(raws))
		}
	})
}

// A claim in a form the library does not write counts as expired, on
// every backend (gopher-lua, under miniredis, is stricter than Redis' Lua
// about tonumber(nil)).
func TestAdvMalformedClaimCountsAsExpired(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		it := push(t, e, e.kind, "x")
		if err := e.Client.HSet(ctx, e.kind.keys().Claims, it.ID, "junk").Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := e.svc.Pop(ctx, e.kind, it.ID); err != nil || got.ID != it.ID {
			t.Fatalf("Pop under a malformed claim = %q, %v", got.ID, err)
		}
		if n, _ := e.Client.HLen(ctx, e.kind.keys().Claims).Result(); n != 0 {
			t.Errorf("%d claims left", n)
		}
	})
}

// What List, Find and Info say about a claim must be what Pop acts on: an
// entry shown in_flight is refused (ErrClaimed) and one not shown in_flight
// is popped. Claims are written by another program here, in forms the
// scripts and the Go side read differently until both took one format.
// (Found by a second adversarial review.)
func TestAdvClaimViewAgreesWithPop(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		future := time.Now().Add(time.Hour).UnixMilli()
		forms := map[string]string{
			"canonical":     strconv.FormatInt(future, 10) + ":tok",
			"plus sign":     "+" + strconv.FormatInt(future, 10) + ":tok",
			"20 digits":     "99999999999999999999:tok",
			"leading zeros": "000" + strconv.FormatInt(future, 10) + ":tok",
			"expired":       strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10) + ":tok",
			"no token":      strconv.FormatInt(future, 10),
			"space":         " " + strconv.FormatInt(future, 10) + ":tok",
		}
		for name, claim := range forms {
			t.Run(name, func(t *testing.T) {
				it := push(t, e, e.kind, "boom "+name)
				ks := e.kind.keys()
				if err := e.Client.HSet(ctx, ks.Claims, it.ID, claim).Err(); err != nil {
					t.Fatal(err)
				}
				items, err := e.svc.List(ctx, e.kind, 10)
				if err != nil {
					t.Fatal(err)
				}
				var listed *Item
				for i := range items {
					if items[i].ID == it.ID {
						listed = &items[i]
					}
				}
				if listed == nil {
					t.Fatal("not listed")
				}
				info, err := e.svc.Info(ctx, e.kind)
				if err != nil {
					t.Fatal(err)
				}
				_, perr := e.svc.Pop(ctx, e.kind, it.ID)
				refused := errors.Is(perr, ErrClaimed)
				if listed.InFlight != refused || (info.InFlight == 1) != refused {
					t.Errorf("claim %q: List says in_flight=%v (until %v), Info in_flight=%d, but Pop %v",
						claim, listed.InFlight, listed.ClaimedUntil, info.InFlight, perr)
				}
				_, _ = e.svc.Pop(ctx, e.kind, it.ID, Force())
				_ = e.Client.Del(ctx, ks.Claims).Err()
			})
		}
	})
}

// History with buckets another program wrote: no bucket's count is ever
// negative (pushes are never subtracted), and no bucket is read from two
// fields, whatever the hash holds. (Found by a second adversarial review.)
func TestAdvHistoryCorruptBuckets(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		push(t, e, e.kind, "boom")
		key := e.kind.keys().History
		min := strconv.FormatInt(time.Now().Unix()/60-3, 10)
		hour := strconv.FormatInt(time.Now().Unix()/3600-3, 10)
		for name, fields := range map[string][]any{
			"overflow by aliases": {"m" + min, "9223372036854775807", "m0" + min, "1", "h" + hour, "9223372036854775807", "h+" + hour, "9223372036854775807"},
			"negative":            {"m" + min, "-7", "h" + hour, "-7"},
		} {
			t.Run(name, func(t *testing.T) {
				if err := e.Client.HSet(ctx, key, fields...).Err(); err != nil {
					t.Fatal(err)
				}
				defer e.Client.HDel(ctx, key, "m"+min, "m0"+min, "h"+hour, "h+"+hour)
				for _, w := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour} {
					bs, err := e.svc.History(ctx, e.kind, w)
					if err != nil {
						t.Fatal(err)
					}
					for _, b := range bs {
						if b.Count < 0 {
							t.Errorf("window %s: bucket %s has count %d", w, b.Start, b.Count)
						}
					}
				}
			})
		}
	})
}

// A negative counter (another program's write) reads as 0 with a warning,
// as one that is not a number does: Info, and the Prometheus counters
// built from it, never go negative. (Found by a second adversarial
// review.)
func TestAdvNegativeCounters(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ks := e.kind.keys()
		if err := e.Client.Set(ctx, ks.Pushed, "-5", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := e.Client.Set(ctx, ks.Evicted, "-9223372036854775808", 0).Err(); err != nil {
			t.Fatal(err)
		}
		info, err := e.svc.Info(ctx, e.kind)
		if err != nil {
			t.Fatal(err)
		}
		if info.Pushed != 0 || info.Evicted != 0 || len(info.Warnings) != 2 ||
			!strings.Contains(strings.Join(info.Warnings, "\n"), ks.Pushed) || !strings.Contains(strings.Join(info.Warnings, "\n"), ks.Evicted) {
			t.Fatalf("Info = pushed %d, evicted %d, warnings %q; want 0, 0 and a warning for each", info.Pushed, info.Evicted, info.Warnings)
		}
	})
}

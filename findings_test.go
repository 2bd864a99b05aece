package dlq

// Tests of the findings of issue #11, each numbered as there: each failed
// on the core of 7caadeb and holds on this one.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// #1: a failed retry leaves the entry where it was, so the cap still
// evicts the oldest entry, not the one that was retried.
func TestFailedRetryKeepsThePlace(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		withRequeuer(e, RequeueFunc(func(context.Context, Item) error { return errors.New("queue down") }), WithMaxItems(50))
		items := fillKind(t, e, 50, func(i int) string { return fmt.Sprint("failure ", i) })
		before := rawList(t, e, e.kind)
		newest, oldest := items[49], items[0]
		if _, err := e.svc.Retry(ctx, e.kind, newest.ID); !errors.Is(err, ErrRequeue) {
			t.Fatalf("Retry with a failing Requeuer: %v, want ErrRequeue", err)
		}
		if after := rawList(t, e, e.kind); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Fatal("a failed retry changed the list")
		}
		push(t, e, e.kind, "one more")
		got := ids(mustList(t, e))
		if !contains(got, newest.ID) {
			t.Error("the retried (newest) entry was evicted")
		}
		if contains(got, oldest.ID) {
			t.Error("the oldest entry survived the cap")
		}
		if n, _ := e.Client.HLen(ctx, e.kind.keys().Claims).Result(); n != 0 {
			t.Errorf("%d claims left after a failed retry", n)
		}
	})
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func mustList(t *testing.T, e *env) []Item {
	t.Helper()
	items, err := e.svc.List(context.Background(), e.kind, MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// #2: a retry that never ends (a crashed process) leaves its entry in the
// list, visible and counted, whatever its kind; once the claim expires a
// fresh Service that never pushed to the kind retries it, and its janitor
// sweeps the kind because WithKinds names it.
func TestCrashedRetryOfACustomKind(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		timeout := testClaimTimeout(e)
		release := make(chan struct{})
		defer close(release)
		entered := make(chan struct{})
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error {
			close(entered)
			<-release // the process "dies" here: the call never returns
			return nil
		}), WithClaimTimeout(timeout))
		it := push(t, e, e.kind, "render failed")
		go func() { _, _ = e.svc.Retry(context.Background(), e.kind, it.ID) }()
		<-entered

		var got requeued
		fresh := New(e.Client, WithKinds(e.kind), WithClaimTimeout(timeout),
			WithRequeuer(RequeueFunc(func(ctx context.Context, it Item) error { got.add(it.ID); return nil })))
		if !contains(kindNames(fresh.Kinds()), string(e.kind)) {
			t.Fatalf("Kinds() = %v, want %s among them", fresh.Kinds(), e.kind)
		}
		items, err := fresh.List(ctx, e.kind, 10)
		if err != nil || len(items) != 1 || !items[0].InFlight || items[0].ClaimedUntil.IsZero() {
			t.Fatalf("List during the retry = %+v, %v; want the entry, in flight", items, err)
		}
		info, err := fresh.Info(ctx, e.kind)
		if err != nil || info.Length != 1 || info.InFlight != 1 {
			t.Fatalf("Info = %+v, %v; want 1 entry, 1 in flight", info, err)
		}
		if _, err := fresh.Retry(ctx, e.kind, it.ID); !errors.Is(err, ErrClaimed) {
			t.Fatalf("Retry of a claimed entry: %v, want ErrClaimed", err)
		}
		if _, err := fresh.Pop(ctx, e.kind, it.ID); !errors.Is(err, ErrClaimed) {
			t.Fatalf("Pop of a claimed entry: %v, want ErrClaimed", err)
		}
		passRedisClock(t, e, items[0].ClaimedUntil)
		// The janitor of the fresh process drops the dead claim.
		res, err := fresh.Sweep(ctx, e.kind)
		if err != nil || res.ExpiredClaims != 1 {
			t.Fatalf("Sweep = %+v, %v; want the expired claim dropped", res, err)
		}
		if got, err := fresh.Retry(ctx, e.kind, it.ID); err != nil || got.ID != it.ID {
			t.Fatalf("Retry after the claim expired = %v, %v", got.ID, err)
		}
		if fmt.Sprint(got.list()) != fmt.Sprint([]string{it.ID}) {
			t.Fatalf("requeued %v", got.list())
		}
		if n, _ := e.Client.LLen(ctx, e.kind.Key()).Result(); n != 0 {
			t.Fatalf("%d entries left", n)
		}
	})
}

func kindNames(ks []Kind) []string {
	var out []string
	for _, k := range ks {
		out = append(out, string(k))
	}
	return out
}

// #3: a bulk walk misses nothing while others pop entries it read, a trim
// at the cap evicts behind it, and another program RPUSHes at the tail and
// LREMs entries between its read and its removal.
func TestBulkWalkMissesNothingUnderChurn(t *testing.T) {
	for _, churn := range []string{"pop read entries", "trim at the cap", "rpush and lrem at the tail", "remove many read entries"} {
		t.Run(strings.ReplaceAll(churn, " ", "_"), func(t *testing.T) {
			run(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				const n = 3000
				// Targets and entries to keep, interleaved: the walk leaves
				// kept entries behind it, which others may remove.
				all := fillKind(t, e, 2*n, func(i int) string {
					if i%2 == 0 {
						return fmt.Sprint("target ", i)
					}
					return fmt.Sprint("keep ", i)
				})
				var targets, keeps []Item
				for i, it := range all {
					if i%2 == 0 {
						targets = append(targets, it)
					} else {
						keeps = append(keeps, it)
					}
				}
				other := New(e.Client, WithMaxItems(2*n), WithLogger(e.svc.logger()))
				gone := map[string]bool{} // targets removed by the churn
				var mu sync.Mutex
				page := 0
				// The walk's Service: after each page it reads, the churn.
				walker := New(afterPageReads(t, e.Client, e.kind.Key(), func() {
					page++
					switch churn {
					case "pop read entries":
						// Pop 40 kept entries the walk has read (the oldest)
						// and a target it has not.
						for j := range 40 {
							if k := (page-1)*40 + j; k < n {
								_, _ = other.Pop(ctx, e.kind, keeps[k].ID)
							}
						}
						if _, err := other.Pop(ctx, e.kind, targets[n-page].ID); err == nil {
							mu.Lock()
							gone[targets[n-page].ID] = true
							mu.Unlock()
						}
					case "remove many read entries":
						// Another program LREMs 100 kept entries from the tail.
						raw := rawList(t, e, e.kind)
						removed := 0
						for j := len(raw) - 1; j >= 0 && removed < 100; j-- {
							if strings.Contains(raw[j], `"keep `) {
								if k, _ := e.Client.LRem(ctx, e.kind.Key(), -1, raw[j]).Result(); k == 1 {
									removed++
								}
							}
						}
					case "trim at the cap":
						// Non-matching pushes take the list over the cap: the
						// trim evicts the oldest (the walk's next) targets.
						for range 40 {
							if _, err := other.Push(ctx, e.kind, uuid.New(), errors.New("other")); err != nil {
								t.Error(err)
							}
						}
					case "rpush and lrem at the tail":
						raw := rawList(t, e, e.kind)
						_ = e.Client.RPush(ctx, e.kind.Key(), `{"id":"rpushed","failed_at":"2026-01-01T00:00:00Z","error":"other"}`).Err()
						// LREM an unread target and a read one.
						for _, r := range []string{raw[0], raw[len(raw)-2]} {
							if it, err := decodeItem(r); err == nil && strings.HasPrefix(it.Error, "target") {
								if k, _ := e.Client.LRem(ctx, e.kind.Key(), 1, r).Result(); k == 1 {
									gone[it.ID] = true
								}
							}
						}
					}
				}), WithLogger(e.svc.logger()))
				res, err := walker.DeleteMatching(ctx, e.kind, Filter{ErrorContains: "target"})
				if err != nil {
					t.Fatal(err)
				}
				left, err := e.svc.Count(ctx, e.kind, Filter{ErrorContains: "target"})
				if err != nil || left != 0 {
					t.Fatalf("%d targets left after the bulk delete (%v); result %+v", left, err, res)
				}
				if res.Matched != res.Handled+res.Failed+res.Skipped {
					t.Errorf("result %+v does not account for every match", res)
				}
				evicted, _ := e.Client.Get(ctx, e.kind.keys().Evicted).Int()
				if res.Handled+len(gone)+evicted < n || res.Handled > n || res.Matched > n {
					t.Errorf("handled %d + removed by others %d + evicted %d != %d targets (result %+v)", res.Handled, len(gone), evicted, n, res)
				}
			})
		})
	}
}

// #4: each requeue of a bulk retry happens under a claim stamped for its
// entry just before the call; an entry another retry claimed meanwhile is
// skipped, never requeued twice.
//
// The slow call lasts until the batch's claims expire by Redis' clock, on
// every backend (miniredis' clock is not moved here: the Service must see
// the time its call took).
func TestBulkRetryClaimsEachEntryBeforeItsCall(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		items := fillKind(t, e, 300, func(i int) string { return fmt.Sprint("f ", i) })
		var got requeued
		var rival *Service
		var calls atomic.Int32
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error {
			got.add(it.ID)
			c, err := e.Client.HGet(ctx, e.kind.keys().Claims, it.ID).Result()
			now, terr := e.Client.Time(ctx).Result()
			d, _ := parseDeadline(c)
			switch {
			case err != nil:
				t.Errorf("requeue of %s without a claim: %v", it.ID, err)
			case terr != nil:
				t.Errorf("TIME: %v", terr)
			case !d.After(now):
				t.Errorf("requeue of %s under an expired claim %q (Redis' clock: %v)", it.ID, c, now)
			}
			if calls.Add(1) == 1 {
				// A slow call: the claims of the whole batch expire.
				if err := waitRedisClock(context.Background(), e.Client, d); err != nil {
					t.Error(err)
				}
				// Another operator retries the last entry meanwhile.
				if _, err := rival.Retry(context.Background(), e.kind, items[299].ID); err != nil {
					t.Errorf("rival retry: %v", err)
				}
			}
			return nil
		}), WithClaimTimeout(2*time.Second))
		rival = New(e.Client, WithRequeuer(RequeueFunc(func(ctx context.Context, it Item) error { got.add(it.ID); return nil })))
		res, err := e.svc.RetryMatching(ctx, e.kind, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if !unique(got.list()) || len(got.list()) != 300 {
			t.Fatalf("requeued %d ids, unique %v; want each of 300 once", len(got.list()), unique(got.list()))
		}
		// The rival's entry is skipped if the walk read it before the
		// rival took it, and not matched at all if it read it after (a
		// bulk action acts on what is there when it gets there).
		if res != (BulkResult{Matched: 300, Handled: 299, Skipped: 1}) && res != (BulkResult{Matched: 299, Handled: 299}) {
			t.Fatalf("result %+v, want 299 handled and the rival's entry skipped or not matched", res)
		}
	})
}

func parseDeadline(v string) (time.Time, bool) {
	var ms int64
	if _, err := fmt.Sscanf(v, "%d:", &ms); err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// #5: one young entry at the tail does not stall age eviction.
func TestAgeEvictionPastAYoungTail(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		clk := newClock(e)
		clk.Add(-2 * time.Hour)
		fillKind(t, e, 500, func(i int) string { return fmt.Sprint("old ", i) })
		clk.Add(2 * time.Hour)
		young := fmt.Sprintf(`{"id":"young","source_id":"s","job_id":null,"error":"e","failed_at":"%s","retry_count":0,"dlq_type":"%s"}`,
			clk.Now().Format(time.RFC3339Nano), e.kind)
		if err := e.Client.RPush(ctx, e.kind.Key(), young).Err(); err != nil {
			t.Fatal(err)
		}
		fresh := push(t, e, e.kind, "fresh")
		e.svc.maxAge = time.Hour
		res, err := e.svc.Sweep(ctx, e.kind)
		if err != nil || res.EvictedByAge != 500 {
			t.Fatalf("Sweep = %+v, %v; want all 500 old entries evicted at once", res, err)
		}
		if got := ids(mustList(t, e)); fmt.Sprint(got) != fmt.Sprint([]string{fresh.ID, "young"}) {
			t.Fatalf("left %v", got)
		}
		if n, _ := e.Client.Get(ctx, e.kind.keys().Evicted).Int(); n != 500 {
			t.Fatalf("evicted counter %d, want 500", n)
		}
	})
}

// #7 (in part; TestCleanupWhenRedisIsFull runs a full Redis): every
// cleanup path works with commands a full Redis still runs. Here: a trim
// under a corrupt counter (#10) still evicts, logs its count, and Info
// reports the counter instead of failing.
func TestCorruptCounter(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ks := e.kind.keys()
		if err := e.Client.Set(ctx, ks.Evicted, "not-a-number", 0).Err(); err != nil {
			t.Fatal(err)
		}
		e.svc.maxItems = 5
		for i := range 8 {
			push(t, e, e.kind, fmt.Sprint("f", i))
		}
		if n, _ := e.Client.LLen(ctx, e.kind.Key()).Result(); n != 5 {
			t.Fatalf("the trim under a corrupt counter left %d entries, want 5", n)
		}
		if !strings.Contains(e.logs.String(), "evicted counter could not be written") || !strings.Contains(e.logs.String(), "evicted=1") {
			t.Errorf("the eviction is not logged with its count:\n%s", e.logs)
		}
		info, err := e.svc.Info(ctx, e.kind)
		if err != nil {
			t.Fatalf("Info under a corrupt counter: %v", err)
		}
		if info.Length != 5 || info.Evicted != 0 || len(info.Warnings) == 0 || !strings.Contains(info.Warnings[0], ks.Evicted) {
			t.Fatalf("Info = %+v; want the length and a warning naming %s", info, ks.Evicted)
		}
	})
}

// #11: what Python stored comes back unchanged, failed_at included.
func TestPythonFieldsComeBackUnchanged(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		raw := `{"id": "5b0b6e0e-0000-4000-8000-000000000001", "source_id": "s", "job_id": null, "error": "boom", "failed_at": "2026-01-02T03:04:05+00:00", "retry_count": 1, "dlq_type": "scrape", "worker": "py-3"}`
		if err := e.Client.LPush(ctx, ScrapeKey, raw).Err(); err != nil {
			t.Fatal(err)
		}
		items, err := e.svc.ListScrape(ctx, 10)
		if err != nil || len(items) != 1 {
			t.Fatalf("List = %v, %v", items, err)
		}
		want := `{"id":"5b0b6e0e-0000-4000-8000-000000000001","source_id":"s","job_id":null,"error":"boom","failed_at":"2026-01-02T03:04:05+00:00","retry_count":1,"dlq_type":"scrape","worker":"py-3"}`
		if b, _ := items[0].MarshalJSON(); string(b) != want {
			t.Fatalf("List gave\n%s\nwant\n%s", b, want)
		}
		var got []byte
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error {
			got, _ = it.MarshalJSON()
			return nil
		}))
		if _, err := e.svc.Retry(ctx, Scrape, items[0].ID); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(got), strings.TrimSuffix(want, "}")) {
			t.Fatalf("the Requeuer got\n%s\nwant\n%s (and the claim)", got, want)
		}
	})
}

// #12: a nil or zero Service answers every call with ErrNoRedis.
func TestNilService(t *testing.T) {
	ctx := context.Background()
	for name, s := range map[string]*Service{"nil": nil, "zero": {}} {
		calls := map[string]func() error{
			"Push":           func() error { _, err := s.Push(ctx, Scrape, uuid.New(), errors.New("x")); return err },
			"List":           func() error { _, err := s.List(ctx, Scrape, 1); return err },
			"Find":           func() error { _, err := s.Find(ctx, Scrape, Query{}); return err },
			"Count":          func() error { _, err := s.Count(ctx, Scrape, Filter{}); return err },
			"Stats":          func() error { _, err := s.Stats(ctx); return err },
			"Info":           func() error { _, err := s.Info(ctx, Scrape); return err },
			"Pop":            func() error { _, err := s.Pop(ctx, Scrape, "x"); return err },
			"Delete":         func() error { return s.Delete(ctx, Scrape, "x") },
			"Retry":          func() error { _, err := s.Retry(ctx, Scrape, "x"); return err },
			"RetryMatching":  func() error { _, err := s.RetryMatching(ctx, Scrape, Filter{}); return err },
			"DeleteMatching": func() error { _, err := s.DeleteMatching(ctx, Scrape, Filter{}); return err },
			"Groups":         func() error { _, err := s.Groups(ctx, Scrape); return err },
			"Sweep":          func() error { _, err := s.Sweep(ctx, Scrape); return err },
			"Run":            func() error { return s.Run(ctx) },
		}
		for call, fn := range calls {
			if err := fn(); !errors.Is(err, ErrNoRedis) {
				t.Errorf("%s Service: %s = %v, want ErrNoRedis", name, call, err)
			}
		}
	}
	if (*Service)(nil).Kinds() != nil {
		t.Error("nil Service has kinds")
	}
}

// Claims: Pop and Delete of a claimed entry answer ErrClaimed unless
// forced; a bulk retry skips it; List shows it in flight.
func TestClaimedEntries(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		release := make(chan struct{})
		entered := make(chan struct{}, 1)
		var got requeued
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error {
			got.add(it.ID)
			if it.Error == "slow" {
				entered <- struct{}{}
				<-release
			}
			return nil
		}))
		slow := push(t, e, e.kind, "slow")
		fast := push(t, e, e.kind, "fast")
		done := make(chan error)
		go func() { _, err := e.svc.Retry(ctx, e.kind, slow.ID); done <- err }()
		<-entered
		if err := e.svc.Delete(ctx, e.kind, slow.ID); !errors.Is(err, ErrClaimed) {
			t.Fatalf("Delete of a claimed entry: %v", err)
		}
		res, err := e.svc.RetryMatching(ctx, e.kind, Filter{})
		if err != nil || res != (BulkResult{Matched: 2, Handled: 1, Skipped: 1}) {
			t.Fatalf("bulk retry beside a claim = %+v, %v", res, err)
		}
		dres, err := e.svc.DeleteMatching(ctx, e.kind, Filter{})
		if err != nil || dres != (BulkResult{Matched: 1, Skipped: 1}) {
			t.Fatalf("bulk delete of a claimed entry = %+v, %v", dres, err)
		}
		items := mustList(t, e)
		if len(items) != 1 || !items[0].InFlight {
			t.Fatalf("List = %+v; want the claimed entry, in flight", items)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n, _ := e.Client.LLen(ctx, e.kind.Key()).Result(); n != 0 {
			t.Fatalf("%d entries left", n)
		}
		if fmt.Sprint(got.list()) != fmt.Sprint([]string{slow.ID, fast.ID}) {
			t.Fatalf("requeued %v", got.list())
		}
		// Force removes a claimed entry.
		again := push(t, e, e.kind, "slow")
		release = make(chan struct{})
		go func() { _, err := e.svc.Retry(ctx, e.kind, again.ID); done <- err }()
		<-entered
		if it, err := e.svc.Pop(ctx, e.kind, again.ID, Force()); err != nil || it.ID != again.ID {
			t.Fatalf("forced Pop = %v, %v", it.ID, err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// RetryMatching without a Requeuer changes nothing.
func TestRetryMatchingWithoutARequeuer(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		fillKind(t, e, 3, func(i int) string { return "x" })
		for _, opts := range [][]BulkOption{nil, {DryRun()}} {
			if _, err := e.svc.RetryMatching(context.Background(), e.kind, Filter{}, opts...); !errors.Is(err, ErrNoRequeuer) {
				t.Fatalf("err = %v, want ErrNoRequeuer", err)
			}
		}
		if n := len(mustList(t, e)); n != 3 {
			t.Fatalf("%d entries left, want 3", n)
		}
	})
}

// Pop finds every entry by id: ours by their time, others' by a scan,
// and ours pushed out of time order (another process's clock) too.
func TestPopFindsEveryEntry(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var want []string
		for i := range 300 {
			want = append(want, push(t, e, e.kind, fmt.Sprint("f", i)).ID)
			if i%50 == 0 {
				foreign := fmt.Sprintf(`{"id": "py-%d", "failed_at": "2026-01-01T00:00:00", "error": "x", "dlq_type": "%s"}`, i, e.kind)
				if err := e.Client.LPush(ctx, e.kind.Key(), foreign).Err(); err != nil {
					t.Fatal(err)
				}
				want = append(want, fmt.Sprint("py-", i))
			}
		}
		// An entry of ours from a process whose clock ran an hour late,
		// and a v7 id from the future at the tail.
		late, _ := uuid.NewV7()
		lateRaw := Item{ID: late.String(), Kind: e.kind, FailedAt: time.Now()}.appendJSON(nil)
		if err := e.Client.RPush(ctx, e.kind.Key(), lateRaw).Err(); err != nil {
			t.Fatal(err)
		}
		want = append(want, late.String())
		for i, j := 0, len(want)-1; i < j; i, j = i+1, j-2 {
			want[i], want[j] = want[j], want[i] // pop in a mixed order
		}
		for _, id := range want {
			if it, err := e.svc.Pop(ctx, e.kind, id); err != nil || it.ID != id {
				t.Fatalf("Pop(%s) = %q, %v", id, it.ID, err)
			}
		}
		if n, _ := e.Client.LLen(ctx, e.kind.Key()).Result(); n != 0 {
			t.Fatalf("%d entries left", n)
		}
	})
}

// The janitor migrates what an earlier version left: entries in its
// in-flight hash go back to the list, and its index is deleted.
func TestLegacyKeysMigrate(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ks := e.kind.keys()
		entry := `{"id":"old-1","source_id":"s","job_id":null,"error":"e","failed_at":"2026-01-01T00:00:00.000000+00:00","retry_count":0,"dlq_type":"x"}`
		if err := e.Client.HSet(ctx, ks.LegacyInflight, "old-1", "1700000000000:"+entry).Err(); err != nil {
			t.Fatal(err)
		}
		if err := e.Client.HSet(ctx, ks.LegacyIndex, "a", "b").Err(); err != nil {
			t.Fatal(err)
		}
		res, err := e.svc.Sweep(ctx, e.kind)
		if err != nil || res.Restored != 1 {
			t.Fatalf("Sweep = %+v, %v", res, err)
		}
		if raws := rawList(t, e, e.kind); len(raws) != 1 || raws[0] != entry {
			t.Fatalf("list = %q", raws)
		}
		if n, _ := e.Client.Exists(ctx, ks.LegacyIndex).Result(); n != 0 {
			t.Fatal("the old index is still there")
		}
		if n, _ := e.Client.Exists(ctx, ks.LegacyInflight).Result(); n != 0 {
			t.Fatal("the old in-flight hash is still there")
		}
	})
}

// WithKinds: Run sweeps the named kinds in a process that never pushed.
func TestRunSweepsNamedKinds(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		fillKind(t, e, 10, func(i int) string { return "x" })
		// Run until it logs the eviction of the named kind's oldest
		// entries, then stop (or give up after a minute).
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		logger := slog.New(onLog{slog.NewTextHandler(e.logs, nil), func(r slog.Record) {
			if r.Message == "dlq: evicted the oldest entries over the size cap" && logAttr(r, "kind") == string(e.kind) {
				cancel()
			}
		}})
		s := New(e.Client, WithKinds(e.kind), WithMaxItems(4), WithLogger(logger))
		if err := s.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.Client.LLen(context.Background(), e.kind.Key()).Result(); n != 4 {
			t.Fatalf("Run left %d entries of %s, want 4", n, e.kind)
		}
	})
}

// Pop at either end of the list, where it takes its shortest way, judges
// claims as everywhere else: a live claim stops it, an expired one is
// dropped with the entry, and entries of other programs at the ends do not
// hide ours.
func TestPopAtTheEndsJudgesClaims(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ks := e.kind.keys()
		oldest := push(t, e, e.kind, "oldest")
		middle := push(t, e, e.kind, "middle")
		newest := push(t, e, e.kind, "newest")
		const expired, live = "1000:gone", "4102444800000:held" // 1970 and 2100
		for id, c := range map[string]string{oldest.ID: expired, newest.ID: live} {
			if err := e.Client.HSet(ctx, ks.Claims, id, c).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.svc.Pop(ctx, e.kind, newest.ID); !errors.Is(err, ErrClaimed) {
			t.Fatalf("Pop of the newest entry under a live claim: %v", err)
		}
		if it, err := e.svc.Pop(ctx, e.kind, oldest.ID); err != nil || it.ID != oldest.ID {
			t.Fatalf("Pop of the oldest entry under an expired claim = %q, %v", it.ID, err)
		}
		if it, err := e.svc.Pop(ctx, e.kind, newest.ID, Force()); err != nil || it.ID != newest.ID {
			t.Fatalf("forced Pop of the newest entry = %q, %v", it.ID, err)
		}
		if n, _ := e.Client.HLen(ctx, ks.Claims).Result(); n != 0 {
			t.Fatalf("%d claims left after their entries were popped", n)
		}
		// Another program's entries at both ends.
		for _, push := range []func(context.Context, string, ...any) *redis.IntCmd{e.Client.LPush, e.Client.RPush} {
			if err := push(ctx, ks.List, `{"id":"py","error":"x"}`).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if it, err := e.svc.Pop(ctx, e.kind, middle.ID); err != nil || it.ID != middle.ID {
			t.Fatalf("Pop between others' entries = %q, %v", it.ID, err)
		}
		if raws := rawList(t, e, e.kind); len(raws) != 2 {
			t.Fatalf("list = %q, want the two others' entries", raws)
		}
	})
}

// List and Find mark the entries with a live claim, and only those, with
// the claim's deadline.
func TestListAndFindMarkLiveClaims(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		items := fillKind(t, e, 6, func(i int) string { return fmt.Sprint("failure ", i) })
		const liveMs = int64(4102444800000) // 2100
		live, expired := items[1].ID, items[4].ID
		if err := e.Client.HSet(ctx, e.kind.keys().Claims, live, fmt.Sprint(liveMs, ":a"), expired, "1000:b").Err(); err != nil {
			t.Fatal(err)
		}
		want := time.UnixMilli(liveMs).UTC()
		check := func(how string, got []Item) {
			t.Helper()
			if len(got) != len(items) {
				t.Fatalf("%s: %d items, want %d", how, len(got), len(items))
			}
			for _, it := range got {
				if it.ID == live {
					if !it.InFlight || !it.ClaimedUntil.Equal(want) {
						t.Errorf("%s: the claimed entry: in flight %v until %v, want until %v", how, it.InFlight, it.ClaimedUntil, want)
					}
				} else if it.InFlight || !it.ClaimedUntil.IsZero() {
					t.Errorf("%s: %s (expired claim: %v) is in flight until %v", how, it.ID, it.ID == expired, it.ClaimedUntil)
				}
			}
		}
		check("List", mustList(t, e))
		page, err := e.svc.Find(ctx, e.kind, Query{Filter: Filter{ErrorContains: "failure"}})
		if err != nil {
			t.Fatal(err)
		}
		check("Find", page.Items)
	})
}

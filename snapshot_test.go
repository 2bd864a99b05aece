package dlq

import (
	"context"
	"crypto/sha1"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

// TestSnapshotEndUnderOthersRemovals: while a DeleteMatching, a
// RetryMatching or an Export walks, another client removes hundreds of the
// entries older than the start's newest 16 (ones that do not match the
// filter, or ones that do) and pushes matching entries at the head after
// each page the walk reads; a retry's jobs fail again at once and come
// back at the head too. No entry pushed after the start is touched
// (deleted, requeued, handed on), and every matching entry present at the
// start and removed by no one else is handled exactly once.
func TestSnapshotEndUnderOthersRemovals(t *testing.T) {
	for _, action := range []string{"delete", "retry", "export"} {
		for _, others := range []string{"other", "match me"} {
			t.Run(fmt.Sprintf("%s/others remove %q", action, others), func(t *testing.T) {
				run(t, func(t *testing.T, e *env) {
					testSnapshotEndUnderRemovals(t, e, action, others)
				})
			})
		}
	}
}

func testSnapshotEndUnderRemovals(t *testing.T, e *env, action, others string) {
	ctx := context.Background()
	key := e.kind.Key()
	f := Filter{ErrorContains: "match me"}
	now := time.Now()
	const n = 1500
	start := make([]string, n) // oldest first
	var victims []any          // removed by another client during the walk
	for i := range start {
		text := fmt.Sprint("match me ", i)
		if i%3 == 0 {
			text = fmt.Sprint("other ", i)
		}
		start[i] = advEntry("", text, now)
		if i < n-snapNewest && i%2 == 0 && strings.HasPrefix(text, others) {
			victims = append(victims, start[i])
		}
	}
	lpush(t, e, start...)
	removed := map[string]bool{}
	for _, v := range victims {
		removed[v.(string)] = true
	}
	if len(victims) < 200 {
		t.Fatalf("%d victims, want hundreds", len(victims))
	}

	var mu sync.Mutex
	after := map[string]bool{} // stored strings pushed after the start
	lpushAfter := func(raws ...any) {
		if err := e.Client.LPush(ctx, key, raws...).Err(); err != nil {
			t.Error(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range raws {
			after[r.(string)] = true
		}
	}
	reads := 0
	c := afterPageReads(t, e.Client, key, func() {
		reads++
		if reads == 1 {
			// Others remove entries older than the start's newest.
			_, err := e.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, v := range victims {
					p.LRem(ctx, key, 1, v)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}
		batch := make([]any, 40)
		for i := range batch {
			batch[i] = advEntry("", fmt.Sprintf("match me new %d.%d", reads, i), time.Now())
		}
		lpushAfter(batch...)
	})

	done := map[string]int{} // stored strings handled (requeued, handed on)
	var err error
	switch action {
	case "delete":
		svc := New(c, WithLogger(e.svc.logger()))
		_, err = svc.DeleteMatching(ctx, e.kind, f)
	case "retry":
		byID := map[string]string{}
		for _, r := range start {
			id, _ := readID(r)
			byID[id] = r
		}
		svc := New(c, WithLogger(e.svc.logger()), WithRequeuer(RequeueFunc(func(_ context.Context, it Item) error {
			mu.Lock()
			raw, ok := byID[it.ID]
			mu.Unlock()
			if !ok {
				raw = "pushed after the start: " + it.ID
			}
			mu.Lock()
			done[raw]++
			mu.Unlock()
			// The job fails again at once: a new failure at the head.
			lpushAfter(advEntry("", "match me again "+it.ID, time.Now()))
			return nil
		})))
		_, err = svc.RetryMatching(ctx, e.kind, f)
	case "export":
		svc := New(c, WithLogger(e.svc.logger()))
		err = svc.Export(ctx, e.kind, f, func(raw string) error {
			done[raw]++
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	if reads < 3 {
		t.Fatalf("the walk read %d pages, want more to test it", reads)
	}

	left := map[string]bool{}
	for _, r := range rawList(t, e, e.kind) {
		left[r] = true
	}
	touched := 0
	for r := range after {
		if done[r] > 0 || (action == "delete" && !left[r]) {
			touched++
		}
	}
	for r, k := range done {
		if strings.HasPrefix(r, "pushed after the start") {
			touched += k
		}
	}
	if touched > 0 {
		t.Errorf("%s touched %d of the %d entries pushed after its start", action, touched, len(after))
	}
	missed, twice := 0, 0
	for _, r := range start {
		it, derr := decodeItem(r)
		if derr != nil {
			t.Fatal(derr)
		}
		if removed[r] || !f.Match(it) {
			if !removed[r] && action == "delete" && !left[r] {
				t.Errorf("%s removed %.60s…, which does not match", action, r)
			}
			continue
		}
		switch {
		case action == "delete" && left[r], action != "delete" && done[r] == 0:
			missed++
		case done[r] > 1:
			twice++
		}
	}
	if missed > 0 || twice > 0 {
		t.Errorf("of the matching entries present at the start and removed by no one else, %s left %d unhandled and handled %d twice", action, missed, twice)
	}
}

// TestSnapshotEndWithCopiesAndRemovals: the end of the part present at
// the start holds under others' removals, and copies of the start's newest
// strings deeper in the list do not end a walk early. While an Export or a
// DeleteMatching(all) walks, another client removes hundreds of older
// entries (and, in one case, 12 of the newest 16) and pushes at the head.
// Every entry present at the start and removed by no one else is handled,
// its copies each; none pushed after the start is.
func TestSnapshotEndWithCopiesAndRemovals(t *testing.T) {
	newest := entries("newest", snapNewest) // oldest first, as a walk meets them
	old := entries("old", 1200)
	cases := []struct {
		name    string
		start   []string // oldest first
		victims []string
	}{{
		// Deep in the list: one copy of a newest string, a run of
		// snapRun-1 distinct ones in their order, and snapRun distinct
		// ones out of their order.
		name: "copies deeper",
		start: slices.Concat(old[:100], []string{newest[15]}, old[100:300],
			[]string{newest[3], newest[7], newest[12]}, old[300:400],
			[]string{newest[12], newest[3], newest[7], newest[1]}, old[400:], newest),
		victims: everyOther(old[1:]),
	}, {
		// The newest entries are copies of one string, as are stretches
		// deeper in the list (no removals: the position rule ends it).
		name:  "one string newest",
		start: slices.Concat(old[:100], slices.Repeat([]string{dupEntry}, 6), old[100:], slices.Repeat([]string{dupEntry}, snapNewest)),
	}, {
		// Others remove all but snapRun of the newest, and hundreds older.
		name:    "newest removed too",
		start:   slices.Concat(old, newest),
		victims: slices.Concat(everyOther(old[1:]), slices.DeleteFunc(slices.Clone(newest), func(s string) bool { return s == newest[2] || s == newest[6] || s == newest[9] || s == newest[14] })),
	}}
	for _, c := range cases {
		for _, action := range []string{"export", "delete"} {
			t.Run(c.name+"/"+action, func(t *testing.T) {
				run(t, func(t *testing.T, e *env) {
					ctx := context.Background()
					key := e.kind.Key()
					lpush(t, e, c.start...)
					after := map[string]bool{}
					reads := 0
					hooked := afterPageReads(t, e.Client, key, func() {
						reads++
						if reads == 1 && len(c.victims) > 0 {
							_, err := e.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
								for _, v := range c.victims {
									p.LRem(ctx, key, 1, v)
								}
								return nil
							})
							if err != nil {
								t.Error(err)
							}
						}
						batch := entries(fmt.Sprint("after ", reads), 40)
						lpush(t, e, batch...)
						for _, r := range batch {
							after[r] = true
						}
					})
					svc := New(hooked, WithLogger(e.svc.logger()))
					got := map[string]int{}
					if action == "export" {
						err := svc.Export(ctx, e.kind, Filter{}, func(raw string) error {
							got[raw]++
							return nil
						})
						if err != nil {
							t.Fatal(err)
						}
					} else {
						if _, err := svc.DeleteMatching(ctx, e.kind, Filter{}); err != nil {
							t.Fatal(err)
						}
						// What is gone was deleted (by the walk or by others):
						// got counts the copies of each string gone.
						left := map[string]int{}
						for _, r := range rawList(t, e, e.kind) {
							left[r]++
						}
						for _, r := range c.start {
							got[r]++
						}
						for r := range after {
							if left[r] == 0 {
								got[r] = 1
							}
						}
						for r, k := range left {
							if !after[r] {
								got[r] -= k
							}
						}
					}
					want := map[string]int{}
					for _, r := range c.start {
						want[r]++
					}
					victim := map[string]bool{}
					for _, v := range c.victims {
						victim[v] = true
					}
					wrong := 0
					for r, k := range want {
						if !victim[r] && got[r] != k || victim[r] && got[r] > k {
							wrong++
						}
					}
					touched := 0
					for r := range after {
						touched += got[r]
					}
					if wrong > 0 || touched > 0 {
						t.Errorf("%s: %d strings present at the start handled the wrong number of times; %d of the %d entries pushed after the start handled",
							action, wrong, touched, len(after))
					}
					if reads < 3 {
						t.Errorf("the walk read %d pages, want more to test it", reads)
					}
				})
			})
		}
	}
}

// everyOther returns every other string of raws.
func everyOther(raws []string) []string {
	var out []string
	for i := 0; i < len(raws); i += 2 {
		out = append(out, raws[i])
	}
	return out
}

// TestSnapshotWireForm: a snapshot keeps its newest entries' order through
// String and parseSnapshot; a snapshot of the first form (no order) still
// parses, and a bulk action on either acts on the entries present when it
// was taken; what does not parse fails.
func TestSnapshotWireForm(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		start := entries("start", 100)
		lpush(t, e, start...)
		sn, err := e.svc.takeSnapshot(ctx, e.kind.Key())
		if err != nil {
			t.Fatal(err)
		}
		s := sn.String()
		back, err := parseSnapshot(s)
		if err != nil || !strings.HasPrefix(s, snapPrefix+":100:") || back.length != 100 || !slices.Equal(back.order, sn.order) || len(back.order) != snapNewest {
			t.Fatalf("parseSnapshot(%.60q…) = %+v, %v; want the length and the %d hashes in their order", s, back, err, snapNewest)
		}
		for i, r := range start[len(start)-snapNewest:] {
			if _, ok := back.hash(r); !ok || back.order[i] != sha1.Sum([]byte(r)) {
				t.Fatalf("newest entry %d is not at its place in the parsed order", i)
			}
		}
		first := (&snapshot{length: sn.length, newest: sn.newest}).String() // the first form
		firstBack, err := parseSnapshot(first)
		if err != nil || strings.HasPrefix(first, snapPrefix) || firstBack.order != nil || firstBack.length != 100 || len(firstBack.newest) != snapNewest {
			t.Fatalf("parseSnapshot of the first form %.60q… = %+v, %v", first, firstBack, err)
		}
		for _, bad := range []string{"x", "v2", "v2:x", "v2:-1", "v2:3:zz", "3:" + strings.Repeat("0", 39), "v3:3", "v2:1" + strings.Repeat(":"+strings.Repeat("0", 40), snapNewest+1)} {
			if _, err := parseSnapshot(bad); err == nil {
				t.Errorf("parseSnapshot(%.40q) did not fail", bad)
			}
		}
		lpush(t, e, entries("after", 50)...)
		for _, form := range []string{s, first} {
			res, err := e.svc.DeleteMatching(ctx, e.kind, Filter{}, DryRun(), withSnapshot(form))
			if err != nil || res.Matched != len(start) {
				t.Errorf("DeleteMatching(all, DryRun) on snapshot %.40q… = %+v, %v; want the %d entries present when it was taken", form, res, err, len(start))
			}
		}
	})
}

// TestSnapshotEndAfterTailPushes: in a short list the walk's second page
// is read from the tail again, past some of the start's newest entries;
// another program has RPUSHed an entry at the tail meanwhile, and pushed
// at the head. The entry RPUSHed below the part shown does not end the
// walk: the rest of the newest entries are handled, none pushed at the
// head is.
func TestSnapshotEndAfterTailPushes(t *testing.T) {
	for _, action := range []string{"export", "delete"} {
		t.Run(action, func(t *testing.T) {
			run(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				key := e.kind.Key()
				start := entries("start", snapNewest+4)
				lpush(t, e, start...)
				head := entries("head", 10)
				reads := 0
				hooked := afterPageReads(t, e.Client, key, func() {
					if reads++; reads == 1 {
						if err := e.Client.RPush(ctx, key, "rpushed").Err(); err != nil {
							t.Error(err)
						}
						lpush(t, e, head...)
					}
				})
				svc := New(hooked, WithLogger(e.svc.logger()))
				var got []string
				if action == "export" {
					if err := svc.Export(ctx, e.kind, Filter{}, func(raw string) error {
						got = append(got, raw)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
				} else {
					if _, err := svc.DeleteMatching(ctx, e.kind, Filter{}); err != nil {
						t.Fatal(err)
					}
					left := map[string]bool{}
					for _, r := range rawList(t, e, e.kind) {
						left[r] = true
					}
					for _, r := range slices.Concat(start, head) {
						if !left[r] {
							got = append(got, r)
						}
					}
				}
				got = slices.DeleteFunc(got, func(r string) bool { return r == "rpushed" }) // may be handled (it is malformed: never deleted)
				if !slices.Equal(got, start) {
					t.Errorf("%s handled %d entries (%d of them pushed at the head after the start); want the %d present at the start, oldest first",
						action, len(got), len(got)-len(slices.DeleteFunc(slices.Clone(got), func(r string) bool { return slices.Contains(head, r) })), len(start))
				}
				if reads < 2 {
					t.Errorf("the walk read %d pages, want 2", reads)
				}
			})
		})
	}
}

// TestSnapshotOfEmptyList: a bulk action or an export that starts on an
// empty list acts on nothing, though others push right after its
// snapshot: every entry is pushed after the start.
func TestSnapshotOfEmptyList(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := e.kind.Key()
		pushed := entries("after", 50)
		hooked := redis.NewUniversalClient(universalOptions(e))
		t.Cleanup(func() { _ = hooked.Close() })
		hooked.AddHook(dlqtest.AfterReply(func(_ context.Context, cmd redis.Cmder) {
			if a := cmd.Args(); cmd.Name() == "lrange" && len(a) == 4 && a[1] == key && a[2] == int64(0) {
				lpush(t, e, pushed...) // after the snapshot's read of the head
			}
		}))
		svc := New(hooked, WithLogger(e.svc.logger()))
		n := 0
		if err := svc.Export(ctx, e.kind, Filter{}, func(string) error { n++; return nil }); err != nil || n != 0 {
			t.Errorf("Export of a list empty at its start handed on %d entries, %v; want none", n, err)
		}
		if err := e.Client.Del(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		res, err := svc.DeleteMatching(ctx, e.kind, Filter{})
		if l := len(rawList(t, e, e.kind)); err != nil || res.Matched != 0 || l != len(pushed) {
			t.Errorf("DeleteMatching(all) of a list empty at its start = %+v, %v; %d entries left, want the %d pushed after it", res, err, l, len(pushed))
		}
	})
}

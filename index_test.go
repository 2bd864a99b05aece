package dlq

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestIndexWrittenBehind follows index entries from a push to Redis: they
// wait (here for an hour, so that nothing but the calls under test writes
// them), operations of the same Service write them first, Flush writes
// them at once, and another process that pops meanwhile finds the entry by
// scanning and leaves a stale index entry that the janitor removes.
func TestIndexWrittenBehind(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		clk := newClock(e)
		e.svc.indexDelay = time.Hour
		index := keysOf(e.kind).index
		hlen := func() int64 {
			t.Helper()
			n, err := e.Client.HLen(ctx, index).Result()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		a := push(t, e, e.kind, "a")
		b := push(t, e, e.kind, "b")
		c := push(t, e, e.kind, "c")
		if n := hlen(); n != 0 {
			t.Fatalf("%d index entries written before any call needed them", n)
		}

		// Another process pops a: unindexed, so it scans.
		other := New(e.Client, WithLogger(e.svc.logger()))
		if got, err := other.Pop(ctx, e.kind, a.ID); err != nil || got.ID != a.ID {
			t.Fatalf("another Service's Pop(a) = %+v, %v", got, err)
		}
		// This Service writes its pending index entries before it pops, so
		// b goes through the index and leaves no index entry behind.
		if got, err := e.svc.Pop(ctx, e.kind, b.ID); err != nil || got.ID != b.ID {
			t.Fatalf("Pop(b) = %+v, %v", got, err)
		}
		idx, err := e.Client.HGetAll(ctx, index).Result()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := idx[b.ID]; ok || len(idx) != 2 || idx[c.ID] == "" || idx[a.ID] == "" {
			t.Fatalf("index holds %d entries (a: %v, b: %v, c: %v); want a (stale) and c",
				len(idx), idx[a.ID] != "", idx[b.ID] != "", idx[c.ID] != "")
		}
		clk.Add(repairGrace + time.Second)
		if res, err := e.svc.Sweep(ctx, e.kind); err != nil || res.Unindexed != 1 {
			t.Fatalf("Sweep = %+v, %v; want a's stale index entry removed", res, err)
		}
		checkIndex(t, e, e.kind)

		// Flush writes at once and cancels the scheduled write.
		push(t, e, e.kind, "d")
		push(t, e, e.kind, "e")
		if n := hlen(); n != 1 {
			t.Fatalf("%d index entries before Flush, want c's alone", n)
		}
		if err := e.svc.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := hlen(); n != 3 {
			t.Fatalf("%d index entries after Flush, want 3", n)
		}
		e.svc.bg.Wait() // returns at once: no write is left scheduled
		checkIndex(t, e, e.kind)
	})
}

// TestIndexWrittenWithinTheDelay: with the default delay the index entry
// is written in the background, with no other call.
func TestIndexWrittenWithinTheDelay(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		it := push(t, e, e.kind, "indexed soon")
		e.svc.bg.Wait()
		got, err := e.Client.HGet(ctx, keysOf(e.kind).index, it.ID).Result()
		if err != nil || got != rawList(t, e, e.kind)[0] {
			t.Fatalf("index entry = %.60q, %v; want the stored entry", got, err)
		}
	})
}

// TestIdOfAgreesWithLua: trimOnce drops index entries by the ids Go reads
// from evicted entries, and the scripts by the ids Lua reads; both must
// read the same id from every entry, or none.
func TestIdOfAgreesWithLua(t *testing.T) {
	entries := []string{
		string(Item{ID: "5b0b6e0e-8d0b-4c55-9a57-2f1f3c1b8e01", SourceID: "s", Error: "e", Kind: Scrape}.appendJSON(nil)),
		`{"id": "py-1", "source_id": "s", "error": "e"}`,
		`{"source_id": "s", "id" :  "late"}`,
		`{"id":"with \"escape\"","x":1}`,
		`{"id":"0123456789012345678901234567890123\"5","x":1}`,
		`{"id":"short"}`,
		`{"id":12}`,
		`not json`,
		``,
	}
	script := redis.NewScript(libLua + `return id_of(ARGV[1]) or false`)
	run(t, func(t *testing.T, e *env) {
		for _, raw := range entries {
			lua, err := script.Run(context.Background(), e.Client, []string{e.kind.Key()}, raw).Text()
			luaOK := err == nil
			if err != nil && err != redis.Nil {
				t.Fatalf("id_of(%q): %v", raw, err)
			}
			if id, ok := idOf(raw); ok != luaOK || id != lua {
				t.Errorf("entry %q: Go reads %q (%v), Lua %q (%v)", raw, id, ok, lua, luaOK)
			}
		}
	})
}

// TestIndexWrittenByThePushWhenManyWait: a kind with maxPendingIndex index
// entries waiting has them written by the push that reached the bound,
// not by a timer.
func TestIndexWrittenByThePushWhenManyWait(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.svc.indexDelay = time.Hour
		for i := range maxPendingIndex - 1 {
			push(t, e, e.kind, fmt.Sprint("e", i))
		}
		index := keysOf(e.kind).index
		if n, _ := e.Client.HLen(ctx, index).Result(); n != 0 {
			t.Fatalf("%d index entries written below the bound", n)
		}
		push(t, e, e.kind, "the one that reaches the bound")
		if n, _ := e.Client.HLen(ctx, index).Result(); n != maxPendingIndex {
			t.Fatalf("%d index entries written at the bound, want %d", n, maxPendingIndex)
		}
		if err := e.svc.Flush(ctx); err != nil { // cancels the hour-long timer
			t.Fatal(err)
		}
	})
}

// TestRunWritesTheIndexOnExit: the janitor, stopped with the host, writes
// the index entries of the last pushes.
func TestRunWritesTheIndexOnExit(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		e.svc.indexDelay = time.Hour
		rounds := make(chan struct{}, 1)
		e.svc.swept = func() {
			select {
			case rounds <- struct{}{}:
			default:
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.svc.Run(ctx) }()
		<-rounds
		it := push(t, e, e.kind, "pushed while the janitor runs")
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got, err := e.Client.HGet(context.Background(), keysOf(e.kind).index, it.ID).Result()
		if err != nil || got != rawList(t, e, e.kind)[0] {
			t.Fatalf("index entry after Run returned = %.60q, %v", got, err)
		}
	}, WithJanitorInterval(time.Hour))
}

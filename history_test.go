package dlq

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
)

// countIn is the test's own model of History: the pushes at times in
// [start, start+step).
func countIn(times []time.Time, start time.Time, step time.Duration) int64 {
	var n int64
	for _, t := range times {
		if !t.Before(start) && t.Before(start.Add(step)) {
			n++
		}
	}
	return n
}

// checkHistory checks that History(window) is n continuous buckets of step
// ending with the one holding now, each with the pushes the model puts
// in it.
func checkHistory(t *testing.T, e *env, kind Kind, window time.Duration, step time.Duration, n int, pushes []time.Time) []Bucket {
	t.Helper()
	got, err := e.svc.History(context.Background(), kind, window)
	if err != nil {
		t.Fatalf("History(%s): %v", window, err)
	}
	if len(got) != n {
		t.Fatalf("History(%s) has %d buckets, want %d", window, len(got), n)
	}
	last := e.svc.now().UTC().Truncate(step)
	for i, b := range got {
		want := last.Add(-time.Duration(n-1-i) * step)
		if !b.Start.Equal(want) || b.Start.Location() != time.UTC {
			t.Fatalf("History(%s)[%d].Start = %v, want %v", window, i, b.Start, want)
		}
		if w := countIn(pushes, b.Start, step); b.Count != w {
			t.Fatalf("History(%s)[%d] (%v) counts %d, want %d", window, i, b.Start, b.Count, w)
		}
	}
	return got
}

func TestHistoryAcrossMinuteAndHour(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		clk := newClock(e)
		t0 := time.Date(2025, 3, 9, 10, 59, 58, 0, time.UTC)
		clk.Set(t0)
		var pushes []time.Time
		at := func(d time.Duration, n int) {
			clk.Set(t0.Add(d))
			for range n {
				push(t, e, e.kind, "boom")
				pushes = append(pushes, clk.Now())
			}
		}
		at(0, 2)                   // 10:59:58, the last minute of hour 10
		at(3*time.Second, 3)       // 11:00:01: a new minute and a new hour
		at(63*time.Second, 1)      // 11:01:01
		push(t, e, Scrape, "else") // another kind counts apart

		// Pushes by other programs are not counted.
		if err := e.Client.LPush(ctx, e.kind.Key(), `{"id":"x"}`).Err(); err != nil {
			t.Fatal(err)
		}

		got := checkHistory(t, e, e.kind, 5*time.Minute, time.Minute, 5, pushes)
		if want := []int64{0, 0, 2, 3, 1}; !equalCounts(got, want) {
			t.Errorf("5m counts = %v, want %v", counts(got), want)
		}
		if !got[0].Start.Equal(time.Date(2025, 3, 9, 10, 57, 0, 0, time.UTC)) {
			t.Errorf("5m starts at %v, want 10:57", got[0].Start)
		}
		got = checkHistory(t, e, e.kind, 90*time.Second, time.Minute, 2, pushes) // rounded up
		if want := []int64{3, 1}; !equalCounts(got, want) {
			t.Errorf("90s counts = %v, want %v", counts(got), want)
		}
		checkHistory(t, e, e.kind, 24*time.Hour, time.Minute, 1440, pushes)
		got = checkHistory(t, e, e.kind, 24*time.Hour+time.Nanosecond, time.Hour, 25, pushes)
		if want := []int64{2, 4}; !equalCounts(got[23:], want) || got[24].Start.Hour() != 11 {
			t.Errorf("hour buckets end with %v, want %v", got[23:], want)
		}
		checkHistory(t, e, e.kind, 7*24*time.Hour, time.Hour, 168, pushes)
		checkHistory(t, e, e.kind, MaxHistoryWindow, time.Hour, 720, pushes)

		// At 12:00:01 the minute buckets have moved on; the hour ones
		// still hold the pushes.
		clk.Set(t0.Add(time.Hour + 3*time.Second))
		got = checkHistory(t, e, e.kind, 5*time.Minute, time.Minute, 5, pushes)
		if want := []int64{0, 0, 0, 0, 0}; !equalCounts(got, want) {
			t.Errorf("an hour later, 5m counts = %v, want zeros", counts(got))
		}
		got = checkHistory(t, e, e.kind, 48*time.Hour, time.Hour, 48, pushes)
		if want := []int64{2, 4, 0}; !equalCounts(got[45:], want) {
			t.Errorf("an hour later, 48h ends with %v, want %v", counts(got[45:]), want)
		}
	})
}

func TestHistoryBadInput(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, w := range []time.Duration{0, -time.Minute, MaxHistoryWindow + time.Nanosecond, 365 * 24 * time.Hour} {
			if b, err := e.svc.History(ctx, e.kind, w); !errors.Is(err, ErrInvalidWindow) || b != nil {
				t.Errorf("History(%s) = %v, %v; want ErrInvalidWindow", w, b, err)
			}
		}
		if _, err := e.svc.History(ctx, "bad kind", time.Hour); !errors.Is(err, ErrInvalidKind) {
			t.Errorf("History(bad kind): err = %v, want ErrInvalidKind", err)
		}
		if _, err := (*Service)(nil).History(ctx, e.kind, time.Hour); !errors.Is(err, ErrNoRedis) {
			t.Errorf("nil Service: err = %v, want ErrNoRedis", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := e.svc.History(cctx, e.kind, time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled ctx: err = %v, want context.Canceled", err)
		}

		// Foreign fields and values in the hash are skipped, not errors.
		newClock(e).Set(time.Date(2025, 3, 9, 12, 0, 30, 0, time.UTC))
		minute := time.Date(2025, 3, 9, 12, 0, 0, 0, time.UTC).Unix() / 60
		key := e.kind.keys().History
		if err := e.Client.HSet(ctx, key, "m"+strconv.FormatInt(minute, 10), "7", "m"+strconv.FormatInt(minute-1, 10), "seven", "x", "1", "mm", "2", "", "3").Err(); err != nil {
			t.Fatal(err)
		}
		got, err := e.svc.History(ctx, e.kind, 2*time.Minute)
		if err != nil || !equalCounts(got, []int64{0, 7}) {
			t.Errorf("History over foreign fields = %v, %v; want counts [0 7]", got, err)
		}
	})
}

// TestHistoryTrimKeepsItBounded fills every minute of a day and every hour
// of 30 days, then checks that the janitor keeps exactly those buckets and
// that History answers the same before and after the trim.
func TestHistoryTrimKeepsItBounded(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		clk := newClock(e)
		key := Scrape.keys().History // "{scrape:dlq}:history"
		var pushes []time.Time
		pushAt := func(at time.Time) {
			clk.Set(at)
			push(t, e, Scrape, "boom")
			pushes = append(pushes, at)
		}
		start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
		for h := range 31 * 24 { // one push an hour for 31 days
			pushAt(start.Add(time.Duration(h) * time.Hour))
		}
		last := pushes[len(pushes)-1]
		for m := 1; m <= 25*60; m++ { // then one a minute for 25 hours
			pushAt(last.Add(time.Duration(m) * time.Minute))
		}
		hlen := func() int64 {
			t.Helper()
			n, err := e.Client.HLen(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		const bounded = rdb.HistoryMinutes + rdb.HistoryHours
		if n := hlen(); n <= bounded+2 {
			t.Fatalf("before the sweep the hash has %d fields; the test must overfill it", n)
		}
		before24h := checkHistory(t, e, Scrape, 24*time.Hour, time.Minute, 1440, pushes)
		before30d := checkHistory(t, e, Scrape, MaxHistoryWindow, time.Hour, 720, pushes)
		for _, b := range append(before24h, before30d...) {
			if b.Count == 0 {
				t.Fatalf("bucket %v is empty: the test must fill every bucket", b.Start)
			}
		}

		if _, err := e.svc.Sweep(ctx, Scrape); err != nil {
			t.Fatal(err)
		}
		if n := hlen(); n != bounded {
			t.Fatalf("after the sweep the hash has %d fields, want %d", n, bounded)
		}
		after24h := checkHistory(t, e, Scrape, 24*time.Hour, time.Minute, 1440, pushes)
		after30d := checkHistory(t, e, Scrape, MaxHistoryWindow, time.Hour, 720, pushes)
		if !equalCounts(after24h, counts(before24h)) || !equalCounts(after30d, counts(before30d)) {
			t.Fatal("the trim changed what History answers")
		}

		// Steady state: two more hours of pushes, a sweep, the same size.
		last = pushes[len(pushes)-1]
		for m := 1; m <= 120; m++ {
			pushAt(last.Add(time.Duration(m) * time.Minute))
		}
		if _, err := e.svc.Sweep(ctx, Scrape); err != nil {
			t.Fatal(err)
		}
		if n := hlen(); n != bounded {
			t.Fatalf("at steady state the hash has %d fields, want %d", n, bounded)
		}
		checkHistory(t, e, Scrape, 24*time.Hour, time.Minute, 1440, pushes)
		checkHistory(t, e, Scrape, MaxHistoryWindow, time.Hour, 720, pushes)
		if e.Real() {
			bytes, err := e.Client.MemoryUsage(ctx, key, 0).Result()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: MEMORY USAGE %s SAMPLES 0 = %d bytes with %d fields", e.Name, key, bytes, bounded)
			if bytes > 256<<10 {
				t.Errorf("the history takes %d bytes at steady state, want under 256 KiB", bytes)
			}
		}
	})
}

func counts(bs []Bucket) []int64 {
	out := make([]int64, len(bs))
	for i, b := range bs {
		out[i] = b.Count
	}
	return out
}

func equalCounts(bs []Bucket, want []int64) bool { return slices.Equal(counts(bs), want) }

package dlq

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// walkAll runs a walk without a snapshot and returns what it showed; each
// is called with each page, after the walk read it.
func walkAll(t *testing.T, e *env, each func(page []stored)) []string {
	t.Helper()
	var out []string
	err := e.svc.walk(context.Background(), e.kind.Key(), nil, func(page []stored) (int, error) {
		for _, s := range page {
			out = append(out, s.raw)
		}
		if each != nil {
			each(page)
		}
		return 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dupEntry is one stored string that the tests below store many times.
const dupEntry = `{"id":"dup","source_id":"s","job_id":null,"error":"same","failed_at":"2026-01-02T03:04:05.000000+00:00","retry_count":0,"dlq_type":"x"}`

// TestWalkShowsFarCopies: identical stored strings are each shown, however
// far apart they lie (pages of 512 entries, first 16): Count counts them as
// List does, and Export hands each on.
func TestWalkShowsFarCopies(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		var raws []string
		raws = append(raws, dupEntry)
		raws = append(raws, entries("a", 1500)...)
		raws = append(raws, dupEntry, dupEntry)
		raws = append(raws, entries("b", 700)...)
		raws = append(raws, dupEntry, `"x"`, dupEntry)
		lpush(t, e, raws...)
		want := storedOldestFirst(t, e)
		if got := walkAll(t, e, nil); !slices.Equal(got, want) {
			t.Fatalf("the walk showed %d entries, %d copies of one; want the %d stored, 5 copies",
				len(got), strings.Count(strings.Join(got, "\n"), dupEntry), len(want))
		}
		if n, err := e.svc.Count(context.Background(), e.kind, Filter{}); err != nil || n != len(want)-1 {
			t.Fatalf("Count = %d, %v; want %d (all but one malformed)", n, err, len(want)-1)
		}
		if got := export(t, e.svc, e.kind, Filter{}, nil); !slices.Equal(got, want) {
			t.Fatalf("Export handed on %d entries, want the %d stored", len(got), len(want))
		}
	})
}

// TestWalkCopiesUnderChurn: while a walk runs, another program removes
// entries the walk showed (more than a page's overlap, so the walk steps
// back to the tail) and RPUSHes entries, some of them copies of a string
// shown; every entry present throughout is shown exactly once, copies of
// one string included.
func TestWalkCopiesUnderChurn(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := e.kind.Key()
		const n = 3000
		raws := entries("e", n)
		for i := 0; i < n; i += 250 {
			raws[i] = dupEntry
		}
		lpush(t, e, raws...)
		dups := strings.Count(strings.Join(raws, "\n"), dupEntry)
		pages := 0
		got := walkAll(t, e, func(page []stored) {
			pages++
			// LREM (from the tail) up to 40 of the entries just shown, and
			// RPUSH a new entry and another copy of dupEntry.
			for _, s := range page[:min(len(page), 40)] {
				if err := e.Client.LRem(ctx, key, -1, s.raw).Err(); err != nil {
					t.Error(err)
				}
			}
			if err := e.Client.RPush(ctx, key, fmt.Sprintf("rpushed %d", pages), dupEntry).Err(); err != nil {
				t.Error(err)
			}
		})
		count := map[string]int{}
		for _, r := range got {
			count[r]++
		}
		if pages < 8 {
			t.Fatalf("the walk read %d pages, want more to test it", pages)
		}
		for _, r := range raws {
			if r != dupEntry && count[r] != 1 {
				t.Errorf("%.60s… shown %d times, want once", r, count[r])
			}
		}
		// Copies of dupEntry RPUSHed meanwhile may be shown too.
		if count[dupEntry] < dups || count[dupEntry] > dups+pages {
			t.Errorf("the %d copies of one string present throughout were shown %d times", dups, count[dupEntry])
		}
	})
}

package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// export runs Export and returns what it handed on.
func export(t *testing.T, s *Service, kind Kind, f Filter, each func(n int)) []string {
	t.Helper()
	var out []string
	err := s.Export(context.Background(), kind, f, func(raw string) error {
		out = append(out, raw)
		if each != nil {
			each(len(out))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return out
}

// stored returns the list as Redis holds it, oldest first.
func storedOldestFirst(t *testing.T, e *env) []string {
	t.Helper()
	raws, err := e.Client.LRange(context.Background(), e.kind.Key(), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(raws)
	return raws
}

// lpush pushes raw strings, the last one ending at the head.
func lpush(t *testing.T, e *env, raws ...string) {
	t.Helper()
	for len(raws) > 0 {
		n := min(len(raws), 500)
		args := make([]any, n)
		for i := range n {
			args[i] = raws[i]
		}
		if err := e.Client.LPush(context.Background(), e.kind.Key(), args...).Err(); err != nil {
			t.Fatal(err)
		}
		raws = raws[n:]
	}
}

func entries(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"id":%q,"source_id":"s","job_id":null,"error":"%s %d","failed_at":"2026-01-02T03:04:05.000000+00:00","retry_count":0,"dlq_type":"x"}`,
			uuid.NewString(), prefix, i)
	}
	return out
}

func TestExportByteForByte(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		lpush(t, e, entries("old", 700)...)
		push(t, e, e.kind, strings.Repeat("ünïcode 64 KiB ", 6<<10)) // cut to 64 KiB on push
		lpush(t, e, "not json {", "", "\xff\xfe invalid UTF-8", "{\"id\":\"a\",\n\"error\":\"pretty\"}\n", `"a JSON string"`)
		lpush(t, e, entries("new", 600)...)
		want := storedOldestFirst(t, e)
		got := export(t, e.svc, e.kind, Filter{}, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("Export handed on %d entries, want the %d stored, byte for byte", len(got), len(want))
		}
		if big := slices.IndexFunc(got, func(s string) bool { return len(s) > 64<<10 }); big < 0 {
			t.Fatal("the 64 KiB entry was not handed on")
		}
	})
}

func TestExportFilter(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		lpush(t, e, "not json, timeout")
		for i := range 30 {
			cause := "refused"
			if i%3 == 0 {
				cause = "read TIMEOUT"
			}
			push(t, e, e.kind, cause)
		}
		want := slices.DeleteFunc(storedOldestFirst(t, e), func(s string) bool { return !strings.Contains(s, `"error":"read TIMEOUT"`) })
		if len(want) != 10 {
			t.Fatalf("%d entries to export, want 10", len(want))
		}
		got := export(t, e.svc, e.kind, Filter{ErrorContains: "timeout"}, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("Export with a filter handed on\n%q\nwant\n%q", got, want)
		}
	})
}

// TestExportConcurrent changes the list while an export runs, at each end
// and in the middle, and checks that it hands on the snapshot: each entry
// present at the start exactly once, but those removed before Export read
// them; nothing pushed after the start.
func TestExportConcurrent(t *testing.T) {
	// The change happens while the 496th entry is handed on: Export has
	// read the entries up to read (at least 496) from the tail by then.
	const n, at = 1500, 496
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(e *env, got []string, read int) error
		gone   func(snapshot []string, read int) []string // snapshot entries not handed on
	}{
		{"LPUSH at the head", func(e *env, _ []string, _ int) error {
			return e.Client.LPush(ctx, e.kind.Key(), "new 1", "new 2").Err()
		}, nil},
		{"RPUSH at the tail", func(e *env, _ []string, _ int) error {
			return e.Client.RPush(ctx, e.kind.Key(), "tail 1", "tail 2", "tail 3").Err()
		}, nil},
		{"LTRIM of entries handed on", func(e *env, _ []string, _ int) error {
			return e.Client.LTrim(ctx, e.kind.Key(), 0, -101).Err()
		}, nil},
		// Entries read but not handed on yet are handed on although they
		// were removed: they were present at the start.
		{"LTRIM of every entry read and more", func(e *env, _ []string, read int) error {
			return e.Client.LTrim(ctx, e.kind.Key(), 0, -int64(read+51)).Err()
		}, func(s []string, read int) []string { return s[read : read+50] }},
		{"LREM of the last entry handed on", func(e *env, got []string, _ int) error {
			return e.Client.LRem(ctx, e.kind.Key(), 1, got[len(got)-1]).Err()
		}, nil},
		{"LREM of the last 10 entries handed on", func(e *env, got []string, _ int) error {
			for _, raw := range got[len(got)-10:] {
				if err := e.Client.LRem(ctx, e.kind.Key(), 1, raw).Err(); err != nil {
					return err
				}
			}
			return nil
		}, nil},
		{"LREM of an entry not read", func(e *env, _ []string, read int) error {
			return e.Client.LRem(ctx, e.kind.Key(), 1, fmt.Sprintf("entry %d", read+10)).Err()
		}, func(s []string, read int) []string { return s[read+10 : read+11] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T, e *env) {
				snapshot := make([]string, n)
				for i := range snapshot {
					snapshot[i] = fmt.Sprintf("entry %d", i)
				}
				lpush(t, e, snapshot...)
				s, h := hookedService(t, e)
				var got []string
				read := 0
				err := s.Export(ctx, e.kind, Filter{}, func(raw string) error {
					got = append(got, raw)
					if len(got) == at {
						read = min(h.tailRead(), n)
						if read+60 > n {
							t.Fatalf("Export read %d entries of %d before handing on the %dth", read, n, at)
						}
						return tc.change(e, got, read)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				want := snapshot
				if tc.gone != nil {
					gone := tc.gone(snapshot, read)
					want = slices.DeleteFunc(slices.Clone(snapshot), func(s string) bool { return slices.Contains(gone, s) })
				}
				if !slices.Equal(got, want) {
					t.Fatalf("handed on %d entries (first %q, last %q), want %d (read %d when the list changed)", len(got), got[0], got[len(got)-1], len(want), read)
				}
			})
		})
	}
}

// TestExportSnapshotUnderChurn changes the list while an export runs:
// others push at the head (a few at a time, and a burst of 2,000), RPUSH
// at the tail and LREM entries handed on, read and not read. Every entry present at
// the start and removed by no one is handed on exactly once, in order; no
// entry pushed at the head after the start is handed on.
func TestExportSnapshotUnderChurn(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := e.kind.Key()
		const n = 3000
		snapshot := make([]string, n)
		index := map[string]int{}
		for i := range snapshot {
			snapshot[i] = fmt.Sprintf("entry %d", i)
			index[snapshot[i]] = i
		}
		lpush(t, e, snapshot...)
		removed := map[string]bool{}
		changes := 0
		var got []string
		err := e.svc.Export(ctx, e.kind, Filter{}, func(raw string) error {
			got = append(got, raw)
			if len(got)%150 != 0 {
				return nil
			}
			changes++
			if err := e.Client.LPush(ctx, key, fmt.Sprintf("head %d.a", changes), fmt.Sprintf("head %d.b", changes)).Err(); err != nil {
				return err
			}
			if changes == 5 {
				burst := make([]string, 2000)
				for i := range burst {
					burst[i] = fmt.Sprintf("head burst %d", i)
				}
				lpush(t, e, burst...)
			}
			if err := e.Client.RPush(ctx, key, fmt.Sprintf("tail %d.a", changes), fmt.Sprintf("tail %d.b", changes)).Err(); err != nil {
				return err
			}
			// LREM an entry handed on, one read and not handed on yet, and
			// one not read (never one of the newest 16 of the start: see
			// TestSnapshotEndWithCopiesAndRemovals for those).
			i := index[raw]
			for _, j := range []int{i - 3, i + 5, i + 400} {
				if j < 0 || j >= n-16 || removed[snapshot[j]] {
					continue
				}
				if k, err := e.Client.LRem(ctx, key, 1, snapshot[j]).Result(); err != nil || k != 1 {
					return fmt.Errorf("LREM of %q: %d, %v", snapshot[j], k, err)
				}
				removed[snapshot[j]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if changes < 10 {
			t.Fatalf("the list changed %d times during the export, want at least 10", changes)
		}
		seen := map[string]int{}
		last := -1
		for _, raw := range got {
			seen[raw]++
			switch {
			case strings.HasPrefix(raw, "head "):
				t.Errorf("handed on %q, pushed at the head after the start", raw)
			case strings.HasPrefix(raw, "entry "):
				if index[raw] <= last {
					t.Errorf("handed on %q after entry %d: not oldest first", raw, last)
				}
				last = index[raw]
			}
			if seen[raw] > 1 {
				t.Errorf("handed on %q %d times", raw, seen[raw])
			}
		}
		missing := 0
		for _, raw := range snapshot {
			if !removed[raw] && seen[raw] != 1 {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%d entries present at the start and removed by no one were not handed on (handed on %d, removed %d)", missing, len(got), len(removed))
		}
	})
}

// TestExportPages checks the bounds of Export's reads: at most 512 entries
// and about 1 MB, with small and with 64 KiB entries.
func TestExportPages(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		lpush(t, e, entries("small", 3000)...)
		big := make([]string, 100)
		for i := range big {
			big[i] = fmt.Sprintf("%d %s", i, strings.Repeat("x", 64<<10))
		}
		lpush(t, e, big...)
		s, h := hookedService(t, e)
		got := export(t, s, e.kind, Filter{}, nil)
		if len(got) != 3100 {
			t.Fatalf("handed on %d entries, want 3100", len(got))
		}
		// Every read holds at most 512 entries and about 1 MB, but the one
		// where the 64 KiB entries start: its size was judged by the small
		// entries before it.
		over, total := 0, 0
		reads := h.take()
		for _, p := range reads {
			total += p.entries
			if p.entries > readPage {
				t.Errorf("a read of %d entries", p.entries)
			}
			if p.bytes > readBytes+2*(64<<10+16) {
				over++
			}
		}
		if total < 3100 {
			t.Errorf("%d entries read in %d LRANGEs, want at least the 3,100 handed on", total, len(reads))
		}
		if over > 1 {
			t.Errorf("%d reads over 1 MB, want at most 1: %v", over, reads)
		}
	})
}

func TestExportStops(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		lpush(t, e, entries("e", 100)...)
		stop := errors.New("stop")
		n := 0
		err := e.svc.Export(context.Background(), e.kind, Filter{}, func(string) error {
			n++
			if n == 20 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 20 {
			t.Fatalf("Export = %v after %d entries, want fn's error after 20", err, n)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := e.svc.Export(ctx, e.kind, Filter{}, func(string) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("Export on a cancelled context = %v", err)
		}
		if err := e.svc.Export(context.Background(), Kind("a b"), Filter{}, nil); !errors.Is(err, ErrInvalidKind) {
			t.Fatalf("Export of an invalid kind = %v", err)
		}
	})
}

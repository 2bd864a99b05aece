package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
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
// present throughout exactly once, nothing pushed after the start.
func TestExportConcurrent(t *testing.T) {
	// The change happens after the fifth read (16+32+64+128+256 entries),
	// before the sixth.
	const n, at = 1500, 496
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(e *env, got []string) error
		gone   func(snapshot []string) []string // snapshot entries not handed on
	}{
		{"LPUSH at the head", func(e *env, _ []string) error {
			return e.Client.LPush(ctx, e.kind.Key(), "new 1", "new 2").Err()
		}, nil},
		{"RPUSH at the tail", func(e *env, _ []string) error {
			return e.Client.RPush(ctx, e.kind.Key(), "tail 1", "tail 2", "tail 3").Err()
		}, nil},
		{"LTRIM of entries handed on", func(e *env, _ []string) error {
			return e.Client.LTrim(ctx, e.kind.Key(), 0, -101).Err()
		}, nil},
		{"LTRIM of every entry handed on and more", func(e *env, _ []string) error {
			return e.Client.LTrim(ctx, e.kind.Key(), 0, -(at + 51)).Err()
		}, func(s []string) []string { return s[at : at+50] }},
		{"LREM of the last entry handed on", func(e *env, got []string) error {
			return e.Client.LRem(ctx, e.kind.Key(), 1, got[len(got)-1]).Err()
		}, nil},
		{"LREM of the last 10 entries handed on", func(e *env, got []string) error {
			for _, raw := range got[len(got)-10:] {
				if err := e.Client.LRem(ctx, e.kind.Key(), 1, raw).Err(); err != nil {
					return err
				}
			}
			return nil
		}, nil},
		{"LREM of an entry not handed on", func(e *env, _ []string) error {
			return e.Client.LRem(ctx, e.kind.Key(), 1, "entry 1000").Err()
		}, func(s []string) []string { return s[1000:1001] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T, e *env) {
				snapshot := make([]string, n)
				for i := range snapshot {
					snapshot[i] = fmt.Sprintf("entry %d", i)
				}
				lpush(t, e, snapshot...)
				var got []string
				err := e.svc.Export(ctx, e.kind, Filter{}, func(raw string) error {
					got = append(got, raw)
					if len(got) == at {
						return tc.change(e, got)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				want := snapshot
				if tc.gone != nil {
					gone := tc.gone(snapshot)
					want = slices.DeleteFunc(slices.Clone(snapshot), func(s string) bool { return slices.Contains(gone, s) })
				}
				if !slices.Equal(got, want) {
					t.Fatalf("handed on %d entries (first %q, last %q), want %d", len(got), got[0], got[len(got)-1], len(want))
				}
			})
		})
	}
}

// rangeRecorder records the entries and bytes of each LRANGE answer.
type rangeRecorder struct {
	Redis
	mu    sync.Mutex
	pages [][2]int // entries, bytes
}

func (r *rangeRecorder) LRange(ctx context.Context, key string, start, stop int64) *redis.StringSliceCmd {
	cmd := r.Redis.LRange(ctx, key, start, stop)
	b := 0
	for _, s := range cmd.Val() {
		b += len(s)
	}
	r.mu.Lock()
	r.pages = append(r.pages, [2]int{len(cmd.Val()), b})
	r.mu.Unlock()
	return cmd
}

// TestExportPages checks the bounds of Export's reads: at most 512 entries
// (and one re-read) and about 1 MB, with small and with 64 KiB entries.
func TestExportPages(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		lpush(t, e, entries("small", 3000)...)
		big := make([]string, 100)
		for i := range big {
			big[i] = fmt.Sprintf("%d %s", i, strings.Repeat("x", 64<<10))
		}
		lpush(t, e, big...)
		rec := &rangeRecorder{Redis: e.Client}
		s := New(rec)
		got := export(t, s, e.kind, Filter{}, nil)
		if len(got) != 3100 {
			t.Fatalf("handed on %d entries, want 3100", len(got))
		}
		// Every read holds at most 512 entries (and the one re-read) and
		// about 1 MB, but the one where the 64 KiB entries start: its size
		// was judged by the small entries before it.
		over := 0
		for _, p := range rec.pages {
			if p[0] > exportMaxPage+1 {
				t.Errorf("a read of %d entries", p[0])
			}
			if p[1] > exportPageBytes+2*(64<<10+16) {
				over++
			}
		}
		if over > 1 {
			t.Errorf("%d reads over 1 MB, want at most 1: %v", over, rec.pages)
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

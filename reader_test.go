package dlq

import (
	"context"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// lrangeHook is a go-redis hook that records every LRANGE a client sends,
// alone or in a pipeline: its start index and its reply's entries and
// bytes.
type lrangeHook struct {
	mu    sync.Mutex
	reads []lrangeRead
}

type lrangeRead struct {
	start          int64
	entries, bytes int
}

func (h *lrangeHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *lrangeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.record(cmd)
		return err
	}
}

func (h *lrangeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.record(cmd)
		}
		return err
	}
}

func (h *lrangeHook) record(cmd redis.Cmder) {
	c, ok := cmd.(*redis.StringSliceCmd)
	if !ok || !strings.EqualFold(cmd.Name(), "lrange") {
		return
	}
	start, _ := c.Args()[2].(int64)
	r := lrangeRead{start: start, entries: len(c.Val())}
	for _, s := range c.Val() {
		r.bytes += len(s)
	}
	h.mu.Lock()
	h.reads = append(h.reads, r)
	h.mu.Unlock()
}

// take returns the reads recorded since the last take.
func (h *lrangeHook) take() []lrangeRead {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.reads
	h.reads = nil
	return r
}

// tailRead is how many entries from the tail the reads so far reached.
func (h *lrangeHook) tailRead() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	far := 0
	for _, r := range h.reads {
		if r.start < 0 {
			far = max(far, int(-r.start))
		}
	}
	return far
}

// hookedService returns a Service on a client of its own to e's backend,
// and the hook that records the client's LRANGEs.
func hookedService(t *testing.T, e *env) (*Service, *lrangeHook) {
	t.Helper()
	c := redis.NewUniversalClient(universalOptions(e))
	t.Cleanup(func() { _ = c.Close() })
	h := &lrangeHook{}
	c.AddHook(h)
	return New(c, WithLogger(e.svc.logger())), h
}

// TestBoundedReadsOf64KiBEntries checks that every read of Find,
// RecentGroups, Export, Count and List asks for about 1 MB at most (and no more than
// 512 entries) when the entries are 64 KiB each: 16 of them, not a page
// of 512 (32 MB).
func TestBoundedReadsOf64KiBEntries(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const n = 120
		for i := range n {
			push(t, e, e.kind, fmt.Sprintf("%d %s", i, strings.Repeat("z", 64<<10))) // cut to 64 KiB on push
		}
		biggest := 0
		for _, r := range rawList(t, e, e.kind) {
			biggest = max(biggest, len(r))
		}
		if biggest < 64<<10 {
			t.Fatalf("the biggest entry is %d bytes, want 64 KiB", biggest)
		}
		s, h := hookedService(t, e)
		for _, tc := range []struct {
			name string
			call func() (int, error) // entries it answered with
			want int
		}{
			{"Find", func() (int, error) {
				got := 0
				q := Query{Limit: 50}
				for {
					p, err := s.Find(ctx, e.kind, q)
					if err != nil {
						return got, err
					}
					got += len(p.Items)
					if p.Next == "" {
						return got, nil
					}
					q.Cursor = p.Next
				}
			}, n},
			{"RecentGroups", func() (int, error) {
				gs, err := s.RecentGroups(ctx, e.kind, 100)
				got := 0
				for _, g := range gs {
					got += g.Count
				}
				return got, err
			}, 100},
			{"Export", func() (int, error) {
				got := 0
				err := s.Export(ctx, e.kind, Filter{}, func(string) error { got++; return nil })
				return got, err
			}, n},
			{"Count", func() (int, error) { return s.Count(ctx, e.kind, Filter{}) }, n},
			{"List", func() (int, error) {
				items, err := s.List(ctx, e.kind, MaxLimit)
				return len(items), err
			}, n},
		} {
			h.take()
			got, err := tc.call()
			if err != nil || got != tc.want {
				t.Fatalf("%s answered %d entries (%v), want %d", tc.name, got, err, tc.want)
			}
			reads := h.take()
			total := 0
			for _, r := range reads {
				total += r.entries
				if r.entries > readPage || r.bytes > readBytes+biggest {
					t.Errorf("%s read %d entries, %d bytes in one LRANGE: want at most %d and about 1 MB (%d)",
						tc.name, r.entries, r.bytes, readPage, readBytes+biggest)
				}
			}
			if total < tc.want {
				t.Errorf("%s read %d entries in %d LRANGEs; want at least the %d it answered with", tc.name, total, len(reads), tc.want)
			}
		}
	})
}

// TestReaderPageSizes checks the one page-size rule: a small first read,
// then about 1 MB as the entries of the read before tell, at most 512
// entries, at least 2.
func TestReaderPageSizes(t *testing.T) {
	r := &Service{}
	for _, tc := range []struct {
		size int // bytes of each entry of the read before
		want int64
	}{
		{0, readFirstPage},
		{1, readPage},
		{300, readPage},
		{4 << 10, 256},
		{64 << 10, 16},
		{600 << 10, readMinPage},
		{8 << 20, readMinPage},
	} {
		rd := r.newReader("k")
		if tc.size > 0 {
			rd.sized([]string{strings.Repeat("x", tc.size), strings.Repeat("x", tc.size)})
		}
		if got := rd.next(); got != tc.want {
			t.Errorf("after entries of %d bytes, next read of %d entries, want %d", tc.size, got, tc.want)
		}
	}
}

// List reads the newest entries in byte-bounded pages: with 64 KiB entries
// several reads, each about 1 MB; pages after the first are named from the
// tail, so pushes at the head between them neither repeat an entry nor
// shift the answer, which is the newest entries of the first read's
// moment, newest first. With small entries, a Service that read the list
// once lists 100 entries in one read.
func TestListPagesUnderPushes(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const n = 60
		for i := range n {
			push(t, e, e.kind, fmt.Sprintf("old %d %s", i, strings.Repeat("z", 64<<10)))
		}
		want := rawList(t, e, e.kind)[:50]
		pushes := 0
		pusher := New(e.Client, WithLogger(e.svc.logger()))
		s := New(afterPageReads(t, e.Client, e.kind.Key(), func() {
			pushes++
			if _, err := pusher.Push(ctx, e.kind, uuid.New(), errors.New("pushed between List's pages")); err != nil {
				t.Error(err)
			}
		}), WithLogger(e.svc.logger()))
		items, err := s.List(ctx, e.kind, 50)
		if err != nil {
			t.Fatal(err)
		}
		if pushes == 0 {
			t.Fatal("List read its 50 entries of 64 KiB in one page")
		}
		if len(items) != len(want) {
			t.Fatalf("List answered %d items, want %d", len(items), len(want))
		}
		for i, it := range items {
			if w, _ := readID(want[i]); it.ID != w {
				t.Fatalf("item %d is %s (%.20s), want %s: pushes at the head between pages (%d) shifted the answer", i, it.ID, it.Error, w, pushes)
			}
		}

		if err := e.Client.Del(ctx, e.kind.keys().All()...).Err(); err != nil {
			t.Fatal(err)
		}
		small := e.kind
		for i := range 150 {
			push(t, e, small, fmt.Sprint("small ", i))
		}
		s2, h := hookedService(t, e)
		for round := range 2 {
			h.take()
			items, err := s2.List(ctx, small, 100)
			if err != nil || len(items) != 100 {
				t.Fatalf("List(small) = %d items, %v", len(items), err)
			}
			if reads := h.take(); round == 1 && len(reads) != 1 {
				t.Errorf("the second List of 100 small entries sent %d LRANGEs, want 1", len(reads))
			}
		}
	})
}

package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestFindPages(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		items := fillKind(t, e, 250, func(i int) string { return fmt.Sprint("e", i) })
		var got []string
		q := Query{Limit: 100}
		for page := 0; ; page++ {
			p, err := e.svc.Find(ctx, e.kind, q)
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{100, 100, 50}[page]; len(p.Items) != want {
				t.Fatalf("page %d has %d items, want %d", page, len(p.Items), want)
			}
			got = append(got, ids(p.Items)...)
			if page == 0 {
				// Pushes between pages do not make the next page repeat.
				push(t, e, e.kind, "newer 1")
				push(t, e, e.kind, "newer 2")
			}
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		if len(got) != 250 || !unique(got) {
			t.Fatalf("pages hold %d items (unique: %v), want 250", len(got), unique(got))
		}
		for i, id := range got {
			if id != items[249-i].ID {
				t.Fatalf("item %d is %s, want %s (newest first)", i, id, items[249-i].ID)
			}
		}
		// A limit equal to what is left ends with no Next.
		p, err := e.svc.Find(ctx, e.kind, Query{Limit: 252})
		if err != nil || len(p.Items) != 252 || p.Next != "" {
			t.Fatalf("Find(limit 252) = %d items, next %q, %v", len(p.Items), p.Next, err)
		}
		if _, err := e.svc.Find(ctx, e.kind, Query{Cursor: "bogus!"}); !errors.Is(err, ErrInvalidCursor) {
			t.Fatalf("bogus cursor: %v", err)
		}
		if _, err := e.svc.Find(ctx, e.kind, Query{Limit: -1}); !errors.Is(err, ErrInvalidLimit) {
			t.Fatalf("negative limit: %v", err)
		}
	})
}

// TestFindCursorWhileTheListChanges changes the list between pages in every
// way operators and other programs do, and checks that each page goes on
// exactly where the last one stopped.
func TestFindCursorWhileTheListChanges(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		items := fillKind(t, e, 30, func(i int) string { return fmt.Sprint("e", i) })
		newest := func(from, to int) []string { // ids of items[from] down to items[to]
			var out []string
			for i := from; i >= to; i-- {
				out = append(out, items[i].ID)
			}
			return out
		}
		page := func(cursor string, want []string) string {
			t.Helper()
			p, err := e.svc.Find(ctx, e.kind, Query{Cursor: cursor, Limit: 10})
			if err != nil || fmt.Sprint(ids(p.Items)) != fmt.Sprint(want) {
				t.Fatalf("Find = %v, %v; want %v", ids(p.Items), err, want)
			}
			return p.Next
		}
		next := page("", newest(29, 20))

		// Entries already shown are popped, another program pushes, and
		// this library pushes.
		for _, i := range []int{29, 25, 20} {
			if _, err := e.svc.Pop(ctx, e.kind, items[i].ID); err != nil {
				t.Fatal(err)
			}
		}
		foreign := `{"id": "py-1", "source_id": "s", "error": "e", "failed_at": "2026-11-26T10:00:00+00:00", "kind": "` + string(e.kind) + `", "job_id": null, "retry_count": 0}`
		if err := e.Client.LPush(ctx, e.kind.Key(), foreign).Err(); err != nil {
			t.Fatal(err)
		}
		push(t, e, e.kind, "newer 1")
		push(t, e, e.kind, "newer 2")
		next = page(next, newest(19, 10))
		if next == "" {
			t.Fatal("no Next with 10 entries left")
		}

		// The cap evicts the 4 oldest entries (30 - 3 + 3 = 30, one more
		// push, cap 27): the last page is what is left of them.
		capped := New(e.Client, WithMaxItems(27), WithLogger(slog.New(slog.DiscardHandler)))
		if _, err := capped.Push(ctx, e.kind, uuid.New(), errors.New("newest")); err != nil {
			t.Fatal(err)
		}
		if next = page(next, newest(9, 4)); next != "" {
			t.Fatalf("Next = %q after the last entry", next)
		}
	})
}

func TestFilterFields(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		clk := newClock(e)
		src, job := uuid.New(), uuid.New()
		a, err := e.svc.Push(ctx, e.kind, src, errors.New("GET https://a.com/p/1: 503 Service Unavailable"), WithJobID(job))
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Hour)
		b := push(t, e, e.kind, "GET https://b.org/p/2: 503 Service Unavailable")
		clk.Add(time.Hour)
		c := push(t, e, e.kind, "tls: handshake failure")
		cases := []struct {
			f    Filter
			want []Item
		}{
			{Filter{}, []Item{c, b, a}},
			{Filter{SourceID: src.String()}, []Item{a}},
			{Filter{JobID: job.String()}, []Item{a}},
			{Filter{ErrorContains: "HANDSHAKE"}, []Item{c}},
			{Filter{Signature: Signature(b.Error)}, []Item{b, a}},
			{Filter{Host: "b.org"}, []Item{b}},
			{Filter{Host: "A.COM"}, []Item{a}},
			{Filter{Host: "a.co"}, nil},
			{Filter{Host: "b.org", Signature: Signature(a.Error)}, []Item{b}},
			{Filter{FailedAfter: b.FailedAt}, []Item{c, b}},
			{Filter{FailedBefore: b.FailedAt}, []Item{a}},
			{Filter{FailedAfter: a.FailedAt, FailedBefore: c.FailedAt, ErrorContains: "503"}, []Item{b, a}},
			{Filter{SourceID: "nobody"}, nil},
		}
		for _, tc := range cases {
			p, err := e.svc.Find(ctx, e.kind, Query{Filter: tc.f})
			if err != nil || fmt.Sprint(ids(p.Items)) != fmt.Sprint(ids(tc.want)) || p.Next != "" {
				t.Errorf("Find(%+v) = %v (next %q), %v; want %v", tc.f, ids(p.Items), p.Next, err, ids(tc.want))
			}
			if n, err := e.svc.Count(ctx, e.kind, tc.f); err != nil || n != len(tc.want) {
				t.Errorf("Count(%+v) = %d, %v; want %d", tc.f, n, err, len(tc.want))
			}
		}
	})
}

func TestGroups(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		clk := newClock(e)
		var last503 Item
		for i, host := range []string{"a.com", "b.com", "a.com", "c.com", "a.com", "b.com", "d.com", "e.com", "f.com", "g.com"} {
			clk.Add(time.Second)
			last503 = push(t, e, e.kind, fmt.Sprintf("GET https://%s/p/%d: 503", host, i))
		}
		for i := range 2 {
			clk.Add(time.Second)
			push(t, e, e.kind, fmt.Sprintf("GET https://a.com/p/%d: 404", i))
		}
		clk.Add(time.Second)
		tls := push(t, e, e.kind, "tls: handshake failure")
		if err := e.Client.LPush(ctx, e.kind.Key(), "not json").Err(); err != nil {
			t.Fatal(err)
		}
		gs, err := e.svc.Groups(ctx, e.kind)
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 3 {
			t.Fatalf("%d groups: %+v", len(gs), gs)
		}
		g := gs[0]
		if g.Signature != "GET <url>: 503" || g.Count != 10 || g.Sample != last503.Error ||
			!g.Newest.Equal(last503.FailedAt) || !g.Oldest.Equal(last503.FailedAt.Add(-9*time.Second)) {
			t.Errorf("first group = %+v", g)
		}
		// Its hosts: the most failures first, then by name; 2 more.
		if want := []HostCount{{"a.com", 3}, {"b.com", 2}, {"c.com", 1}, {"d.com", 1}, {"e.com", 1}}; fmt.Sprint(g.Hosts) != fmt.Sprint(want) || g.MoreHosts != 2 {
			t.Errorf("first group's hosts = %v and %d more, want %v and 2 more", g.Hosts, g.MoreHosts, want)
		}
		if len(gs[2].Hosts) != 0 || gs[2].MoreHosts != 0 {
			t.Errorf("the TLS group names hosts: %v, %d more", gs[2].Hosts, gs[2].MoreHosts)
		}
		if gs[1].Count != 2 || gs[2].Count != 1 || gs[2].Sample != tls.Error || fmt.Sprint(gs[1].Hosts) != "[{a.com 2}]" {
			t.Errorf("groups = %+v", gs)
		}
		// The newest 4 entries: the malformed one (left out), the TLS
		// failure and the two 404s.
		recent, err := e.svc.RecentGroups(ctx, e.kind, 4)
		if err != nil || len(recent) != 2 || recent[0].Count != 2 || recent[1].Sample != tls.Error {
			t.Errorf("RecentGroups(4) = %+v, %v", recent, err)
		}
		// A group's signature selects exactly its entries.
		if n, _ := e.svc.Count(ctx, e.kind, Filter{Signature: gs[1].Signature}); n != 2 {
			t.Errorf("Count of the 404 group = %d", n)
		}
	})
}

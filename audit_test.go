package dlq

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

// auditAll reads every record of a kind's audit log, newest first.
func auditAll(t *testing.T, s *Service, kind Kind) []AuditRecord {
	t.Helper()
	page, err := s.Audit(context.Background(), kind, AuditQuery{Limit: MaxLimit})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return page.Records
}

// TestAuditOneRecordPerChange: every change method leaves exactly one
// record with the context's actor and reason and the change's id or
// counts; calls that change nothing leave none.
func TestAuditOneRecordPerChange(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		got := &requeued{}
		withRequeuer(e, RequeueFunc(func(_ context.Context, it Item) error {
			if strings.Contains(it.Error, "refuse") {
				return errors.New("no")
			}
			got.add(it.ID)
			return nil
		}))
		noReq := New(e.Client)
		bg := context.Background()
		ctx := WithReason(WithActor(bg, "alice"), "cleanup after incident 42")
		a := push(t, e, e.kind, "a")
		b := push(t, e, e.kind, "b")
		c := push(t, e, e.kind, "c")
		d := push(t, e, e.kind, "refuse me")
		f := push(t, e, e.kind, "f")
		for range 3 {
			push(t, e, e.kind, "bulk retry")
		}
		for range 2 {
			push(t, e, e.kind, "bulk delete")
		}
		type want struct {
			action, id, result string
			forced             bool
			counts             *BulkResult
		}
		cases := []struct {
			name string
			do   func() error
			want *want
		}{
			{"Retry", func() error { _, err := e.svc.Retry(ctx, e.kind, a.ID); return err }, &want{action: AuditRetry, id: a.ID, result: "ok"}},
			{"Retry without Requeuer", func() error { _, err := noReq.Retry(ctx, e.kind, b.ID); return err }, &want{action: AuditRetry, id: b.ID, result: "ok"}},
			{"Retry whose Requeuer fails", func() error {
				if _, err := e.svc.Retry(ctx, e.kind, d.ID); !errors.Is(err, ErrRequeue) {
					return errors.New("want ErrRequeue")
				}
				return nil
			}, &want{action: AuditRetry, id: d.ID, result: "requeue_failed"}},
			{"Pop", func() error { _, err := e.svc.Pop(ctx, e.kind, c.ID); return err }, &want{action: AuditPop, id: c.ID, result: "ok"}},
			{"Delete forced", func() error { return e.svc.Delete(ctx, e.kind, f.ID, Force()) }, &want{action: AuditDelete, id: f.ID, result: "ok", forced: true}},
			{"Pop missing", func() error {
				if _, err := e.svc.Pop(ctx, e.kind, c.ID); !errors.Is(err, ErrNotFound) {
					return errors.New("want ErrNotFound")
				}
				return nil
			}, nil},
			{"RetryMatching", func() error {
				_, err := e.svc.RetryMatching(ctx, e.kind, Filter{ErrorContains: "bulk retry"})
				return err
			}, &want{action: AuditRetryMatching, result: "ok", counts: &BulkResult{Matched: 3, Handled: 3}}},
			{"DeleteMatching dry run", func() error {
				_, err := e.svc.DeleteMatching(ctx, e.kind, Filter{ErrorContains: "bulk delete"}, DryRun())
				return err
			}, nil},
			{"DeleteMatching", func() error {
				_, err := e.svc.DeleteMatching(ctx, e.kind, Filter{ErrorContains: "bulk delete"})
				return err
			}, &want{action: AuditDeleteMatching, result: "ok", counts: &BulkResult{Matched: 2, Handled: 2}}},
		}
		for _, tc := range cases {
			before := len(auditAll(t, e.svc, e.kind))
			if err := tc.do(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			recs := auditAll(t, e.svc, e.kind)
			if tc.want == nil {
				if len(recs) != before {
					t.Errorf("%s: %d records, want %d (no change, no record)", tc.name, len(recs), before)
				}
				continue
			}
			if len(recs) != before+1 {
				t.Fatalf("%s: %d records, want %d", tc.name, len(recs), before+1)
			}
			r := recs[0]
			if r.Action != tc.want.action || r.ID != tc.want.id || r.Result != tc.want.result || r.Forced != tc.want.forced ||
				r.Actor != "alice" || r.Reason != "cleanup after incident 42" || r.Kind != e.kind {
				t.Errorf("%s: record %+v", tc.name, r)
			}
			if (tc.want.counts == nil) != (r.Counts == nil) || (r.Counts != nil && *r.Counts != *tc.want.counts) {
				t.Errorf("%s: counts %+v, want %+v", tc.name, r.Counts, tc.want.counts)
			}
			if tc.want.counts != nil && (r.Filter == nil || r.Filter.ErrorContains == "") {
				t.Errorf("%s: filter %+v", tc.name, r.Filter)
			}
			if r.Time.IsZero() || r.Cursor == "" {
				t.Errorf("%s: time %v cursor %q", tc.name, r.Time, r.Cursor)
			}
		}
		// A sweep that evicts leaves one record, by the janitor.
		capped := New(e.Client, WithMaxItems(1))
		for range 3 {
			push(t, e, e.kind, "over the cap")
		}
		before := len(auditAll(t, e.svc, e.kind))
		res, err := capped.Sweep(bg, e.kind)
		if err != nil || res.EvictedByCap == 0 {
			t.Fatalf("Sweep: %+v, %v", res, err)
		}
		recs := auditAll(t, e.svc, e.kind)
		if len(recs) != before+1 || recs[0].Action != AuditSweep || recs[0].Actor != "janitor" ||
			recs[0].Counts == nil || int64(recs[0].Counts.Handled) != res.EvictedByCap {
			t.Fatalf("after a sweep: %d records (want %d), newest %+v", len(recs), before+1, recs[0])
		}
		if _, err := capped.Sweep(bg, e.kind); err != nil {
			t.Fatal(err)
		}
		if n := len(auditAll(t, e.svc, e.kind)); n != before+1 {
			t.Errorf("an idle sweep left a record: %d records", n)
		}
	})
}

// TestAuditQuery: newest first, pages by cursor, filters by action and
// actor, refuses a bad cursor, and the log can be turned off.
func TestAuditQuery(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		bg := context.Background()
		var want []string
		for i := range 7 {
			it := push(t, e, e.kind, "x")
			actor := "bob"
			if i%2 == 0 {
				actor = "carol"
			}
			ctx := WithActor(bg, actor)
			if i%3 == 0 {
				_, err := e.svc.Pop(ctx, e.kind, it.ID)
				if err != nil {
					t.Fatal(err)
				}
			} else if err := e.svc.Delete(ctx, e.kind, it.ID); err != nil {
				t.Fatal(err)
			}
			want = append([]string{it.ID}, want...)
		}
		var got []string
		cursor := ""
		for {
			page, err := e.svc.Audit(bg, e.kind, AuditQuery{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Records {
				got = append(got, r.ID)
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("pages: %v, want %v", got, want)
		}
		page, err := e.svc.Audit(bg, e.kind, AuditQuery{Action: AuditPop, Actor: "carol"})
		if err != nil {
			t.Fatal(err)
		}
		// Pops are i = 0, 3, 6; carol is even i: 0 and 6.
		if len(page.Records) != 2 || page.Records[0].ID != want[0] || page.Records[1].ID != want[6] {
			t.Fatalf("filtered: %+v", page.Records)
		}
		if _, err := e.svc.Audit(bg, e.kind, AuditQuery{Cursor: "nope"}); !errors.Is(err, ErrInvalidCursor) {
			t.Fatalf("bad cursor: %v", err)
		}
		off := New(e.Client, WithAuditLimit(0))
		it := push(t, e, e.kind, "x")
		if err := off.Delete(bg, e.kind, it.ID); err != nil {
			t.Fatal(err)
		}
		if n := len(auditAll(t, e.svc, e.kind)); n != 7 {
			t.Fatalf("with the log off: %d records, want 7", n)
		}
	})
}

// TestAuditHostileActorAndReason: 64 KiB of control characters, HTML and
// invalid UTF-8 come out bounded, valid and without control characters.
func TestAuditHostileActorAndReason(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		hostile := strings.Repeat("<script>alert(1)</script>\x00\x1b[31m\r\n\u2028\xff€", 64<<10/40)
		ctx := WithReason(WithActor(context.Background(), hostile), hostile)
		it := push(t, e, e.kind, "x")
		if err := e.svc.Delete(ctx, e.kind, it.ID); err != nil {
			t.Fatal(err)
		}
		r := auditAll(t, e.svc, e.kind)[0]
		for _, c := range []struct {
			name string
			v    string
			max  int
		}{{"actor", r.Actor, MaxActorLen}, {"reason", r.Reason, MaxReasonLen}} {
			if len(c.v) > c.max || len(c.v) < c.max-4 || !utf8.ValidString(c.v) || !strings.HasPrefix(c.v, "<script>") {
				t.Errorf("%s: %d bytes, valid %v: %q", c.name, len(c.v), utf8.ValidString(c.v), c.v)
			}
			for _, ch := range c.v {
				if unicode.IsControl(ch) || ch == '\u2028' {
					t.Errorf("%s holds control character %U", c.name, ch)
				}
			}
		}
	})
}

// TestAuditWhenRedisIsFull: under maxmemory with noeviction a Delete
// still happens; its record is dropped, logged and counted.
func TestAuditWhenRedisIsFull(t *testing.T) {
	srv := dlqtest.StartServer(t, "--appendonly", "no", "--maxmemory-policy", "noeviction")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	ctx := context.Background()
	logs := &dlqtest.LogBuffer{}
	s := New(c, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	it, err := s.PushScrapeFailure(ctx, uuid.New(), errors.New("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushScrapeFailure(ctx, uuid.New(), errors.New("y")); err != nil {
		t.Fatal(err)
	}
	// Fill 4 MB, then set the bound below what is used: every write that
	// may grow memory is refused from then on.
	big := strings.Repeat("x", 64<<10)
	for i := range 64 {
		if err := c.Set(ctx, "filler:"+string(rune('a'+i%26))+strings.Repeat("z", i), big, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ConfigSet(ctx, "maxmemory", "2mb").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "probe", Values: []string{"a", "b"}}).Err(); err == nil || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("Redis is not full: XADD answered %v", err)
	}
	// A Delete writes its record in the script that removes the entry:
	// the removal frees memory first, and Redis lets a script that has
	// written go on, so the record is kept.
	if err := s.Delete(ctx, Scrape, it.ID); err != nil {
		t.Fatalf("Delete when full: %v", err)
	}
	if n, _ := c.LLen(ctx, ScrapeKey).Result(); n != 1 {
		t.Fatalf("the list holds %d entries, want the other one", n)
	}
	recs, _ := c.XRange(ctx, "{scrape:dlq}:audit", "-", "+").Result()
	if len(recs) != 1 || recs[0].Values["id"] != it.ID || s.AuditDropped() != 0 {
		t.Fatalf("records %v, dropped %d; want the Delete's record, written with it", recs, s.AuditDropped())
	}
	// A bulk delete writes its record after its scripts, in a command of
	// its own, which Redis refuses: the removal stands, the record is
	// logged and counted.
	res, err := s.DeleteMatching(ctx, Scrape, Filter{})
	if err != nil || res.Handled != 1 {
		t.Fatalf("DeleteMatching when full: %+v, %v", res, err)
	}
	if n, _ := c.LLen(ctx, ScrapeKey).Result(); n != 0 {
		t.Fatalf("the entry is still there: %d", n)
	}
	if s.AuditDropped() != 1 || !strings.Contains(logs.String(), "audit record dropped") || !strings.Contains(logs.String(), "delete_matching") {
		t.Fatalf("dropped %d; logs: %s", s.AuditDropped(), logs.String())
	}
	if n, _ := c.XLen(ctx, "{scrape:dlq}:audit").Result(); n != 1 {
		t.Fatalf("audit stream has %d records, want the Delete's", n)
	}
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

// opJSON is an operation as served.
type opJSON struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Action  string `json:"action"`
	State   string `json:"state"`
	Matched int    `json:"matched"`
	Handled int    `json:"handled"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	Actor   string `json:"actor"`
	Reason  string `json:"reason"`
}

// getOp reads an operation through a client.
func getOp(t *testing.T, c *http.Client, url string) opJSON {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var op opJSON
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&op) != nil {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	return op
}

// delOps deletes the operations' hashes a test left (they expire anyway).
func delOps(e *env, k dlq.Kind) {
	ctx := context.Background()
	ops, _ := e.svc.Ops(ctx, k, 0)
	for _, op := range ops {
		e.Client.Del(ctx, "{"+k.Key()+"}:op:"+op.ID)
	}
}

// TestPacedOperationOverHTTP: a paced retry started with async=true
// through a client whose requests time out after 5 s runs to its end; a
// second process's handler (another Service over the same Redis) shows
// its progress throughout, each change visible within 1 s, and the counts
// account for every entry. With DLQ_TEST_LOAD=1 on a real Redis: 10,000
// entries at rate=200 (about 50 s); otherwise 400.
func TestPacedOperationOverHTTP(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		n := 400
		if e.Real() && os.Getenv("DLQ_TEST_LOAD") != "" && !raceEnabled { // the race pass looks for races
			n = 10_000
		}
		defer delOps(e, dlq.Scrape)
		var mu sync.Mutex
		got := map[string]int{}
		runner := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(_ context.Context, it dlq.Item) error {
			mu.Lock()
			got[it.ID]++
			mu.Unlock()
			return nil
		})))
		pushN(t, e.svc, dlq.Scrape, n)
		a := httptest.NewServer(http.StripPrefix("/api", httpapi.New(runner)))
		defer a.Close()
		b := httptest.NewServer(httpapi.New(dlq.New(e.Client), httpapi.WithPrefix("/admin")))
		defer b.Close()
		c := &http.Client{Timeout: 5 * time.Second}
		res, err := c.Post(a.URL+"/api/dlq/scrape/retry?all=true&rate=200&async=true", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var op opJSON
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusAccepted || json.Unmarshal(body, &op) != nil || op.State != "running" ||
			loc != "/api/dlq/scrape/ops/"+op.ID {
			t.Fatalf("start: %d %q %s", res.StatusCode, loc, body)
		}
		other := b.URL + "/admin/dlq/scrape/ops/" + op.ID
		start := time.Now()
		last, lastChange, worst, polls := -1, time.Now(), time.Duration(0), 0
		for {
			o := getOp(t, c, other)
			polls++
			if o.Handled != last {
				if last >= 0 {
					worst = max(worst, time.Since(lastChange))
				}
				last, lastChange = o.Handled, time.Now()
			}
			if o.State != "running" {
				op = o
				break
			}
			if time.Since(start) > time.Duration(n/200+60)*time.Second {
				t.Fatalf("still running: %+v", o)
			}
			time.Sleep(50 * time.Millisecond)
		}
		runner.Wait()
		took := time.Since(start)
		t.Logf("%d entries at rate=200: %v; %d polls from the other handler, longest wait for a change %v", n, took, polls, worst)
		if op.State != "done" || op.Matched != n || op.Handled+op.Failed+op.Skipped != n || op.Handled != n || len(got) != n {
			t.Fatalf("op %+v, %d requeued", op, len(got))
		}
		for id, k := range got {
			if k != 1 {
				t.Fatalf("%s requeued %d times", id, k)
			}
		}
		if worst > time.Second {
			t.Fatalf("progress took %v to show", worst)
		}
		if took < time.Duration(n/200-1)*time.Second {
			t.Fatalf("rate=200 not kept: %d in %v", n, took)
		}
		// The list of operations, from the other handler, shows it first.
		r := do(t, httpapi.New(dlq.New(e.Client)), "GET", "/dlq/scrape/ops")
		var ops []opJSON
		if r.status != 200 || json.Unmarshal(r.body, &ops) != nil || len(ops) == 0 || ops[0].ID != op.ID || ops[0].State != "done" {
			t.Fatalf("ops: %d %s", r.status, r.body)
		}
	})
}

// TestCancelOperationOverHTTP: DELETE on the operation, from another
// handler, stops it; what it had not reached is still in the DLQ.
func TestCancelOperationOverHTTP(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		defer delOps(e, dlq.Scrape)
		runner := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(context.Context, dlq.Item) error { return nil })))
		pushN(t, e.svc, dlq.Scrape, 300)
		h := httpapi.New(runner)
		r := send(h, "POST", "/dlq/scrape/retry", "application/json", `{"all": true, "rate": 100, "async": true, "reason": "redrive"}`)
		var op opJSON
		if r.status != http.StatusAccepted || json.Unmarshal(r.body, &op) != nil || op.Reason != "redrive" {
			t.Fatalf("start: %d %s", r.status, r.body)
		}
		other := httpapi.New(dlq.New(e.Client))
		deadline := time.Now().Add(10 * time.Second)
		for {
			var o opJSON
			_ = json.Unmarshal(do(t, other, "GET", "/dlq/scrape/ops/"+op.ID).body, &o)
			if o.Handled >= 30 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no progress: %+v", o)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if r := do(t, other, "DELETE", "/dlq/scrape/ops/"+op.ID+"?reason=enough"); r.status != 200 {
			t.Fatalf("cancel: %d %s", r.status, r.body)
		}
		runner.Wait()
		var o opJSON
		_ = json.Unmarshal(do(t, other, "GET", "/dlq/scrape/ops/"+op.ID).body, &o)
		left := int(llen(t, e, dlq.ScrapeKey))
		if o.State != "cancelled" || left != 300-o.Handled || o.Handled >= 300 || o.Matched-o.Handled-o.Failed-o.Skipped != left {
			t.Fatalf("cancelled: %+v, %d left", o, left)
		}
		if r := do(t, other, "DELETE", "/dlq/scrape/ops/"+op.ID); r.status != http.StatusConflict {
			t.Fatalf("cancel again: %d", r.status)
		}
		if r := do(t, other, "POST", "/dlq/scrape/ops/"+op.ID+"/resume"); r.status != http.StatusConflict {
			t.Fatalf("resume a cancelled op: %d", r.status)
		}
		if r := do(t, other, "GET", "/dlq/scrape/ops/0190b0b0-0000-7000-8000-000000000000"); r.status != http.StatusNotFound {
			t.Fatalf("missing op: %d", r.status)
		}
	})
}

// auditOf reads the audit log through a handler.
func auditOf(t *testing.T, h http.Handler, query string) []map[string]any {
	t.Helper()
	r := do(t, h, "GET", "/dlq/scrape/audit"+query)
	var recs []map[string]any
	if r.status != 200 || json.Unmarshal(r.body, &recs) != nil {
		t.Fatalf("audit: %d %s", r.status, r.body)
	}
	return recs
}

// TestEveryChangeRouteIsAudited: each change route leaves exactly one
// record with the actor WithActor names and the reason given; a dry run
// leaves none; WithRequireReason refuses a change without a reason.
func TestEveryChangeRouteIsAudited(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		defer delOps(e, dlq.Scrape)
		svc := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(context.Context, dlq.Item) error { return nil })))
		user := func(r *http.Request) string { return r.Header.Get("X-User") }
		h := httpapi.New(svc, httpapi.WithActor(user), httpapi.WithRequireReason())
		items := pushN(t, e.svc, dlq.Scrape, 6)
		as := func(method, target, ctype, body string) response {
			req := httptest.NewRequest(method, target, strings.NewReader(body))
			req.Header.Set("X-User", "frank")
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			b, _ := io.ReadAll(rec.Result().Body)
			return response{rec.Code, rec.Result().Header, b}
		}
		cases := []struct {
			name, method, target, body string
			bare, bareBody             string // the same without the reason
			status                     int
			action, id                 string
		}{
			{"retry-item", "POST", "/dlq/scrape/retry-item", `{"id":"` + items[0].ID + `","reason":"r1"}`,
				"/dlq/scrape/retry-item", `{"id":"` + items[0].ID + `"}`, 200, "retry", items[0].ID},
			{"delete-item", "POST", "/dlq/scrape/delete-item?reason=r2", `{"id":"` + items[1].ID + `"}`,
				"/dlq/scrape/delete-item", `{"id":"` + items[1].ID + `"}`, 204, "delete", items[1].ID},
			{"{id}/retry", "POST", "/dlq/scrape/" + items[2].ID + "/retry?reason=r3", "",
				"/dlq/scrape/" + items[2].ID + "/retry", "", 200, "retry", items[2].ID},
			{"DELETE {id}", "DELETE", "/dlq/scrape/" + items[3].ID + "?reason=r4&force=true", "",
				"/dlq/scrape/" + items[3].ID + "?force=true", "", 204, "delete", items[3].ID},
			{"retry", "POST", "/dlq/scrape/retry?reason=r5&source_id=" + items[4].SourceID, "",
				"/dlq/scrape/retry?source_id=" + items[4].SourceID, "", 200, "retry_matching", ""},
			{"delete", "POST", "/dlq/scrape/delete", `{"source_id":"` + items[5].SourceID + `","reason":"r6"}`,
				"/dlq/scrape/delete", `{"source_id":"` + items[5].SourceID + `"}`, 200, "delete_matching", ""},
		}
		for i, tc := range cases {
			before := len(auditOf(t, h, ""))
			ctype := ""
			if tc.body != "" {
				ctype = "application/json"
			}
			// Without a reason: 400, nothing changed, nothing recorded.
			if r := as(tc.method, tc.bare, ctype, tc.bareBody); r.status != http.StatusBadRequest {
				t.Fatalf("%s without a reason: %d %s", tc.name, r.status, r.body)
			}
			if r := as(tc.method, tc.target, ctype, tc.body); r.status != tc.status {
				t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
			}
			recs := auditOf(t, h, "")
			if len(recs) != before+1 {
				t.Fatalf("%s: %d records, want %d", tc.name, len(recs), before+1)
			}
			rec := recs[0]
			if rec["action"] != tc.action || rec["actor"] != "frank" || rec["reason"] != fmt.Sprintf("r%d", i+1) {
				t.Fatalf("%s: record %v", tc.name, rec)
			}
			if tc.id != "" && rec["id"] != tc.id {
				t.Fatalf("%s: id %v", tc.name, rec["id"])
			}
			if tc.id == "" && (rec["matched"] != 1.0 || rec["handled"] != 1.0 || rec["failed"] != 0.0 || rec["skipped"] != 0.0 || rec["filter"] == nil) {
				t.Fatalf("%s: counts %v", tc.name, rec)
			}
		}
		// A dry run needs no reason and leaves no record.
		before := len(auditOf(t, h, ""))
		if r := as("POST", "/dlq/scrape/delete?all=true&dry_run=true", "", ""); r.status != 200 {
			t.Fatalf("dry run: %d %s", r.status, r.body)
		}
		// An operation: op_start now, op_finish when it ends; a cancel of a
		// finished one is 409 and leaves none.
		pushN(t, e.svc, dlq.Scrape, 3)
		r := as("POST", "/dlq/scrape/delete?all=true&async=true&reason=r7", "", "")
		if r.status != http.StatusAccepted {
			t.Fatalf("async: %d %s", r.status, r.body)
		}
		svc.Wait()
		recs := auditOf(t, h, "")
		if len(recs) != before+2 || recs[0]["action"] != "op_finish" || recs[1]["action"] != "op_start" ||
			recs[0]["actor"] != "frank" || recs[0]["reason"] != "r7" || recs[0]["handled"] != 3.0 {
			t.Fatalf("after an operation: %v", recs[:min(len(recs), 3)])
		}
		if only := auditOf(t, h, "?action=op_start&actor=frank"); len(only) != 1 {
			t.Fatalf("filtered: %v", only)
		}
		if page := do(t, h, "GET", "/dlq/scrape/audit?limit=2"); page.header.Get(httpapi.NextCursorHeader) == "" {
			t.Fatal("no next cursor on a full page")
		}
	})
}

// TestHostileActorAndReasonOverHTTP: 64 KiB of HTML and control
// characters as actor and reason come back bounded, as JSON that no
// browser renders as HTML, and the dashboard puts them in text nodes.
func TestHostileActorAndReasonOverHTTP(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		hostile := strings.Repeat("<img src=x onerror=alert(1)>\x01\x1b\u2028", 64<<10/32)
		h := httpapi.New(e.svc, httpapi.WithActor(func(*http.Request) string { return hostile }))
		it := pushN(t, e.svc, dlq.Scrape, 1)[0]
		body, _ := json.Marshal(map[string]string{"id": it.ID, "reason": hostile[:16<<10]})
		if r := send(h, "POST", "/dlq/scrape/delete-item", "application/json", string(body)); r.status != 204 {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		r := do(t, h, "GET", "/dlq/scrape/audit")
		var recs []map[string]any
		_ = json.Unmarshal(r.body, &recs)
		actor, _ := recs[0]["actor"].(string)
		reason, _ := recs[0]["reason"].(string)
		if len(actor) > dlq.MaxActorLen || len(reason) > dlq.MaxReasonLen || !strings.HasPrefix(actor, "<img") ||
			strings.ContainsAny(actor+reason, "\x01\x1b\u2028") {
			t.Fatalf("actor %d bytes %q, reason %d bytes", len(actor), actor, len(reason))
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatal("audit answer may be sniffed as HTML")
		}
		page := send(h, "GET", "/dlq/", "", "")
		if js := string(page.body); page.status != 200 || !strings.Contains(js, "renderAudit") || strings.Contains(js, "innerHTML") {
			t.Fatal("the dashboard's audit panel must build text nodes, never innerHTML")
		}
	})
}

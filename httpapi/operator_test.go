package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

// doBody sends a request with a body and content type.
func doBody(t *testing.T, h http.Handler, method, target, contentType, body string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

func pushErrs(t *testing.T, svc *dlq.Service, texts ...string) []dlq.Item {
	t.Helper()
	var out []dlq.Item
	for _, s := range texts {
		it, err := svc.PushScrapeFailure(context.Background(), uuid.New(), errors.New(s))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}

func TestDeleteRoute(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		items := pushErrs(t, e.svc, "a", "b")
		h := httpapi.New(e.svc)
		if r := doBody(t, h, "DELETE", "/dlq/scrape/"+items[0].ID, "", ""); r.status != 204 || len(r.body) != 0 {
			t.Fatalf("DELETE: %d %s", r.status, r.body)
		}
		if r := do(t, h, "DELETE", "/dlq/scrape/"+items[0].ID); r.status != 404 {
			t.Fatalf("second DELETE: %d", r.status)
		}
		if r := do(t, h, "DELETE", "/dlq/scrape/"+strings.Repeat("x", 300)); r.status != 400 {
			t.Fatalf("DELETE of a huge id: %d", r.status)
		}
		if left := decodeItems(t, do(t, h, "GET", "/dlq/scrape")); len(left) != 1 || left[0]["id"] != items[1].ID {
			t.Fatalf("left: %v, want only %s", left, items[1].ID)
		}
	})
}

func TestFilteredListCountGroups(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		var texts []string
		for i := range 5 {
			texts = append(texts, fmt.Sprintf("GET https://a.com/p/%d: 404 Not Found", i))
		}
		texts = append(texts, "tls: handshake failure")
		pushErrs(t, e.svc, texts...)
		h := httpapi.New(e.svc)

		r := do(t, h, "GET", "/dlq/scrape?error=not+found&limit=3")
		page1 := decodeItems(t, r)
		next := r.header.Get(httpapi.NextCursorHeader)
		if r.status != 200 || len(page1) != 3 || next == "" {
			t.Fatalf("page 1: %d, %d items, next %q", r.status, len(page1), next)
		}
		r = do(t, h, "GET", "/dlq/scrape?error=not+found&limit=3&cursor="+url.QueryEscape(next))
		page2 := decodeItems(t, r)
		if len(page2) != 2 || r.header.Get(httpapi.NextCursorHeader) != "" {
			t.Fatalf("page 2: %d items, next %q", len(page2), r.header.Get(httpapi.NextCursorHeader))
		}
		if page2[1]["error"] != texts[0] {
			t.Fatalf("the last item is %v, want the oldest 404", page2[1]["error"])
		}

		var c struct{ Count int }
		if r := do(t, h, "GET", "/dlq/scrape/count?signature="+url.QueryEscape(dlq.Signature(texts[0]))); json.Unmarshal(r.body, &c) != nil || c.Count != 5 {
			t.Fatalf("count: %s", r.body)
		}
		var gs []dlq.Group
		if r := do(t, h, "GET", "/dlq/scrape/groups"); json.Unmarshal(r.body, &gs) != nil || len(gs) != 2 || gs[0].Count != 5 || gs[1].Sample != "tls: handshake failure" {
			t.Fatalf("groups: %s", r.body)
		}
		if r := do(t, h, "GET", "/dlq/extraction/groups"); string(r.body) != "[]\n" {
			t.Fatalf("groups of an empty kind: %s", r.body)
		}
		for _, target := range []string{"/dlq/scrape?failed_after=yesterday", "/dlq/scrape?cursor=bogus!", "/dlq/scrape/count?failed_before=1"} {
			if r := do(t, h, "GET", target); r.status != 400 || r.detail(t) == "" {
				t.Errorf("GET %s: %d %s, want 400", target, r.status, r.body)
			}
		}
	})
}

func TestBulkRoutes(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		var requeued atomic.Int64
		svc := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(ctx context.Context, it dlq.Item) error {
			requeued.Add(1)
			return nil
		})))
		var texts []string
		for i := range 6 {
			texts = append(texts, fmt.Sprintf("GET https://a.com/p/%d: %d", i, []int{503, 404}[i%2]))
		}
		pushErrs(t, svc, texts...)
		h := httpapi.New(svc)
		sig503 := url.QueryEscape(dlq.Signature(texts[0]))

		if r := do(t, h, "POST", "/dlq/scrape/retry?dry_run=true&signature="+sig503); string(r.body) != `{"matched":3,"handled":0,"failed":0,"skipped":0}`+"\n" {
			t.Fatalf("dry run: %d %s", r.status, r.body)
		}
		if requeued.Load() != 0 {
			t.Fatal("the dry run requeued")
		}
		if r := do(t, h, "POST", "/dlq/scrape/retry?signature="+sig503); string(r.body) != `{"matched":3,"handled":3,"failed":0,"skipped":0}`+"\n" || requeued.Load() != 3 {
			t.Fatalf("retry: %d %s, requeued %d", r.status, r.body, requeued.Load())
		}
		body := `{"error": "404", "dry_run": false}`
		if r := doBody(t, h, "POST", "/dlq/scrape/delete", "application/json", body); string(r.body) != `{"matched":3,"handled":3,"failed":0,"skipped":0}`+"\n" {
			t.Fatalf("delete by JSON body: %d %s", r.status, r.body)
		}
		pushErrs(t, svc, "x", "y")
		bad := []struct {
			target, ctype, body string
			status              int
		}{
			{"/dlq/scrape/delete", "", "", 400}, // an empty filter without all=true
			{"/dlq/scrape/delete", "application/json", `{}`, 400},
			{"/dlq/scrape/delete", "application/json", `{"source_id": 5}`, 400},
			{"/dlq/scrape/delete", "application/json", `{"nope": 1}`, 400},
			{"/dlq/scrape/delete", "text/plain", `all=true`, 415},
			{"/dlq/scrape/delete", "application/json", `{"error": "` + strings.Repeat("x", 70<<10) + `"}`, 413},
			{"/dlq/scrape/retry?rate=fast", "", "", 400},
			{"/dlq/scrape/retry?rate=-1", "", "", 400},
			{"/dlq/scrape/retry?dry_run=maybe", "", "", 400},
			{"/dlq/scrape/retry?failed_after=never", "", "", 400},
			{"/dlq/nope/retry", "", "", 404},
		}
		for _, b := range bad {
			r := doBody(t, h, "POST", b.target, b.ctype, b.body)
			if r.status != b.status || r.detail(t) == "" {
				t.Errorf("POST %s %.40q: %d %s, want %d", b.target, b.body, r.status, r.body, b.status)
			}
		}
		if n, _ := e.Client.LLen(context.Background(), dlq.ScrapeKey).Result(); n != 2 {
			t.Fatalf("bad bulk requests changed the DLQ: %d entries, want 2", n)
		}
		if r := do(t, h, "POST", "/dlq/scrape/delete?all=true"); string(r.body) != `{"matched":2,"handled":2,"failed":0,"skipped":0}`+"\n" {
			t.Fatalf("delete all: %s", r.body)
		}
	})
}

func TestRetryRouteRequeueFailure(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		svc := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(ctx context.Context, it dlq.Item) error {
			return errors.New("queue at 10.0.0.7:5672 refused")
		})))
		it := pushErrs(t, svc, "boom")[0]
		h := httpapi.New(svc)
		r := do(t, h, "POST", "/dlq/scrape/"+it.ID+"/retry")
		if r.status != http.StatusBadGateway || strings.Contains(string(r.body), "10.0.0.7") || !strings.Contains(string(r.body), "requeue failed: queue at <") || !strings.Contains(string(r.body), "> refused") {
			t.Fatalf("retry with a failing requeuer: %d %s", r.status, r.body)
		}
		if items := decodeItems(t, do(t, h, "GET", "/dlq/scrape")); len(items) != 1 || items[0]["id"] != it.ID {
			t.Fatalf("the entry must still be in the DLQ: %v", items)
		}
	})
}

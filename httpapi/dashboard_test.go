package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

func getPage(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	if rec.Code == 200 && rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("GET %s: Content-Type %q", target, rec.Header().Get("Content-Type"))
	}
	return rec.Code, string(b)
}

func TestDashboard(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		evil := `<script>alert(1)</script><img src=x onerror=alert(2)>`
		var texts []string
		for i := range 3 {
			texts = append(texts, fmt.Sprintf("GET https://a.com/p/%d: 503", i))
		}
		texts = append(texts, evil, strings.Repeat("long error ", 40))
		pushErrs(t, e.svc, texts...)
		src := uuid.New()
		if _, err := e.svc.PushExtractionFailure(ctx, src, errors.New("llm: no price")); err != nil {
			t.Fatal(err)
		}

		withRequeuer := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(context.Context, dlq.Item) error { return nil })))
		mux := http.NewServeMux()
		mux.Handle("/ops/", http.StripPrefix("/ops", httpapi.New(withRequeuer)))
		code, page := getPage(t, mux, "/ops/dlq/")
		if code != 200 {
			t.Fatalf("dashboard: %d %s", code, page)
		}
		for _, want := range []string{
			`data-count="scrape">5<`, `data-count="extraction">1<`, // counts
			`<code>GET &lt;url&gt;: 503</code>`,               // the top cause, escaped
			`data-action="bulk-retry"`, `data-action="retry"`, // actions
			`&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;`, // escaped error text
			`"><summary>long error`, // long errors fold
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") {
			t.Fatal("an error text reached the page unescaped")
		}
		if n := strings.Count(page, `<tr data-id=`); n != 5 {
			t.Errorf("%d rows, want 5", n)
		}

		// Filter by error text, by source id, by cause; another kind.
		if _, page := getPage(t, mux, "/ops/dlq/?kind=scrape&q=p/1"); strings.Count(page, `<tr data-id=`) != 1 {
			t.Errorf("filter by text: %d rows", strings.Count(page, `<tr data-id=`))
		}
		if _, page := getPage(t, mux, "/ops/dlq/?kind=extraction&q="+src.String()); strings.Count(page, `<tr data-id=`) != 1 || !strings.Contains(page, "llm: no price") {
			t.Error("filter by source id failed")
		}
		if _, page := getPage(t, mux, "/ops/dlq/?kind=scrape&sig="+url.QueryEscape(dlq.Signature(texts[0]))); strings.Count(page, `<tr data-id=`) != 3 {
			t.Errorf("filter by cause: %d rows", strings.Count(page, `<tr data-id=`))
		}
		if code, _ := getPage(t, mux, "/ops/dlq/?kind=nope"); code != 404 {
			t.Errorf("unknown kind: %d", code)
		}

		// Read-only: no actions on the page, and changes are refused.
		ro := httpapi.New(e.svc, httpapi.WithReadOnly())
		_, page = getPage(t, ro, "/dlq/")
		if strings.Contains(page, "data-action=") || !strings.Contains(page, "Read-only") {
			t.Error("the read-only page shows actions")
		}
		id := strings.SplitN(strings.SplitN(page, `<tr data-id="`, 2)[1], `"`, 2)[0]
		if r := do(t, ro, "POST", "/dlq/scrape/"+id+"/retry"); r.status != 403 || r.detail(t) == "" {
			t.Errorf("read-only retry: %d %s", r.status, r.body)
		}
		if r := do(t, ro, "DELETE", "/dlq/scrape/"+id); r.status != 403 {
			t.Errorf("read-only delete: %d", r.status)
		}
		if n, _ := e.Client.LLen(ctx, dlq.ScrapeKey).Result(); n != 5 {
			t.Fatalf("read-only calls changed the DLQ: %d entries", n)
		}
	})
}

func TestDashboardPaging(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		var texts []string
		for i := range 130 {
			texts = append(texts, fmt.Sprint("e", i))
		}
		pushErrs(t, e.svc, texts...)
		h := httpapi.New(e.svc)
		_, page := getPage(t, h, "/dlq/")
		if n := strings.Count(page, `<tr data-id=`); n != 100 {
			t.Fatalf("first page: %d rows", n)
		}
		i := strings.Index(page, `rel="next"`)
		if i < 0 {
			t.Fatal("no next page link")
		}
		href := page[strings.LastIndex(page[:i], `href="`)+6 : i-2]
		_, page2 := getPage(t, h, "/dlq/"+strings.ReplaceAll(href, "&amp;", "&"))
		if n := strings.Count(page2, `<tr data-id=`); n != 30 || strings.Contains(page2, `rel="next"`) {
			t.Fatalf("second page: %d rows", n)
		}
	})
}

// TestCrossSiteRequestsRefused: a POST or DELETE another site makes in an
// operator's browser is refused and changes nothing; the same request from
// the page's own origin goes through.
func TestCrossSiteRequestsRefused(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		items := pushErrs(t, e.svc, "a", "b")
		h := httpapi.New(e.svc)
		for _, c := range []struct {
			method, target string
			header         [2]string
		}{
			{"POST", "/dlq/scrape/" + items[0].ID + "/retry", [2]string{"Sec-Fetch-Site", "cross-site"}},
			{"DELETE", "/dlq/scrape/" + items[0].ID, [2]string{"Sec-Fetch-Site", "cross-site"}},
			{"POST", "/dlq/scrape/delete?all=true", [2]string{"Origin", "https://evil.example"}},
		} {
			req := httptest.NewRequest(c.method, "http://dlq.internal"+c.target, nil)
			req.Header.Set(c.header[0], c.header[1])
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), `"detail"`) {
				t.Errorf("%s %s with %s: %d %s", c.method, c.target, c.header[0], rec.Code, rec.Body)
			}
		}
		if n, _ := e.Client.LLen(context.Background(), dlq.ScrapeKey).Result(); n != 2 {
			t.Fatalf("cross-site requests changed the DLQ: %d entries", n)
		}
		req := httptest.NewRequest("POST", "http://dlq.internal/dlq/scrape/"+items[0].ID+"/retry", nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("same-origin retry: %d %s", rec.Code, rec.Body)
		}
	})
}

// The page shows at most 8 KiB of an error, and says the entry's size when
// it cuts one; the JSON list serves it whole (under 64 KiB).
func TestDashboardCutsLongErrors(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		long := strings.Repeat("<x> & ", 5<<10) // 30 KiB, escaped on the page
		pushErrs(t, e.svc, long, "short one")
		h := httpapi.New(e.svc)
		code, page := getPage(t, h, "/dlq/")
		if code != 200 || strings.Count(page, "shown cut: the entry is") != 1 {
			t.Fatalf("page: %d, %d cut notes", code, strings.Count(page, "shown cut: the entry is"))
		}
		// The row's 8 KiB, its folded first line, and the cause's 200
		// runes a few times: far from the 5,120 units of the whole text.
		if n := strings.Count(page, "&lt;x&gt; &amp; "); n < (8<<10)/6 || n > 2000 {
			t.Errorf("the page shows %d copies of the 6-byte unit, want the first 8 KiB", n)
		}
		r := send(h, "GET", "/dlq/scrape?limit=2", "", "")
		if !strings.Contains(string(r.body), `"error":"`+long+`"`) || strings.Contains(string(r.body), "truncated") {
			t.Errorf("the JSON list does not serve the error whole: %.200s", r.body)
		}
	})
}

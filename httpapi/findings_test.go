package httpapi_test

// One test per numbered finding of issue #12 (and the behaviour built for
// it), each failing on the handler of 7caadeb.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

// counting returns a Service whose Requeuer counts the entries it got.
func counting(e *env, opts ...dlq.Option) (*dlq.Service, *atomic.Int64) {
	n := &atomic.Int64{}
	rq := dlq.WithRequeuer(dlq.RequeueFunc(func(context.Context, dlq.Item) error {
		n.Add(1)
		return nil
	}))
	return dlq.New(e.Client, append(opts, rq)...), n
}

func llen(t *testing.T, e *env, key string) int64 {
	t.Helper()
	n, err := e.Client.LLen(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lpushRaw writes entries the way other programs do.
func lpushRaw(t *testing.T, e *env, key string, raws ...string) {
	t.Helper()
	for _, raw := range raws {
		if err := e.Client.LPush(context.Background(), key, raw).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func foreign(id, errText string) string {
	b, _ := json.Marshal(map[string]any{"id": id, "source_id": "s", "job_id": nil, "error": errText,
		"failed_at": "2026-11-26T21:43:52+00:00", "retry_count": 0, "dlq_type": "scrape"})
	return string(b)
}

// send makes a request with a body and content type through h.
func send(h http.Handler, method, target, ctype, body string, ctx ...context.Context) response {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if len(ctx) > 0 {
		req = req.WithContext(ctx[0])
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

// Finding 1: a single-item path the host's mux cleans (//, /./, /../) is
// redirected to the bulk route, and followed; it must never act there.
// Every entry, whatever its id, can still be retried and discarded.
func TestFinding1UncleanPathsNeverReachBulk(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		svc, requeued := counting(e)
		pushN(t, svc, dlq.Scrape, 5)
		strip := http.NewServeMux()
		strip.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(svc)))
		reg := http.NewServeMux()
		httpapi.Register(reg, "/api/v1", svc)
		for name, h := range map[string]http.Handler{"StripPrefix": strip, "Register": reg, "WithPrefix": httpapi.New(svc, httpapi.WithPrefix("/api/v1"))} {
			srv := httptest.NewServer(h)
			redirected := 0
			client := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
				redirected++
				return nil
			}}
			for _, p := range []string{"/dlq/scrape//retry", "/dlq/scrape/./retry", "/dlq/scrape/x/../retry", "/dlq/scrape/../scrape/retry",
				"/dlq/scrape//delete", "/dlq/scrape/./delete", "/dlq/scrape//retry?dry_run=false", "/dlq/scrape/./retry?rate=5"} {
				for _, ctype := range []string{"", "application/json"} {
					req, _ := http.NewRequest("POST", srv.URL+"/api/v1"+p, nil)
					if ctype != "" {
						req.Header.Set("Content-Type", ctype)
					}
					res, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 400 && res.StatusCode != 404 {
						t.Errorf("%s: POST %s (%q): %d %s", name, p, ctype, res.StatusCode, body)
					}
				}
			}
			srv.Close()
			if name != "WithPrefix" && redirected == 0 {
				t.Errorf("%s: the host's mux redirected nothing; the test does not test the finding", name)
			}
			if requeued.Load() != 0 || llen(t, e, dlq.ScrapeKey) != 5 {
				t.Fatalf("%s: unclean paths acted: %d requeued, %d left", name, requeued.Load(), llen(t, e, dlq.ScrapeKey))
			}
		}

		// Ids a mux or browser would normalise are reachable by body.
		lpushRaw(t, e, dlq.ScrapeKey, foreign(".", "dot"), foreign("..", "dotdot"), foreign("a/b", "slash"))
		h := httpapi.New(svc)
		if r := send(h, "POST", "/dlq/scrape/retry-item", "application/json", `{"id": "."}`); r.status != 200 || !strings.Contains(string(r.body), `"error":"dot"`) {
			t.Fatalf("retry-item .: %d %s", r.status, r.body)
		}
		if r := send(h, "POST", "/dlq/scrape/delete-item", "application/json", `{"id": ".."}`); r.status != 204 {
			t.Fatalf("delete-item ..: %d %s", r.status, r.body)
		}
		if r := send(h, "POST", "/dlq/scrape/delete-item", "application/json", `{"id": "a/b"}`); r.status != 204 {
			t.Fatalf("delete-item a/b: %d %s", r.status, r.body)
		}
		for _, body := range []string{`{"id": ""}`, `{}`, ``, `{"id": "x", "all": true}`, `[".."]`, `{"id": "."} {"id": "."}`} {
			if r := send(h, "POST", "/dlq/scrape/retry-item", "application/json", body); r.status != 400 {
				t.Errorf("retry-item %q: %d %s", body, r.status, r.body)
			}
		}
		if requeued.Load() != 1 || llen(t, e, dlq.ScrapeKey) != 5 {
			t.Fatalf("after the body routes: %d requeued, %d left; want 1 and the 5 first", requeued.Load(), llen(t, e, dlq.ScrapeKey))
		}
	})
}

// Finding 2: a dry run is dry whatever the content type, and a JSON
// content type with an empty body means the query.
func TestFinding2DryRunIsDry(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		svc, requeued := counting(e)
		items := pushErrs(t, svc, "GET https://a.com/p/1: 503", "GET https://a.com/p/2: 503", "GET https://a.com/p/3: 503", "tls: bad", "tls: worse", "EOF")
		h := httpapi.New(svc)
		sig := url.QueryEscape(dlq.Signature(items[0].Error))
		for _, ctype := range []string{"", "application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded"} {
			r := send(h, "POST", "/dlq/scrape/retry?dry_run=true&signature="+sig, ctype, "")
			if r.status != 200 || string(r.body) != `{"matched":3,"handled":0,"failed":0,"skipped":0}`+"\n" {
				t.Fatalf("dry run with %q: %d %s", ctype, r.status, r.body)
			}
			if r := send(h, "POST", "/dlq/scrape/retry", ctype, "  \n"); r.status != 400 {
				t.Fatalf("no filter with %q and a blank body: %d %s", ctype, r.status, r.body)
			}
		}
		if r := send(h, "POST", "/dlq/scrape/retry", "application/json", `{"all": true, "dry_run": true}`); string(r.body) != `{"matched":6,"handled":0,"failed":0,"skipped":0}`+"\n" {
			t.Fatalf("dry run by body: %s", r.body)
		}
		if r := send(h, "POST", "/dlq/scrape/retry?dry_run=true", "application/json", `{"all": true}`); r.status != 400 || !strings.Contains(r.detail(t), "not both") {
			t.Fatalf("query and body: %d %s", r.status, r.body)
		}
		if requeued.Load() != 0 || llen(t, e, dlq.ScrapeKey) != 6 {
			t.Fatalf("dry runs acted: %d requeued", requeued.Load())
		}
		// The query's filter holds with a JSON content type: 3 of 6.
		if r := send(h, "POST", "/dlq/scrape/retry?signature="+sig, "application/json", ""); string(r.body) != `{"matched":3,"handled":3,"failed":0,"skipped":0}`+"\n" {
			t.Fatalf("filtered retry with a JSON content type: %s", r.body)
		}
		if requeued.Load() != 3 || llen(t, e, dlq.ScrapeKey) != 3 {
			t.Fatalf("%d requeued, %d left; want 3 and 3", requeued.Load(), llen(t, e, dlq.ScrapeKey))
		}
	})
}

// Finding 3: unknown query parameters are 400 on every route, and change
// nothing.
func TestFinding3UnknownParameters(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		svc, requeued := counting(e)
		id := pushN(t, svc, dlq.Scrape, 2)[0].ID
		h := httpapi.New(svc)
		for _, c := range [][3]string{
			{"GET", "/dlq/?kind=scrape&page=2", ""}, {"GET", "/dlq/stats?x=1", ""}, {"GET", "/dlq/scrape?eror=upstream", ""},
			{"GET", "/dlq/scrape/info?verbose=1", ""}, {"GET", "/dlq/scrape/count?eror=x", ""}, {"GET", "/dlq/scrape/groups?cursor=5", ""},
			{"POST", "/dlq/scrape/retry?eror=upstream&dry_run=true", ""}, {"POST", "/dlq/scrape/delete?al=true", ""},
			{"POST", "/dlq/scrape/retry-item?all=true", `{"id":"` + id + `"}`}, {"POST", "/dlq/scrape/delete-item?forced=1", `{"id":"` + id + `"}`},
			{"POST", "/dlq/scrape/" + id + "/retry?all=true", ""}, {"DELETE", "/dlq/scrape/" + id + "?foce=true", ""},
			{"POST", "/dlq/scrape/" + id + "/retry?force=true", ""}, {"POST", "/dlq/scrape/retry-item?force=true", `{"id":"` + id + `"}`},
			{"DELETE", "/dlq/scrape/" + id + "?force=maybe", ""},
			{"GET", "/dlq/scrape?limit=1&limit=2", ""}, {"POST", "/dlq/scrape/retry?error=a&error=b", ""},
		} {
			ctype := ""
			if c[2] != "" {
				ctype = "application/json"
			}
			r := send(h, c[0], c[1], ctype, c[2])
			if r.status != 400 {
				t.Errorf("%s %s: %d %s, want 400", c[0], c[1], r.status, r.body)
			}
		}
		if requeued.Load() != 0 || llen(t, e, dlq.ScrapeKey) != 2 {
			t.Fatalf("requests with unknown parameters acted: %d requeued, %d left", requeued.Load(), llen(t, e, dlq.ScrapeKey))
		}
	})
}

// Finding 4: a bulk retry, like a bulk delete, needs a filter or all=true.
func TestFinding4BulkRetryNeedsAFilter(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		svc, requeued := counting(e)
		pushN(t, svc, dlq.Scrape, 3)
		h := httpapi.New(svc)
		for _, c := range [][3]string{
			{"/dlq/scrape/retry", "", ""}, {"/dlq/scrape/retry?error=", "", ""}, {"/dlq/scrape/retry?all=false", "", ""},
			{"/dlq/scrape/retry", "application/json", `{}`}, {"/dlq/scrape/retry", "application/json", `{"all": false, "rate": 5}`},
			{"/dlq/scrape/delete", "", ""}, {"/dlq/scrape/delete", "application/json", `{"dry_run": true}`},
		} {
			r := send(h, "POST", c[0], c[1], c[2])
			if r.status != 400 || !strings.Contains(r.detail(t), "all=true") {
				t.Errorf("POST %s %q: %d %s", c[0], c[2], r.status, r.body)
			}
		}
		if requeued.Load() != 0 || llen(t, e, dlq.ScrapeKey) != 3 {
			t.Fatalf("unfiltered bulk requests acted")
		}
		if r := send(h, "POST", "/dlq/scrape/retry?all=true", "", ""); string(r.body) != `{"matched":3,"handled":3,"failed":0,"skipped":0}`+"\n" {
			t.Fatalf("retry all=true: %s", r.body)
		}
	})
}

// Finding 5 (work that outlives its client): a bulk action stops when the
// client goes away.
func TestFinding5StopsWhenClientGoesAway(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx, hangUp := context.WithCancel(context.Background())
		defer hangUp()
		var requeued atomic.Int64
		svc := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(context.Context, dlq.Item) error {
			requeued.Add(1)
			hangUp() // the client goes away during the first requeue
			return nil
		})))
		pushN(t, svc, dlq.Scrape, 5)
		h := httpapi.New(svc)
		r := send(h, "POST", "/dlq/scrape/retry?all=true", "", "", ctx)
		if r.status != http.StatusServiceUnavailable || requeued.Load() != 1 || llen(t, e, dlq.ScrapeKey) != 4 {
			t.Fatalf("after the client left: %d %s, %d requeued, %d left; want 503, 1, 4", r.status, r.body, requeued.Load(), llen(t, e, dlq.ScrapeKey))
		}
		for _, target := range []string{"/dlq/", "/dlq/scrape/groups", "/dlq/scrape/count", "/dlq/scrape?error=x"} {
			if r := send(h, "GET", target, "", "", ctx); r.status != http.StatusServiceUnavailable {
				t.Errorf("GET %s after the client left: %d", target, r.status)
			}
		}
	})
}

// Finding 6: heavy routes run a few at a time and answer 503 with
// Retry-After past that, at once; light routes still answer.
func TestFinding6HeavyRoutesBounded(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		entered, release := make(chan struct{}), make(chan struct{})
		svc := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(ctx context.Context, it dlq.Item) error {
			entered <- struct{}{}
			<-release
			return nil
		})))
		pushN(t, svc, dlq.Scrape, 2)
		h := httpapi.New(svc, httpapi.WithMaxHeavy(1))
		done := make(chan response)
		go func() { done <- send(h, "POST", "/dlq/scrape/retry?all=true", "", "") }()
		<-entered // the bulk retry holds the only heavy slot
		for _, target := range []string{"/dlq/", "/dlq/scrape/groups", "/dlq/scrape/count", "/dlq/scrape?error=x"} {
			r := send(h, "GET", target, "", "")
			if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" {
				t.Errorf("GET %s while busy: %d, Retry-After %q", target, r.status, r.header.Get("Retry-After"))
			}
		}
		if r := send(h, "POST", "/dlq/scrape/delete?all=true", "", ""); r.status != http.StatusServiceUnavailable {
			t.Errorf("bulk delete while busy: %d", r.status)
		}
		for _, target := range []string{"/dlq/stats", "/dlq/scrape", "/dlq/scrape/info"} {
			if r := send(h, "GET", target, "", ""); r.status != 200 {
				t.Errorf("light GET %s while busy: %d", target, r.status)
			}
		}
		close(release)
		<-entered
		if r := <-done; string(r.body) != `{"matched":2,"handled":2,"failed":0,"skipped":0}`+"\n" {
			t.Fatalf("bulk retry: %s", r.body)
		}
		if r := send(h, "GET", "/dlq/scrape/groups", "", ""); r.status != 200 {
			t.Fatalf("groups after the slot was freed: %d", r.status)
		}
	})
}

// Finding 6: entries other programs wrote over 64 KiB are served cut, with
// their size, in JSON and on the page; groups cover the newest entries.
func TestFinding6BigEntriesCutAndGroupsBounded(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		big := strings.Repeat("é", 50<<10) // 100 KiB
		lpushRaw(t, e, dlq.ScrapeKey, foreign("big-1", big))
		huge := `{"id":"big-2","source_id":"s","job_id":null,"error":"small","failed_at":"2026-11-26T21:43:52Z","retry_count":0,"dlq_type":"scrape","blob":"` + strings.Repeat("x", 200<<10) + `"}`
		lpushRaw(t, e, dlq.ScrapeKey, huge)
		h := httpapi.New(e.svc)
		r := send(h, "GET", "/dlq/scrape", "", "")
		var items []map[string]any
		if err := json.Unmarshal(r.body, &items); err != nil || len(items) != 2 {
			t.Fatalf("list: %v %.200s", err, r.body)
		}
		if len(r.body) > 2*httpapi.MaxItemBytes {
			t.Errorf("list of two cut entries is %d bytes", len(r.body))
		}
		for _, it := range items {
			if it["truncated"] != true || it["size"].(float64) < 100<<10 || len(it["error"].(string)) > httpapi.MaxErrorBytes || it["blob"] != nil {
				t.Errorf("item %v: truncated %v, size %v, error %d bytes", it["id"], it["truncated"], it["size"], len(it["error"].(string)))
			}
		}
		if !strings.HasPrefix(big, items[1]["error"].(string)) {
			t.Error("the cut error is not a prefix of the stored one")
		}
		var gs []map[string]any
		r = send(h, "GET", "/dlq/scrape/groups", "", "")
		// The sample is cut; the signature is whole (it is the filter that
		// selects the group), and dlq.Signature bounds its length.
		if err := json.Unmarshal(r.body, &gs); err != nil || len(r.body) > 8<<10+len(dlq.Signature(big)) || r.header.Get(httpapi.ScanHeader) != "5000" {
			t.Fatalf("groups: %v, %d bytes, scan %q", err, len(r.body), r.header.Get(httpapi.ScanHeader))
		}
		cut := 0
		for _, g := range gs {
			if g["sample_truncated"] == true && g["sample_size"].(float64) == float64(len(big)) {
				cut++
			}
		}
		if cut != 1 {
			t.Errorf("groups: want one cut sample: %s", r.body)
		}
		code, page := getPage(t, h, "/dlq/")
		// The page holds the cut error twice (folded and whole) and the
		// cause four times.
		if code != 200 || strings.Count(page, "shown cut: the entry is") != 2 || len(page) > 300<<10+4*len(dlq.Signature(big)) {
			t.Errorf("page: %d, %d cut notes, %d bytes", code, strings.Count(page, "shown cut"), len(page))
		}

		// scan= bounds the groups to the newest entries.
		pushErrs(t, e.svc, "GET https://a.com/p/1: 503", "GET https://a.com/p/2: 503", "tls: handshake failure")
		r = send(h, "GET", "/dlq/scrape/groups?scan=2", "", "")
		if err := json.Unmarshal(r.body, &gs); err != nil || len(gs) != 2 || gs[0]["count"].(float64) != 1 || r.header.Get(httpapi.ScanHeader) != "2" {
			t.Fatalf("groups?scan=2: %s", r.body)
		}
		for _, bad := range []string{"0", "-1", "50001", "x", ""} {
			if r := send(h, "GET", "/dlq/scrape/groups?scan="+bad, "", ""); r.status != 400 {
				t.Errorf("scan=%s: %d", bad, r.status)
			}
		}
	})
}

// Finding 7: a long cause folds on the page, and a bulk filter of any
// length travels in a JSON body (the query answers 414 past 8 KiB).
func TestFinding7LongCauses(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		long := "upstream said: " + strings.Repeat("unavailable ", 700) // 8.4 KB of words
		svc, requeued := counting(e)
		pushErrs(t, svc, long, "other")
		h := httpapi.New(svc)
		_, page := getPage(t, h, "/dlq/")
		if !strings.Contains(page, `<details data-key="sig:`) || !strings.Contains(page, `data-action="bulk-retry" data-sig="`) {
			t.Fatal("the long cause does not fold, or its buttons lack the cause")
		}
		if r := send(h, "POST", "/dlq/scrape/retry?dry_run=true&error="+url.QueryEscape(long), "", ""); r.status != http.StatusRequestURITooLong {
			t.Fatalf("a long filter in the query: %d", r.status)
		}
		body, _ := json.Marshal(map[string]any{"signature": dlq.Signature(long)})
		if r := send(h, "POST", "/dlq/scrape/retry", "application/json", string(body)); string(r.body) != `{"matched":1,"handled":1,"failed":0,"skipped":0}`+"\n" {
			t.Fatalf("bulk retry of the long cause by body: %d %s", r.status, r.body)
		}
		body, _ = json.Marshal(map[string]any{"error": long, "dry_run": true})
		if r := send(h, "POST", "/dlq/scrape/delete", "application/json", string(body)); r.status != 200 {
			t.Fatalf("bulk delete by a long body filter: %d %s", r.status, r.body)
		}
		if requeued.Load() != 1 {
			t.Fatalf("%d requeued", requeued.Load())
		}
	})
}

// Finding 8, one case each.
func TestFinding8(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		t.Run("bad cursors are 400 everywhere", func(t *testing.T) {
			h := httpapi.New(e.svc)
			pushN(t, e.svc, dlq.Scrape, 1)
			for _, target := range []string{"/dlq/?cursor=nope", "/dlq/scrape?cursor=nope", "/dlq/scrape?cursor=nope&error=x", "/dlq/?kind=scrape&q=x&cursor=bm9wZQ"} {
				if r := send(h, "GET", target, "", ""); r.status != 400 || !strings.Contains(string(r.body), "invalid cursor") {
					t.Errorf("GET %s: %d %s", target, r.status, r.body)
				}
			}
		})
		t.Run("failed requeues are counted", func(t *testing.T) {
			svc := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(context.Context, dlq.Item) error { return errors.New("queue full") })))
			n := llen(t, e, dlq.ScrapeKey)
			pushErrs(t, svc, "f1", "f2", "f3")
			h := httpapi.New(svc)
			if r := send(h, "POST", "/dlq/scrape/retry?error=f", "", ""); string(r.body) != `{"matched":3,"handled":0,"failed":3,"skipped":0}`+"\n" {
				t.Fatalf("bulk retry with a failing requeuer: %s", r.body)
			}
			items := pushErrs(t, svc, "f4")
			r := send(h, "POST", "/dlq/scrape/retry-item", "application/json", `{"id":"`+items[0].ID+`"}`)
			if r.status != 502 || r.detail(t) != "requeue failed: queue full; the entry is still in the DLQ and can be retried again" {
				t.Fatalf("single retry: %d %s", r.status, r.body)
			}
			if llen(t, e, dlq.ScrapeKey) != n+4 {
				t.Fatal("failed retries lost entries")
			}
		})
		t.Run("redirects are relative", func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(e.svc)))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			res, err := noFollow.Get(srv.URL + "/api/v1/dlq?kind=extraction")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "dlq/?kind=extraction" {
				t.Fatalf("GET /api/v1/dlq: %d Location %q", res.StatusCode, res.Header.Get("Location"))
			}
			res, err = http.Get(srv.URL + "/api/v1/dlq")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 || res.Request.URL.Path != "/api/v1/dlq/" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("following the redirect: %d at %s", res.StatusCode, res.Request.URL.Path)
			}
		})
		t.Run("every list page sends the next cursor", func(t *testing.T) {
			h := httpapi.New(e.svc)
			ctx := context.Background()
			if err := e.Client.Del(ctx, dlq.ScrapeKey).Err(); err != nil {
				t.Fatal(err)
			}
			pushN(t, e.svc, dlq.Scrape, 5)
			seen := map[any]bool{}
			target := "/dlq/scrape?limit=2"
			for pages := 0; ; pages++ {
				r := send(h, "GET", target, "", "")
				for _, it := range decodeItems(t, r) {
					seen[it["id"]] = true
				}
				next := r.header.Get(httpapi.NextCursorHeader)
				if next == "" {
					if pages != 2 {
						t.Fatalf("%d pages, want 3", pages+1)
					}
					break
				}
				target = "/dlq/scrape?limit=2&cursor=" + url.QueryEscape(next)
			}
			if len(seen) != 5 {
				t.Fatalf("pages held %d distinct items, want 5", len(seen))
			}
		})
		t.Run("groups read as the README shows", func(t *testing.T) {
			h := httpapi.New(e.svc)
			pushErrs(t, e.svc, "GET https://shop.example/p/1: 503")
			r := send(h, "GET", "/dlq/scrape/groups", "", "")
			var gs []map[string]string
			_ = json.Unmarshal(r.body, &gs) // count is a number; the strings are what is checked
			if !strings.Contains(string(r.body), `"signature":"GET <url>: 503"`) {
				t.Fatalf("groups: %s", r.body)
			}
			for _, g := range gs {
				if !strings.HasSuffix(g["newest"], "+00:00") || !strings.HasSuffix(g["oldest"], "+00:00") {
					t.Errorf("group times %q %q", g["newest"], g["oldest"])
				}
			}
		})
		t.Run("the script is allowed by its hash", func(t *testing.T) {
			req := httptest.NewRequest("GET", "/dlq/", nil)
			rec := httptest.NewRecorder()
			httpapi.New(e.svc).ServeHTTP(rec, req)
			csp, page := rec.Header().Get("Content-Security-Policy"), rec.Body.String()
			if strings.Contains(csp, "unsafe-inline") {
				t.Fatalf("CSP allows unsafe-inline: %s", csp)
			}
			// Every script of the page (its own and the chart's), and
			// nothing else, is allowed by its hash.
			var hashes []string
			for rest := page; strings.Contains(rest, "<script>"); {
				i := strings.Index(rest, "<script>") + len("<script>")
				j := i + strings.Index(rest[i:], "</script>")
				sum := sha256.Sum256([]byte(rest[i:j]))
				hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
				rest = rest[j:]
			}
			if want := "; script-src " + strings.Join(hashes, " ") + ";"; len(hashes) != 2 || !strings.Contains(csp, want) {
				t.Fatalf("CSP %q lacks %q (%d scripts)", csp, want, len(hashes))
			}
		})
		t.Run("warnings show as a banner", func(t *testing.T) {
			h := httpapi.New(e.svc)
			if err := e.Client.Set(context.Background(), "{scrape:dlq}:evicted", "lots", 0).Err(); err != nil {
				t.Fatal(err)
			}
			defer e.Client.Del(context.Background(), "{scrape:dlq}:evicted")
			_, page := getPage(t, h, "/dlq/")
			if !strings.Contains(page, `<p class="banner" role="alert">counter {scrape:dlq}:evicted holds &#34;lots&#34;`) {
				t.Fatalf("no banner for the warning")
			}
		})
	})
}

// A retry without a Requeuer: bulk answers 409 naming dlq.WithRequeuer; a
// single retry pops and returns the item; the page hides retry and says
// why.
func TestRetryWithoutRequeuer(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		items := pushN(t, e.svc, dlq.Scrape, 2)
		h := httpapi.New(e.svc)
		for _, q := range []string{"all=true", "all=true&dry_run=true"} {
			if r := send(h, "POST", "/dlq/scrape/retry?"+q, "", ""); r.status != 409 || !strings.Contains(r.detail(t), "dlq.WithRequeuer") {
				t.Fatalf("bulk retry without a Requeuer: %d %s", r.status, r.body)
			}
		}
		if llen(t, e, dlq.ScrapeKey) != 2 {
			t.Fatal("a refused bulk retry changed the DLQ")
		}
		_, page := getPage(t, h, "/dlq/")
		if strings.Contains(page, `data-action="retry"`) || strings.Contains(page, `data-action="bulk-retry"`) ||
			!strings.Contains(page, "Retry is off: this service has no Requeuer") || !strings.Contains(page, `data-action="delete"`) {
			t.Fatal("the page offers retry without a Requeuer, or does not say why")
		}
		if !strings.Contains(page, `data-can-retry="false"`) {
			t.Fatal("the script is not told")
		}
		// retry-item answers 409 and changes nothing (it used to pop the
		// entry: nothing requeued, nothing logged)...
		r := send(h, "POST", "/dlq/scrape/retry-item", "application/json", `{"id":"`+items[0].ID+`"}`)
		if r.status != 409 || !strings.Contains(r.detail(t), "dlq.WithRequeuer") || llen(t, e, dlq.ScrapeKey) != 2 {
			t.Fatalf("single retry without a Requeuer: %d %s", r.status, r.body)
		}
		// ...while the seed's own route keeps the seed's contract: pop and
		// return the item.
		r = send(h, "POST", "/dlq/scrape/"+items[0].ID+"/retry", "", "")
		if r.status != 200 || !strings.Contains(string(r.body), items[0].ID) || llen(t, e, dlq.ScrapeKey) != 1 {
			t.Fatalf("the seed's retry route without a Requeuer: %d %s", r.status, r.body)
		}
	})
}

// A claimed entry: listed with in_flight and claimed_until, shown so on
// the page, and a second retry answers 409.
func TestClaimedEntries(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h, id, finish := claimedByARetry(t, e)
		r := send(h, "GET", "/dlq/scrape", "", "")
		if !strings.Contains(string(r.body), `"in_flight":true,"claimed_until":"`) {
			t.Errorf("list of a claimed entry: %s", r.body)
		}
		if _, page := getPage(t, h, "/dlq/"); !strings.Contains(page, "retrying · claimed until") {
			t.Error("the page does not show the claim")
		}
		if r := send(h, "POST", "/dlq/scrape/retry-item", "application/json", `{"id":"`+id+`"}`); r.status != 409 {
			t.Errorf("second retry: %d %s", r.status, r.body)
		}
		finish()
	})
}

// claimedByARetry pushes one scrape entry and starts retry-item on it
// through a handler whose Requeuer blocks; it returns when the entry is
// claimed. finish lets the Requeuer return and checks that the retry
// answered 200.
func claimedByARetry(t *testing.T, e *env) (h http.Handler, id string, finish func()) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	svc := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(context.Context, dlq.Item) error {
		entered <- struct{}{}
		<-release
		return nil
	})))
	id = pushN(t, svc, dlq.Scrape, 1)[0].ID
	h = httpapi.New(svc)
	done := make(chan response)
	go func() { done <- send(h, "POST", "/dlq/scrape/retry-item", "application/json", `{"id":"`+id+`"}`) }()
	<-entered
	return h, id, func() {
		t.Helper()
		close(release)
		if r := <-done; r.status != 200 {
			t.Fatalf("the retry holding the claim: %d %s", r.status, r.body)
		}
	}
}

// Deleting a claimed entry answers 409, unless the caller forces it:
// force=true in the query of either delete route, or "force": true in
// delete-item's body. A retry takes no force.
func TestForcedDeleteOfAClaimedEntry(t *testing.T) {
	for _, tc := range []struct {
		name         string
		method, path string // %s is the id
		body         string
	}{
		{"path", "DELETE", "/dlq/scrape/%s?force=true", ""},
		{"body", "POST", "/dlq/scrape/delete-item", `{"id":"%s","force":true}`},
		{"query", "POST", "/dlq/scrape/delete-item?force=true", `{"id":"%s"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T, e *env) {
				h, id, finish := claimedByARetry(t, e)
				ctype := ""
				if tc.body != "" {
					ctype = "application/json"
				}
				unforced := strings.NewReplacer("?force=true", "?force=false", `,"force":true`, "").Replace(tc.path + "|" + tc.body)
				upath, ubody, _ := strings.Cut(unforced, "|")
				at := func(s string) string { return strings.ReplaceAll(s, "%s", id) }
				if r := send(h, tc.method, at(upath), ctype, at(ubody)); r.status != 409 {
					t.Errorf("unforced %s %s: %d %s, want 409", tc.method, upath, r.status, r.body)
				}
				if llen(t, e, dlq.ScrapeKey) != 1 {
					t.Fatal("the unforced delete removed the claimed entry")
				}
				if r := send(h, tc.method, at(tc.path), ctype, at(tc.body)); r.status != 204 {
					t.Errorf("forced %s %s: %d %s, want 204", tc.method, tc.path, r.status, r.body)
				}
				if llen(t, e, dlq.ScrapeKey) != 0 {
					t.Error("the forced delete left the entry")
				}
				finish()
			})
		})
	}
}

// Finding 9: an ops UI on a trusted origin may act and read; kinds come
// from the Service.
func TestFinding9Mounting(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		svc := dlq.New(e.Client, dlq.WithKinds("render"))
		item, err := svc.Push(context.Background(), "render", uuid.New(), errors.New("boom"))
		if err != nil {
			t.Fatal(err)
		}
		h := httpapi.New(svc, httpapi.WithTrustedOrigins("https://ops.example.com", "not an origin"))
		if items := decodeItems(t, do(t, h, "GET", "/dlq/render")); len(items) != 1 {
			t.Fatalf("render, a kind of the Service, is not served")
		}
		post := func(origin string) *httptest.ResponseRecorder {
			req := httptest.NewRequest("POST", "http://dlq.internal/dlq/render/delete-item", strings.NewReader(`{"id":"`+item.ID+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", origin)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		if rec := post("https://evil.example"); rec.Code != 403 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("untrusted origin: %d", rec.Code)
		}
		pre := httptest.NewRequest("OPTIONS", "http://dlq.internal/dlq/render/delete-item", nil)
		pre.Header.Set("Origin", "https://ops.example.com")
		pre.Header.Set("Access-Control-Request-Method", "POST")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, pre)
		if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "https://ops.example.com" || !strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "POST") {
			t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
		}
		if rec := post("https://ops.example.com"); rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("trusted origin: %d %s", rec.Code, rec.Body)
		}
		if n := llen(t, e, "render:dlq"); n != 0 {
			t.Fatalf("%d left", n)
		}
	})
}

// A boolean parameter named without a value is 400, never false: a bare
// dry_run (as curl users write a flag) or dry_run= acted on every entry.
// (Found by a second adversarial review.)
func TestBareBooleanParameterIsRefused(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		svc, requeued := counting(e)
		pushN(t, svc, dlq.Scrape, 3)
		h := httpapi.New(svc)
		for _, target := range []string{
			"/dlq/scrape/delete?all=true&dry_run", "/dlq/scrape/delete?all=true&dry_run=",
			"/dlq/scrape/retry?all=true&dry_run", "/dlq/scrape/retry?all&error=x",
		} {
			if r := send(h, "POST", target, "", ""); r.status != 400 || !strings.Contains(r.detail(t), "must be true or false") {
				t.Errorf("POST %s: %d %s, want 400", target, r.status, r.body)
			}
		}
		if n := llen(t, e, dlq.ScrapeKey); n != 3 || requeued.Load() != 0 {
			t.Fatalf("%d of 3 left, %d requeued: a request naming dry_run acted", n, requeued.Load())
		}
	})
}

// A JSON body's key given twice, or in another case, is 400: encoding/json
// keeps the last of two and matches keys in any case, so a body naming one
// signature could delete everything. So are null for a boolean (it would
// read as false) and force in both the query and the body. (Found by the
// second and third adversarial reviews.)
func TestBodyKeysGivenTwiceOrInAnotherCase(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		items := pushErrs(t, e.svc, "GET https://a.com/p/1: 503", "tls: bad", "EOF")
		h := httpapi.New(e.svc)
		sig := strconv.Quote(dlq.Signature(items[0].Error))
		for _, c := range []struct{ path, body, detail string }{
			{"/dlq/scrape/delete", `{"all":true,"signature":` + sig + `,"signature":""}`, `key "signature" given twice`},
			{"/dlq/scrape/delete", `{"all":true,"signature":` + sig + `,"\u0073ignature":""}`, `key "signature" given twice`},
			{"/dlq/scrape/delete", `{"all":true,"signature":` + sig + `,"SIGNATURE":""}`, `unknown key "SIGNATURE"`},
			{"/dlq/scrape/delete", `{"Signature":` + sig + `}`, `unknown key "Signature"`},
			{"/dlq/scrape/delete-item", `{"id":"x","ID":"` + items[1].ID + `"}`, `unknown key "ID"`},
			{"/dlq/scrape/delete-item", `{"id":"` + items[1].ID + `","id":"` + items[2].ID + `"}`, `key "id" given twice`},
			// null leaves a bool false in encoding/json: a dry run meant must not act.
			{"/dlq/scrape/delete", `{"all":true,"dry_run":null}`, `"dry_run" must be true or false, not null`},
			{"/dlq/scrape/retry", `{"all":null,"error":"x"}`, `"all" must be true or false, not null`},
			{"/dlq/scrape/delete-item", `{"id":"` + items[1].ID + `","force":null}`, `"force" must be true or false, not null`},
			// force in the query and in the body: one of them would be overridden.
			{"/dlq/scrape/delete-item?force=false", `{"id":"` + items[1].ID + `","force":true}`, "force given in both"},
			{"/dlq/scrape/delete-item?force=true", `{"id":"` + items[1].ID + `","force":false}`, "force given in both"},
		} {
			if r := send(h, "POST", c.path, "application/json", c.body); r.status != 400 || !strings.Contains(r.detail(t), c.detail) {
				t.Errorf("POST %s %s: %d %s, want 400 saying %s", c.path, c.body, r.status, r.body, c.detail)
			}
		}
		if n := llen(t, e, dlq.ScrapeKey); n != 3 {
			t.Fatalf("%d of 3 left after refused requests", n)
		}
		// The keys as they are still work.
		if r := send(h, "POST", "/dlq/scrape/delete", "application/json", `{"signature":`+sig+`}`); r.status != 200 || llen(t, e, dlq.ScrapeKey) != 2 {
			t.Fatalf("a plain filtered delete: %d %s", r.status, r.body)
		}
	})
}

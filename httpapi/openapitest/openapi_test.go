// Package openapitest checks the handler against its OpenAPI document
// (GET /dlq/openapi.json): it validates the document, replays requests on
// every route and every status code the document names, validates each
// request and answer against it, and fails if a documented route or status
// was never exercised. It is a module of its own so that importers of dlq
// never download kin-openapi.
//
//	cd httpapi/openapitest && go test ./...
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

// The handlers are mounted under this prefix, as a host would; the
// document's relative server URL must lead there.
const (
	host   = "http://dlq.test"
	prefix = "/api/v1"
)

func init() {
	// The dashboard's page: validated as a string.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
}

// requeuer succeeds, except for entries whose error says "requeue fails"
// (an error) or "requeue blocks" (it reports the entry on started, then
// waits for release).
type requeuer struct {
	started chan string
	release chan struct{}
}

func (r *requeuer) Requeue(ctx context.Context, it dlq.Item) error {
	switch {
	case strings.Contains(it.Error, "requeue fails"):
		return fmt.Errorf("queue refused %s", it.ID)
	case strings.Contains(it.Error, "requeue blocks"):
		r.started <- it.ID
		select {
		case <-r.release:
		case <-ctx.Done():
		}
	}
	return nil
}

// reqCheck is what the document must say of a request.
type reqCheck int

const (
	reqValid     reqCheck = iota // the document accepts it
	reqInvalid                   // the document rejects it too
	reqUnchecked                 // the document cannot say (an unknown parameter, a 64 KiB body, …)
)

// call is one request and the status it must get.
type call struct {
	name          string
	h             http.Handler // mounted under prefix
	method, path  string       // path below the mount
	query         string
	body, ctype   string
	header        map[string]string
	status        int
	req           reqCheck
	checkResponse func(t *testing.T, rec *httptest.ResponseRecorder)
}

type replay struct {
	doc     *openapi3.T
	router  routers.Router
	mu      sync.Mutex
	covered map[string]bool // "METHOD /path/template STATUS"
}

func (c call) request() *http.Request {
	target := host + prefix + c.path
	if c.query != "" {
		target += "?" + c.query
	}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	r := httptest.NewRequest(c.method, target, body)
	if c.ctype != "" {
		r.Header.Set("Content-Type", c.ctype)
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	return r
}

// serve sends a call to its handler and checks the answer's status.
func (rp *replay) serve(t *testing.T, c call) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, c.request())
	if rec.Code != c.status {
		t.Errorf("%s: %s %s?%.80s: %d %.300s; want %d", c.name, c.method, c.path, c.query, rec.Code, rec.Body.String(), c.status)
	}
	return rec
}

// check validates a call's request and its answer against the document,
// and records the route and status as exercised.
func (rp *replay) check(t *testing.T, c call, rec *httptest.ResponseRecorder) {
	t.Helper()
	req := c.request()
	route, pathParams, err := rp.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s: %s %s is not in the document: %v", c.name, c.method, c.path, err)
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: opts}
	err = openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case c.req == reqValid && err != nil:
		t.Errorf("%s: the document refuses the request %s %s?%.80s: %v", c.name, c.method, c.path, c.query, err)
	case c.req == reqInvalid && err == nil:
		t.Errorf("%s: the document accepts the request %s %s?%.80s, which the handler refuses with %d", c.name, c.method, c.path, c.query, rec.Code)
	}
	in.Request = c.request() // ValidateRequest read the body
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Body:                   io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
		Options:                opts,
	})
	if err != nil {
		t.Errorf("%s: the answer to %s %s (%d %.300s) does not match the document: %v", c.name, c.method, c.path, rec.Code, rec.Body.String(), err)
	}
	if rec.Code >= 300 && rec.Code != http.StatusFound {
		if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s: error answer with Content-Type %q", c.name, ct)
		}
	}
	if c.checkResponse != nil {
		c.checkResponse(t, rec)
	}
	rp.mu.Lock()
	rp.covered[fmt.Sprintf("%s %s %d", c.method, route.Path, rec.Code)] = true
	rp.mu.Unlock()
}

func (rp *replay) run(t *testing.T, calls ...call) {
	t.Helper()
	for _, c := range calls {
		rp.check(t, c, rp.serve(t, c))
	}
}

// loadDocument fetches the document from the handler, validates it, and
// points its relative server URL at the mount, resolved as a client
// resolves it: against the document's own URL.
func loadDocument(t *testing.T, h http.Handler) *openapi3.T {
	t.Helper()
	docURL := host + prefix + "/dlq/openapi.json"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", docURL, nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET %s: %d %s", docURL, rec.Code, rec.Header().Get("Content-Type"))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the document is not valid OpenAPI 3.1: %v", err)
	}
	if len(doc.Servers) != 1 {
		t.Fatalf("servers: %d, want one relative URL", len(doc.Servers))
	}
	base, _ := url.Parse(docURL)
	rel, err := url.Parse(doc.Servers[0].URL)
	if err != nil || rel.IsAbs() || rel.Host != "" {
		t.Fatalf("server URL %q is not relative", doc.Servers[0].URL)
	}
	mount := base.ResolveReference(rel).String()
	if mount != host+prefix+"/" {
		t.Fatalf("the server URL %q resolves to %s from the document, not to the mount %s/", rel, mount, host+prefix)
	}
	doc.Servers = openapi3.Servers{{URL: strings.TrimSuffix(mount, "/")}}
	return doc
}

func mount(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
	return mux
}

// operation is one documented route, and a request to it that succeeds.
type operation struct {
	method, path string // path: the template
	good         call
	heavy        *call // a heavy request to it, for 503
}

func TestOpenAPI(t *testing.T) {
	ctx := context.Background()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	rq := &requeuer{started: make(chan string, 1), release: make(chan struct{})}
	svc := dlq.New(rdb, dlq.WithRequeuer(rq), dlq.WithKinds("render"))
	h := mount(httpapi.New(svc, httpapi.WithMaxHeavy(1)))
	noRequeuer := mount(httpapi.New(dlq.New(rdb)))
	readOnly := mount(httpapi.New(svc, httpapi.WithReadOnly()))
	// Redis gone: a server closed before any request.
	gone := miniredis.RunT(t)
	downClient := redis.NewClient(&redis.Options{Addr: gone.Addr(), MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = downClient.Close() })
	gone.Close()
	down := mount(httpapi.New(dlq.New(downClient, dlq.WithRequeuer(rq)), httpapi.WithLogger(discard())))

	doc := loadDocument(t, h)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	rp := &replay{doc: doc, router: router, covered: map[string]bool{}}

	push := func(text string) dlq.Item {
		t.Helper()
		it, err := svc.PushScrapeFailure(ctx, uuid.New(), fmt.Errorf("%s", text))
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	var plain []dlq.Item
	for i := range 12 {
		plain = append(plain, push(fmt.Sprintf("GET https://shop.example/p/%d: 503 Service Unavailable", i)))
	}
	failing := push("rabbitmq: requeue fails")
	// An entry another program wrote, over the size limits: served cut.
	big := fmt.Sprintf(`{"id":"big","source_id":"s","job_id":"j","error":%q,"failed_at":"2026-11-26T21:43:52+00:00","retry_count":2,"dlq_type":"scrape","extra":1}`,
		strings.Repeat("e", dlq.MaxErrorBytes+10))
	if err := rdb.LPush(ctx, dlq.ScrapeKey, big).Err(); err != nil {
		t.Fatal(err)
	}
	sig503 := dlq.Signature(plain[0].Error)
	// A finished operation to read, cancel (409) and resume (409).
	done, err := svc.Start(ctx, dlq.Scrape, dlq.OpDelete, dlq.Filter{ErrorContains: "no such text"})
	if err != nil {
		t.Fatal(err)
	}
	svc.Wait()
	id := func(it dlq.Item) string { b, _ := json.Marshal(map[string]string{"id": it.ID}); return string(b) }
	const js = "application/json"

	ops := []operation{
		{method: "GET", path: "/dlq", good: call{path: "/dlq", query: "kind=scrape", status: 302,
			checkResponse: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if loc := rec.Header().Get("Location"); loc != "dlq/?kind=scrape" {
					t.Errorf("redirect to %q", loc)
				}
			}}},
		{method: "GET", path: "/dlq/", good: call{path: "/dlq/", query: "kind=scrape&q=503", status: 200},
			heavy: &call{path: "/dlq/"}},
		{method: "GET", path: "/dlq/openapi.json", good: call{path: "/dlq/openapi.json", status: 200}},
		{method: "GET", path: "/dlq/stats", good: call{path: "/dlq/stats", status: 200}},
		{method: "GET", path: "/dlq/{kind}", good: call{path: "/dlq/scrape", query: "limit=2", status: 200,
			checkResponse: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if rec.Header().Get(httpapi.NextCursorHeader) == "" {
					t.Error("a first page of 2 has no DLQ-Next-Cursor")
				}
			}},
			heavy: &call{path: "/dlq/scrape", query: "error=503"}},
		{method: "GET", path: "/dlq/{kind}/info", good: call{path: "/dlq/scrape/info", status: 200}},
		{method: "GET", path: "/dlq/{kind}/count", good: call{path: "/dlq/scrape/count", query: "error=503&host=shop.example&failed_after=2020-01-01T00:00:00Z", status: 200},
			heavy: &call{path: "/dlq/scrape/count"}},
		{method: "GET", path: "/dlq/{kind}/groups", good: call{path: "/dlq/scrape/groups", query: "scan=100&limit=1&offset=0", status: 200,
			checkResponse: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if rec.Header().Get(httpapi.NextOffsetHeader) != "1" {
					t.Errorf("a first page of 1 group has DLQ-Next-Offset %q, want 1", rec.Header().Get(httpapi.NextOffsetHeader))
				}
			}},
			heavy: &call{path: "/dlq/scrape/groups"}},
		{method: "GET", path: "/dlq/{kind}/history", good: call{path: "/dlq/scrape/history", query: "window=7d", status: 200}},
		{method: "GET", path: "/dlq/{kind}/item", good: call{path: "/dlq/scrape/item", query: "id=" + plain[5].ID, status: 200},
			heavy: &call{path: "/dlq/scrape/item", query: "id=big"}},
		{method: "GET", path: "/dlq/{kind}/export", good: call{path: "/dlq/scrape/export", query: "error=503", status: 200,
			checkResponse: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if n := strings.Count(rec.Body.String(), "\n"); n != 12 || rec.Result().Trailer.Get(httpapi.ExportCountTrailer) != "12" {
					t.Errorf("export of error=503: %d lines, trailer %q", n, rec.Result().Trailer.Get(httpapi.ExportCountTrailer))
				}
			}},
			heavy: &call{path: "/dlq/scrape/export"}},
		{method: "POST", path: "/dlq/{kind}/retry-item", good: call{path: "/dlq/scrape/retry-item", body: id(plain[1]), ctype: js, status: 200}},
		{method: "POST", path: "/dlq/{kind}/delete-item", good: call{path: "/dlq/scrape/delete-item", body: id(plain[2]), ctype: js, status: 204}},
		{method: "POST", path: "/dlq/{kind}/{id}/retry", good: call{path: "/dlq/scrape/" + plain[3].ID + "/retry", status: 200}},
		{method: "DELETE", path: "/dlq/{kind}/{id}", good: call{path: "/dlq/scrape/" + plain[4].ID, status: 204}},
		{method: "POST", path: "/dlq/{kind}/retry", good: call{path: "/dlq/scrape/retry", query: "signature=" + url.QueryEscape(sig503) + "&dry_run=true", status: 200},
			heavy: &call{path: "/dlq/scrape/retry", query: "all=true&dry_run=true"}},
		{method: "POST", path: "/dlq/{kind}/delete", good: call{path: "/dlq/scrape/delete", body: `{"error":"no such text","failed_before":"2030-01-01T00:00:00Z"}`, ctype: js, status: 200},
			heavy: &call{path: "/dlq/scrape/delete", query: "all=true&dry_run=true"}},
		{method: "GET", path: "/dlq/{kind}/ops", good: call{path: "/dlq/scrape/ops", query: "limit=5", status: 200}},
		{method: "GET", path: "/dlq/{kind}/ops/{op}", good: call{path: "/dlq/scrape/ops/" + done.ID, status: 200}},
		{method: "DELETE", path: "/dlq/{kind}/ops/{op}", good: call{path: "/dlq/scrape/ops/" + done.ID, query: "reason=stop", status: 409}},
		{method: "POST", path: "/dlq/{kind}/ops/{op}/resume", good: call{path: "/dlq/scrape/ops/" + done.ID + "/resume", status: 409}},
		{method: "GET", path: "/dlq/{kind}/audit", good: call{path: "/dlq/scrape/audit", query: "limit=5&action=op_start", status: 200}},
	}
	for i := range ops {
		o := &ops[i]
		o.good.name, o.good.h, o.good.method = o.method+" "+o.path, h, o.method
		if o.heavy != nil {
			o.heavy.name, o.heavy.h, o.heavy.method, o.heavy.status = o.good.name+" while busy", h, o.method, 503
		}
	}
	// Every operation of the document has a request here, and no other.
	var documented []string
	for p, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+p)
		}
	}
	var listed []string
	for _, o := range ops {
		listed = append(listed, o.method+" "+o.path)
	}
	slices.Sort(documented)
	slices.Sort(listed)
	if !slices.Equal(documented, listed) {
		t.Fatalf("documented operations:\n%s\nreplayed:\n%s", strings.Join(documented, "\n"), strings.Join(listed, "\n"))
	}

	t.Run("successes", func(t *testing.T) {
		for _, o := range ops {
			rp.run(t, o.good)
		}
		rp.run(t,
			call{name: "list page 2", h: h, method: "GET", path: "/dlq/scrape", query: "limit=1000&error=503", status: 200},
			call{name: "history default window", h: h, method: "GET", path: "/dlq/scrape/history", status: 200},
			call{name: "bulk retry by JSON body", h: h, method: "POST", path: "/dlq/scrape/retry", body: `{"signature":` + jsonString(sig503) + `,"rate":1000}`, ctype: js, status: 200,
				checkResponse: func(t *testing.T, rec *httptest.ResponseRecorder) {
					var res dlq.BulkResult
					if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.Handled == 0 || res.Handled != res.Matched {
						t.Errorf("bulk retry: %s", rec.Body)
					}
				}},
			call{name: "bulk retry with failing requeues", h: h, method: "POST", path: "/dlq/scrape/retry", query: "error=requeue+fails", status: 200},
			call{name: "retry-item without a Requeuer changes nothing", h: noRequeuer, method: "POST", path: "/dlq/scrape/retry-item", body: `{"id":"big"}`, ctype: js, status: 409},
		)
	})

	t.Run("derived errors", func(t *testing.T) {
		long := "error=" + strings.Repeat("x", 8<<10)
		for _, o := range ops {
			g := o.good
			with := func(name string, f func(c *call)) call {
				c := g
				c.name, c.checkResponse = g.name+": "+name, nil
				f(&c)
				return c
			}
			documents := func(status int) bool {
				return doc.Paths.Find(o.path).GetOperation(o.method).Responses.Status(status) != nil
			}
			var calls []call
			calls = append(calls, with("query over 8 KiB", func(c *call) { c.query, c.status, c.req = long, 414, reqUnchecked }))
			if documents(400) {
				calls = append(calls, with("unknown parameter", func(c *call) { c.query, c.status, c.req = "bogus=1", 400, reqUnchecked }))
			}
			if documents(404) {
				calls = append(calls, with("unknown kind", func(c *call) {
					c.status = 404
					if strings.Contains(o.path, "{kind}") {
						c.path = strings.Replace(c.path, "/scrape", "/nope", 1)
					} else {
						c.query = "kind=nope"
					}
				}))
			}
			if documents(500) {
				calls = append(calls, with("Redis down", func(c *call) {
					c.h, c.status = down, 500
					if o.path == "/dlq/{kind}/retry" || o.path == "/dlq/{kind}/delete" {
						c.query, c.body, c.ctype = "all=true", "", ""
					}
				}))
			}
			if documents(403) {
				calls = append(calls,
					with("cross-site", func(c *call) { c.header, c.status = map[string]string{"Sec-Fetch-Site": "cross-site"}, 403 }),
					with("read-only", func(c *call) { c.h, c.status = readOnly, 403 }))
			}
			if documents(413) {
				calls = append(calls, with("body over 64 KiB", func(c *call) {
					c.query, c.body, c.ctype, c.status, c.req = "", `{"id":"`+strings.Repeat("x", 64<<10)+`"}`, js, 413, reqInvalid
					if !strings.HasSuffix(o.path, "-item") {
						c.body, c.req = `{"signature":"`+strings.Repeat("x", 64<<10)+`"}`, reqUnchecked
					}
				}))
			}
			if documents(415) {
				calls = append(calls, with("body not JSON", func(c *call) {
					c.query, c.body, c.ctype, c.status, c.req = "", "id=1", "application/x-www-form-urlencoded", 415, reqInvalid
				}))
			}
			rp.run(t, calls...)
		}
	})

	t.Run("specific errors", func(t *testing.T) {
		rp.run(t,
			call{name: "limit 0", h: h, method: "GET", path: "/dlq/scrape", query: "limit=0", status: 400, req: reqInvalid},
			call{name: "bad cursor", h: h, method: "GET", path: "/dlq/scrape", query: "cursor=nonsense", status: 400, req: reqUnchecked},
			call{name: "bad time", h: h, method: "GET", path: "/dlq/scrape/count", query: "failed_after=yesterday", status: 400, req: reqInvalid},
			call{name: "scan 0", h: h, method: "GET", path: "/dlq/scrape/groups", query: "scan=0", status: 400, req: reqInvalid},
			call{name: "groups limit 0", h: h, method: "GET", path: "/dlq/scrape/groups", query: "limit=0", status: 400, req: reqInvalid},
			call{name: "window 2h", h: h, method: "GET", path: "/dlq/scrape/history", query: "window=2h", status: 400, req: reqInvalid},
			call{name: "dashboard filter over 1 KiB", h: h, method: "GET", path: "/dlq/", query: "q=" + strings.Repeat("x", 1025), status: 400, req: reqInvalid},
			call{name: "retry-item without id", h: h, method: "POST", path: "/dlq/scrape/retry-item", body: `{}`, ctype: js, status: 400, req: reqInvalid},
			call{name: "retry-item id over 256 bytes", h: h, method: "POST", path: "/dlq/scrape/retry-item", body: `{"id":"` + strings.Repeat("x", 257) + `"}`, ctype: js, status: 400, req: reqInvalid},
			call{name: "delete-item unknown key", h: h, method: "POST", path: "/dlq/scrape/delete-item", body: `{"id":"x","forced":true}`, ctype: js, status: 400, req: reqInvalid},
			call{name: "retry-item with force", h: h, method: "POST", path: "/dlq/scrape/retry-item", body: `{"id":"x","force":true}`, ctype: js, status: 400, req: reqUnchecked},
			call{name: "retry by path with force", h: h, method: "POST", path: "/dlq/scrape/x/retry", query: "force=true", status: 400, req: reqUnchecked},
			call{name: "delete force not a boolean", h: h, method: "DELETE", path: "/dlq/scrape/x", query: "force=yes", status: 400, req: reqInvalid},
			call{name: "bulk without filter", h: h, method: "POST", path: "/dlq/scrape/delete", status: 400, req: reqUnchecked},
			call{name: "bulk filter in query and body", h: h, method: "POST", path: "/dlq/scrape/delete", query: "error=x", body: `{"error":"x"}`, ctype: js, status: 400, req: reqUnchecked},
			call{name: "bulk rate negative", h: h, method: "POST", path: "/dlq/scrape/retry", query: "all=true&rate=-1", status: 400, req: reqInvalid},
			call{name: "item without id", h: h, method: "GET", path: "/dlq/scrape/item", status: 400, req: reqInvalid},
			call{name: "item no such entry", h: h, method: "GET", path: "/dlq/scrape/item", query: "id=019ac4b2-6f0e-7c3a-9a4e-52a0d7f1f7a1", status: 404},
			call{name: "export bad time", h: h, method: "GET", path: "/dlq/scrape/export", query: "failed_after=yesterday", status: 400, req: reqInvalid},
			call{name: "retry-item no such entry", h: h, method: "POST", path: "/dlq/scrape/retry-item", body: `{"id":"missing"}`, ctype: js, status: 404},
			call{name: "delete-item no such entry", h: h, method: "POST", path: "/dlq/scrape/delete-item", body: `{"id":"missing"}`, ctype: js, status: 404},
			call{name: "retry by path no such entry", h: h, method: "POST", path: "/dlq/scrape/missing/retry", status: 404},
			call{name: "delete by path no such entry", h: h, method: "DELETE", path: "/dlq/scrape/missing", status: 404},
			call{name: "bulk retry without a Requeuer", h: noRequeuer, method: "POST", path: "/dlq/scrape/retry", query: "all=true", status: 409},
			call{name: "retry-item, requeue fails", h: h, method: "POST", path: "/dlq/scrape/retry-item", body: id(failing), ctype: js, status: 502},
			call{name: "retry by path, requeue fails", h: h, method: "POST", path: "/dlq/scrape/" + failing.ID + "/retry", status: 502},
		)
	})

	t.Run("keys other programs wrote", func(t *testing.T) {
		// The document must accept an item as the server serves it: with
		// the keys another program wrote, kept (a strict client generated
		// from it would refuse real answers otherwise).
		other := `{"id":"019ac4b2-6f0e-7c3a-9a4e-52a0d7f1f7a1","source_id":"s","job_id":null,"error":"boom","failed_at":"2026-11-26T21:43:52+00:00","retry_count":0,"dlq_type":"render","attempt_host":"worker-3"}`
		if err := rdb.LPush(ctx, "render:dlq", other).Err(); err != nil {
			t.Fatal(err)
		}
		kept := func(t *testing.T, rec *httptest.ResponseRecorder) {
			if !strings.Contains(rec.Body.String(), `"attempt_host":"worker-3"`) {
				t.Errorf("the other program's key is not served: %s", rec.Body.String())
			}
		}
		rp.run(t,
			call{name: "list with an unknown key", h: h, method: "GET", path: "/dlq/render", status: 200, checkResponse: kept},
			call{name: "item with an unknown key", h: h, method: "GET", path: "/dlq/render/item", query: "id=019ac4b2-6f0e-7c3a-9a4e-52a0d7f1f7a1", status: 200, checkResponse: kept},
		)
	})

	// hold starts a request whose Requeuer blocks, waits until it does,
	// runs calls meanwhile, then lets it finish and checks it.
	hold := func(t *testing.T, holder call, calls ...call) {
		t.Helper()
		done := make(chan *httptest.ResponseRecorder)
		go func() {
			rec := httptest.NewRecorder()
			holder.h.ServeHTTP(rec, holder.request())
			done <- rec
		}()
		select {
		case <-rq.started:
		case rec := <-done:
			t.Fatalf("%s answered %d %s before its Requeuer ran", holder.name, rec.Code, rec.Body)
		}
		for _, c := range calls {
			rp.check(t, c, rp.serve(t, c))
		}
		rq.release <- struct{}{}
		rec := <-done
		if rec.Code != holder.status {
			t.Fatalf("%s: %d %s", holder.name, rec.Code, rec.Body)
		}
		rp.check(t, holder, rec)
	}

	t.Run("claimed entries: 409", func(t *testing.T) {
		claimed := push("renderer: requeue blocks")
		hold(t, call{name: "retry-item holding a claim", h: h, method: "POST", path: "/dlq/scrape/retry-item", body: id(claimed), ctype: js, status: 200},
			call{name: "retry-item of a claimed entry", h: h, method: "POST", path: "/dlq/scrape/retry-item", body: id(claimed), ctype: js, status: 409},
			call{name: "delete-item of a claimed entry", h: h, method: "POST", path: "/dlq/scrape/delete-item", body: id(claimed), ctype: js, status: 409},
			call{name: "retry by path of a claimed entry", h: h, method: "POST", path: "/dlq/scrape/" + claimed.ID + "/retry", status: 409},
			call{name: "delete by path of a claimed entry", h: h, method: "DELETE", path: "/dlq/scrape/" + claimed.ID, status: 409},
			call{name: "list with a claimed entry", h: h, method: "GET", path: "/dlq/scrape", query: "limit=1", status: 200,
				checkResponse: func(t *testing.T, rec *httptest.ResponseRecorder) {
					if !strings.Contains(rec.Body.String(), `"in_flight":true,"claimed_until":"`) {
						t.Errorf("the claimed entry is listed as %s", rec.Body)
					}
				}},
			call{name: "delete-item of a claimed entry, forced", h: h, method: "POST", path: "/dlq/scrape/delete-item", body: `{"id":"` + claimed.ID + `","force":true}`, ctype: js, status: 204},
		)
		again := push("renderer: requeue blocks")
		hold(t, call{name: "retry-item holding a claim", h: h, method: "POST", path: "/dlq/scrape/retry-item", body: id(again), ctype: js, status: 200},
			call{name: "delete by path of a claimed entry, forced", h: h, method: "DELETE", path: "/dlq/scrape/" + again.ID, query: "force=true", status: 204},
		)
	})

	t.Run("operations: 202 and 200", func(t *testing.T) {
		rp.run(t,
			call{name: "async delete", h: h, method: "POST", path: "/dlq/scrape/delete", query: "error=no+such+text&async=true&reason=tidy", status: 202},
			call{name: "async retry", h: h, method: "POST", path: "/dlq/scrape/retry", body: `{"error":"no such text","async":true,"reason":"redrive"}`, ctype: js, status: 202},
		)
		svc.Wait()
		for range 3 {
			push("ops: paced")
		}
		paced, err := svc.Start(ctx, dlq.Scrape, dlq.OpDelete, dlq.Filter{ErrorContains: "no such text"}, dlq.WithRate(0.5))
		if err != nil {
			t.Fatal(err)
		}
		rp.run(t, call{name: "cancel a running op", h: h, method: "DELETE", path: "/dlq/scrape/ops/" + paced.ID, status: 200})
		svc.Wait()
		stopped, stop := context.WithCancel(ctx)
		op, err := svc.Start(stopped, dlq.Scrape, dlq.OpRetry, dlq.Filter{ErrorContains: "ops: paced"}, dlq.WithRate(0.5))
		if err != nil {
			t.Fatal(err)
		}
		stop()
		svc.Wait()
		rp.run(t, call{name: "resume an interrupted op", h: h, method: "POST", path: "/dlq/scrape/ops/" + op.ID + "/resume", status: 202})
		if _, err := svc.Cancel(ctx, dlq.Scrape, op.ID); err != nil {
			t.Fatal(err)
		}
		svc.Wait()
	})

	t.Run("busy: 503", func(t *testing.T) {
		push("renderer: requeue blocks")
		var calls []call
		for _, o := range ops {
			if o.heavy != nil {
				calls = append(calls, *o.heavy)
			}
		}
		for i := range calls {
			calls[i].checkResponse = func(t *testing.T, rec *httptest.ResponseRecorder) {
				if rec.Header().Get("Retry-After") != "1" {
					t.Errorf("503 with Retry-After %q", rec.Header().Get("Retry-After"))
				}
			}
		}
		hold(t, call{name: "bulk retry holding the heavy slot", h: h, method: "POST", path: "/dlq/scrape/retry", query: "error=requeue+blocks", status: 200}, calls...)
	})

	t.Run("405 on every path", func(t *testing.T) {
		schema := doc.Components.Responses["MethodNotAllowed"].Value.Content.Get("application/json").Schema.Value
		for p := range doc.Paths.Map() {
			concrete := strings.NewReplacer("{kind}", "scrape", "{id}", "some-id").Replace(p)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("PUT", host+prefix+concrete, nil))
			want := allowed(doc, concrete)
			if rec.Code != 405 || rec.Header().Get("Allow") != want {
				t.Errorf("PUT %s: %d, Allow %q; the document's methods for it: %q", concrete, rec.Code, rec.Header().Get("Allow"), want)
			}
			var body any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if err := schema.VisitJSON(body, openapi3.EnableJSONSchema2020()); err != nil {
				t.Errorf("PUT %s: %s: %v", concrete, rec.Body, err)
			}
			rp.covered["PUT "+p+" 405"] = true
		}
	})

	// Every status the document names on every operation was exercised,
	// and 405 on every path.
	var missing []string
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				if !rp.covered[method+" "+p+" "+status] {
					missing = append(missing, method+" "+p+" "+status)
				}
			}
		}
		if !rp.covered["PUT "+p+" 405"] {
			missing = append(missing, "PUT "+p+" 405")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented but never exercised:\n%s", strings.Join(missing, "\n"))
	}
	t.Logf("%d documented (operation, status) pairs exercised and validated", len(rp.covered))
}

// allowed is the Allow header a concrete path must get: the methods of
// every documented path it matches, HEAD with GET, sorted.
//
// As OpenAPI matches paths, a template with fewer parameters wins:
// /dlq/scrape/retry is /dlq/{kind}/retry, never /dlq/{kind}/{id}.
func allowed(doc *openapi3.T, concrete string) string {
	set := map[string]bool{}
	segs := strings.Split(concrete, "/")
	fewest := -1
	for p := range doc.Paths.Map() {
		if n := strings.Count(p, "{"); matches(p, segs) && (fewest < 0 || n < fewest) {
			fewest = n
		}
	}
	for p, item := range doc.Paths.Map() {
		if strings.Count(p, "{") != fewest {
			continue
		}
		if !matches(p, segs) {
			continue
		}
		for method := range item.Operations() {
			set[method] = true
			if method == "GET" {
				set["HEAD"] = true
			}
		}
	}
	var ms []string
	for m := range set {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return strings.Join(ms, ", ")
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// matches reports whether the path template p matches the segments of a
// concrete path.
func matches(p string, segs []string) bool {
	ps := strings.Split(p, "/")
	if len(ps) != len(segs) {
		return false
	}
	for i := range ps {
		if ps[i] != segs[i] && !(strings.HasPrefix(ps[i], "{") && segs[i] != "") {
			return false
		}
	}
	return true
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
	"github.com/dlqkit/dlq/internal/dlqtest"
)

// testDB is this package's database on a real Redis.
const testDB = 10

type env struct {
	*dlqtest.Backend
	svc  *dlq.Service
	logs *dlqtest.LogBuffer
}

func run(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	dlqtest.ForEach(t, testDB, []string{"scrape", "extraction", "render"}, func(t *testing.T, b *dlqtest.Backend) {
		fn(t, &env{Backend: b, svc: dlq.New(b.Client), logs: &dlqtest.LogBuffer{}})
	})
}

// mounts are the ways a host mounts the handler; each is tested with every
// route.
func mounts(e *env) map[string]struct {
	h      http.Handler
	prefix string
} {
	logger := slog.New(slog.NewTextHandler(e.logs, nil))
	std := http.NewServeMux()
	std.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(e.svc, httpapi.WithLogger(logger))))
	reg := http.NewServeMux()
	httpapi.Register(reg, "/ops/queues/", e.svc, httpapi.WithLogger(logger))
	return map[string]struct {
		h      http.Handler
		prefix string
	}{
		"StripPrefix /api/v1":  {std, "/api/v1"},
		"WithPrefix /admin":    {httpapi.New(e.svc, httpapi.WithPrefix("/admin"), httpapi.WithLogger(logger)), "/admin"},
		"Register /ops/queues": {reg, "/ops/queues"},
		"root":                 {httpapi.New(e.svc, httpapi.WithLogger(logger)), ""},
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, h http.Handler, method, target string) response {
	t.Helper()
	return doCtx(t, context.Background(), h, method, target)
}

func doCtx(t *testing.T, ctx context.Context, h http.Handler, method, target string) response {
	t.Helper()
	req := httptest.NewRequestWithContext(ctx, method, target, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s %s: Content-Type %q", method, target, ct)
	}
	if !json.Valid(body) {
		t.Errorf("%s %s: body is not JSON: %s", method, target, body)
	}
	return response{res.StatusCode, res.Header, body}
}

func (r response) detail(t *testing.T) string {
	t.Helper()
	var e map[string]string
	if err := json.Unmarshal(r.body, &e); err != nil || len(e) != 1 || e["detail"] == "" {
		t.Fatalf("error body %s is not {\"detail\": ...}", r.body)
	}
	return e["detail"]
}

func pushN(t *testing.T, svc *dlq.Service, k dlq.Kind, n int) []dlq.Item {
	t.Helper()
	var out []dlq.Item
	for i := range n {
		it, err := svc.Push(context.Background(), k, uuid.New(), fmt.Errorf("GET https://a.example/p/%d: 503", i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}

func TestRoutes(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for name, m := range mounts(e) {
			t.Run(name, func(t *testing.T) {
				if err := dlqtest.Clean(context.Background(), e.Client, "scrape", "extraction"); err != nil {
					t.Fatal(err)
				}
				p := m.prefix
				// Empty DLQ: zero counts and [] (never null).
				if r := do(t, m.h, "GET", p+"/dlq/stats"); r.status != 200 || string(r.body) != `{"scrape":0,"extraction":0}`+"\n" {
					t.Fatalf("stats of an empty DLQ: %d %s", r.status, r.body)
				}
				for _, k := range []string{"scrape", "extraction"} {
					if r := do(t, m.h, "GET", p+"/dlq/"+k); r.status != 200 || string(r.body) != "[]\n" {
						t.Fatalf("list of empty %s: %d %s", k, r.status, r.body)
					}
				}

				scrape := pushN(t, e.svc, dlq.Scrape, 3)
				ext := pushN(t, e.svc, dlq.Extraction, 1)

				r := do(t, m.h, "GET", p+"/dlq/stats")
				var st map[string]int64
				if err := json.Unmarshal(r.body, &st); err != nil || r.status != 200 || len(st) != 2 || st["scrape"] != 3 || st["extraction"] != 1 {
					t.Fatalf("stats: %d %s", r.status, r.body)
				}

				r = do(t, m.h, "GET", p+"/dlq/scrape?limit=2")
				items := decodeItems(t, r)
				if r.status != 200 || len(items) != 2 || items[0]["id"] != scrape[2].ID || items[1]["id"] != scrape[1].ID {
					t.Fatalf("list limit=2: %d %s", r.status, r.body)
				}
				if r := do(t, m.h, "GET", p+"/dlq/extraction"); len(decodeItems(t, r)) != 1 {
					t.Fatalf("list extraction: %s", r.body)
				}

				r = do(t, m.h, "POST", p+"/dlq/scrape/"+scrape[1].ID+"/retry")
				var got dlq.Item
				if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 || got.ID != scrape[1].ID || got.Error != scrape[1].Error || !got.FailedAt.Equal(scrape[1].FailedAt) {
					t.Fatalf("retry: %d %s", r.status, r.body)
				}
				if r := do(t, m.h, "POST", p+"/dlq/scrape/"+scrape[1].ID+"/retry"); r.status != 404 || r.detail(t) != "item not found" {
					t.Fatalf("second retry: %d %s", r.status, r.body)
				}
				if r := do(t, m.h, "POST", p+"/dlq/scrape/"+ext[0].ID+"/retry"); r.status != 404 {
					t.Fatalf("retry of an extraction id as scrape: %d %s", r.status, r.body)
				}
				if r := do(t, m.h, "POST", p+"/dlq/extraction/"+ext[0].ID+"/retry"); r.status != 200 {
					t.Fatalf("retry extraction: %d %s", r.status, r.body)
				}
				if r := do(t, m.h, "GET", p+"/dlq/scrape?limit=1000"); len(decodeItems(t, r)) != 2 {
					t.Fatalf("after retry: %s", r.body)
				}
			})
		}
	})
}

// decodeItems decodes a list answer and checks each item has exactly the
// seven wire keys.
func decodeItems(t *testing.T, r response) []map[string]any {
	t.Helper()
	var items []map[string]any
	if err := json.Unmarshal(r.body, &items); err != nil {
		t.Fatalf("list body %s: %v", r.body, err)
	}
	want := "dlq_type error failed_at id job_id retry_count source_id"
	for _, it := range items {
		var keys []string
		for k := range it {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if got := strings.Join(keys, " "); got != want {
			t.Errorf("item keys %q, want %q", got, want)
		}
	}
	return items
}

func TestInfo(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		svc := dlq.New(e.Client, dlq.WithMaxItems(2))
		pushN(t, svc, dlq.Scrape, 5)
		h := httpapi.New(svc)
		r := do(t, h, "GET", "/dlq/scrape/info")
		var info dlq.Info
		if err := json.Unmarshal(r.body, &info); err != nil || r.status != 200 {
			t.Fatalf("info: %d %s", r.status, r.body)
		}
		if info.Kind != dlq.Scrape || info.Length != 2 || info.Evicted != 3 || info.Pushed != 5 || info.MaxItems != 2 || info.InFlight != 0 {
			t.Fatalf("info = %+v", info)
		}
		// The seed's stats answer keeps exactly its two keys.
		if r := do(t, h, "GET", "/dlq/stats"); string(r.body) != `{"scrape":2,"extraction":0}`+"\n" {
			t.Fatalf("stats: %s", r.body)
		}
		if r := do(t, h, "GET", "/dlq/nope/info"); r.status != 404 {
			t.Fatalf("info of an unknown kind: %d", r.status)
		}
	})
}

func TestDefaultLimit(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pipe := e.Client.Pipeline()
		for i := range dlq.DefaultLimit + 5 {
			pipe.LPush(ctx, dlq.ScrapeKey, fmt.Sprintf(`{"id": "py-%d", "failed_at": "2026-11-26T21:43:52Z", "dlq_type": "scrape"}`, i))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		h := httpapi.New(e.svc)
		items := decodeItems(t, do(t, h, "GET", "/dlq/scrape"))
		if len(items) != dlq.DefaultLimit || items[0]["id"] != fmt.Sprintf("py-%d", dlq.DefaultLimit+4) {
			t.Fatalf("default limit gave %d items starting at %v", len(items), items[0]["id"])
		}
	})
}

func TestBadRequests(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		pushN(t, e.svc, dlq.Scrape, 1)
		h := httpapi.New(e.svc)
		cases := []struct {
			method, target string
			status         int
			allow          string
		}{
			{"GET", "/dlq/scrape?limit=abc", 400, ""},
			{"GET", "/dlq/scrape?limit=0", 400, ""},
			{"GET", "/dlq/scrape?limit=-1", 400, ""},
			{"GET", "/dlq/scrape?limit=100000", 400, ""},
			{"GET", "/dlq/scrape?limit=1.5", 400, ""},
			{"GET", "/dlq/scrape?limit=", 400, ""},
			{"GET", "/dlq/scrape?limit=1&limit=2", 400, ""},
			{"GET", "/dlq/scrape?limit=99999999999999999999999", 400, ""},
			{"GET", "/dlq/render", 404, ""},
			{"POST", "/dlq/render/x/retry", 404, ""},
			{"POST", "/dlq/scrape/" + strings.Repeat("x", dlq.MaxIDLen+1) + "/retry", 400, ""},
			{"POST", "/dlq/scrape/a%2Fb/retry", 404, ""},
			{"GET", "/nope", 404, ""},
			{"GET", "/dlq/scrape/x/y", 404, ""},
			{"POST", "/dlq/stats", 405, "GET, HEAD"},
			{"DELETE", "/dlq/scrape", 405, "GET, HEAD"},
			{"GET", "/dlq/scrape/x/retry", 405, "POST"},
			// An empty id must not become POST /dlq/scrape/retry, a bulk
			// retry of everything, by the mux's redirect to the clean path.
			{"POST", "/dlq/scrape//retry", 404, ""},
			{"GET", "/dlq/./stats", 404, ""},
			{"GET", "/dlq/scrape?error=" + strings.Repeat("x", 9000), 414, ""},
			{"GET", "/dlq/scrape?error=%ff", 400, ""},
			{"GET", "/dlq/scrape?%zz", 400, ""},
		}
		for _, c := range cases {
			r := do(t, h, c.method, c.target)
			if r.status != c.status {
				t.Errorf("%s %s: %d %s, want %d", c.method, c.target, r.status, r.body, c.status)
				continue
			}
			d := r.detail(t)
			if c.status == 400 && strings.Contains(c.target, "limit") && !strings.Contains(c.target, "&limit") && d != "limit must be an integer from 1 to 1000" {
				t.Errorf("%s %s: detail %q", c.method, c.target, d)
			}
			if got := r.header.Get("Allow"); got != c.allow {
				t.Errorf("%s %s: Allow %q, want %q", c.method, c.target, got, c.allow)
			}
		}
		if n, _ := e.Client.LLen(context.Background(), dlq.ScrapeKey).Result(); n != 1 {
			t.Errorf("bad requests changed the DLQ: %d entries, want 1", n)
		}
	})
}

func TestExtraKind(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		render := pushN(t, e.svc, "render", 1)
		h := httpapi.New(e.svc, httpapi.WithKinds("render", "bad{kind}"))
		if items := decodeItems(t, do(t, h, "GET", "/dlq/render")); len(items) != 1 || items[0]["dlq_type"] != "render" {
			t.Fatalf("render list: %v", items)
		}
		if r := do(t, h, "POST", "/dlq/render/"+render[0].ID+"/retry"); r.status != 200 {
			t.Fatalf("render retry: %d %s", r.status, r.body)
		}
	})
}

func TestRedisDown(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		c := e.Down(t)
		addr := c.Options().Addr
		logs := &dlqtest.LogBuffer{}
		h := httpapi.New(dlq.New(c), httpapi.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
		for _, rt := range [][2]string{{"GET", "/dlq/stats"}, {"GET", "/dlq/scrape"}, {"GET", "/dlq/scrape/info"}, {"POST", "/dlq/scrape/" + uuid.NewString() + "/retry"}} {
			r := do(t, h, rt[0], rt[1])
			if r.status != 500 || r.detail(t) != "Redis is unavailable (connection refused); the cause is in the server log" {
				t.Errorf("%s %s with Redis down: %d %s", rt[0], rt[1], r.status, r.body)
			}
			if strings.Contains(string(r.body), "127.0.0.1") || strings.Contains(string(r.body), "dial") {
				t.Errorf("body leaks internals: %s", r.body)
			}
		}
		if n := strings.Count(logs.String(), "request failed"); n != 4 || !strings.Contains(logs.String(), addr) {
			t.Errorf("want 4 logged failures naming the cause:\n%s", logs)
		}
		// A browser opening the dashboard gets a page saying so, not JSON.
		req := httptest.NewRequest("GET", "/dlq/", nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if body := rec.Body.String(); rec.Code != 500 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "Redis is unavailable (connection refused)") || strings.Contains(body, `{"detail"`) || strings.Contains(body, addr) {
			t.Errorf("dashboard with Redis down: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), body)
		}
		// A script asking for JSON still gets JSON.
		if r := do(t, h, "GET", "/dlq/"); r.status != 500 || !strings.HasPrefix(r.detail(t), "Redis is unavailable") {
			t.Errorf("dashboard as JSON with Redis down: %d %s", r.status, r.body)
		}
	})
}

func TestClientHangUpCancelsRedisCall(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h := httpapi.New(e.svc, httpapi.WithLogger(slog.New(slog.NewTextHandler(e.logs, nil))))
		id := pushN(t, e.svc, dlq.Scrape, 1)[0].ID
		r := doCtx(t, ctx, h, "POST", "/dlq/scrape/"+id+"/retry")
		if r.status != http.StatusServiceUnavailable || !strings.Contains(e.logs.String(), "context canceled") {
			t.Fatalf("cancelled request: %d %s, logs:\n%s", r.status, r.body, e.logs)
		}
		if n, _ := e.Client.LLen(context.Background(), dlq.ScrapeKey).Result(); n != 1 {
			t.Fatal("a cancelled retry popped the entry")
		}
		if _, err := e.svc.Pop(context.Background(), dlq.Scrape, id); errors.Is(err, dlq.ErrNotFound) {
			t.Fatal("entry lost")
		}
	})
}

// The newcomer's traps of issue 20, item 4: a wrong type in a body names
// the key (not bulkRequest.dry_run), info's oldest is written as items'
// failed_at, and GET of a POST-only route lists only POST.
func TestNewcomerWireTraps(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		items := pushN(t, e.svc, dlq.Scrape, 2)
		h := httpapi.New(e.svc)
		for _, c := range []struct{ path, body, detail string }{
			{"/dlq/scrape/delete", `{"all":true,"dry_run":"true"}`, "invalid JSON body: dry_run must be a boolean (true or false), not string"},
			{"/dlq/scrape/retry", `{"source_id":5}`, "invalid JSON body: source_id must be a string, not number"},
			{"/dlq/scrape/delete", `{"all":true,"rate":"fast"}`, "invalid JSON body: rate must be a number, not string"},
			{"/dlq/scrape/delete-item", `{"id":"x","force":"yes"}`, "invalid JSON body: force must be a boolean (true or false), not string"},
		} {
			req := httptest.NewRequest("POST", c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			r := response{rec.Code, rec.Header(), rec.Body.Bytes()}
			if d := r.detail(t); r.status != 400 || d != c.detail {
				t.Errorf("POST %s %s: %d %q, want 400 %q", c.path, c.body, r.status, d, c.detail)
			}
		}
		if n, _ := e.Client.LLen(context.Background(), dlq.ScrapeKey).Result(); n != 2 {
			t.Fatalf("refused bodies acted: %d of 2 left", n)
		}

		var info map[string]any
		if r := do(t, h, "GET", "/dlq/scrape/info"); json.Unmarshal(r.body, &info) != nil || info["oldest"] != items[0].FailedAt.Format("2006-01-02T15:04:05.000000")+"+00:00" {
			t.Errorf("info oldest %v, want it written as failed_at is (%s)", info["oldest"], items[0].FailedAt)
		}
		if r := do(t, h, "GET", "/dlq/extraction/info"); strings.Contains(string(r.body), "oldest") {
			t.Errorf("an empty kind's info has oldest: %s", r.body)
		}

		for _, c := range []struct{ method, path, allow string }{
			{"GET", "/dlq/scrape/retry", "POST"},
			{"GET", "/dlq/scrape/delete", "POST"},
			{"GET", "/dlq/scrape/retry-item", "POST"},
			{"POST", "/dlq/scrape/info", "GET, HEAD"},
			{"DELETE", "/dlq/scrape/retry", "POST"},
			{"GET", "/dlq/scrape/x/retry", "POST"},
			{"POST", "/dlq/scrape/" + items[0].ID, "DELETE"},
		} {
			r := do(t, h, c.method, c.path)
			if r.status != 405 || r.header.Get("Allow") != c.allow || !strings.HasSuffix(r.detail(t), "allowed: "+c.allow) {
				t.Errorf("%s %s: %d Allow %q %s, want 405 Allow %q", c.method, c.path, r.status, r.header.Get("Allow"), r.body, c.allow)
			}
		}
		if n, _ := e.Client.LLen(context.Background(), dlq.ScrapeKey).Result(); n != 2 {
			t.Fatalf("405s acted: %d of 2 left", n)
		}
	})
}

// The newcomer's traps of issue 20, item 1: a request that misses the
// mount by a prefix says which prefix the handler expected, and
// StripPrefix with a trailing slash serves the routes instead of
// redirecting them outside the mount.
func TestMountTraps(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		pushN(t, e.svc, dlq.Scrape, 1)
		for _, c := range []struct {
			h      http.Handler
			path   string
			detail string
		}{
			{httpapi.New(e.svc), "/api/v1/dlq/stats",
				`not found: this handler serves /dlq/…, not /api/v1/dlq/…; mount it with http.StripPrefix("/api/v1", …) or httpapi.WithPrefix("/api/v1")`},
			{httpapi.New(e.svc), "/api/v1/dlq",
				`not found: this handler serves /dlq/…, not /api/v1/dlq/…; mount it with http.StripPrefix("/api/v1", …) or httpapi.WithPrefix("/api/v1")`},
			{httpapi.New(e.svc, httpapi.WithPrefix("/api/v1")), "/dlq/stats",
				`not found: this handler serves /api/v1/dlq/…, not /dlq/…; build it without httpapi.WithPrefix, or mount it without http.StripPrefix`},
			{httpapi.New(e.svc, httpapi.WithPrefix("/api/v1")), "/api/v2/dlq/scrape",
				`not found: this handler serves /api/v1/dlq/…, not /api/v2/dlq/…; build it with httpapi.WithPrefix("/api/v2")`},
			{httpapi.New(e.svc), "/dlq/nope/x/y", "not found"},
			{httpapi.New(e.svc), "/elsewhere", "not found"},
		} {
			if r := do(t, c.h, "GET", c.path); r.status != 404 || r.detail(t) != c.detail {
				t.Errorf("GET %s: %d %s, want 404 %q", c.path, r.status, r.body, c.detail)
			}
		}

		mux := http.NewServeMux()
		mux.Handle("/api/v1/", http.StripPrefix("/api/v1/", httpapi.New(e.svc)))
		if r := do(t, mux, "GET", "/api/v1/dlq/stats"); r.status != 200 || string(r.body) != `{"scrape":1,"extraction":0}`+"\n" {
			t.Errorf("StripPrefix with a trailing slash: %d %v %s", r.status, r.header, r.body)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/dlq", nil))
		if rec.Code != 302 || rec.Header().Get("Location") != "dlq/" {
			t.Errorf("StripPrefix with a trailing slash, /api/v1/dlq: %d %v", rec.Code, rec.Header())
		}
	})
}

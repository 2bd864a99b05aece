// Package routertest mounts the httpapi handler in real chi, gorilla/mux
// and echo routers, next to a host's own /api/v1 routes and its auth
// middleware, as docs/http.md shows. It is a module of its own so that
// importers of dlq never download those routers.
//
//	cd httpapi/routertest && go test ./...
package routertest

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

// basicAuth is the host's auth: Basic credentials, which a browser can
// send to reach the dashboard too.
func basicAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user+":"+pass), []byte("ops:s3cret")) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="ops"`)
			http.Error(w, `{"detail":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func sources(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "the host's sources") }

// routers builds each host: its own GET /api/v1/sources and the DLQ under
// /api/v1, all behind basicAuth.
// The lines of README.md's snippets are quoted here as they are
// (TestREADMESnippets checks it).
func routers(q *dlq.Service) map[string]http.Handler {
	dlqh := httpapi.New(q, httpapi.WithPrefix("/api/v1"))

	c := chi.NewRouter()
	c.Route("/api/v1", func(r chi.Router) {
		r.Use(basicAuth)
		r.Get("/sources", sources)
		h := httpapi.New(q, httpapi.WithPrefix("/api/v1"))
		r.Handle("/dlq", h)
		r.Handle("/dlq/*", h)
	})

	g := mux.NewRouter()
	api := g.PathPrefix("/api/v1").Subrouter()
	api.Use(basicAuth)
	api.HandleFunc("/sources", sources).Methods("GET")
	api.PathPrefix("/dlq").Handler(dlqh)

	e := echo.New()
	grp := e.Group("/api/v1", echo.WrapMiddleware(basicAuth))
	grp.GET("/sources", echo.WrapHandler(http.HandlerFunc(sources)))
	grp.Any("/dlq", echo.WrapHandler(dlqh))
	grp.Any("/dlq/*", echo.WrapHandler(dlqh))

	std := http.NewServeMux()
	std.HandleFunc("GET /api/v1/sources", sources)
	std.Handle("/api/v1/dlq", http.StripPrefix("/api/v1", httpapi.New(q)))
	std.Handle("/api/v1/dlq/", http.StripPrefix("/api/v1", httpapi.New(q)))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/sources", sources)
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(q)))

	// StripPrefix with a trailing slash leaves "dlq/stats": served, not
	// redirected to /dlq/stats outside the mount.
	slash := http.NewServeMux()
	slash.HandleFunc("GET /api/v1/sources", sources)
	slash.Handle("/api/v1/", http.StripPrefix("/api/v1/", httpapi.New(q)))

	return map[string]http.Handler{"chi": c, "gorilla/mux": g, "echo": e, "ServeMux+StripPrefix": basicAuth(std),
		"README ServeMux": basicAuth(mux), "StripPrefix with a slash": basicAuth(slash)}
}

// TestREADMESnippets checks that the mounts README.md shows are the ones
// these tests run.
func TestREADMESnippets(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("mount_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`mux.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(q)))`,
		`h := httpapi.New(q, httpapi.WithPrefix("/api/v1"))`,
		`r.Handle("/dlq", h)`,
		`r.Handle("/dlq/*", h)`,
	} {
		if !strings.Contains(string(readme), "\n"+line+"\n") {
			t.Errorf("README.md does not show the line %s", line)
		}
		if !strings.Contains(string(self), line) {
			t.Errorf("the router tests do not run %s", line)
		}
	}
}

// A chi route that forgets WithPrefix answers a 404 saying how to mount
// the handler.
func TestMissingPrefixSaysSo(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	c := chi.NewRouter()
	c.Route("/api/v1", func(r chi.Router) {
		h := httpapi.New(dlq.New(rdb))
		r.Handle("/dlq", h)
		r.Handle("/dlq/*", h)
	})
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/dlq/stats", nil))
	want := `{"detail":"not found: this handler serves /dlq/…, not /api/v1/dlq/…; mount it with http.StripPrefix(\"/api/v1\", …) or httpapi.WithPrefix(\"/api/v1\")"}` + "\n"
	if rec.Code != 404 || rec.Body.String() != want {
		t.Fatalf("%d %s, want 404 %s", rec.Code, rec.Body, want)
	}
}

func TestMounts(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	var requeued atomic.Int64
	svc := dlq.New(rdb, dlq.WithRequeuer(dlq.RequeueFunc(func(context.Context, dlq.Item) error {
		requeued.Add(1)
		return nil
	})))
	ctx := context.Background()

	for name, h := range routers(svc) {
		t.Run(name, func(t *testing.T) {
			if err := rdb.Del(ctx, dlq.ScrapeKey).Err(); err != nil {
				t.Fatal(err)
			}
			requeued.Store(0)
			var items []dlq.Item
			for range 4 {
				it, err := svc.PushScrapeFailure(ctx, uuid.New(), errors.New("GET https://a.example/p/1: 503"))
				if err != nil {
					t.Fatal(err)
				}
				items = append(items, it)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			call := func(method, path, ctype, body string, auth bool) (int, string) {
				t.Helper()
				req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if ctype != "" {
					req.Header.Set("Content-Type", ctype)
				}
				if auth {
					req.SetBasicAuth("ops", "s3cret")
				}
				res, err := http.DefaultClient.Do(req) // follows redirects, as Go clients do
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, string(b)
			}

			// The host's own routes and auth still answer.
			if code, body := call("GET", "/api/v1/sources", "", "", true); code != 200 || body != "the host's sources" {
				t.Fatalf("host route: %d %q", code, body)
			}
			for _, p := range []string{"/api/v1/sources", "/api/v1/dlq/stats", "/api/v1/dlq/"} {
				if code, _ := call("GET", p, "", "", false); code != 401 {
					t.Errorf("GET %s without credentials: %d", p, code)
				}
			}
			// The DLQ routes answer.
			if code, body := call("GET", "/api/v1/dlq/stats", "", "", true); code != 200 || body != `{"scrape":4,"extraction":0}`+"\n" {
				t.Fatalf("stats: %d %s", code, body)
			}
			for _, p := range []string{"/api/v1/dlq/", "/api/v1/dlq"} {
				if code, body := call("GET", p, "", "", true); code != 200 || !strings.Contains(body, "<title>DLQ · scrape (4)</title>") {
					t.Errorf("dashboard at %s: %d %.80s", p, code, body)
				}
			}
			// Unclean paths never reach a bulk action.
			for _, p := range []string{"/api/v1/dlq/scrape//retry", "/api/v1/dlq/scrape/./retry", "/api/v1/dlq/scrape/x/../retry",
				"/api/v1/dlq/scrape//delete", "/api/v1/dlq/scrape/./delete"} {
				for _, ctype := range []string{"", "application/json"} {
					if code, body := call("POST", p, ctype, "", true); code == 200 {
						t.Errorf("POST %s: %d %s", p, code, body)
					}
				}
			}
			if requeued.Load() != 0 {
				t.Fatalf("unclean paths requeued %d entries", requeued.Load())
			}
			if n, _ := rdb.LLen(ctx, dlq.ScrapeKey).Result(); n != 4 {
				t.Fatalf("unclean paths removed entries: %d left", n)
			}
			// The real actions work.
			if code, body := call("POST", "/api/v1/dlq/scrape/retry-item", "application/json", `{"id":"`+items[0].ID+`"}`, true); code != 200 {
				t.Fatalf("retry-item: %d %s", code, body)
			}
			if code, body := call("POST", "/api/v1/dlq/scrape/retry", "application/json", `{"error":"503","dry_run":true}`, true); code != 200 || body != `{"matched":3,"handled":0,"failed":0,"skipped":0}`+"\n" {
				t.Fatalf("bulk dry run: %d %s", code, body)
			}
			if code, body := call("POST", "/api/v1/dlq/scrape/delete?all=true", "", "", true); code != 200 || body != `{"matched":3,"handled":3,"failed":0,"skipped":0}`+"\n" {
				t.Fatalf("bulk delete: %d %s", code, body)
			}
			if requeued.Load() != 1 {
				t.Fatalf("%d requeued, want 1", requeued.Load())
			}
		})
	}
}

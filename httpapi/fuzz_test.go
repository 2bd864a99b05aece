package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

// FuzzHandler sends arbitrary ids, query strings and bodies to every
// route: the handler answers 2xx or a clear 4xx with {"detail": ...},
// never a 500 while Redis is up, and never panics.
func FuzzHandler(f *testing.F) {
	seeds := []struct {
		route       uint8
		id, q, body string
	}{
		{0, "", "", ""}, {1, "", "limit=abc", ""}, {1, "", "limit=100000", ""}, {1, "", "error=timeout&limit=2", ""},
		{1, "", "cursor=bogus!", ""}, {1, "", "failed_after=2026-11-26T21:43:52Z", ""}, {2, "a/b", "", ""},
		{3, "%2F", "", ""}, {3, strings.Repeat("x", 300), "", ""}, {4, "", "signature=GET+https%3A%2F%2Fa.com%2F%3Cpath%3E%3A+503", ""},
		{5, "", "", ""}, {6, "", "dry_run=true", ""}, {6, "", "", `{"error":"503","dry_run":true}`}, {7, "", "all=true", ""},
		{7, "", "", `{"nope":1}`}, {1, "", "%zz", ""}, {1, "", "error=%ff", ""}, {6, "", "rate=NaN", ""}, {8, "\x00", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.route, s.id, s.q, s.body)
	}
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(m.Close)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	f.Cleanup(func() { _ = rdb.Close() })
	svc := dlq.New(rdb)
	h := httpapi.New(svc)

	f.Fuzz(func(t *testing.T, route uint8, id, query, body string) {
		if n, _ := rdb.LLen(context.Background(), dlq.ScrapeKey).Result(); n < 3 {
			for range 3 {
				if _, err := svc.PushScrapeFailure(context.Background(), uuid.New(), errors.New("GET https://a.com/p/1: 503")); err != nil {
					t.Fatal(err)
				}
			}
		}
		routes := []struct{ method, path string }{
			{"GET", "/dlq/stats"}, {"GET", "/dlq/scrape"}, {"DELETE", "/dlq/scrape/" + id}, {"POST", "/dlq/scrape/" + id + "/retry"},
			{"GET", "/dlq/scrape/count"}, {"GET", "/dlq/scrape/groups"}, {"POST", "/dlq/scrape/retry"}, {"POST", "/dlq/scrape/delete"},
			{"GET", "/dlq/" + id}, {"PUT", "/dlq/scrape/info"},
		}
		rt := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rt.method, "/", strings.NewReader(body))
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = rt.path, "", query
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := rec.Result()
		b, _ := io.ReadAll(res.Body)
		switch {
		case res.StatusCode == http.StatusNoContent:
			return
		case res.StatusCode >= 500 || res.StatusCode < 200 || res.StatusCode >= 300 && res.StatusCode < 400:
			t.Fatalf("%s %s?%s: %d %s", rt.method, rt.path, query, res.StatusCode, b)
		case res.Header.Get("Content-Type") != "application/json; charset=utf-8" || !json.Valid(b):
			t.Fatalf("%s %s?%s: %d, content type %q, body %q", rt.method, rt.path, query, res.StatusCode, res.Header.Get("Content-Type"), b)
		case res.StatusCode >= 400:
			var e map[string]string
			if json.Unmarshal(b, &e) != nil || e["detail"] == "" {
				t.Fatalf("%s %s?%s: %d without a detail: %s", rt.method, rt.path, query, res.StatusCode, b)
			}
		}
	})
}

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
)

func TestScrapeAllRecordsFailures(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "down", http.StatusBadGateway)
		}
	}))
	defer site.Close()
	m := miniredis.RunT(t)
	q := dlq.New(redis.NewClient(&redis.Options{Addr: m.Addr()}))
	ctx := context.Background()

	failed := scrapeAll(ctx, q, site.Client(), []string{site.URL + "/ok", site.URL + "/down", "http://127.0.0.1:1/refused"})
	if failed != 2 {
		t.Fatalf("failed = %d, want 2", failed)
	}
	items, err := q.ListScrape(ctx, 10)
	if err != nil || len(items) != 2 {
		t.Fatalf("ListScrape = %d items, %v", len(items), err)
	}
	if !strings.Contains(items[0].Error, "connection refused") || !strings.Contains(items[1].Error, "502 Bad Gateway") {
		t.Errorf("errors = %q, %q", items[0].Error, items[1].Error)
	}
}

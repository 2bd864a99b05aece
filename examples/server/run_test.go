package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

// testDB is this package's database on a real Redis.
const testDB = 11

// TestDemo runs the demo's code path, as main does, and checks that the
// worker's failures show up in the API and can be retried.
func TestDemo(t *testing.T) {
	urls := map[string]string{"embedded": ""}
	if addr := os.Getenv(dlqtest.AddrEnv); addr != "" {
		urls["redis"] = "redis://" + addr + "/11"
		rdb := redis.NewClient(&redis.Options{Addr: addr, DB: testDB})
		clean := func() { _ = rdb.Del(context.Background(), dlqtest.Keys("scrape", "extraction")...).Err() }
		clean()
		t.Cleanup(func() { clean(); _ = rdb.Close() })
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ready := make(chan string, 1)
			done := make(chan error, 1)
			var out strings.Builder
			go func() {
				done <- run(ctx, config{addr: "127.0.0.1:0", redisURL: url, every: time.Hour, out: &out, ready: func(u string) { ready <- u }})
			}()
			var base string
			select {
			case base = <-ready:
			case err := <-done:
				t.Fatalf("run returned before serving: %v", err)
			}

			var st struct{ Scrape, Extraction int }
			getJSON(t, base+"/dlq/stats", &st)
			// 503, 404, 403, a timeout and a refused connection; a page
			// without a price and broken JSON.
			if st.Scrape != 5 || st.Extraction != 2 {
				t.Fatalf("stats = %+v, want 5 scrape and 2 extraction failures", st)
			}
			var items []struct{ ID, Error string }
			getJSON(t, base+"/dlq/scrape", &items)
			all := ""
			for _, it := range items {
				all += it.Error + "\n"
			}
			for _, want := range []string{"503 Service Unavailable", "404 Not Found", "connection refused", "Client.Timeout exceeded"} {
				if !strings.Contains(all, want) {
					t.Errorf("no scrape failure mentions %q:\n%s", want, all)
				}
			}
			// Retry runs the source again; it fails again, so the entry is
			// replaced by a new one with one more retry on its count.
			res, err := http.Post(base+"/dlq/scrape/"+items[0].ID+"/retry", "", nil)
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("retry: %v %v", res, err)
			}
			res.Body.Close()
			var after []struct {
				ID, Error  string
				RetryCount int `json:"retry_count"`
			}
			getJSON(t, base+"/dlq/scrape", &after)
			if len(after) != 5 || after[0].ID == items[0].ID || after[0].Error != items[0].Error || after[0].RetryCount != 1 {
				t.Fatalf("after retry: %+v; want the retried failure recorded again with retry_count 1", after)
			}
			for _, it := range after {
				if it.ID == items[0].ID {
					t.Fatal("the retried entry is still in the DLQ")
				}
			}
			if !strings.Contains(out.String(), base+"/dlq/scrape/"+items[0].ID+"/retry") {
				t.Errorf("printed help lacks a retry URL with a real id:\n%s", out.String())
			}

			res, err = http.Get(base + "/dlq/")
			if err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("dashboard: %v %v", res, err)
			}
			res.Body.Close()
			if !strings.Contains(out.String(), "dashboard: "+base+"/dlq/") {
				t.Errorf("printed help lacks the dashboard URL:\n%s", out.String())
			}

			cancel()
			if err := <-done; err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			if _, err := http.Get(base + "/dlq/stats"); err == nil {
				t.Fatal("the API still answers after shutdown")
			}
		})
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestBadRedisURL(t *testing.T) {
	err := run(context.Background(), config{addr: "127.0.0.1:0", redisURL: "mysql://nope"})
	if err == nil || !strings.Contains(err.Error(), "-redis") {
		t.Fatalf("err = %v, want one naming the -redis flag", err)
	}
}

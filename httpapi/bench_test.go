package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
	"github.com/dlqkit/dlq/internal/dlqtest"
)

// benchRedis returns a client of the real Redis (DLQ_TEST_REDIS_ADDR,
// database 13) with the scrape list filled by fill, or skips.
func benchRedis(b *testing.B, fill func(pipe redis.Pipeliner)) *redis.Client {
	addr := os.Getenv(dlqtest.AddrEnv)
	if addr == "" {
		b.Skipf("set %s=host:port of a real redis-server to run the benchmark", dlqtest.AddrEnv)
	}
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr, DB: 13})
	b.Cleanup(func() { _ = dlqtest.Clean(ctx, c, "scrape", "extraction"); _ = c.Close() })
	if err := dlqtest.Clean(ctx, c, "scrape", "extraction"); err != nil {
		b.Fatal(err)
	}
	pipe := c.Pipeline()
	fill(pipe)
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkDashboard renders the dashboard over N = 100,000 scrape
// failures on a real Redis (DLQ_TEST_REDIS_ADDR, database 13), beside
// GET /dlq/scrape?limit=100 (the JSON list of the same 100 rows) and
// GET /dlq/scrape/groups (the causes of the newest 5,000) and
// GET /dlq/scrape/count?error=p/1 (a walk of the whole list).
//
//	DLQ_TEST_REDIS_ADDR=127.0.0.1:6390 go test -run '^$' -bench Dashboard -benchmem ./httpapi/
func BenchmarkDashboard(b *testing.B) {
	const n = 100_000
	c := benchRedis(b, func(pipe redis.Pipeliner) {
		for i := range n {
			pipe.LPush(context.Background(), dlq.ScrapeKey, fmt.Sprintf(`{"id":"id-%d","source_id":"s","job_id":null,"error":"GET https://shop.example/p/%d: %d","failed_at":"2026-11-26T21:43:52.000000+00:00","retry_count":0,"dlq_type":"scrape"}`, i, i, 500+i%4))
		}
	})
	h := httpapi.New(dlq.New(c))
	for _, target := range []string{"/dlq/", "/dlq/scrape?limit=100", "/dlq/scrape/groups", "/dlq/scrape/count?error=p/1"} {
		b.Run(target, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
				if rec.Code != 200 {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkDashboardHostile renders the dashboard over 100 entries whose
// error is `": 503 "` repeated to 64 KiB, the text that made dlq.Signature
// quadratic (issue #12, finding 5). The page's own cost is measured with
// the Signature of the tree it runs on.
//
//	DLQ_TEST_REDIS_ADDR=127.0.0.1:6390 go test -run '^$' -bench DashboardHostile -benchmem ./httpapi/
func BenchmarkDashboardHostile(b *testing.B) {
	hostile := strings.Repeat(`": 503 "`, (64<<10)/8)
	benchDashboardOf(b, func(int) string { return hostile })
}

// benchDashboardOf serves the dashboard over 100 entries whose error
// texts text gives.
func benchDashboardOf(b *testing.B, text func(i int) string) {
	c := benchRedis(b, func(pipe redis.Pipeliner) {
		for i := range 100 {
			raw, _ := json.Marshal(map[string]any{"id": fmt.Sprint("h-", i), "source_id": "s", "job_id": nil, "error": text(i),
				"failed_at": "2026-11-26T21:43:52+00:00", "retry_count": 0, "dlq_type": "scrape"})
			pipe.LPush(context.Background(), dlq.ScrapeKey, raw)
		}
	})
	h := httpapi.New(dlq.New(c))
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/dlq/", nil))
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkDashboardHostileDistinct is BenchmarkDashboardHostile with 100
// different texts (each its own number first), so that no entry's error
// is the one before it: dlq compares a run of one error text instead of
// reading it again, which this leaves no room for.
//
//	DLQ_TEST_REDIS_ADDR=127.0.0.1:6390 go test -run '^$' -bench DashboardHostileDistinct -benchmem ./httpapi/
func BenchmarkDashboardHostileDistinct(b *testing.B) {
	hostile := strings.Repeat(`": 503 "`, (64<<10)/8-1)
	benchDashboardOf(b, func(i int) string { return fmt.Sprintf("%03d ", i) + hostile })
}

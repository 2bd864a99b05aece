package httpapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
	"github.com/dlqkit/dlq/internal/dlqtest"
)

// BenchmarkDashboard renders the dashboard over N = 100,000 scrape
// failures on a real Redis (DLQ_TEST_REDIS_ADDR, database 13), beside
// GET /dlq/scrape?limit=100 (the JSON list of the same 100 rows).
func BenchmarkDashboard(b *testing.B) {
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
	const n = 100_000
	for done := 0; done < n; done += 1000 {
		pipe := c.Pipeline()
		for i := done; i < done+1000; i++ {
			pipe.LPush(ctx, dlq.ScrapeKey, fmt.Sprintf(`{"id":"id-%d","source_id":"s","job_id":null,"error":"GET https://shop.example/p/%d: %d","failed_at":"2026-11-26T21:43:52.000000+00:00","retry_count":0,"dlq_type":"scrape"}`, i, i, 500+i%4))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	h := httpapi.New(dlq.New(c))
	for _, target := range []string{"/dlq/", "/dlq/scrape?limit=100"} {
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

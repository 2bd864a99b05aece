package prometheus

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/internal/dlqtest"
)

// BenchmarkCollect measures one scrape of one kind holding n entries, on
// the real Redis of DLQ_TEST_REDIS_ADDR, or miniredis without one. The
// time must not depend on n.
func BenchmarkCollect(b *testing.B) {
	var client redis.UniversalClient
	if addr := os.Getenv(dlqtest.AddrEnv); addr != "" {
		client = redis.NewClient(&redis.Options{Addr: addr, DB: testDB})
	} else {
		client = redis.NewClient(&redis.Options{Addr: miniredis.RunT(b).Addr()})
	}
	b.Cleanup(func() { _ = client.Close() })
	ctx := context.Background()
	for _, n := range []int{1_000, 100_000} {
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) {
			k := dlq.Kind("BenchmarkCollect-" + strconv.Itoa(n))
			clean := func() {
				if err := dlqtest.Clean(ctx, client, string(k)); err != nil {
					b.Fatal(err)
				}
			}
			clean()
			b.Cleanup(clean)
			s := newService(client)
			if _, err := s.Push(ctx, k, uuid.New(), errors.New("boom")); err != nil {
				b.Fatal(err)
			}
			raw, err := client.LIndex(ctx, k.Key(), 0).Result()
			if err != nil {
				b.Fatal(err)
			}
			args := make([]any, 1000)
			for i := range args {
				args[i] = raw
			}
			for left := n - 1; left > 0; left -= len(args) {
				if err := client.RPush(ctx, k.Key(), args[:min(left, len(args))]...).Err(); err != nil {
					b.Fatal(err)
				}
			}
			c := NewCollector(s, WithKinds(k))
			ch := make(chan prometheus.Metric, 16)
			collect := func() int {
				c.Collect(ch)
				got := len(ch)
				for range got {
					<-ch
				}
				return got
			}
			// Six per kind, and the process' dropped audit records.
			if got := collect(); got != 7 {
				b.Fatalf("a scrape sent %d metrics, want 7", got)
			}
			if l, _ := client.LLen(ctx, k.Key()).Result(); l != int64(n) {
				b.Fatalf("the list holds %d entries, want %d", l, n)
			}
			b.ResetTimer()
			for b.Loop() {
				collect()
			}
		})
	}
}

package prometheus_test

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	dlqprom "github.com/dlqkit/dlq/prometheus"
)

// Register the collector and serve the metrics: every scrape reads the
// queues' counters from Redis.
func ExampleNewCollector() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	q := dlq.New(rdb, dlq.WithKinds("render"))

	reg := prometheus.NewRegistry()
	reg.MustRegister(dlqprom.NewCollector(q, dlqprom.WithTimeout(3*time.Second)))
	http.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// With the default registry: prometheus.MustRegister(dlqprom.NewCollector(q))
}

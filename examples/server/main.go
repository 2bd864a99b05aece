// Command server is dlq's demo: an HTTP API over a DLQ that a small scrape
// worker fills with real failures from a local test site.
//
//	go run ./examples/server                      # embedded Redis (miniredis)
//	go run ./examples/server -redis redis://localhost:6379/0
//
// It serves the API under http://127.0.0.1:8080/api/v1 and prints URLs to
// try. Ctrl-C shuts it down cleanly.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	cfg := config{out: os.Stdout}
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to serve the API on")
	flag.StringVar(&cfg.redisURL, "redis", os.Getenv("REDIS_URL"), "URL of a real Redis (redis://host:port/db); default $REDIS_URL, or an embedded Redis when empty")
	flag.DurationVar(&cfg.every, "every", 15*time.Second, "how often the demo worker scrapes its sources again")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

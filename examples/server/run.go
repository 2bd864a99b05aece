package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

type config struct {
	addr     string        // where the API listens; "127.0.0.1:0" picks a port
	redisURL string        // a real Redis, or "" for an embedded one
	every    time.Duration // how often the worker runs again after its first round
	out      io.Writer     // where the URLs to try are printed
	// ready, if set, is called with the API's base URL once the first
	// round of failures is recorded and the API is serving.
	ready func(baseURL string)
}

// run starts Redis (or connects to it), the test site, the worker and the
// API, and serves until ctx is done; then it shuts everything down.
func run(ctx context.Context, cfg config) error {
	if cfg.out == nil {
		cfg.out = io.Discard
	}
	rdb, redisName, closeRedis, err := openRedis(ctx, cfg.redisURL)
	if err != nil {
		return err
	}
	defer closeRedis()
	site, err := startSite()
	if err != nil {
		return err
	}
	defer site.close()
	w := newWorker(site.url)
	// Retrying an entry (POST …/retry) runs the worker on its source again.
	svc := dlq.New(rdb, dlq.WithMaxAge(24*time.Hour), dlq.WithRequeuer(dlq.RequeueFunc(w.requeue)))
	w.svc = svc

	// One round before serving, so the DLQ has failures to show.
	if err := w.round(ctx); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String() + "/api/v1"
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(svc)))
	mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "/api/v1/dlq/", http.StatusFound)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	printHelp(ctx, cfg.out, svc, base, redisName)
	if cfg.ready != nil {
		cfg.ready(base)
	}

	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(ctx) }) // the janitor: size and age limits, index repair
	if cfg.every > 0 {
		wg.Go(func() { w.loop(ctx, cfg.every) })
	}

	select {
	case err = <-served:
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(shutCtx)
		cancel()
	}
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	fmt.Fprintln(cfg.out, "dlq demo: stopped")
	return err
}

// openRedis connects to url, or starts an embedded Redis when url is "".
func openRedis(ctx context.Context, url string) (*redis.Client, string, func(), error) {
	if url == "" {
		m, err := miniredis.Run()
		if err != nil {
			return nil, "", nil, err
		}
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
		return rdb, "embedded Redis at " + m.Addr(), func() { _ = rdb.Close(); m.Close() }, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, "", nil, fmt.Errorf("-redis %q: %w", url, err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, "", nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	return rdb, fmt.Sprintf("Redis at %s, db %d", opts.Addr, opts.DB), func() { _ = rdb.Close() }, nil
}

func printHelp(ctx context.Context, out io.Writer, svc *dlq.Service, base, redisName string) {
	id := "<id>"
	if items, err := svc.ListScrape(ctx, 1); err == nil && len(items) > 0 {
		id = items[0].ID
	}
	fmt.Fprintf(out, `dlq demo: API on %s (%s)
the demo worker has recorded its first failures.
dashboard: %s/dlq/
or try:
  curl -s %s/dlq/stats
  curl -s '%s/dlq/scrape?limit=5'
  curl -s '%s/dlq/extraction?limit=5'
  curl -s -X POST %s/dlq/scrape/%s/retry
Ctrl-C stops.
`, base, redisName, base, base, base, base, base, id)
}

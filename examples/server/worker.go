package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dlqkit/dlq"
)

// worker scrapes the demo's sources and records each failure in the DLQ,
// as a real scraper service would.
type worker struct {
	svc     *dlq.Service
	client  *http.Client
	sources []source
}

type source struct {
	id  uuid.UUID
	url string
}

func newWorker(siteURL string) *worker {
	paths := []string{"/products/1", "/products/2", "/products/3", "/products/4", "/products/5", "/api/products/6", "/products/7"}
	w := &worker{client: &http.Client{Timeout: 300 * time.Millisecond}}
	for _, p := range paths {
		w.sources = append(w.sources, source{id: uuid.NewSHA1(uuid.NameSpaceURL, []byte(p)), url: siteURL + p})
	}
	// A site that is down: nothing listens on port 1.
	w.sources = append(w.sources, source{id: uuid.NewSHA1(uuid.NameSpaceURL, []byte("down")), url: "http://127.0.0.1:1/products/8"})
	return w
}

// round scrapes every source once. Only a failure to record a failure is
// returned; scrape and extraction failures go to the DLQ.
func (w *worker) round(ctx context.Context) error {
	for _, src := range w.sources {
		if err := w.scrape(ctx, src, dlq.WithJobID(uuid.New())); err != nil {
			return err
		}
	}
	return nil
}

// scrape scrapes and extracts one source, recording a failure with opts.
func (w *worker) scrape(ctx context.Context, src source, opts ...dlq.PushOption) error {
	body, err := w.fetch(ctx, src.url)
	if err != nil {
		_, err = w.svc.PushScrapeFailure(ctx, src.id, err, opts...)
		return err
	}
	if err := extract(src.url, body); err != nil {
		_, err = w.svc.PushExtractionFailure(ctx, src.id, err, opts...)
		return err
	}
	return nil
}

// requeue is the DLQ's Requeuer: it runs the failed source again at once;
// a new failure is recorded with one more retry on its count.
func (w *worker) requeue(ctx context.Context, it dlq.Item) error {
	for _, src := range w.sources {
		if src.id.String() == it.SourceID {
			return w.scrape(ctx, src, dlq.RetryOf(it))
		}
	}
	return fmt.Errorf("unknown source %s", it.SourceID)
}

func (w *worker) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = w.round(ctx) // a stopped context is the only likely error here
		}
	}
}

func (w *worker) fetch(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := w.client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("GET %s: reading body: %w", url, err)
	}
	if res.StatusCode >= 400 {
		return "", fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return string(body), nil
}

// extract finds the price in a product page or API answer.
func extract(url, body string) error {
	if strings.Contains(url, "/api/") {
		var p struct {
			Price float64 `json:"price"`
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			return fmt.Errorf("extract %s: decode product JSON: %w", url, err)
		}
		return nil
	}
	if !strings.Contains(body, `class="price"`) {
		return fmt.Errorf("extract %s: no element matches selector span.price", url)
	}
	return nil
}

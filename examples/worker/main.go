// Command worker is the smallest scrape worker that records its failures
// in the DLQ: copy the few lines around PushScrapeFailure into your own.
//
//	REDIS_URL=redis://localhost:6379/0 go run ./examples/worker https://example.com/a https://example.com/b
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
)

func main() {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://localhost:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	q := dlq.New(rdb)
	failed := scrapeAll(context.Background(), q, http.DefaultClient, os.Args[1:])
	log.Printf("%d of %d sources failed; see the scrape DLQ", failed, len(os.Args)-1)
}

// scrapeAll scrapes each URL and records every failure in the DLQ. It
// returns how many failed.
func scrapeAll(ctx context.Context, q *dlq.Service, client *http.Client, urls []string) int {
	failed := 0
	for _, u := range urls {
		sourceID := uuid.NewSHA1(uuid.NameSpaceURL, []byte(u)) // your source's id
		if err := scrape(ctx, client, u); err != nil {
			failed++
			if _, perr := q.PushScrapeFailure(ctx, sourceID, err); perr != nil {
				log.Printf("recording failure of %s: %v", u, perr) // Redis is down: log and go on
			}
		}
	}
	return failed
}

func scrape(ctx context.Context, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	_, err = io.Copy(io.Discard, res.Body) // a real worker parses the page here
	return err
}

package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
)

// newRedis starts an in-process Redis for the examples; a real program
// passes its own *redis.Client.
func newRedis() (*redis.Client, func()) {
	m, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	return rdb, func() { _ = rdb.Close(); m.Close() }
}

// A scrape worker records a failure and carries on.
func Example() {
	rdb, stop := newRedis()
	defer stop()
	q := dlq.New(rdb)
	ctx := context.Background()

	sourceID := uuid.MustParse("0c3f2a4e-8d0b-4c55-9a57-2f1f3c1b8e01")
	if err := scrape(ctx, sourceID); err != nil {
		if _, perr := q.PushScrapeFailure(ctx, sourceID, err, dlq.WithJobID(uuid.New())); perr != nil {
			log.Printf("recording failure: %v", perr)
		}
	}

	st, _ := q.Stats(ctx)
	fmt.Printf("scrape: %d, extraction: %d\n", st.Scrape, st.Extraction)
	// Output: scrape: 1, extraction: 0
}

func scrape(context.Context, uuid.UUID) error {
	return errors.New("GET https://shop.example/p/42: 503 Service Unavailable")
}

// An operator lists the newest failures and pops one to retry it.
func ExampleService_Pop() {
	rdb, stop := newRedis()
	defer stop()
	q := dlq.New(rdb)
	ctx := context.Background()
	for _, msg := range []string{"dns: no such host", "tls: certificate expired"} {
		if _, err := q.PushScrapeFailure(ctx, uuid.New(), errors.New(msg)); err != nil {
			log.Fatal(err)
		}
	}

	items, err := q.ListScrape(ctx, 10) // newest first
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range items {
		fmt.Println(it.Kind, it.Error, it.RetryCount)
	}

	it, err := q.PopScrapeItem(ctx, items[1].ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("retrying", it.SourceID == items[1].SourceID)

	_, err = q.PopScrapeItem(ctx, items[1].ID)
	fmt.Println(errors.Is(err, dlq.ErrNotFound))
	// Output:
	// scrape tls: certificate expired 0
	// scrape dns: no such host 0
	// retrying true
	// true
}

// Kinds beyond the two seed kinds live under their own key.
func ExampleKind() {
	render := dlq.Kind("render")
	fmt.Println(dlq.Scrape.Key(), dlq.Extraction.Key(), render.Key())
	// Output: scrape:dlq extraction:dlq render:dlq
}

// Retry hands an entry to the scrapers' own queue and removes it from the
// DLQ only when that worked; a failed requeue leaves it in the DLQ.
func ExampleService_Retry() {
	rdb, stop := newRedis()
	defer stop()
	ctx := context.Background()

	jobs := make(chan dlq.Item, 10) // stands in for the scrapers' queue
	q := dlq.New(rdb, dlq.WithRequeuer(dlq.RequeueFunc(func(ctx context.Context, it dlq.Item) error {
		select {
		case jobs <- it:
			return nil
		default:
			return errors.New("job queue full")
		}
	})))
	failed, _ := q.PushScrapeFailure(ctx, uuid.New(), errors.New("GET https://shop.example/p/1: 503"))

	it, err := q.Retry(ctx, dlq.Scrape, failed.ID)
	fmt.Println(it.ID == failed.ID, err)
	job := <-jobs
	fmt.Println("requeued:", job.Error)

	// The worker fails it again: one more retry on record.
	again, _ := q.PushScrapeFailure(ctx, uuid.MustParse(job.SourceID), errors.New("still 503"), dlq.RetryOf(job))
	fmt.Println("retry_count:", again.RetryCount)
	// Output:
	// true <nil>
	// requeued: GET https://shop.example/p/1: 503
	// retry_count: 1
}

// During an incident: the top causes, then a preview and a retry of
// exactly one cause's entries.
func ExampleService_Groups() {
	rdb, stop := newRedis()
	defer stop()
	ctx := context.Background()
	requeue := dlq.RequeueFunc(func(ctx context.Context, it dlq.Item) error { return nil })
	q := dlq.New(rdb, dlq.WithRequeuer(requeue))
	for i, status := range []int{503, 503, 503, 404} {
		_, _ = q.PushScrapeFailure(ctx, uuid.New(), fmt.Errorf("GET https://shop.example/p/%d: %d", i, status))
	}

	groups, _ := q.Groups(ctx, dlq.Scrape)
	for _, g := range groups {
		fmt.Println(g.Count, g.Signature)
	}

	top := dlq.Filter{Signature: groups[0].Signature}
	preview, _ := q.RetryMatching(ctx, dlq.Scrape, top, dlq.DryRun())
	res, _ := q.RetryMatching(ctx, dlq.Scrape, top, dlq.WithRate(50))
	st, _ := q.Stats(ctx)
	fmt.Println(preview.Matched, res.Handled, st.Scrape)
	// Output:
	// 3 GET <url>: 503
	// 1 GET <url>: 404
	// 3 3 1
}

// A Service on a Redis Cluster. ClusterStateReloadInterval bounds how long
// calls keep going to a master that died: go-redis' default (60 s) kept
// them failing for 51.6 s after a failover, 1 s for 5.3–5.9 s.
func Example_cluster() {
	addrs := []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}
	q := dlq.New(redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ClusterStateReloadInterval: time.Second}))
	_ = q
}

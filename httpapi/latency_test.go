package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
	"github.com/dlqkit/dlq/internal/dlqtest"
)

// TestLoadLatencyDashboard is the last row of the latency test of the
// issue "Bounded: no call can hold Redis…": over 100,000 entries of about
// 300 bytes, 200 concurrent requests to the dashboard and the groups
// route, while a probe PINGs every 10 ms. Every request answers (200, or
// 429/503 with Retry-After), no command of the handler's client shows in
// SLOWLOG over 50 ms and no PING waits over 100 ms: bounds that hold on a
// busy 2-core CI machine. It logs the real figures. The test has a
// redis-server of its own, so that its SLOWLOG holds only its commands.
//
//	DLQ_TEST_LOAD=1 go test -run TestLoadLatencyDashboard -v ./httpapi/
func TestLoadLatencyDashboard(t *testing.T) {
	if os.Getenv(LoadEnv) != "1" {
		t.Skipf("set %s=1 to run the load test (needs redis-server)", LoadEnv)
	}
	if raceEnabled {
		t.Skip("latency under the race detector says nothing; the test runs in the plain pass")
	}
	ctx := context.Background()
	const name = "dlq-httpapi-latency"
	c := dlqtest.OwnRedis(t, &redis.Options{ClientName: name, PoolSize: 64, ReadTimeout: 10 * time.Second})
	probe := redis.NewClient(&redis.Options{Addr: c.Options().Addr})
	defer probe.Close()
	for _, kv := range [][2]string{{"slowlog-log-slower-than", "1000"}, {"slowlog-max-len", "100000"}} {
		if err := probe.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	const n = 100_000
	for done := 0; done < n; done += 1000 {
		pipe := probe.Pipeline()
		for i := done; i < done+1000; i++ {
			pipe.LPush(ctx, dlq.ScrapeKey, fmt.Sprintf(`{"id":"py-%d","source_id":"src-%d","job_id":null,"error":"GET https://shop%d.example.com/p/%d?page=%d: %d %s","failed_at":"2026-11-26T21:43:52.%06d+00:00","retry_count":0,"dlq_type":"scrape"}`,
				i, i%977, i%40, i, i%13, 500+i%4, strings.Repeat("x", 120), i%1_000_000))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := dlq.New(c, dlq.WithLogger(quiet))
	srv := httptest.NewServer(httpapi.New(svc))
	defer srv.Close()
	if err := probe.SlowLogReset(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	// The probe runs in a process of its own, as Redis' other clients do:
	// in this one it would wait for the 200 handlers' goroutines.
	stopProbe := dlqtest.StartPingProbe(t, "TestLoadPingProbe", c.Options().Addr)

	const clients = 200
	paths := []string{"/dlq/", "/dlq/scrape/groups"}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	type answer struct {
		status int
		took   time.Duration
		err    error
	}
	answers := make([]answer, clients)
	var reqs sync.WaitGroup
	begin := make(chan struct{})
	for i := range clients {
		reqs.Add(1)
		go func() {
			defer reqs.Done()
			<-begin
			t0 := time.Now()
			res, err := client.Get(srv.URL + paths[i%len(paths)])
			if err != nil {
				answers[i] = answer{err: err, took: time.Since(t0)}
				return
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			a := answer{status: res.StatusCode, took: time.Since(t0), err: err}
			switch res.StatusCode {
			case http.StatusOK:
				if len(body) == 0 {
					a.err = fmt.Errorf("empty body")
				}
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				if res.Header.Get("Retry-After") == "" {
					a.err = fmt.Errorf("%d without Retry-After", res.StatusCode)
				}
			default:
				a.err = fmt.Errorf("status %d: %.200s", res.StatusCode, body)
			}
			answers[i] = a
		}()
	}
	t0 := time.Now()
	close(begin)
	reqs.Wait()
	took := time.Since(t0)
	pings := stopProbe()

	counts := map[int]int{}
	var slowest time.Duration
	for i, a := range answers {
		counts[a.status]++
		slowest = max(slowest, a.took)
		if a.err != nil {
			t.Errorf("GET %s: %v", paths[i%len(paths)], a.err)
		}
	}
	if counts[http.StatusOK] == 0 {
		t.Error("no request was served")
	}
	logs, err := probe.SlowLogGet(ctx, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	var what string
	for _, l := range logs {
		if l.ClientName == name && l.Duration > worst {
			worst, what = l.Duration, strings.Join(l.Args[:min(len(l.Args), 4)], " ")
		}
	}
	t.Logf("%d requests in %v (answers %v, slowest %v); worst call %v (%.40s); %v",
		clients, took.Round(time.Millisecond), counts, slowest.Round(time.Millisecond), worst, what, pings)
	if pings.Err != nil {
		t.Errorf("a PING failed: %v", pings.Err)
	}
	if worst > 50*time.Millisecond {
		t.Errorf("a call took %v (%s); want none over 50 ms", worst, what)
	}
	if pings.Max > 100*time.Millisecond {
		t.Errorf("a PING waited %v; want at most 100 ms", pings.Max)
	}
}

// TestLoadPingProbe is the PING probe of TestLoadLatencyDashboard, run in
// a process of its own (dlqtest.StartPingProbe).
func TestLoadPingProbe(t *testing.T) { dlqtest.RunPingProbe(t) }

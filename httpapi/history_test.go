package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
	"github.com/dlqkit/dlq/internal/dlqtest"
)

type historyAnswer struct {
	Window        string `json:"window"`
	BucketSeconds int64  `json:"bucket_seconds"`
	Buckets       []struct {
		Start string `json:"start"`
		Count int64  `json:"count"`
	} `json:"buckets"`
}

// decodeHistory decodes a history answer and checks its shape: n
// continuous buckets of step seconds, starts written as items' failed_at
// ("…+00:00"), the last one holding a time in [from, to].
func decodeHistory(t *testing.T, r response, window string, step int64, n int, from, to time.Time) historyAnswer {
	t.Helper()
	var a historyAnswer
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || r.status != 200 {
		t.Fatalf("history %s: %d %s (%v)", window, r.status, r.body, err)
	}
	if a.Window != window || a.BucketSeconds != step || len(a.Buckets) != n {
		t.Fatalf("history %s: window %q, bucket_seconds %d, %d buckets; want %s, %d, %d", window, a.Window, a.BucketSeconds, len(a.Buckets), window, step, n)
	}
	var prev time.Time
	for i, b := range a.Buckets {
		if !strings.HasSuffix(b.Start, "+00:00") {
			t.Fatalf("bucket %d start %q is not written like failed_at", i, b.Start)
		}
		s, err := time.Parse(time.RFC3339Nano, b.Start)
		if err != nil || s.Unix()%step != 0 {
			t.Fatalf("bucket %d start %q: %v", i, b.Start, err)
		}
		if i > 0 && s.Sub(prev) != time.Duration(step)*time.Second {
			t.Fatalf("bucket %d starts %s after the one before", i, s.Sub(prev))
		}
		prev = s
	}
	last := prev.Add(time.Duration(step) * time.Second)
	if prev.After(to) || !last.After(from.Truncate(time.Duration(step)*time.Second)) {
		t.Fatalf("the last bucket [%s, %s) does not hold now (between %s and %s)", prev, last, from, to)
	}
	return a
}

// countBetween sums the buckets whose start lies in the buckets of from
// and to (and between).
func (a historyAnswer) countBetween(t *testing.T, from, to time.Time) (in, out int64) {
	t.Helper()
	step := time.Duration(a.BucketSeconds) * time.Second
	lo, hi := from.Truncate(step), to.Truncate(step)
	for _, b := range a.Buckets {
		s, _ := time.Parse(time.RFC3339Nano, b.Start)
		if !s.Before(lo) && !s.After(hi) {
			in += b.Count
		} else {
			out += b.Count
		}
	}
	return in, out
}

func TestHistoryRoute(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for name, m := range mounts(e) {
			t.Run(name, func(t *testing.T) {
				if err := dlqtest.Clean(context.Background(), e.Client, "scrape", "extraction"); err != nil {
					t.Fatal(err)
				}
				p := m.prefix
				from := time.Now()
				pushN(t, e.svc, dlq.Scrape, 3)
				pushN(t, e.svc, dlq.Extraction, 1)
				to := time.Now()

				for _, c := range []struct {
					query, window string
					step          int64
					n             int
				}{
					{"", "24h", 60, 1440},
					{"?window=1h", "1h", 60, 60},
					{"?window=24h", "24h", 60, 1440},
					{"?window=7d", "7d", 3600, 168},
					{"?window=30d", "30d", 3600, 720},
				} {
					a := decodeHistory(t, do(t, m.h, "GET", p+"/dlq/scrape/history"+c.query), c.window, c.step, c.n, from, time.Now())
					if in, out := a.countBetween(t, from, to); in != 3 || out != 0 {
						t.Errorf("scrape history%s: %d pushes in the buckets of the pushes, %d elsewhere; want 3 and 0", c.query, in, out)
					}
					a = decodeHistory(t, do(t, m.h, "GET", p+"/dlq/extraction/history"+c.query), c.window, c.step, c.n, from, time.Now())
					if in, out := a.countBetween(t, from, to); in != 1 || out != 0 {
						t.Errorf("extraction history%s: %d and %d; want 1 and 0", c.query, in, out)
					}
				}
			})
		}
	})
}

func TestHistoryRouteErrors(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := httpapi.New(e.svc)
		for _, c := range []struct {
			method, target string
			status         int
			detail         string
		}{
			{"GET", "/dlq/scrape/history?window=2h", 400, "window must be 1h, 24h, 7d or 30d"},
			{"GET", "/dlq/scrape/history?window=", 400, "window must be 1h, 24h, 7d or 30d"},
			{"GET", "/dlq/scrape/history?window=24H", 400, "window must be 1h, 24h, 7d or 30d"},
			{"GET", "/dlq/scrape/history?window=24h&window=7d", 400, `query parameter "window" given 2 times`},
			{"GET", "/dlq/scrape/history?limit=5", 400, `unknown query parameter "limit"; this route takes window`},
			{"GET", "/dlq/nope/history", 404, `unknown DLQ kind "nope"`},
			{"POST", "/dlq/scrape/history", 405, "method POST not allowed; allowed: GET, HEAD"},
		} {
			r := do(t, h, c.method, c.target)
			if r.status != c.status || r.detail(t) != c.detail {
				t.Errorf("%s %s: %d %s; want %d %q", c.method, c.target, r.status, r.body, c.status, c.detail)
			}
		}

		down := httpapi.New(dlq.New(e.Down(t)), httpapi.WithLogger(slog.New(slog.DiscardHandler)))
		if r := do(t, down, "GET", "/dlq/scrape/history"); r.status != 500 || !strings.HasPrefix(r.detail(t), "Redis is unavailable") {
			t.Errorf("history with Redis down: %d %s", r.status, r.body)
		}
	})
}

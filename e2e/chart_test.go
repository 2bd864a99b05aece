package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

// chartState is what the page's chart shows: its window, its bars (one
// per bucket) and the counts they carry.
type chartState struct {
	Window string  `json:"window"`
	Bars   int     `json:"bars"`
	Total  int     `json:"total"`
	Counts []int   `json:"counts"`
	Starts []int64 `json:"starts"` // Unix seconds
	Height float64 `json:"height"` // of the tallest bar, in SVG units
}

const readChart = `(function(){
  var svg = document.querySelector("#chart svg");
  var bars = [...svg.querySelectorAll("rect.bar")];
  var s = {window: svg.dataset.window || "", bars: bars.length, total: 0, counts: [], starts: [], height: 0};
  bars.forEach(function(b){
    var c = Number(b.dataset.count);
    s.total += c; s.counts.push(c);
    s.starts.push(Date.parse(b.dataset.start.replace(/\.\d+/, "")) / 1000);
    s.height = Math.max(s.height, Number(b.getAttribute("height")));
  });
  return s;
})()`

// TestDashboardChart opens the dashboard in Chromium and checks its chart
// of failures over time against the pushes the test made: one bar per
// bucket in each window, the counts where the pushes fell, the chart
// above the top causes, and a push after the page loaded showing up.
func TestDashboardChart(t *testing.T) {
	bctx, _ := startBrowser(t)
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	svc := dlq.New(rdb)
	ctx := context.Background()

	// Earlier failures: the history hash as pushes 30 minutes and 5 hours
	// ago would have left it (a field per minute "m<unix minute>" and per
	// hour "h<unix hour>"; the Service's clock is its own).
	now := time.Now()
	earlier := map[string]int64{
		"m" + strconv.FormatInt(now.Unix()/60-30, 10):   4,
		"h" + strconv.FormatInt(now.Unix()/60/60-5, 10): 6,
	}
	for f, n := range earlier {
		if err := rdb.HIncrBy(ctx, "{scrape:dlq}:history", f, n).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// And 7 failures pushed now, 2 of extraction.
	from := time.Now()
	for i := range 7 {
		if _, err := svc.PushScrapeFailure(ctx, uuid.New(), fmt.Errorf("GET https://shop.example/p/%d: 503 Service Unavailable", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := svc.PushExtractionFailure(ctx, uuid.New(), errors.New("llm: no price")); err != nil {
			t.Fatal(err)
		}
	}
	to := time.Now()

	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", httpapi.New(svc)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// waitChart waits for the chart of a window and reads it.
	waitChart := func(window string, total int) chartState {
		t.Helper()
		var s chartState
		if err := chromedp.Run(bctx,
			chromedp.Poll(fmt.Sprintf(`(function(){var s=document.querySelector("#chart svg");return s.dataset.window===%q&&s.dataset.total===%q})()`, window, strconv.Itoa(total)),
				nil, chromedp.WithPollingTimeout(20*time.Second)),
			chromedp.Evaluate(readChart, &s),
		); err != nil {
			t.Fatalf("the %s chart with %d failures: %v", window, total, err)
		}
		return s
	}
	// inBuckets sums the counts of the bars from the bucket of a to the
	// bucket of b.
	inBuckets := func(s chartState, step int64, a, b time.Time) (in int) {
		for i, st := range s.Starts {
			if st >= a.Unix()/step*step && st <= b.Unix()/step*step {
				in += s.Counts[i]
			}
		}
		return in
	}

	var chartFirst bool
	if err := chromedp.Run(bctx,
		chromedp.Navigate(srv.URL+"/ops/dlq/"),
		chromedp.WaitVisible(`#chart svg`, chromedp.ByQuery),
		chromedp.Evaluate(`!!(document.getElementById("chart").compareDocumentPosition(document.getElementById("groups")) & Node.DOCUMENT_POSITION_FOLLOWING)`, &chartFirst),
	); err != nil {
		t.Fatal(err)
	}
	if !chartFirst {
		t.Error("the chart is not above the top causes")
	}

	// The DLQ is younger than a day, so the chart opens on 1h: 60 minute
	// bars, the 7 pushes and the 4 of 30 minutes ago.
	s := waitChart("1h", 11)
	if s.Bars != 60 || inBuckets(s, 60, from, to) != 7 {
		t.Fatalf("1h: %d bars (want 60), %d in the pushes' minutes (want 7)", s.Bars, inBuckets(s, 60, from, to))
	}

	// At 390 px wide, the axis labels keep their 12 px and do not overlap.
	var ticks struct {
		Heights []float64 `json:"heights"`
		Overlap bool      `json:"overlap"`
	}
	if err := chromedp.Run(bctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Click(`#chart button[data-window="24h"]`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	waitChart("24h", 11)
	if err := chromedp.Run(bctx, chromedp.Evaluate(`(function(){
		var r = [...document.querySelectorAll("#chart .tick")].map(function(e){return e.getBoundingClientRect()});
		var bottom = r.filter(function(x){return x.top > r[0].top + 20});
		return {heights: r.map(function(x){return x.height}),
			overlap: bottom.length === 2 && bottom[0].right > bottom[1].left};
	})()`, &ticks)); err != nil {
		t.Fatal(err)
	}
	if len(ticks.Heights) != 4 || ticks.Overlap {
		t.Errorf("at 390 px: %d axis labels (want 4), overlapping %v", len(ticks.Heights), ticks.Overlap)
	}
	for _, h := range ticks.Heights {
		if h < 11 {
			t.Errorf("at 390 px, an axis label is %.1f px high, want 12 px text", h)
		}
	}
	if err := chromedp.Run(bctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}

	// 24h: 1440 minute bars; the 7 pushes in the minutes they were made,
	// the 4 of 30 minutes ago in the bar 30 before the pushes' one (the hour
	// field counts only in hour windows).
	s = waitChart("24h", 11)
	readAt := time.Now() // the minute of now may have turned since the pushes
	if s.Bars != 1440 || len(s.Counts) != 1440 {
		t.Fatalf("24h: %d bars, want 1440", s.Bars)
	}
	if in := inBuckets(s, 60, from, to); in != 7 {
		t.Errorf("24h: %d failures in the bars of the pushes' minutes, want 7", in)
	}
	ago := now.Add(-30 * time.Minute)
	if in := inBuckets(s, 60, ago, ago); in != 4 {
		t.Errorf("24h: %d failures in the bar of 30 minutes ago, want 4", in)
	}
	if s.Starts[1439] > readAt.Unix() || s.Starts[1439]+60 <= from.Unix() || s.Height <= 0 {
		t.Errorf("24h: the last bar starts at %d, not in the minute of now (%d); tallest %.1f", s.Starts[1439], readAt.Unix(), s.Height)
	}
	var shot []byte
	if err := chromedp.Run(bctx, chromedp.FullScreenshot(&shot, 100)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.ArtifactDir(), "dlq-dashboard-chart.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the chart: %s", path)

	// 7d and 30d: hour bars; the pushes in their hour, and the 6 of 5 hours
	// ago in theirs (minute fields count only in the 24h window).
	for _, c := range []struct {
		window string
		bars   int
	}{{"7d", 168}, {"30d", 720}} {
		if err := chromedp.Run(bctx, chromedp.Click(fmt.Sprintf(`#chart button[data-window=%q]`, c.window), chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		s := waitChart(c.window, 13)
		if s.Bars != c.bars {
			t.Errorf("%s: %d bars, want %d", c.window, s.Bars, c.bars)
		}
		hour := now.Add(-5 * time.Hour)
		if in, before := inBuckets(s, 3600, from, to), inBuckets(s, 3600, hour, hour); in != 7 || before != 6 {
			t.Errorf("%s: %d in the pushes' hour (want 7), %d five hours ago (want 6)", c.window, in, before)
		}
	}

	// The chart follows new pushes without a reload (in the window picked).
	if _, err := svc.PushScrapeFailure(ctx, uuid.New(), errors.New("a failure pushed after the page loaded")); err != nil {
		t.Fatal(err)
	}
	if s := waitChart("30d", 14); s.Bars != 720 {
		t.Errorf("30d after a push: %d bars", s.Bars)
	}

	// Another kind's chart is its own; with an entry two days old (another
	// program's, not in the history), the chart opens on 24h.
	old := fmt.Sprintf(`{"id":"old","source_id":"s","job_id":null,"error":"old","failed_at":%q,"retry_count":0,"dlq_type":"extraction"}`,
		time.Now().Add(-48*time.Hour).UTC().Format(time.RFC3339))
	if err := rdb.RPush(ctx, dlq.ExtractionKey, old).Err(); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(bctx, chromedp.Navigate(srv.URL+"/ops/dlq/?kind=extraction")); err != nil {
		t.Fatal(err)
	}
	if s := waitChart("24h", 2); s.Bars != 1440 || inBuckets(s, 60, from, to) != 2 {
		t.Errorf("extraction: %d bars, %d in the pushes' minutes", s.Bars, inBuckets(s, 60, from, to))
	}
}

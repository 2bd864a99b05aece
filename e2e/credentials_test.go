package e2e

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

// TestDashboardCredentialsInURL opens the dashboard as an operator who
// typed the Basic credentials into the address (http://ops:s3cret@host/…):
// fetch refuses URLs holding credentials, so the page must build its own
// without them, and the chart must load. A history route that fails with
// a page that is not JSON must say so, not show "Loading" forever.
func TestDashboardCredentialsInURL(t *testing.T) {
	bctx, _ := startBrowser(t)
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	svc := dlq.New(rdb)
	for range 3 {
		if _, err := svc.PushScrapeFailure(context.Background(), uuid.New(), errors.New("GET https://shop.example/p/1: 503")); err != nil {
			t.Fatal(err)
		}
	}
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u+":"+p), []byte("ops:s3cret")) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="ops"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	// /broken/ serves the same, but its history route fails as a proxy
	// would: 502 with a plain-text body.
	broken := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	})
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", httpapi.New(svc)))
	mux.Handle("/broken/dlq/scrape/history", broken)
	mux.Handle("/broken/", http.StripPrefix("/broken", httpapi.New(svc)))
	srv := httptest.NewServer(auth(mux))
	t.Cleanup(srv.Close)
	withCreds := strings.Replace(srv.URL, "http://", "http://ops:s3cret@", 1)

	var summary string
	var deleted bool
	if err := chromedp.Run(bctx,
		chromedp.Navigate(withCreds+"/ops/dlq/"),
		chromedp.WaitVisible(`#chart svg`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector("#chart svg").dataset.total === "3"`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text(`#chart-summary`, &summary, chromedp.ByQuery),
		// An action sends a POST through the same fetch.
		chromedp.Click(`button[data-action="delete"]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById("status").textContent === "Discarded."`, &deleted, chromedp.WithPollingTimeout(20*time.Second)),
	); err != nil {
		t.Fatalf("dashboard opened with credentials in its URL: %v (summary %q)", err, summary)
	}
	if !strings.HasPrefix(summary, "3 failures pushed") {
		t.Errorf("chart summary %q", summary)
	}
	if n, _ := rdb.LLen(context.Background(), dlq.ScrapeKey).Result(); n != 2 {
		t.Errorf("%d entries after one discard, want 2", n)
	}

	if err := chromedp.Run(bctx,
		chromedp.Navigate(withCreds+"/broken/dlq/"),
		chromedp.WaitVisible(`#chart svg`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById("chart-summary").textContent.startsWith("History unavailable")`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text(`#chart-summary`, &summary, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("a failing history route: %v (summary %q)", err, summary)
	}
	if !strings.Contains(summary, "502 Bad Gateway") {
		t.Errorf("chart summary with a failing history route: %q", summary)
	}
}

// Package e2e drives the dashboard in a real headless Chromium. It is a
// module of its own so that importers of dlq never download chromedp.
//
//	cd e2e && go test ./...
//
// It skips when no Chromium is installed, except in CI (CI=true).
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium in CI: .ci/run installs Debian's chromium package")
	}
	t.Skip("no Chromium found (apt-get install chromium); skipping the browser test")
	return ""
}

type requeued struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (r *requeued) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}

func TestDashboardInChromium(t *testing.T) {
	bin := chromium(t)

	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	got := &requeued{ids: map[string]bool{}}
	svc := dlq.New(rdb, dlq.WithRequeuer(dlq.RequeueFunc(func(ctx context.Context, it dlq.Item) error {
		got.mu.Lock()
		defer got.mu.Unlock()
		got.ids[it.ID] = true
		return nil
	})))
	ctx := context.Background()
	var items []dlq.Item
	for i, text := range []string{
		"GET https://shop.example/p/1: 503 Service Unavailable",
		"GET https://shop.example/p/2: 503 Service Unavailable",
		"GET https://shop.example/p/3: 503 Service Unavailable",
		`<img src=x onerror="document.title='pwned'"> tls: handshake failure`,
		"GET https://shop.example/p/9: 404 Not Found",
	} {
		it, err := svc.PushScrapeFailure(ctx, uuid.New(), errors.New(text), dlq.WithRetryCount(i%2))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}

	// Mounted under a prefix, as a host would.
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", httpapi.New(svc)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// Chromium may still write its profile while it exits: a directory of
	// our own, removed best-effort, not t.TempDir (whose cleanup fails then).
	profile, err := os.MkdirTemp("", "dlq-e2e-profile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	alloc, cancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900))
	defer cancel()
	bctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	// Accept the confirmation a bulk action asks for, and remember it.
	var dialogs []string
	var dmu sync.Mutex
	chromedp.ListenTarget(bctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dmu.Lock()
			dialogs = append(dialogs, d.Message)
			dmu.Unlock()
			go func() { _ = chromedp.Run(bctx, page.HandleJavaScriptDialog(true)) }()
		}
	})

	url := srv.URL + "/ops/dlq/"
	var title, count string
	var rows int
	if err := chromedp.Run(bctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(`tr[data-id]`, chromedp.ByQuery),
		chromedp.Title(&title),
		chromedp.Evaluate(`document.querySelectorAll("tr[data-id]").length`, &rows),
		chromedp.Text(`[data-count="scrape"]`, &count, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if rows != 5 || count != "5" || strings.Contains(title, "pwned") {
		t.Fatalf("page: %d rows, count %q, title %q", rows, count, title)
	}

	// Retry one row: it leaves the table, the count drops, the requeuer got it.
	target := items[4].ID
	if err := chromedp.Run(bctx,
		chromedp.Click(fmt.Sprintf(`tr[data-id="%s"] button[data-action="retry"]`, target), chromedp.ByQuery),
		chromedp.WaitNotPresent(fmt.Sprintf(`tr[data-id="%s"]`, target), chromedp.ByQuery),
		chromedp.Text(`[data-count="scrape"]`, &count, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if count != "4" || !got.has(target) {
		t.Fatalf("after the row retry: count %q, requeued %v", count, got.has(target))
	}

	// Retry the 503 group: it asks with the count first, then goes.
	sig := dlq.Signature(items[0].Error)
	if err := chromedp.Run(bctx,
		chromedp.Click(fmt.Sprintf(`button[data-action="bulk-retry"][data-sig=%q]:not([data-host])`, sig), chromedp.ByQuery),
		chromedp.WaitNotPresent(fmt.Sprintf(`tr[data-id="%s"]`, items[0].ID), chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-id]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("tr[data-id]").length`, &rows),
		chromedp.Text(`[data-count="scrape"]`, &count, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	dmu.Lock()
	asked := strings.Join(dialogs, " | ")
	dmu.Unlock()
	if asked != "Retry these 3 failures?" {
		t.Fatalf("the confirmation said %q", asked)
	}
	if rows != 1 || count != "1" || !got.has(items[0].ID) || !got.has(items[1].ID) || !got.has(items[2].ID) {
		t.Fatalf("after the group retry: %d rows, count %q", rows, count)
	}
	left, err := svc.ListScrape(ctx, 10)
	if err != nil || len(left) != 1 || left[0].ID != items[3].ID {
		t.Fatalf("left in the DLQ: %+v, %v", left, err)
	}

	var shot []byte
	if err := chromedp.Run(bctx, chromedp.FullScreenshot(&shot, 100)); err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("E2E_SCREENSHOT_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, "dlq-dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	// The same page on a phone.
	if err := chromedp.Run(bctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(url),
		chromedp.WaitVisible(`tr[data-id]`, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100),
	); err != nil {
		t.Fatal(err)
	}
	phone := filepath.Join(dir, "dlq-dashboard-phone.png")
	if err := os.WriteFile(phone, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot at phone width: %s", phone)
	if err := chromedp.Cancel(bctx); err != nil {
		t.Logf("closing Chromium: %v", err)
	}
}

// startBrowser starts a headless Chromium at 1280×900 that accepts every
// confirmation dialog, and returns its context and the dialogs' texts.
func startBrowser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	bin := chromium(t)
	profile, err := os.MkdirTemp("", "dlq-e2e-profile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900))
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	bctx, cancel = context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancel)
	var dialogs []string
	var mu sync.Mutex
	chromedp.ListenTarget(bctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			mu.Lock()
			dialogs = append(dialogs, d.Message)
			mu.Unlock()
			go func() { _ = chromedp.Run(bctx, page.HandleJavaScriptDialog(true)) }()
		}
	})
	t.Cleanup(func() { _ = chromedp.Cancel(bctx) })
	return bctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), dialogs...)
	}
}

// TestDashboardFindings drives the findings of issue #12 that only a
// browser shows: a row whose id is ".", a long cause, the refresh, the
// message of a bulk action that stays, read-only in the script, and the
// phone cards' labels.
func TestDashboardFindings(t *testing.T) {
	bctx, _ := startBrowser(t)
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	got := &requeued{ids: map[string]bool{}}
	svc := dlq.New(rdb, dlq.WithRequeuer(dlq.RequeueFunc(func(ctx context.Context, it dlq.Item) error {
		if strings.Contains(it.Error, "refused") {
			return errors.New("queue refused it")
		}
		got.mu.Lock()
		defer got.mu.Unlock()
		got.ids[it.ID] = true
		return nil
	})))
	ctx := context.Background()
	long := "upstream said: " + strings.Repeat("unavailable ", 280) // a 3.3 KB cause
	for _, text := range []string{long, "rabbitmq refused job 1", "rabbitmq refused job 2", "rabbitmq refused job 3",
		"GET https://shop.example/p/1: 503", "GET https://shop.example/p/2: 503"} {
		if _, err := svc.PushScrapeFailure(ctx, uuid.New(), errors.New(text)); err != nil {
			t.Fatal(err)
		}
	}
	dot := `{"id":".","source_id":"s","job_id":null,"error":"an entry another program wrote, id \".\"","failed_at":"2026-11-26T21:43:52+00:00","retry_count":0,"dlq_type":"scrape"}`
	if err := rdb.LPush(ctx, dlq.ScrapeKey, dot).Err(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", httpapi.New(svc)))
	mux.Handle("/ro/", http.StripPrefix("/ro", httpapi.New(svc, httpapi.WithReadOnly())))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	length := func() int64 { n, _ := rdb.LLen(ctx, dlq.ScrapeKey).Result(); return n }

	// The "." row: its Retry retries that entry and nothing else.
	var count string
	if err := chromedp.Run(bctx,
		chromedp.Navigate(srv.URL+"/ops/dlq/"),
		chromedp.WaitVisible(`tr[data-id="."]`, chromedp.ByQuery),
		chromedp.Click(`tr[data-id="."] button[data-action="retry"]`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`tr[data-id="."]`, chromedp.ByQuery),
		chromedp.Text(`[data-count="scrape"]`, &count, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if !got.has(".") || length() != 6 || count != "6" {
		t.Fatalf("retry of the . row: requeued %v, %d left, count %q; want only that entry gone", got.has("."), length(), count)
	}

	// The long cause folds: its row stays short at 1280 px.
	var causeHeight float64
	var sigLen int
	if err := chromedp.Run(bctx,
		chromedp.Evaluate(fmt.Sprintf(`(function(){var b=[...document.querySelectorAll('button[data-action="bulk-retry"]')].find(function(b){return b.dataset.sig===%s});return b.closest("tr").getBoundingClientRect().height})()`, jsString(dlq.Signature(long))), &causeHeight),
		chromedp.Evaluate(`Math.max(...[...document.querySelectorAll('button[data-action="bulk-retry"]')].map(function(b){return b.dataset.sig.length}))`, &sigLen),
	); err != nil {
		t.Fatal(err)
	}
	if causeHeight > 120 || sigLen != len(dlq.Signature(long)) {
		t.Fatalf("the long cause's row is %.0f px high (want ≤ 120), its button carries %d of %d characters", causeHeight, sigLen, len(dlq.Signature(long)))
	}

	// A bulk retry whose requeues fail: the page says so, as an error, and
	// the message stays through the refreshes that follow.
	sig := dlq.Signature("rabbitmq refused job 1")
	var status, class string
	var before int
	if err := chromedp.Run(bctx,
		chromedp.Evaluate(`Number(document.body.dataset.refreshed||0)`, &before),
		chromedp.Click(fmt.Sprintf(`button[data-action="bulk-retry"][data-sig=%q]:not([data-host])`, sig), chromedp.ByQuery),
		chromedp.Poll(`document.getElementById("status").textContent.indexOf("failed") >= 0`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		// Two refreshes later (the one after the action, then a timed one):
		chromedp.Poll(fmt.Sprintf(`Number(document.body.dataset.refreshed||0) >= %d`, before+2), nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text(`#status`, &status, chromedp.ByQuery),
		chromedp.AttributeValue(`#status`, "class", &class, nil, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if status != "Retried 0 of 3. 3 requeues failed; still in the DLQ." || class != "error" || length() != 6 {
		t.Fatalf("after a failing bulk retry: %q (class %q), %d left", status, class, length())
	}

	// The refresh: an entry pushed now appears without a reload.
	fresh, err := svc.PushScrapeFailure(ctx, uuid.New(), errors.New("a failure pushed after the page loaded"))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(bctx,
		chromedp.WaitVisible(fmt.Sprintf(`tr[data-id=%q]`, fresh.ID), chromedp.ByQuery),
		chromedp.Text(`[data-count="scrape"]`, &count, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if count != "7" {
		t.Fatalf("count after the refresh: %q, want 7", count)
	}

	// Read-only: the script refuses an action even if a button is there.
	if err := chromedp.Run(bctx,
		chromedp.Navigate(srv.URL+"/ro/dlq/"),
		chromedp.WaitVisible(`tr[data-id]`, chromedp.ByQuery),
		chromedp.Evaluate(fmt.Sprintf(`(function(){var b=document.createElement("button");b.dataset.action="delete";b.dataset.id=%q;document.querySelector("tr[data-id]").appendChild(b);b.click();return true})()`, fresh.ID), nil),
		chromedp.Text(`#status`, &status, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if status != "Read-only view: no changes." || length() != 7 {
		t.Fatalf("read-only page: status %q, %d left", status, length())
	}

	// Phone cards label the source and the job.
	var labels string
	if err := chromedp.Run(bctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(srv.URL+"/ops/dlq/"),
		chromedp.WaitVisible(`tr[data-id]`, chromedp.ByQuery),
		chromedp.Evaluate(`getComputedStyle(document.querySelector("td.source"),"::before").content+"|"+getComputedStyle(document.querySelector("td.job"),"::before").content`, &labels),
	); err != nil {
		t.Fatal(err)
	}
	if labels != `"source "|"job "` {
		t.Fatalf("phone labels %q", labels)
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestDashboardForcedDiscard: discarding a row a retry has claimed answers
// 409; the page asks whether to discard it anyway, and on yes sends the
// discard again with force, and the row goes.
func TestDashboardForcedDiscard(t *testing.T) {
	bctx, dialogs := startBrowser(t)
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	svc := dlq.New(rdb)
	ctx := context.Background()
	it, err := svc.PushScrapeFailure(ctx, uuid.New(), errors.New("claimed by a retry in another process"))
	if err != nil {
		t.Fatal(err)
	}
	// Another process's retry holds a claim until 2100.
	if err := rdb.HSet(ctx, "{"+dlq.ScrapeKey+"}:claims", it.ID, "4102444800000:other").Err(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(svc))
	t.Cleanup(srv.Close)
	row := fmt.Sprintf(`tr[data-id=%q]`, it.ID)
	if err := chromedp.Run(bctx,
		chromedp.Navigate(srv.URL+"/dlq/"),
		chromedp.WaitVisible(row+` .inflight`, chromedp.ByQuery),
		chromedp.Click(row+` button[data-action="delete"]`, chromedp.ByQuery),
		chromedp.WaitNotPresent(row, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.LLen(ctx, dlq.ScrapeKey).Result(); n != 0 {
		t.Fatalf("%d entries left after the forced discard", n)
	}
	asked := dialogs()
	if len(asked) != 1 || !strings.Contains(asked[0], "Discard it anyway?") {
		t.Fatalf("dialogs: %q; want one asking to discard the claimed entry anyway", asked)
	}
}

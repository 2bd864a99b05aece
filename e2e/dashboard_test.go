// Package e2e drives the dashboard in a real headless Chromium. It is a
// module of its own so that importers of dlq never download chromedp.
//
//	cd e2e && go test ./...
//
// It skips when no Chromium is installed, except in CI (CI=true).
package e2e

import (
	"context"
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
		chromedp.Click(fmt.Sprintf(`button[data-action="bulk-retry"][data-sig=%q]`, sig), chromedp.ByQuery),
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

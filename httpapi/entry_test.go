package httpapi_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

func TestItemRoute(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		it, err := e.svc.PushScrapeFailure(ctx, uuid.New(), errors.New("GET /p/1: 503"))
		if err != nil {
			t.Fatal(err)
		}
		other := `{"id":"their id","source_id":"s","job_id":null,"error":"x","failed_at":"2026-01-02T03:04:05+00:00","retry_count":0,"dlq_type":"scrape"}`
		if err := e.Client.LPush(ctx, dlq.ScrapeKey, other).Err(); err != nil {
			t.Fatal(err)
		}
		h := httpapi.New(e.svc, httpapi.WithMaxHeavy(1))
		for _, tc := range []struct {
			query  string
			status int
			id     string
		}{
			{"id=" + it.ID, 200, it.ID},
			{"id=their+id", 200, "their id"},
			{"id=019ac4b2-6f0e-7c3a-9a4e-52a0d7f1f7a1", 404, ""},
			{"id=", 400, ""},
			{"", 400, ""},
			{"id=a&id=b", 400, ""},
			{"id=" + strings.Repeat("x", 257), 400, ""},
		} {
			res := do(t, h, "GET", "/dlq/scrape/item?"+tc.query)
			if res.status != tc.status {
				t.Errorf("?%.40s: %d %s, want %d", tc.query, res.status, res.body, tc.status)
				continue
			}
			var got dlq.Item
			if tc.id != "" && (json.Unmarshal(res.body, &got) != nil || got.ID != tc.id) {
				t.Errorf("?%s: %s", tc.query, res.body)
			}
		}
	})
}

// exportLines reads an export's answer back into stored strings.
func exportLines(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, `"`) {
			var b64 string
			if err := json.Unmarshal([]byte(line), &b64); err != nil {
				t.Fatalf("encoded line %q: %v", line, err)
			}
			raw, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatalf("encoded line %q: %v", line, err)
			}
			line = string(raw)
		}
		out = append(out, line)
	}
	if sc.Err() != nil {
		t.Fatal(sc.Err())
	}
	return out
}

func TestExportRoute(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		odd := []string{"not json {", "", "\xff\xfe invalid UTF-8", "{\"id\":\"a\",\n\"error\":\"pretty\"}", `"quoted"`, "cr\rlf"}
		for i := range 700 {
			if _, err := e.svc.PushScrapeFailure(ctx, uuid.New(), fmt.Errorf("GET /p/%d: %s", i, strings.Repeat("e", i*100))); err != nil {
				t.Fatal(err)
			}
			if i%100 == 0 {
				if err := e.Client.LPush(ctx, dlq.ScrapeKey, odd[i/100%len(odd)]).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := e.svc.PushScrapeFailure(ctx, uuid.New(), errors.New(strings.Repeat("64 KiB ", 10<<10))); err != nil {
			t.Fatal(err)
		}
		want, err := e.Client.LRange(ctx, dlq.ScrapeKey, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(want)

		h := httpapi.New(e.svc)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/dlq/scrape/export", nil))
		res := rec.Result()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("export: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(res.Body)
		got := exportLines(t, body)
		if !slices.Equal(got, want) {
			t.Fatalf("export: %d lines, want the %d stored strings byte for byte", len(got), len(want))
		}
		if c, enc := res.Trailer.Get(httpapi.ExportCountTrailer), res.Trailer.Get(httpapi.ExportEncodedTrailer); c != strconv.Itoa(len(want)) || enc != "4" {
			t.Errorf("trailers: count %q, encoded %q; want %d and 4", c, enc, len(want))
		}

		// A filter: the matching well-formed entries only.
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/dlq/scrape/export?error=%2Fp%2F69", nil))
		got = exportLines(t, rec.Body.Bytes())
		if len(got) != 11 { // /p/69 and /p/690…699
			t.Fatalf("export?error=/p/69: %d lines, want 11", len(got))
		}
	})
}

// TestExportRouteClientGone: an export stops when its client goes away,
// and frees its heavy slot.
func TestExportRouteClientGone(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		big := strings.Repeat("x", 60<<10)
		for range 200 {
			if _, err := e.svc.PushScrapeFailure(ctx, uuid.New(), errors.New(big)); err != nil {
				t.Fatal(err)
			}
		}
		srv := httptest.NewServer(httpapi.New(e.svc, httpapi.WithMaxHeavy(1)))
		defer srv.Close()
		cctx, cancel := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(cctx, "GET", srv.URL+"/dlq/scrape/export", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(res.Body, make([]byte, 100<<10)); err != nil {
			t.Fatal(err)
		}
		cancel()
		_ = res.Body.Close()
		// The slot comes free once the handler has stopped.
		for i := 0; ; i++ {
			r, err := http.Get(srv.URL + "/dlq/scrape/count")
			if err != nil {
				t.Fatal(err)
			}
			_ = r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
			if i == 100 {
				t.Fatalf("the heavy slot is still taken: %d", r.StatusCode)
			}
			waitABit()
		}
	})
}

func waitABit() { time.Sleep(20 * time.Millisecond) }

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fake is an httptest server speaking the DLQ API's routes, operations
// and audit included, under /api/v1/dlq.
type fake struct {
	mu       sync.Mutex
	requests []string // "METHOD /path?query body"
	noAsync  bool     // answer as a server without operations
	polls    int      // GETs of the operation so far
	finishAt int      // the operation ends after this many polls (0: never by itself)
	state    string
	seen     http.Header
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(b)))
	f.seen = r.Header.Clone()
	p := strings.TrimPrefix(r.URL.Path, "/api/v1/dlq")
	js := func(status int, v string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, v+"\n")
	}
	op := func() string {
		if f.state == "done" {
			f.polls = 4
		}
		return fmt.Sprintf(`{"id":"op1","kind":"scrape","action":"retry","state":%q,"matched":4,"handled":%d,"failed":0,"skipped":0,"actor":"ann","reason":"shop up","created":"2026-01-02T03:04:05Z"}`,
			f.state, min(f.polls, 4))
	}
	switch {
	case r.Method == "GET" && p == "/stats":
		js(200, `{"scrape":4,"extraction":1}`)
	case r.Method == "GET" && p == "/scrape" && r.URL.Query().Get("error") == "nomatch":
		js(200, `[]`)
	case r.Method == "GET" && p == "/scrape":
		js(200, `[{"id":"a","source_id":"s","job_id":null,"error":"GET /p/1: 503","failed_at":"2026-01-02T03:04:05.000000+00:00","retry_count":1,"dlq_type":"scrape"}]`)
	case r.Method == "GET" && p == "/scrape/item" && r.URL.Query().Get("id") == "a b/c":
		js(200, `{"id":"a b/c","source_id":"s","job_id":"j","error":"boom","failed_at":"2026-01-02T03:04:05.000000+00:00","retry_count":0,"dlq_type":"scrape","extra":1}`)
	case r.Method == "GET" && p == "/scrape/item":
		js(404, `{"detail":"item not found"}`)
	case r.Method == "GET" && p == "/scrape/history":
		js(200, `{"window":"24h","bucket_seconds":60,"buckets":[{"start":"a","count":0},{"start":"b","count":3},{"start":"c","count":6}]}`)
	case r.Method == "GET" && p == "/scrape/export":
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Trailer", "DLQ-Export-Count")
		io.WriteString(w, "{\"id\":\"a\"}\nnot json\n")
		w.Header().Set("DLQ-Export-Count", "2")
	case r.Method == "GET" && p == "/scrape/ops":
		js(200, "["+op()+"]")
	case r.Method == "GET" && p == "/scrape/audit":
		// Records as the real server serves them: an operation's end, a
		// bulk action run within a request, one entry's retry.
		js(200, `[{"cursor":"3-0","time":"2026-01-02T03:04:07Z","kind":"scrape","action":"op_finish","actor":"","reason":"shop up","op":"op1","filter":{"error":"y"},"matched":4,"handled":1,"failed":0,"skipped":0,"result":"cancelled"},`+
			`{"cursor":"2-0","time":"2026-01-02T03:04:05Z","kind":"scrape","action":"delete_matching","actor":"ann","reason":"dup","filter":{"error":"x"},"matched":2,"handled":2,"failed":0,"skipped":0,"result":"ok"},`+
			`{"cursor":"1-0","time":"2026-01-02T03:04:00Z","kind":"scrape","action":"retry","actor":"bob","reason":"","id":"a","result":"ok"}]`)
	case r.Method == "GET" && p == "/scrape/ops/op1":
		f.polls++
		if f.finishAt > 0 && f.polls >= f.finishAt && f.state == "running" {
			f.state = "done"
		}
		js(200, op())
	case r.Method == "DELETE" && p == "/scrape/ops/op1":
		f.state = "cancelled"
		js(200, op()) // as httpapi answers: the operation
	case r.Method == "POST" && (p == "/scrape/retry" || p == "/scrape/delete"):
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		switch {
		case body["dry_run"] == true && body["error"] == "nomatch":
			js(200, `{"matched":0,"handled":0,"failed":0,"skipped":0}`)
		case body["dry_run"] == true:
			js(200, `{"matched":4,"handled":0,"failed":0,"skipped":0}`)
		case body["async"] == true && f.noAsync:
			js(400, `{"detail":"invalid JSON body: unknown key \"async\"; this route takes …"}`)
		case body["async"] == true:
			f.state = "running"
			w.Header().Set("Location", "/api/v1/dlq/scrape/ops/op1") // as httpapi sets it: the path asked for, prefix included
			js(202, op())
		default:
			js(200, `{"matched":4,"handled":3,"failed":1,"skipped":0}`)
		}
	case r.Method == "POST" && p == "/scrape/retry-item":
		js(200, `{"id":"a","source_id":"s","job_id":null,"error":"x","failed_at":"2026-01-02T03:04:05.000000+00:00","retry_count":0,"dlq_type":"scrape"}`)
	case r.Method == "POST" && p == "/scrape/delete-item":
		w.WriteHeader(204)
	default:
		js(404, `{"detail":"not found"}`)
	}
}

// run runs dlqctl against the fake with stdin and a terminal or not.
func (f *fake) run(t *testing.T, ctx context.Context, stdin string, tty bool, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	var out, errb bytes.Buffer
	a := &app{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		env: func(k string) string {
			switch k {
			case "DLQ_URL":
				return srv.URL + "/api/v1/dlq/"
			case "DLQ_HEADERS":
				return "Authorization: Bearer t0ken\nX-Team: ops"
			}
			return ""
		},
		terminal:  func(any) bool { return tty },
		pollEvery: time.Millisecond,
	}
	code = a.run(ctx, args)
	return code, out.String(), errb.String()
}

func (f *fake) sent(substr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if strings.Contains(r, substr) {
			return true
		}
	}
	return false
}

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout []string // substrings
		stderr string
		sent   string
	}{
		{[]string{"stats"}, 0, []string{"KIND", "scrape      4"}, "", "GET /api/v1/dlq/stats"},
		{[]string{"stats", "--json"}, 0, []string{`{"scrape":4,"extraction":1}`}, "", ""},
		{[]string{"ls", "scrape", "--error", "503", "--limit", "5"}, 0, []string{"GET /p/1: 503"}, "", "GET /api/v1/dlq/scrape?error=503&limit=5"},
		{[]string{"ls", "scrape", "--ndjson"}, 0, []string{`{"id":"a",`}, "", ""},
		{[]string{"ls", "scrape", "--error", "nomatch"}, 3, nil, "no entries", ""},
		{[]string{"show", "scrape", "a b/c"}, 0, []string{"a b/c", "boom"}, "", "GET /api/v1/dlq/scrape/item?id=a+b%2Fc"},
		{[]string{"show", "scrape", "gone"}, 1, nil, "404 item not found", ""},
		{[]string{"history", "scrape"}, 0, []string{" ▅█", "9 failures"}, "", "window=24h"},
		{[]string{"export", "scrape"}, 0, []string{"{\"id\":\"a\"}\nnot json\n"}, "", "GET /api/v1/dlq/scrape/export"},
		{[]string{"ops", "scrape"}, 0, []string{"op1", "retry", "ann", "shop up"}, "", ""},
		{[]string{"op", "scrape", "op1", "--json"}, 0, []string{`"id":"op1"`}, "", "GET /api/v1/dlq/scrape/ops/op1"},
		{[]string{"audit", "scrape"}, 0, []string{"delete_matching", `{"error":"x"}`, "2 matched", "bob", "op op1", "cancelled", "1 handled"}, "", ""},
		{[]string{"retry", "scrape", "a"}, 0, []string{"retried a"}, "", `POST /api/v1/dlq/scrape/retry-item {"id":"a"}`},
		{[]string{"delete", "scrape", "a", "--force", "--reason", "dup"}, 0, []string{"deleted a"}, "", `{"force":true,"id":"a","reason":"dup"}`},
		{[]string{"delete", "scrape", "--error", "nomatch", "--yes"}, 3, nil, "nothing matched", ""},
		{[]string{"delete", "scrape", "--all", "--error", "x"}, 2, nil, "not both", ""},
		{[]string{"ls"}, 2, nil, "usage: dlqctl ls KIND", ""},
		{[]string{"nope"}, 2, nil, "unknown command", ""},
		{[]string{"ls", "scrape", "--limit", "0"}, 2, nil, "--limit", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := &fake{}
			code, out, errs := f.run(t, context.Background(), "", false, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, errs)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout %q lacks %q", out, s)
				}
			}
			if !strings.Contains(errs, tc.stderr) || (tc.code == 0 && errs != "") {
				t.Errorf("stderr %q, want %q", errs, tc.stderr)
			}
			if tc.sent != "" && !f.sent(tc.sent) {
				t.Errorf("requests %q: none has %q", f.requests, tc.sent)
			}
			if f.seen != nil && f.seen.Get("Authorization") != "Bearer t0ken" {
				t.Errorf("headers sent: %v", f.seen)
			}
		})
	}
}

func TestBulkAsOperation(t *testing.T) {
	f := &fake{finishAt: 3}
	code, out, errs := f.run(t, context.Background(), "", false, "retry", "scrape", "--error", "503", "--yes", "--rate", "5", "--reason", "shop up")
	if code != 0 || !strings.Contains(out, "retry done: 4 matched, 4 handled") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	for _, want := range []string{
		`POST /api/v1/dlq/scrape/retry {"dry_run":true,"error":"503","rate":5}`,
		`POST /api/v1/dlq/scrape/retry {"async":true,"error":"503","rate":5,"reason":"shop up"}`,
		`GET /api/v1/dlq/scrape/ops/op1`,
	} {
		if !f.sent(want) {
			t.Errorf("requests %q: none is %q", f.requests, want)
		}
	}
}

func TestBulkConfirm(t *testing.T) {
	f := &fake{finishAt: 1}
	// Not a terminal and no --yes: refused before any change.
	code, _, errs := f.run(t, context.Background(), "y\n", false, "delete", "scrape", "--all")
	if code != 2 || !strings.Contains(errs, "--yes") || f.sent(`"async"`) {
		t.Fatalf("no terminal: exit %d, stderr %q, requests %q", code, errs, f.requests)
	}
	// A terminal, and the operator says no.
	code, _, errs = f.run(t, context.Background(), "n\n", true, "delete", "scrape", "--all")
	if code != 1 || !strings.Contains(errs, "delete about 4 entries of scrape? [y/N]") || !strings.Contains(errs, "not confirmed") || f.sent(`"async"`) {
		t.Fatalf("refused: exit %d, stderr %q, requests %q", code, errs, f.requests)
	}
	// And yes.
	code, out, errs := f.run(t, context.Background(), "y\n", true, "delete", "scrape", "--all")
	if code != 0 || !strings.Contains(out, "done") || !strings.Contains(errs, "[##############################] 4/4") {
		t.Fatalf("confirmed: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestBulkCancel(t *testing.T) {
	f := &fake{} // the operation runs until cancelled
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for !f.sent("GET /api/v1/dlq/scrape/ops/op1") {
			time.Sleep(time.Millisecond)
		}
		cancel() // Ctrl-C
	}()
	code, out, errs := f.run(t, ctx, "", false, "retry", "scrape", "--all", "--yes")
	if code != 1 || !strings.Contains(out, "retry cancelled") || !f.sent("DELETE /api/v1/dlq/scrape/ops/op1") {
		t.Fatalf("exit %d, stdout %q, stderr %q, requests %q", code, out, errs, f.requests)
	}
}

func TestBulkWithoutOperations(t *testing.T) {
	f := &fake{noAsync: true}
	code, out, errs := f.run(t, context.Background(), "", false, "retry", "scrape", "--signature", "s1", "--yes", "--json")
	// 1 failed requeue: exit 1, the counts printed.
	if code != 1 || !strings.Contains(out, `"matched":4,"handled":3,"failed":1`) || !strings.Contains(errs, "1 requeues failed") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if !f.sent(`POST /api/v1/dlq/scrape/retry {"signature":"s1"}`) {
		t.Errorf("no synchronous retry sent: %q", f.requests)
	}
}

func TestURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080/api/v1/dlq", "ftp://x/dlq"} {
		a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, env: func(string) string { return "" }, terminal: func(any) bool { return false }}
		if code := a.run(context.Background(), []string{"stats", "--url", u}); code != 2 {
			t.Errorf("--url %q: exit %d, want 2", u, code)
		}
	}
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

// TestHostFilter: host= narrows the list, the count and the bulk actions,
// from the query or a JSON body, as the other filter fields do.
func TestHostFilter(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		var requeued atomic.Int64
		svc := dlq.New(e.Client, dlq.WithRequeuer(dlq.RequeueFunc(func(ctx context.Context, it dlq.Item) error {
			requeued.Add(1)
			return nil
		})))
		var texts []string
		for i, host := range []string{"a.com", "b.org", "a.com", "b.org", "a.com", "c.net"} {
			texts = append(texts, fmt.Sprintf(`Get "https://%s/p/%d": EOF`, host, i))
		}
		pushErrs(t, svc, texts...)
		h := httpapi.New(svc)

		if items := decodeItems(t, do(t, h, "GET", "/dlq/scrape?host=b.org")); len(items) != 2 || items[0]["error"] != texts[3] || items[1]["error"] != texts[1] {
			t.Fatalf("list of b.org: %v", items)
		}
		var c struct{ Count int }
		if r := do(t, h, "GET", "/dlq/scrape/count?host=A.com"); json.Unmarshal(r.body, &c) != nil || c.Count != 3 {
			t.Fatalf("count of A.com: %s", r.body)
		}
		if r := do(t, h, "POST", "/dlq/scrape/delete?host=c.net"); string(r.body) != `{"matched":1,"handled":1,"failed":0,"skipped":0}`+"\n" {
			t.Fatalf("delete of c.net: %d %s", r.status, r.body)
		}
		if r := doBody(t, h, "POST", "/dlq/scrape/retry", "application/json", `{"host": "a.com"}`); string(r.body) != `{"matched":3,"handled":3,"failed":0,"skipped":0}`+"\n" || requeued.Load() != 3 {
			t.Fatalf("retry of a.com: %d %s, requeued %d", r.status, r.body, requeued.Load())
		}
		if items := decodeItems(t, do(t, h, "GET", "/dlq/scrape")); len(items) != 2 {
			t.Fatalf("left: %v, want b.org's 2", items)
		}
		if r := doBody(t, h, "POST", "/dlq/scrape/delete", "application/json", `{"host": "b.org", "host": ""}`); r.status != 400 {
			t.Fatalf("host given twice: %d %s", r.status, r.body)
		}
	})
}

// TestGroupsPages: every group is on one page of limit= and offset=, the
// total in DLQ-Total-Groups and the next offset in DLQ-Next-Offset; each
// group lists its hosts.
func TestGroupsPages(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		var texts []string
		for cause := range 5 { // cause i has 5-i entries, on hosts h0… h(4-i)
			for n := range 5 - cause {
				texts = append(texts, fmt.Sprintf(`selector "span.c%c" matched 0 nodes on https://h%d.example.com/p`, 'a'+cause, n))
			}
		}
		pushErrs(t, e.svc, texts...)
		h := httpapi.New(e.svc)
		var all []dlq.Group
		for offset := "0"; offset != ""; {
			r := do(t, h, "GET", "/dlq/scrape/groups?limit=2&offset="+offset)
			var gs []dlq.Group
			if err := json.Unmarshal(r.body, &gs); err != nil || r.status != 200 || len(gs) == 0 || len(gs) > 2 || r.header.Get(httpapi.TotalGroupsHeader) != "5" {
				t.Fatalf("offset %s: %d %s, total %q", offset, r.status, r.body, r.header.Get(httpapi.TotalGroupsHeader))
			}
			all = append(all, gs...)
			offset = r.header.Get(httpapi.NextOffsetHeader)
		}
		if len(all) != 5 {
			t.Fatalf("%d groups over the pages, want 5", len(all))
		}
		for i, g := range all {
			if g.Count != 5-i || len(g.Hosts) != 5-i || g.Hosts[0] != (dlq.HostCount{Host: "h0.example.com", Count: 1}) || g.MoreHosts != 0 {
				t.Errorf("group %d: %+v", i, g)
			}
		}
		if r := do(t, h, "GET", "/dlq/scrape/groups?offset=9"); string(r.body) != "[]\n" || r.header.Get(httpapi.NextOffsetHeader) != "" {
			t.Errorf("past the end: %s, next %q", r.body, r.header.Get(httpapi.NextOffsetHeader))
		}
		for _, target := range []string{"/dlq/scrape/groups?limit=0", "/dlq/scrape/groups?limit=1001", "/dlq/scrape/groups?offset=-1", "/dlq/scrape/groups?offset=x"} {
			if r := do(t, h, "GET", target); r.status != 400 {
				t.Errorf("GET %s: %d, want 400", target, r.status)
			}
		}
	})
}

// TestDashboardHostsAndMoreCauses: each cause lists its hosts, with a
// link that narrows the list to the cause on that host and per-host
// buttons; causes past the top 10 unfold under "N more causes"; the chart
// opens on 1h for a DLQ younger than a day.
func TestDashboardHostsAndMoreCauses(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		var texts []string
		for i := range 12 { // 12 causes: c0 has 13 entries … c11 has 2
			for n := range 13 - i {
				texts = append(texts, fmt.Sprintf(`selector "span.c%d" matched 0 nodes on https://h%d.example.com/p`, i, n%7))
			}
		}
		pushErrs(t, e.svc, texts...)
		h := httpapi.New(e.svc, httpapi.WithPrefix("/ops"))
		sig := dlq.Signature(texts[0])
		attr := strings.NewReplacer(`"`, "&#34;", "<", "&lt;", ">", "&gt;", "+", "&#43;").Replace // as html/template writes attributes
		_, page := getPage(t, h, "/ops/dlq/")
		for _, want := range []string{
			`<details class="more-causes" data-key="more-causes"><summary>2 more causes</summary>`,
			`<a href="?host=h0.example.com&amp;kind=scrape&amp;sig=` + attr(url.QueryEscape(sig)) + `" data-host="h0.example.com">h0.example.com</a> <span class="n">2</span>`,
			`data-sig="` + attr(sig) + `" data-host="h0.example.com" class="small danger">discard these</button>`,
			`<li class="more-hosts">2 more hosts</li>`,
			`<section id="chart" data-window="1h">`, `data-window="1h" aria-pressed="true"`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		code, page := getPage(t, h, "/ops/dlq/?kind=scrape&sig="+url.QueryEscape(sig)+"&host=h1.example.com")
		if code != 200 || strings.Count(page, `<tr data-id=`) != 2 || !strings.Contains(page, `<span class="chip">host: <code>h1.example.com</code></span>`) {
			t.Errorf("the cause on h1: %d, %d rows", code, strings.Count(page, `<tr data-id=`))
		}
	})
}

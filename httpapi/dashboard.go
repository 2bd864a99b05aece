package httpapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dlqkit/dlq"
)

// The dashboard: GET /dlq/ (relative to the mount) answers one HTML page
// rendered from embedded assets. Its actions call the JSON API next to it
// with relative URLs and JSON bodies, so it works under any mount prefix,
// whatever the ids, and there is no second implementation of any
// operation. Its script refreshes the counts, causes and rows every few
// seconds by fetching the page again.

var (
	//go:embed assets/dashboard.html
	dashboardHTML string
	//go:embed assets/dashboard.css
	dashboardCSS string
	//go:embed assets/dashboard.js
	dashboardJS string

	dashboardTmpl = template.Must(template.New("dashboard").Parse(dashboardHTML))
)

// dashboardCSP is the page's Content-Security-Policy: only its own inline
// style and script run, allowed by their hashes; nothing is loaded from
// elsewhere, and the page cannot be framed by another site.
func dashboardCSP() string {
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; style-src " + hash(dashboardCSS) + "; script-src " + hash(dashboardJS) + " " + hash(chartJS) +
		"; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// Dashboard sizes.
const (
	dashboardRows     = 100
	dashboardGroups   = 10    // causes shown at first
	dashboardMore     = 100   // more causes behind "N more causes"
	groupWindow       = 2_000 // the top causes are counted among the newest entries: fewer than GET /dlq/{kind}/groups' DefaultGroupScan, as the page refreshes every 5 s
	shortRunes        = 140   // an error or cause longer than this folds
	dashboardMaxQuery = 1024  // q and sig; longer causes are not linked
	// pageErrorBytes is the most of an error text the page shows: a row
	// over it says "shown cut" and the entry's size, as cut entries do
	// (GET /dlq/{kind} serves up to 64 KiB). A page of 100 errors of
	// 64 KiB was 13 MB, fetched again every 5 s by its refresh.
	pageErrorBytes = 8 << 10
)

type kindView struct {
	Name    string
	Count   int64
	Evicted int64
	Active  bool
}

type groupView struct {
	Signature, Short, Sample string
	Long, Linkable           bool
	Href                     template.URL
	Count                    int
	NewestISO, NewestAgo     string
	Hosts                    []hostView
	MoreHosts                int
	ReadOnly, CanRetry       bool // the page's, for the row's template
}

// hostView is one host of a cause: a link that lists the cause's failures
// there, and the bulk actions on them.
type hostView struct {
	Host      string
	Count     int
	Href      template.URL
	Signature string
}

type rowView struct {
	ID, SourceID, JobID, Short string
	Error                      template.HTML // escaped by escapeHTML: up to 64 KiB a row
	Long                       bool
	FailedISO, FailedAgo       string
	RetryCount                 int
	InFlight                   bool
	ClaimedISO                 string
	Cut                        bool
	Size                       int
}

type dashboardData struct {
	Kind                 string
	Count                int64
	Kinds                []kindView
	Warnings             []string
	Groups               []groupView
	MoreGroups           []groupView // after Groups, folded
	HiddenGroups         int         // after MoreGroups: GET /dlq/{kind}/groups has them
	GroupWindow          int
	Host                 string
	ChartWindow          string   // the chart's first window: 1h while the DLQ is younger than a day
	ChartWindows         []string // the windows it offers
	Rows                 []rowView
	Q, Sig, Cursor, Next string
	Filtered, ReadOnly   bool
	CanRetry             bool
	NextHref, FirstHref  template.URL // built by url.Values.Encode
	CSS                  template.CSS
	JS                   template.JS
	ChartJS              template.JS // the chart of failures over time (history.go)
}

func (h *handler) dashboard(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "kind", "q", "sig", paramHost, paramCursor)
	if !ok {
		return
	}
	kind := dlq.Kind(q.Get("kind"))
	if kind == "" {
		kind = dlq.Scrape
	}
	if !slices.Contains(h.kinds, kind) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown DLQ kind %q", string(kind)))
		return
	}
	text, sig, host, cursor := q.Get("q"), q.Get("sig"), q.Get(paramHost), q.Get(paramCursor)
	if len(text) > dashboardMaxQuery || len(sig) > dashboardMaxQuery || len(host) > dashboardMaxQuery {
		writeError(w, http.StatusBadRequest, "filter too long")
		return
	}
	ctx := r.Context()
	now := time.Now()
	d := dashboardData{
		Kind: string(kind), Q: text, Sig: sig, Host: host, Cursor: cursor, ReadOnly: h.readOnly, CanRetry: h.canRequeue,
		GroupWindow: groupWindow, Filtered: text != "" || sig != "" || host != "", ChartWindow: "24h", ChartWindows: chartWindows(),
		CSS: template.CSS(dashboardCSS), JS: template.JS(dashboardJS), ChartJS: template.JS(chartJS),
	}
	for _, k := range h.kinds {
		info, err := h.svc.Info(ctx, k)
		if err != nil {
			h.failPage(w, r, err)
			return
		}
		d.Kinds = append(d.Kinds, kindView{Name: string(k), Count: info.Length, Evicted: info.Evicted, Active: k == kind})
		if k == kind {
			d.Count = info.Length
			if info.Oldest.IsZero() || now.Sub(info.Oldest) < 24*time.Hour {
				d.ChartWindow = "1h"
			}
		}
		for _, warning := range info.Warnings {
			if !slices.Contains(d.Warnings, warning) {
				d.Warnings = append(d.Warnings, warning)
			}
		}
	}
	f := dlq.Filter{Signature: sig, Host: host}
	if id, err := uuid.Parse(text); err == nil {
		f.SourceID = id.String()
	} else {
		f.ErrorContains = text
	}
	page, err := h.svc.Find(ctx, kind, dlq.Query{Filter: f, Cursor: cursor, Limit: dashboardRows})
	if err != nil {
		h.failPage(w, r, err)
		return
	}
	groups, err := h.svc.RecentGroups(ctx, kind, groupWindow)
	if err != nil {
		h.failPage(w, r, err)
		return
	}
	for i, g := range groups[:min(len(groups), dashboardGroups+dashboardMore)] {
		gv := groupView{Signature: g.Signature, Sample: cutText(g.Sample, MaxSampleBytes), Count: g.Count,
			NewestISO: g.Newest.Format(time.RFC3339), NewestAgo: ago(now, g.Newest), MoreHosts: g.MoreHosts,
			ReadOnly: h.readOnly, CanRetry: h.canRequeue}
		gv.Short, gv.Long = short(g.Signature)
		if len(g.Signature) <= dashboardMaxQuery {
			gv.Linkable = true
			gv.Href = template.URL("?" + url.Values{"kind": {string(kind)}, "sig": {g.Signature}}.Encode())
			for _, hc := range g.Hosts {
				gv.Hosts = append(gv.Hosts, hostView{Host: hc.Host, Count: hc.Count, Signature: g.Signature,
					Href: template.URL("?" + url.Values{"kind": {string(kind)}, "sig": {g.Signature}, paramHost: {hc.Host}}.Encode())})
			}
		}
		if i < dashboardGroups {
			d.Groups = append(d.Groups, gv)
		} else {
			d.MoreGroups = append(d.MoreGroups, gv)
		}
	}
	d.HiddenGroups = len(groups) - len(d.Groups) - len(d.MoreGroups)
	size := 64 << 10 // the page without its rows' errors
	var m measurer
	for _, it := range page.Items {
		s := cutItem(it, &m)
		if len(s.Error) > pageErrorBytes {
			s.cut = true // the page's own cut
		}
		row := rowView{ID: s.ID, SourceID: s.SourceID, Error: escapeHTML(cutText(s.Error, pageErrorBytes)), RetryCount: s.RetryCount,
			FailedISO: s.FailedAt.Format(time.RFC3339Nano), FailedAgo: ago(now, s.FailedAt),
			InFlight: s.InFlight, Cut: s.cut, Size: s.size}
		row.Short, row.Long = short(s.Error)
		if s.JobID != nil {
			row.JobID = *s.JobID
		}
		if s.InFlight {
			row.ClaimedISO = s.ClaimedUntil.UTC().Format(time.RFC3339)
		}
		d.Rows = append(d.Rows, row)
		size += len(row.Error) + len(row.Short)
	}
	base := url.Values{"kind": {string(kind)}}
	if text != "" {
		base.Set("q", text)
	}
	if sig != "" {
		base.Set("sig", sig)
	}
	if host != "" {
		base.Set(paramHost, host)
	}
	d.FirstHref = template.URL("?" + base.Encode())
	if page.Next != "" {
		d.Next = page.Next
		base.Set(paramCursor, page.Next)
		d.NextHref = template.URL("?" + base.Encode())
	}

	var buf bytes.Buffer
	buf.Grow(size)
	if err := dashboardTmpl.Execute(&buf, d); err != nil {
		h.failPage(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", h.dashboardCS)
	_, _ = w.Write(buf.Bytes())
}

// chartWindows are the history route's windows, in order.
func chartWindows() []string {
	ws := make([]string, len(historyWindows))
	for i, hw := range historyWindows {
		ws[i] = hw.name
	}
	return ws
}

// escapeHTML escapes s as html/template escapes text in an element,
// which the page's error texts are: in one pass over bytes, where the
// template's escaper goes rune by rune (a page of 100 errors of 64 KiB
// took it 50 ms).
func escapeHTML(s string) template.HTML {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		repl := htmlEscapes[s[i]]
		if repl == "" {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s) + len(s)/8 + 16)
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		last = i + 1
	}
	if last == 0 {
		return template.HTML(s)
	}
	b.WriteString(s[last:])
	return template.HTML(b.String())
}

// htmlEscapes are html/template's replacements in text (its
// htmlReplacementTable): NUL, '"', '&', '\”, '+', '<' and '>'.
var htmlEscapes = [256]string{0: "\uFFFD", '"': "&#34;", '&': "&amp;", '\'': "&#39;", '+': "&#43;", '<': "&lt;", '>': "&gt;"}

// short returns the first shortRunes runes of s and an ellipsis, and
// whether s was longer.
func short(s string) (string, bool) {
	n := 0
	for i := range s {
		if n == shortRunes {
			return s[:i] + "…", true
		}
		n++
	}
	return s, false
}

// ago says how long ago t was, in the largest whole unit.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
}

package httpapi

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/dlqkit/dlq"
)

// The dashboard: GET /dlq/ (relative to the mount) answers one HTML page
// rendered from embedded assets. Its actions call the JSON API next to it
// with relative URLs, so it works under any mount prefix and there is no
// second implementation of any operation.

var (
	//go:embed assets/dashboard.html
	dashboardHTML string
	//go:embed assets/dashboard.css
	dashboardCSS string
	//go:embed assets/dashboard.js
	dashboardJS string

	dashboardTmpl = template.Must(template.New("dashboard").Parse(dashboardHTML))
)

// WithReadOnly makes the handler read-only: the dashboard shows no
// actions, and the routes that change the DLQ (POST, DELETE) answer 403.
func WithReadOnly() Option { return func(h *handler) { h.readOnly = true } }

// Dashboard sizes.
const (
	dashboardRows     = 100
	dashboardGroups   = 10
	groupWindow       = 5000 // the top causes are counted among the newest entries
	shortErrorRunes   = 140
	dashboardMaxQuery = 512
)

type kindView struct {
	Name    string
	Count   int64
	Evicted int64
	Active  bool
}

type groupView struct {
	Signature, Sample    string
	Count                int
	NewestISO, NewestAgo string
}

type rowView struct {
	ID, SourceID, JobID, Error, Short string
	Long                              bool
	FailedISO, FailedAgo              string
	RetryCount                        int
}

type dashboardData struct {
	Kind                 string
	Count                int64
	Kinds                []kindView
	Groups               []groupView
	GroupWindow          int
	Rows                 []rowView
	Q, Sig, Cursor, Next string
	Filtered, ReadOnly   bool
	NextHref, FirstHref  template.URL // built by url.Values.Encode
	CSS                  template.CSS
	JS                   template.JS
}

func (h *handler) dashboard(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind := dlq.Kind(q.Get("kind"))
	if kind == "" {
		kind = dlq.Scrape
	}
	if !h.kinds[kind] {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown DLQ kind %q", string(kind)))
		return
	}
	text, sig, cursor := q.Get("q"), q.Get("sig"), q.Get("cursor")
	if len(text) > dashboardMaxQuery || len(sig) > dashboardMaxQuery {
		writeError(w, http.StatusBadRequest, "filter too long")
		return
	}
	ctx := r.Context()
	now := time.Now()
	d := dashboardData{
		Kind: string(kind), Q: text, Sig: sig, Cursor: cursor, ReadOnly: h.readOnly,
		GroupWindow: groupWindow, Filtered: text != "" || sig != "",
		CSS: template.CSS(dashboardCSS), JS: template.JS(dashboardJS),
	}
	for _, k := range h.kindList() {
		info, err := h.svc.Info(ctx, k)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		d.Kinds = append(d.Kinds, kindView{Name: string(k), Count: info.Length, Evicted: info.Evicted, Active: k == kind})
		if k == kind {
			d.Count = info.Length
		}
	}
	groups, err := h.svc.RecentGroups(ctx, kind, groupWindow)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, g := range groups[:min(len(groups), dashboardGroups)] {
		d.Groups = append(d.Groups, groupView{Signature: g.Signature, Sample: g.Sample, Count: g.Count,
			NewestISO: g.Newest.Format(time.RFC3339), NewestAgo: ago(now, g.Newest)})
	}
	f := dlq.Filter{Signature: sig}
	if id, err := uuid.Parse(text); err == nil {
		f.SourceID = id.String()
	} else {
		f.ErrorContains = text
	}
	page, err := h.svc.Find(ctx, kind, dlq.Query{Filter: f, Cursor: cursor, Limit: dashboardRows})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, it := range page.Items {
		row := rowView{ID: it.ID, SourceID: it.SourceID, Error: it.Error, Short: it.Error, RetryCount: it.RetryCount,
			FailedISO: it.FailedAt.Format(time.RFC3339Nano), FailedAgo: ago(now, it.FailedAt)}
		if it.JobID != nil {
			row.JobID = *it.JobID
		}
		if utf8.RuneCountInString(it.Error) > shortErrorRunes {
			row.Long, row.Short = true, string([]rune(it.Error)[:shortErrorRunes])+"…"
		}
		d.Rows = append(d.Rows, row)
	}
	base := url.Values{"kind": {string(kind)}}
	if text != "" {
		base.Set("q", text)
	}
	if sig != "" {
		base.Set("sig", sig)
	}
	d.FirstHref = template.URL("?" + base.Encode())
	if page.Next != "" {
		d.Next = page.Next
		base.Set("cursor", page.Next)
		d.NextHref = template.URL("?" + base.Encode())
	}

	var buf bytes.Buffer
	if err := dashboardTmpl.Execute(&buf, d); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	// Only our own inline style and script run; nothing is loaded from
	// elsewhere, and the page cannot be framed by another site.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	_, _ = w.Write(buf.Bytes())
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

// Package httpapi serves a [dlq.Service] over HTTP as JSON, for operators
// and dashboards. [New] returns one http.Handler that the host mounts where
// it likes:
//
//	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(svc)))
//
// gives these routes, relative to the mount:
//
//	GET  /dlq/stats                  {"scrape": N, "extraction": M}
//	GET  /dlq/{kind}?limit=N         JSON array of items, newest first (limit 1..1000, default 100)
//	POST /dlq/{kind}/{id}/retry      the retried item (see dlq.Service.Retry); 404 when there
//	                                 is none; 502 when the Requeuer failed (the item is back)
//	GET  /dlq/{kind}/info            counters and limits of a kind (see dlq.Info)
//	DELETE /dlq/{kind}/{id}          204; 404 when there is no such item
//	GET  /dlq/{kind}?source_id=&job_id=&error=&signature=&failed_after=&failed_before=&cursor=
//	                                 filtered, paged list; next page's cursor in DLQ-Next-Cursor
//	GET  /dlq/{kind}/count?<filter>  {"count": N}
//	GET  /dlq/{kind}/groups          failures grouped by error signature, largest first
//	POST /dlq/{kind}/retry           bulk retry of a filter (query or JSON body), dry_run, rate
//	POST /dlq/{kind}/delete          bulk delete; an empty filter needs all=true
//
// where kind is "scrape" or "extraction" (more with [WithKinds]). Errors
// are JSON {"detail": "..."}: 400 for a bad limit or id, 404 for an unknown
// kind, id or path, 405 (with Allow) for a wrong method, 500 for a Redis
// failure (the cause is logged, not sent).
//
// GET /dlq/ is a dashboard page for operators: counts, top causes, the
// newest failures with retry and discard buttons, a filter and paging. It
// uses the JSON routes above for every action.
//
// The handler does no authentication: wrap it in the host's own middleware
// (see the package examples). It refuses cross-site POST and DELETE
// requests with 403 (net/http's CrossOriginProtection), and WithReadOnly
// turns every change off.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dlqkit/dlq"
)

// Option configures the handler built by [New].
type Option func(*handler)

// WithLogger sets the logger for failed requests. The default is
// [slog.Default].
func WithLogger(l *slog.Logger) Option {
	return func(h *handler) {
		if l != nil {
			h.log = l
		}
	}
}

// WithPrefix serves the routes under prefix ("/api/v1" serves
// "/api/v1/dlq/stats"), for hosts that mount the handler without
// [http.StripPrefix]. A trailing slash is ignored.
func WithPrefix(prefix string) Option {
	return func(h *handler) { h.prefix = strings.TrimRight(prefix, "/") }
}

// WithKinds serves these kinds in addition to dlq.Scrape and
// dlq.Extraction. Invalid kinds are ignored.
func WithKinds(kinds ...dlq.Kind) Option {
	return func(h *handler) {
		for _, k := range kinds {
			if k.Validate() == nil {
				h.kinds[k] = true
			}
		}
	}
}

type handler struct {
	svc      *dlq.Service
	log      *slog.Logger
	prefix   string
	kinds    map[dlq.Kind]bool
	readOnly bool
	mux      *http.ServeMux
}

// kindList is the kinds served, the seed kinds first.
func (h *handler) kindList() []dlq.Kind {
	out := []dlq.Kind{dlq.Scrape, dlq.Extraction}
	var extra []string
	for k := range h.kinds {
		if k != dlq.Scrape && k != dlq.Extraction {
			extra = append(extra, string(k))
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		out = append(out, dlq.Kind(k))
	}
	return out
}

// New returns a handler serving svc. See the package documentation for the
// routes.
func New(svc *dlq.Service, opts ...Option) http.Handler {
	h := &handler{
		svc:   svc,
		kinds: map[dlq.Kind]bool{dlq.Scrape: true, dlq.Extraction: true},
		mux:   http.NewServeMux(),
	}
	for _, o := range opts {
		if o != nil {
			o(h)
		}
	}
	p := h.prefix
	h.mux.HandleFunc("GET "+p+"/dlq/{$}", h.dashboard)
	h.mux.HandleFunc("GET "+p+"/dlq/stats", h.stats)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}", h.list)
	h.mux.HandleFunc("POST "+p+"/dlq/{kind}/{id}/retry", h.retry)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/info", h.info)
	h.mux.HandleFunc("DELETE "+p+"/dlq/{kind}/{id}", h.remove)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/count", h.count)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/groups", h.groups)
	h.mux.HandleFunc("POST "+p+"/dlq/{kind}/retry", h.bulkRetry)
	h.mux.HandleFunc("POST "+p+"/dlq/{kind}/delete", h.bulkDelete)

	// Cross-site POST and DELETE requests (a form or script on another
	// site riding on an operator's session) are refused with 403; see
	// http.CrossOriginProtection.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	return cop.Handler(h)
}

// Register mounts the handler on mux under prefix ("/api/v1"), so that
// "/api/v1/dlq/stats" and the other routes are served.
func Register(mux *http.ServeMux, prefix string, svc *dlq.Service, opts ...Option) {
	prefix = strings.TrimRight(prefix, "/")
	mux.Handle(prefix+"/dlq/", New(svc, append(opts, WithPrefix(prefix))...))
}

func (h *handler) logger() *slog.Logger {
	if h.log != nil {
		return h.log
	}
	return slog.Default()
}

// ServeHTTP routes the request, answering unknown paths and wrong methods
// with JSON errors rather than the mux's plain text.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.readOnly && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
		writeError(w, http.StatusForbidden, "this DLQ view is read-only")
		return
	}
	if len(r.URL.RawQuery) > maxQueryBytes {
		writeError(w, http.StatusRequestURITooLong, fmt.Sprintf("query string over %d bytes", maxQueryBytes))
		return
	}
	if q, err := url.ParseQuery(r.URL.RawQuery); err != nil || !validUTF8(q) {
		writeError(w, http.StatusBadRequest, "query string is not valid URL-encoded UTF-8")
		return
	}
	// ServeMux would redirect an unclean path (/dlq/scrape//retry) to its
	// clean form, which for a POST can be another route: a bulk retry of
	// everything. Unclean paths are not found instead.
	if p := r.URL.Path; p == "" || cleanPath(p) != p {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if _, pattern := h.mux.Handler(r); pattern != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	// No route: learn whether the mux would say 404 or 405 (and Allow).
	rec := &statusRecorder{header: http.Header{}}
	h.mux.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; allowed: %s", r.Method, rec.header.Get("Allow")))
		return
	}
	writeError(w, http.StatusNotFound, "not found")
}

// cleanPath is path.Clean, keeping a trailing slash (the dashboard is at
// /dlq/).
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// maxQueryBytes bounds a request's query string.
const maxQueryBytes = 8 << 10

func validUTF8(q url.Values) bool {
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

// statusRecorder keeps the status and headers of an answer and drops its
// body.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

func (h *handler) stats(w http.ResponseWriter, r *http.Request) {
	st, err := h.svc.Stats(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	limit, err := parseLimit(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if isFiltered(r.URL.Query()) {
		h.find(w, r, kind, limit)
		return
	}
	items, err := h.svc.List(r.Context(), kind, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if items == nil {
		items = []dlq.Item{}
	}
	writeJSON(w, http.StatusOK, items)
}

func (h *handler) retry(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	it, err := h.svc.Retry(r.Context(), kind, r.PathValue("id"))
	if errors.Is(err, dlq.ErrRequeue) {
		h.logger().WarnContext(r.Context(), "dlq/httpapi: requeue failed", "kind", string(kind), "id", r.PathValue("id"), "error", err)
		writeError(w, http.StatusBadGateway, "requeue failed; the item is back in the DLQ")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, it)
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	info, err := h.svc.Info(r.Context(), kind)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// kind returns the path's kind, or answers 404 for one not served.
func (h *handler) kind(w http.ResponseWriter, r *http.Request) (dlq.Kind, bool) {
	k := dlq.Kind(r.PathValue("kind"))
	if !h.kinds[k] {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown DLQ kind %q", string(k)))
		return "", false
	}
	return k, true
}

// The limit query parameter: absent means DefaultLimit; otherwise an
// integer from 1 to MaxLimit.
const (
	DefaultLimit = dlq.DefaultLimit
	MaxLimit     = dlq.MaxLimit
)

func parseLimit(q map[string][]string) (int, error) {
	vs, ok := q["limit"]
	if !ok {
		return DefaultLimit, nil
	}
	bad := fmt.Errorf("limit must be an integer from 1 to %d", MaxLimit)
	if len(vs) != 1 {
		return 0, bad
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 1 || n > MaxLimit {
		return 0, bad
	}
	return n, nil
}

// fail answers a service error: 404 and 400 for the caller's mistakes, 500
// with a logged cause for everything else.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, dlq.ErrNotFound):
		writeError(w, http.StatusNotFound, "item not found")
	case errors.Is(err, dlq.ErrInvalidID):
		writeError(w, http.StatusBadRequest, "invalid id")
	case errors.Is(err, dlq.ErrInvalidLimit):
		writeError(w, http.StatusBadRequest, "invalid limit")
	case errors.Is(err, dlq.ErrClaimed):
		writeError(w, http.StatusConflict, "the item is claimed by a retry under way; try again after its claim ends")
	case errors.Is(err, dlq.ErrNoRequeuer):
		writeError(w, http.StatusConflict, "bulk retry needs a Requeuer: build the Service with dlq.WithRequeuer")
	case r.Context().Err() != nil:
		// The client hung up; nobody reads the answer.
		h.logger().InfoContext(r.Context(), "dlq/httpapi: request cancelled", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		h.logger().ErrorContext(r.Context(), "dlq/httpapi: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

type errorBody struct {
	Detail string `json:"detail"`
}

func writeError(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, errorBody{Detail: detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		// Only values of our own types are encoded; this is a bug.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"detail":"internal error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

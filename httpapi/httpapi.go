// Package httpapi serves a [dlq.Service] over HTTP as JSON, for operators
// and dashboards. [New] returns one http.Handler that the host mounts where
// it likes:
//
//	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(svc)))
//
// gives these routes, relative to the mount (docs/http.md has the full
// table with every status code, and the recipes for chi, gorilla/mux and
// echo):
//
//	GET    /dlq/                      the dashboard (HTML)
//	GET    /dlq                       a relative redirect to dlq/
//	GET    /dlq/stats                 {"scrape": N, "extraction": M}
//	GET    /dlq/openapi.json          the OpenAPI 3.1 description of these routes
//	GET    /dlq/{kind}?limit=&cursor=&<filter>
//	                                  JSON array of items, newest first; the next page's
//	                                  cursor in the DLQ-Next-Cursor header, on every page
//	GET    /dlq/{kind}/info           counters and limits of a kind (see dlq.Info)
//	GET    /dlq/{kind}/count?<filter> {"count": N}
//	GET    /dlq/{kind}/groups?scan=N  failures of the newest N entries grouped by cause
//	GET    /dlq/{kind}/history?window=1h|24h|7d|30d
//	                                  failures per minute (24h) or hour (7d, 30d)
//	GET    /dlq/{kind}/item?id=…      one entry (404 when there is none)
//	GET    /dlq/{kind}/export?<filter>
//	                                  NDJSON: every entry as stored, oldest first
//	POST   /dlq/{kind}/retry-item     {"id": "..."}: retry one entry (see dlq.Service.Retry)
//	POST   /dlq/{kind}/delete-item    {"id": "..."}: discard one entry; 204 (409 while a
//	                                  retry holds a claim on it, unless force=true or "force": true)
//	POST   /dlq/{kind}/{id}/retry     the same as retry-item, for ids that are clean path segments
//	DELETE /dlq/{kind}/{id}           the same as delete-item, likewise
//	POST   /dlq/{kind}/retry          bulk retry of a filter, or of all=true
//	POST   /dlq/{kind}/delete         bulk delete of a filter, or of all=true
//	                                  (either with async=true: 202, an operation, Location)
//	GET    /dlq/{kind}/ops            operations, newest first (see dlq.Service.Start)
//	GET    /dlq/{kind}/ops/{op}       one operation: state and counts
//	DELETE /dlq/{kind}/ops/{op}       cancel it
//	POST   /dlq/{kind}/ops/{op}/resume
//	                                  continue an interrupted one here
//	GET    /dlq/{kind}/audit?limit=&cursor=&action=&actor=
//	                                  the audit log, newest first
//
// Every change route takes reason (query, or "reason" in a JSON body);
// [WithActor] names who made it, and [WithRequireReason] makes a reason
// mandatory.
//
// where kind is one of the Service's kinds ([dlq.Service.Kinds]), plus
// those named with [WithKinds]. Errors are JSON {"detail": "..."}.
//
// Inputs are strict: a query parameter a route does not know is 400, a
// bulk action takes its filter from the query or from a JSON body (never
// both), and neither a bulk action nor anything else runs on an empty
// filter unless all=true says so. The ids of single-entry actions travel in
// a JSON body, so that no id ("", ".", "..") can be cleaned by a mux or a
// browser into another route.
//
// The routes that read many entries (bulk actions, groups, count, filtered
// lists, the dashboard) run at most [DefaultMaxHeavy] at a time per handler
// ([WithMaxHeavy]); past that they answer 503 with Retry-After at once.
// Every route stops its Redis work when the client goes away.
//
// The handler does no authentication: wrap it in the host's own middleware
// (see the package examples and docs/http.md). It refuses cross-site POST
// and DELETE requests with 403 (net/http's CrossOriginProtection; allow an
// ops UI on another origin with [WithTrustedOrigins]), and [WithReadOnly]
// turns every change off.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
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

// WithKinds serves these kinds in addition to the Service's own
// ([dlq.Service.Kinds]: the seed kinds and those named with
// [dlq.WithKinds]). Invalid kinds are ignored.
func WithKinds(kinds ...dlq.Kind) Option {
	return func(h *handler) {
		for _, k := range kinds {
			if k.Validate() == nil && !slices.Contains(h.kinds, k) {
				h.kinds = append(h.kinds, k)
			}
		}
	}
}

// WithReadOnly makes the handler read-only: the dashboard shows no
// actions (its script refuses them too), and the routes that change the
// DLQ (POST, DELETE) answer 403.
func WithReadOnly() Option { return func(h *handler) { h.readOnly = true } }

// WithTrustedOrigins lets pages of these origins ("https://ops.example.com")
// change the DLQ from a browser: their POST and DELETE requests pass the
// cross-origin check ([http.CrossOriginProtection.AddTrustedOrigin]), and
// they get CORS answers (preflight, Access-Control-Allow-Origin with
// credentials) so that their scripts can read the JSON. Origins that
// CrossOriginProtection refuses (not scheme://host[:port]) are logged and
// ignored.
func WithTrustedOrigins(origins ...string) Option {
	return func(h *handler) { h.origins = append(h.origins, origins...) }
}

// DefaultMaxHeavy is how many heavy requests (bulk actions, groups, count,
// filtered lists, the dashboard) one handler runs at a time unless
// [WithMaxHeavy] says otherwise.
const DefaultMaxHeavy = 4

// WithMaxHeavy sets how many heavy requests the handler runs at a time;
// more answer 503 with Retry-After at once, without waiting. n <= 0 means
// [DefaultMaxHeavy].
func WithMaxHeavy(n int) Option {
	return func(h *handler) {
		if n > 0 {
			h.maxHeavy = n
		}
	}
}

type handler struct {
	svc         *dlq.Service
	log         *slog.Logger
	prefix      string
	kinds       []dlq.Kind // the Service's, then WithKinds'
	readOnly    bool
	origins     []string
	trusted     map[string]bool // origins that passed AddTrustedOrigin
	maxHeavy    int
	heavy       chan struct{} // a slot per heavy request running
	canRequeue  bool          // the Service has a Requeuer
	mux         *http.ServeMux
	dashboardCS string // the dashboard's Content-Security-Policy

	actor         func(*http.Request) string // WithActor (audit.go)
	requireReason bool                       // WithRequireReason
}

// New returns a handler serving svc. See the package documentation for the
// routes.
func New(svc *dlq.Service, opts ...Option) http.Handler {
	h := &handler{svc: svc, kinds: svc.Kinds(), maxHeavy: DefaultMaxHeavy, mux: http.NewServeMux()}
	if len(h.kinds) == 0 { // a nil Service: every call answers 500
		h.kinds = []dlq.Kind{dlq.Scrape, dlq.Extraction}
	}
	for _, o := range opts {
		if o != nil {
			o(h)
		}
	}
	h.heavy = make(chan struct{}, h.maxHeavy)
	h.canRequeue = svc.CanRetry()
	h.dashboardCS = dashboardCSP()
	p := h.prefix
	h.mux.HandleFunc("GET "+p+"/dlq", h.redirectToDashboard)
	h.mux.HandleFunc("GET "+p+"/dlq/{$}", h.heavyOnly(h.dashboard))
	h.mux.HandleFunc("GET "+p+"/dlq/stats", h.stats)
	h.mux.HandleFunc("GET "+p+"/dlq/openapi.json", h.openapi)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}", h.list)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/info", h.info)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/count", h.heavyOnly(h.count))
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/groups", h.heavyOnly(h.groups))
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/history", h.history)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/item", h.item)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/export", h.heavyOnly(h.export))
	h.mux.HandleFunc("POST "+p+"/dlq/{kind}/retry-item", h.byBody(retryItem, false))
	h.mux.HandleFunc("POST "+p+"/dlq/{kind}/delete-item", h.byBody(deleteID, true))
	h.mux.HandleFunc("POST "+p+"/dlq/{kind}/{id}/retry", h.byPath(retryID, false))
	h.mux.HandleFunc("DELETE "+p+"/dlq/{kind}/{id}", h.byPath(deleteID, true))
	h.mux.HandleFunc("POST "+p+"/dlq/{kind}/retry", h.heavyOnly(h.bulkRetry))
	h.mux.HandleFunc("POST "+p+"/dlq/{kind}/delete", h.heavyOnly(h.bulkDelete))
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/ops", h.ops)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/ops/{op}", h.op)
	h.mux.HandleFunc("DELETE "+p+"/dlq/{kind}/ops/{op}", h.cancelOp)
	h.mux.HandleFunc("POST "+p+"/dlq/{kind}/ops/{op}/resume", h.resumeOp)
	h.mux.HandleFunc("GET "+p+"/dlq/{kind}/audit", h.audit)

	// Cross-site POST and DELETE requests (a form or script on another
	// site riding on an operator's session) are refused with 403; see
	// http.CrossOriginProtection.
	cop := http.NewCrossOriginProtection()
	h.trusted = map[string]bool{}
	for _, o := range h.origins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			h.logger().Warn("dlq/httpapi: ignored a trusted origin", "origin", o, "error", err)
			continue
		}
		h.trusted[o] = true
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	return h.cors(cop.Handler(h))
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
		writeError(w, http.StatusRequestURITooLong, fmt.Sprintf("query string over %d bytes; send a bulk filter as a JSON body", maxQueryBytes))
		return
	}
	// StripPrefix("/api/v1/", …), with its slash, leaves "dlq/stats":
	// ServeMux would redirect it to /dlq/stats, outside the mount.
	if p := r.URL.Path; h.prefix == "" && p != "" && p[0] != '/' {
		r = r.Clone(r.Context())
		r.URL.Path = "/" + p
		if r.URL.RawPath != "" {
			r.URL.RawPath = "/" + r.URL.RawPath
		}
	}
	// ServeMux would redirect an unclean path (/dlq/scrape//retry) to its
	// clean form, which for a POST can be another route. Unclean paths are
	// not found instead. (A host's own mux may still redirect before we see
	// the request: the bulk routes' need for a filter or all=true, and the
	// strict query, are what keep such a request from acting.)
	if p := r.URL.Path; p == "" || cleanPath(p) != p {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	named := h.namedRoute(r.URL.Path)
	if _, pattern := h.mux.Handler(r); pattern != "" && !(named && r.Method == http.MethodDelete) {
		var ok bool
		if r, ok = h.auditPrelude(w, r); !ok {
			return
		}
		h.mux.ServeHTTP(w, r)
		return
	}
	// No route: learn whether the mux would say 404 or 405 (and Allow),
	// asking with a method no route has, so that no handler runs.
	rec := &statusRecorder{header: http.Header{}}
	probe := r.Clone(r.Context())
	probe.Method = "DLQ-PROBE"
	h.mux.ServeHTTP(rec, probe)
	if allow := rec.header.Get("Allow"); rec.status == http.StatusMethodNotAllowed {
		if named { // DELETE /dlq/{kind}/{id} matches too, but an id never takes a route's name
			allow = strings.TrimPrefix(allow, http.MethodDelete+", ")
		}
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; allowed: %s", r.Method, allow))
		return
	}
	writeError(w, http.StatusNotFound, h.notFound(r.URL.Path))
}

// notFound is the detail of a 404. A path that misses the handler's
// prefix (/api/v1/dlq/stats, to a handler built without WithPrefix) says
// how to mount the handler.
func (h *handler) notFound(p string) string {
	i := strings.Index(p+"/", "/dlq/")
	if i < 0 || strings.HasPrefix(p, h.prefix+"/dlq/") || p == h.prefix+"/dlq" {
		return "not found"
	}
	got := p[:i]
	how := fmt.Sprintf("build it with httpapi.WithPrefix(%q)", got)
	if got == "" {
		how = "build it without httpapi.WithPrefix, or mount it without http.StripPrefix"
	} else if h.prefix == "" {
		how = fmt.Sprintf("mount it with http.StripPrefix(%q, …) or httpapi.WithPrefix(%q)", got, got)
	}
	return fmt.Sprintf("not found: this handler serves %s/dlq/…, not %s/dlq/…; %s", h.prefix, got, how)
}

// kindRoutes are the names of a kind's own routes (/dlq/{kind}/retry).
var kindRoutes = []string{"info", "count", "groups", "history", "item", "export", "retry-item", "delete-item", "retry", "delete", "ops", "audit"}

// namedRoute reports whether p is one of a kind's own routes, which the
// pattern DELETE /dlq/{kind}/{id} matches too.
func (h *handler) namedRoute(p string) bool {
	rest, ok := strings.CutPrefix(p, h.prefix+"/dlq/")
	if !ok {
		return false
	}
	_, name, ok := strings.Cut(rest, "/")
	return ok && slices.Contains(kindRoutes, name)
}

// redirectToDashboard answers GET /dlq with a relative redirect to dlq/,
// which the client resolves against the path it asked for: right under any
// mount, StripPrefix included (http.Redirect would make it absolute from
// the stripped path).
func (h *handler) redirectToDashboard(w http.ResponseWriter, r *http.Request) {
	loc := "dlq/"
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	writeError(w, http.StatusFound, "the dashboard is at dlq/")
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
	if !onlyParams(w, r) {
		return
	}
	st, err := h.svc.Stats(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok || !onlyParams(w, r) {
		return
	}
	info, err := h.svc.Info(r.Context(), kind)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := infoWire{Info: info}
	if !info.Oldest.IsZero() {
		out.Oldest = wireTime(nil, info.Oldest)
	}
	writeJSON(w, http.StatusOK, out)
}

// infoWire is dlq.Info with oldest written as items' failed_at is
// ("…+00:00"), or left out when there is none.
type infoWire struct {
	dlq.Info
	Oldest json.RawMessage `json:"oldest,omitempty"`
}

// kind returns the path's kind, or answers 404 for one not served.
func (h *handler) kind(w http.ResponseWriter, r *http.Request) (dlq.Kind, bool) {
	k := dlq.Kind(r.PathValue("kind"))
	if !slices.Contains(h.kinds, k) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown DLQ kind %q", string(k)))
		return "", false
	}
	return k, true
}

// fail answers a service error: 4xx for the caller's mistakes and for
// states the caller can act on, 500 with a logged cause for everything
// else.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := h.failure(r, err)
	writeError(w, status, detail)
}

// failure is fail's status and detail; it logs what needs logging.
func (h *handler) failure(r *http.Request, err error) (int, string) {
	switch {
	case errors.Is(err, dlq.ErrNotFound):
		return http.StatusNotFound, "item not found"
	case errors.Is(err, dlq.ErrInvalidID):
		return http.StatusBadRequest, "invalid id"
	case errors.Is(err, dlq.ErrInvalidLimit):
		return http.StatusBadRequest, "invalid limit"
	case errors.Is(err, dlq.ErrInvalidCursor):
		return http.StatusBadRequest, "invalid cursor: pass back a DLQ-Next-Cursor value, or none for the first page"
	case errors.Is(err, dlq.ErrClaimed):
		return http.StatusConflict, "the item is claimed by a retry under way; try again after its claim ends"
	case errors.Is(err, dlq.ErrNoRequeuer):
		return http.StatusConflict, noRequeuerDetail
	case errors.Is(err, dlq.ErrMalformed):
		return http.StatusUnprocessableEntity, "the entry cannot be decoded, so it cannot be retried; discard it with delete-item; nothing was changed"
	case errors.Is(err, dlq.ErrRequeue):
		h.logger().WarnContext(r.Context(), "dlq/httpapi: requeue failed", "method", r.Method, "path", r.URL.Path, "error", err)
		return http.StatusBadGateway, requeueFailedDetail(err)
	case errors.Is(err, dlq.ErrNotRemoved):
		h.logger().ErrorContext(r.Context(), "dlq/httpapi: requeued, but the entry was not removed", "method", r.Method, "path", r.URL.Path, "error", err)
		return http.StatusBadGateway, "the job was requeued, but removing the entry from the DLQ failed (Redis error; see the server log): it stays in the DLQ and can be requeued again when its claim expires"
	case errors.Is(err, dlq.ErrOutOfMemory):
		h.logger().ErrorContext(r.Context(), "dlq/httpapi: Redis is out of memory", "method", r.Method, "path", r.URL.Path, "error", err)
		return http.StatusInsufficientStorage, "Redis is out of memory and refused the change; nothing was changed. Free memory (delete entries: deletes still work) or raise maxmemory"
	case r.Context().Err() != nil:
		// The client hung up; nobody reads the answer.
		h.logger().InfoContext(r.Context(), "dlq/httpapi: request cancelled", "method", r.Method, "path", r.URL.Path, "error", err)
		return http.StatusServiceUnavailable, "request cancelled"
	default:
		h.logger().ErrorContext(r.Context(), "dlq/httpapi: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		return http.StatusInternalServerError, failureDetail(err)
	}
}

// noRequeuerDetail is the 409 detail of a retry on a Service without a
// Requeuer.
const noRequeuerDetail = "retry needs a Requeuer: build the dlq.Service with dlq.WithRequeuer; nothing was changed"

// requeueFailedDetail says why a single retry failed and where its entry
// is. The core keeps it in place and drops its claim; when dropping the
// claim failed too, the entry is retryable once the claim expires.
func requeueFailedDetail(err error) string {
	var re *dlq.RequeueError
	reason := ""
	if errors.As(err, &re) {
		// The Requeuer's error, as its signature: the cause without the
		// addresses and ids it may carry (those stay in the log).
		reason = ": " + truncateDetail(dlq.Signature(re.Err.Error()), 300)
		if !re.Released {
			return "requeue failed" + reason + "; the entry is still in the DLQ, claimed until its claim expires, then retryable"
		}
	}
	return "requeue failed" + reason + "; the entry is still in the DLQ and can be retried again"
}

// truncateDetail cuts s to at most n bytes at a UTF-8 boundary.
func truncateDetail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

type errorBody struct {
	Detail string `json:"detail"`
}

func writeError(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, errorBody{Detail: detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<path>" stays readable, as in the README
	if err := enc.Encode(v); err != nil {
		// Only values of our own types are encoded; this is a bug.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"detail":"internal error"}` + "\n")
	}
	writeRaw(w, status, buf.Bytes())
}

// writeRaw answers a JSON body already encoded.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

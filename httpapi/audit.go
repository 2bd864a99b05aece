package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlqkit/dlq"
)

// The audit side of the handler: who made a change (WithActor) and why
// (the reason parameter of every change route), and GET /dlq/{kind}/audit.

// WithActor names the actor of each change in the audit log: actor is
// called with the request (after the host's middleware: read what its
// authentication put there, a header or the request's context) and its
// answer, bounded to [dlq.MaxActorLen] bytes, is recorded with the change.
// Without it changes are recorded with no actor.
func WithActor(actor func(*http.Request) string) Option {
	return func(h *handler) { h.actor = actor }
}

// WithRequireReason makes every change (except a dry run) need a reason:
// reason=… in the query, or "reason" in the JSON body of the routes that
// take one. A change without one answers 400.
func WithRequireReason() Option { return func(h *handler) { h.requireReason = true } }

// paramReason is the reason of a change, on every change route.
const paramReason = "reason"

// auditPrelude runs before the routes on a request that may change
// something (not GET, HEAD or OPTIONS): it puts the actor and the query's
// reason in the request's context, and takes reason out of the query, so
// that each route's strict parameters need not know it. It answers 400
// and returns false for a reason given twice or not valid UTF-8.
func (h *handler) auditPrelude(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return r, true
	}
	ctx := r.Context()
	if h.actor != nil {
		ctx = dlq.WithActor(ctx, h.actor(r))
	}
	if strings.Contains(r.URL.RawQuery, paramReason) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err == nil && q.Has(paramReason) {
			vs := q[paramReason]
			if len(vs) > 1 || !utf8.ValidString(vs[0]) {
				writeError(w, http.StatusBadRequest, "reason must be given once, as UTF-8")
				return r, false
			}
			if vs[0] != "" {
				ctx = dlq.WithReason(ctx, vs[0])
			}
			q.Del(paramReason)
			r = r.Clone(ctx)
			r.URL.RawQuery = q.Encode()
			return r, true
		}
	}
	return r.WithContext(ctx), true
}

// withBodyReason adds a JSON body's reason to the request (400 when the
// query gave one too), then checks WithRequireReason unless dryRun.
func (h *handler) withBodyReason(w http.ResponseWriter, r *http.Request, reason *string, dryRun bool) (*http.Request, bool) {
	if reason != nil && *reason != "" {
		if dlq.ReasonOf(r.Context()) != "" {
			writeError(w, http.StatusBadRequest, "reason given in both the query and the body; send it in one")
			return r, false
		}
		if !utf8.ValidString(*reason) {
			writeError(w, http.StatusBadRequest, "reason must be UTF-8")
			return r, false
		}
		r = r.WithContext(dlq.WithReason(r.Context(), *reason))
	}
	if h.requireReason && !dryRun && dlq.ReasonOf(r.Context()) == "" {
		writeError(w, http.StatusBadRequest, "this DLQ needs a reason for every change: reason=… in the query, or \"reason\" in the JSON body")
		return r, false
	}
	return r, true
}

// auditJSON is a record as served: the four counts at the top level.
type auditJSON struct {
	Cursor  string      `json:"cursor"`
	Time    time.Time   `json:"time"`
	Kind    dlq.Kind    `json:"kind"`
	Action  string      `json:"action"`
	Actor   string      `json:"actor"`
	Reason  string      `json:"reason"`
	ID      string      `json:"id,omitempty"`
	Forced  bool        `json:"forced,omitempty"`
	Op      string      `json:"op,omitempty"`
	Filter  *dlq.Filter `json:"filter,omitempty"`
	Matched *int        `json:"matched,omitempty"`
	Handled *int        `json:"handled,omitempty"`
	Failed  *int        `json:"failed,omitempty"`
	Skipped *int        `json:"skipped,omitempty"`
	Result  string      `json:"result"`
}

var auditParams = []string{"limit", paramCursor, "action", "actor"}

// audit answers GET /dlq/{kind}/audit: records newest first, the next
// page's cursor in DLQ-Next-Cursor.
func (h *handler) audit(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	q, ok := params(w, r, auditParams...)
	if !ok {
		return
	}
	limit, ierr := parseLimit(q)
	if ierr != nil {
		answerInput(w, ierr)
		return
	}
	page, err := h.svc.Audit(r.Context(), kind, dlq.AuditQuery{Limit: limit, Cursor: q.Get(paramCursor), Action: q.Get("action"), Actor: q.Get("actor")})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]auditJSON, len(page.Records))
	for i, rec := range page.Records {
		a := auditJSON{Cursor: rec.Cursor, Time: rec.Time, Kind: rec.Kind, Action: rec.Action, Actor: rec.Actor, Reason: rec.Reason,
			ID: rec.ID, Forced: rec.Forced, Op: rec.Op, Filter: rec.Filter, Result: rec.Result}
		if c := rec.Counts; c != nil {
			a.Matched, a.Handled, a.Failed, a.Skipped = &c.Matched, &c.Handled, &c.Failed, &c.Skipped
		}
		out[i] = a
	}
	if page.Next != "" {
		w.Header().Set(NextCursorHeader, page.Next)
	}
	writeJSON(w, http.StatusOK, out)
}

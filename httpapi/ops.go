package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dlqkit/dlq"
)

// Operations over HTTP: POST /dlq/{kind}/retry and /delete with async
// start one (202 and Location), GET /dlq/{kind}/ops and
// /dlq/{kind}/ops/{op} watch them, DELETE /dlq/{kind}/ops/{op} cancels one
// and POST /dlq/{kind}/ops/{op}/resume continues an interrupted one.
//
// An operation started or resumed here runs in this process, in a
// goroutine of the dlq.Service, until it ends or is cancelled, whatever
// happens to the request (its context is the request's without its
// cancellation). If the process exits first, the operation reads
// interrupted once its heartbeat is older than the claim timeout.

// paramAsync makes a bulk route start an operation.
const paramAsync = "async"

// startOp answers a bulk route with async: 202, the operation's JSON and
// its Location.
func (h *handler) startOp(w http.ResponseWriter, r *http.Request, kind dlq.Kind, del bool, f dlq.Filter, opts []dlq.BulkOption) {
	action := dlq.OpRetry
	if del {
		action = dlq.OpDelete
	}
	op, err := h.svc.Start(context.WithoutCancel(r.Context()), kind, action, f, opts...)
	if err != nil {
		h.failOp(w, r, err)
		return
	}
	w.Header().Set("Location", opLocation(r, op.ID))
	writeJSON(w, http.StatusAccepted, op)
}

// opLocation is the path of an operation, from the path the client asked
// for (RequestURI, which http.StripPrefix leaves as it was): its last
// segment, retry or delete, becomes ops/<id>.
func opLocation(r *http.Request, id string) string {
	p := r.URL.EscapedPath()
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && r.RequestURI != "" {
		p = u.EscapedPath()
	}
	return p[:strings.LastIndexByte(p, '/')+1] + "ops/" + url.PathEscape(id)
}

// failOp answers the errors of operations, then the others as fail does.
func (h *handler) failOp(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, dlq.ErrOpNotFound):
		writeError(w, http.StatusNotFound, "operation not found")
	case errors.Is(err, dlq.ErrOpRunning):
		writeError(w, http.StatusConflict, "the operation is running; only an interrupted one can be resumed")
	case errors.Is(err, dlq.ErrOpFinished):
		writeError(w, http.StatusConflict, "the operation has finished")
	default:
		h.fail(w, r, err)
	}
}

// ops answers GET /dlq/{kind}/ops?limit=: the newest operations first.
func (h *handler) ops(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	q, ok := params(w, r, "limit")
	if !ok {
		return
	}
	limit := dlq.DefaultMaxOps
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > dlq.DefaultMaxOps {
			writeError(w, http.StatusBadRequest, "limit must be an integer from 1 to "+strconv.Itoa(dlq.DefaultMaxOps))
			return
		}
		limit = n
	}
	ops, err := h.svc.Ops(r.Context(), kind, limit)
	if err != nil {
		h.failOp(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ops)
}

// op answers GET /dlq/{kind}/ops/{op}.
func (h *handler) op(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok || !onlyParams(w, r) {
		return
	}
	op, err := h.svc.Op(r.Context(), kind, r.PathValue("op"))
	if err != nil {
		h.failOp(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, op)
}

// cancelOp answers DELETE /dlq/{kind}/ops/{op}: 200 and the operation
// (still running until its runner stops, within about a second).
func (h *handler) cancelOp(w http.ResponseWriter, r *http.Request) {
	h.changeOp(w, r, http.StatusOK, func(r *http.Request, kind dlq.Kind, id string) (dlq.Op, error) {
		return h.svc.Cancel(r.Context(), kind, id)
	})
}

// resumeOp answers POST /dlq/{kind}/ops/{op}/resume: 202 and the
// operation, now run by this process (its run outlives the request).
func (h *handler) resumeOp(w http.ResponseWriter, r *http.Request) {
	h.changeOp(w, r, http.StatusAccepted, func(r *http.Request, kind dlq.Kind, id string) (dlq.Op, error) {
		return h.svc.Resume(context.WithoutCancel(r.Context()), kind, id)
	})
}

// changeOp answers a change to one operation (cancel, resume): the kind,
// no query parameters, the reason of a body if any, then change, whose
// operation it answers with status.
func (h *handler) changeOp(w http.ResponseWriter, r *http.Request, status int, change func(*http.Request, dlq.Kind, string) (dlq.Op, error)) {
	kind, ok := h.kind(w, r)
	if !ok || !onlyParams(w, r) {
		return
	}
	if r, ok = h.withBodyReason(w, r, nil, false); !ok {
		return
	}
	op, err := change(r, kind, r.PathValue("op"))
	if err != nil {
		h.failOp(w, r, err)
		return
	}
	writeJSON(w, status, op)
}

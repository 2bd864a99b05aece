package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dlqkit/dlq"
)

// The JSON routes: list, count and group entries; retry and discard one
// entry; bulk retry and delete.

// Headers of the list and groups answers.
const (
	// NextCursorHeader carries the cursor of the next page of a list, on
	// every page that has a next one; pass it back as cursor=.
	NextCursorHeader = "DLQ-Next-Cursor"
	// ScanHeader says how many of the newest entries a groups answer
	// covers.
	ScanHeader = "DLQ-Scan"
	// TotalGroupsHeader says how many groups the entries scanned make,
	// all pages together.
	TotalGroupsHeader = "DLQ-Total-Groups"
	// NextOffsetHeader carries the offset= of the next page of groups, on
	// every page that has a next one.
	NextOffsetHeader = "DLQ-Next-Offset"
)

// Groups sizes: GET /dlq/{kind}/groups covers the newest DefaultGroupScan
// entries, or scan= of them up to MaxGroupScan, and answers a page of at
// most MaxGroups groups (limit=, by default MaxGroups), the largest
// first, from offset= (by default 0): every group is on some page.
const (
	DefaultGroupScan = 5_000
	MaxGroupScan     = 50_000
	MaxGroups        = 1_000
)

const paramCursor = "cursor"

var listParams = append([]string{"limit", paramCursor}, filterParams...)

// list answers GET /dlq/{kind}: a page of items, newest first, and the
// next page's cursor in DLQ-Next-Cursor. A filtered list reads up to
// 10,000 entries and is a heavy request.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	q, ok := params(w, r, listParams...)
	if !ok {
		return
	}
	limit, ierr := parseLimit(q)
	if ierr != nil {
		answerInput(w, ierr)
		return
	}
	f, ierr := parseFilter(q)
	if ierr != nil {
		answerInput(w, ierr)
		return
	}
	if !f.IsZero() {
		if !h.acquire(w) {
			return
		}
		defer h.release()
	}
	page, err := h.svc.Find(r.Context(), kind, dlq.Query{Filter: f, Cursor: q.Get(paramCursor), Limit: limit})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if page.Next != "" {
		w.Header().Set(NextCursorHeader, page.Next)
	}
	writeRaw(w, http.StatusOK, appendItems(nil, page.Items))
}

func (h *handler) count(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	q, ok := params(w, r, filterParams...)
	if !ok {
		return
	}
	f, ierr := parseFilter(q)
	if ierr != nil {
		answerInput(w, ierr)
		return
	}
	n, err := h.svc.Count(r.Context(), kind, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Count int `json:"count"`
	}{n})
}

// groups answers GET /dlq/{kind}/groups?scan=N&limit=L&offset=O: the
// causes among the newest N entries, largest first, L of them from the
// O-th; their total in DLQ-Total-Groups, and the next page's offset in
// DLQ-Next-Offset when there is one. Each page counts the entries anew,
// so a page after pushes may repeat or skip a group near its edge.
func (h *handler) groups(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	q, ok := params(w, r, "scan", "limit", "offset")
	if !ok {
		return
	}
	var sizes [3]int
	for i, p := range []struct {
		name          string
		def, min, max int
	}{{"scan", DefaultGroupScan, 1, MaxGroupScan}, {"limit", MaxGroups, 1, MaxGroups}, {"offset", 0, 0, MaxGroupScan}} {
		sizes[i] = p.def
		if q.Has(p.name) {
			n, err := strconv.Atoi(q.Get(p.name))
			if err != nil || n < p.min || n > p.max {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s must be an integer from %d to %d", p.name, p.min, p.max))
				return
			}
			sizes[i] = n
		}
	}
	scan, limit, offset := sizes[0], sizes[1], sizes[2]
	gs, err := h.svc.RecentGroups(r.Context(), kind, scan)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set(ScanHeader, strconv.Itoa(scan))
	w.Header().Set(TotalGroupsHeader, strconv.Itoa(len(gs)))
	page := gs[min(offset, len(gs)):min(offset+limit, len(gs))]
	if end := offset + len(page); end < len(gs) {
		w.Header().Set(NextOffsetHeader, strconv.Itoa(end))
	}
	writeRaw(w, http.StatusOK, appendGroups(nil, page))
}

// An action on one entry, named by id; the routes below name the id in
// the body or in the path. force is the caller's force=true (delete
// routes only: see itemRoutes).
type itemAction func(h *handler, w http.ResponseWriter, r *http.Request, kind dlq.Kind, id string, force bool)

// forceParams are the query parameters of an item route: force for the
// delete routes, none for the retry routes.
func forceParams(takesForce bool) []string {
	if takesForce {
		return []string{paramForce}
	}
	return nil
}

// byBody answers a route that names the id in a JSON body {"id": "..."}:
// POST /dlq/{kind}/retry-item and /delete-item. Any id works there,
// including ones a path cannot carry. A delete takes force=true in the
// query or "force": true in the body (not both).
func (h *handler) byBody(act itemAction, takesForce bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		kind, force, ok := h.itemPrelude(w, r, takesForce)
		if !ok {
			return
		}
		id, bodyForce, reason, ierr := parseItem(w, r, takesForce)
		if ierr != nil {
			answerInput(w, ierr)
			return
		}
		if r, ok = h.withBodyReason(w, r, reason, false); !ok {
			return
		}
		h.actOn(act, w, r, kind, id, force || bodyForce)
	}
}

// actOn runs an item action; one whose id needs a search of the list (see
// dlq.NeedsSearch) counts as heavy.
func (h *handler) actOn(act itemAction, w http.ResponseWriter, r *http.Request, kind dlq.Kind, id string, force bool) {
	if dlq.NeedsSearch(id) {
		if !h.acquire(w) {
			return
		}
		defer h.release()
	}
	act(h, w, r, kind, id, force)
}

// byPath answers a route that names the id in the path:
// POST /dlq/{kind}/{id}/retry and DELETE /dlq/{kind}/{id} (which takes
// force=true).
func (h *handler) byPath(act itemAction, takesForce bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		kind, force, ok := h.itemPrelude(w, r, takesForce)
		if ok {
			if r, ok = h.withBodyReason(w, r, nil, false); !ok {
				return
			}
			h.actOn(act, w, r, kind, r.PathValue("id"), force)
		}
	}
}

// itemPrelude reads what the item routes share: the kind, and the query,
// which holds force=true or nothing (takesForce) or nothing at all. It
// answers the request and returns false when one is wrong.
func (h *handler) itemPrelude(w http.ResponseWriter, r *http.Request, takesForce bool) (kind dlq.Kind, force, ok bool) {
	kind, ok = h.kind(w, r)
	if !ok {
		return "", false, false
	}
	q, ok := params(w, r, forceParams(takesForce)...)
	if !ok {
		return "", false, false
	}
	force, ierr := parseBool(q, paramForce)
	if ierr != nil {
		answerInput(w, ierr)
		return "", false, false
	}
	return kind, force, true
}

// retryItem answers POST /dlq/{kind}/retry-item: a retry through the
// Requeuer, or 409 (changing nothing) on a Service without one.
func retryItem(h *handler, w http.ResponseWriter, r *http.Request, kind dlq.Kind, id string, force bool) {
	if !h.canRequeue {
		writeError(w, http.StatusConflict, noRequeuerDetail)
		return
	}
	retryID(h, w, r, kind, id, force)
}

// retryID retries one entry and answers it: requeued through the
// Requeuer, or popped on a Service without one (the seed's route
// POST /dlq/{kind}/{id}/retry keeps that contract).
func retryID(h *handler, w http.ResponseWriter, r *http.Request, kind dlq.Kind, id string, _ bool) {
	it, err := h.svc.Retry(r.Context(), kind, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeRaw(w, http.StatusOK, append(appendItem(nil, it), '\n'))
}

// deleteID deletes one entry and answers 204; with force, even an entry a
// retry has claimed (409 without it).
func deleteID(h *handler, w http.ResponseWriter, r *http.Request, kind dlq.Kind, id string, force bool) {
	var opts []dlq.RemoveOption
	if force {
		opts = append(opts, dlq.Force())
	}
	if err := h.svc.Delete(r.Context(), kind, id, opts...); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) bulkRetry(w http.ResponseWriter, r *http.Request)  { h.bulk(w, r, false) }
func (h *handler) bulkDelete(w http.ResponseWriter, r *http.Request) { h.bulk(w, r, true) }

// bulk answers POST /dlq/{kind}/retry and /delete with a dlq.BulkResult:
// {"matched", "handled", "failed", "skipped"}.
func (h *handler) bulk(w http.ResponseWriter, r *http.Request, del bool) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	q, ok := params(w, r, bulkParams...)
	if !ok {
		return
	}
	req, ierr := parseBulk(w, r, q)
	if ierr != nil {
		answerInput(w, ierr)
		return
	}
	if req.Filter.IsZero() && !req.All {
		verb := "retry"
		if del {
			verb = "delete"
		}
		writeError(w, http.StatusBadRequest, "a bulk "+verb+" needs a filter ("+strings.Join(filterParams, ", ")+") or all=true to act on every entry")
		return
	}
	var opts []dlq.BulkOption
	if req.DryRun {
		opts = append(opts, dlq.DryRun())
	}
	if req.Rate > 0 {
		opts = append(opts, dlq.WithRate(req.Rate))
	}
	if r, ok = h.withBodyReason(w, r, req.Reason, req.DryRun); !ok {
		return
	}
	if req.Async {
		h.startOp(w, r, kind, del, req.Filter, opts)
		return
	}
	var res dlq.BulkResult
	var err error
	if del {
		res, err = h.svc.DeleteMatching(r.Context(), kind, req.Filter, opts...)
	} else {
		res, err = h.svc.RetryMatching(r.Context(), kind, req.Filter, opts...)
	}
	if err != nil && !errors.Is(err, dlq.ErrNoRequeuer) && r.Context().Err() == nil {
		h.logger().ErrorContext(r.Context(), "dlq/httpapi: bulk action stopped", "kind", string(kind),
			"matched", res.Matched, "handled", res.Handled, "failed", res.Failed, "skipped", res.Skipped, "error", err)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if res.Failed > 0 {
		h.logger().WarnContext(r.Context(), "dlq/httpapi: some requeues failed; those entries are still in the DLQ", "kind", string(kind), "failed", res.Failed)
	}
	writeJSON(w, http.StatusOK, res)
}

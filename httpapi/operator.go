package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/dlqkit/dlq"
)

// The operator routes: discard one entry, search with a filter, count,
// group by cause, and bulk retry or delete.

// Query parameters (and JSON body keys for the bulk routes) of a filter.
const (
	paramSourceID     = "source_id"
	paramJobID        = "job_id"
	paramError        = "error"
	paramSignature    = "signature"
	paramFailedAfter  = "failed_after"
	paramFailedBefore = "failed_before"
	paramCursor       = "cursor"
)

// NextCursorHeader carries the cursor of the next page of a filtered list.
const NextCursorHeader = "DLQ-Next-Cursor"

// maxBodyBytes bounds a bulk request's JSON body.
const maxBodyBytes = 64 << 10

func (h *handler) remove(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	if err := h.svc.Delete(r.Context(), kind, r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// isFiltered reports whether a list request uses more than the seed's
// ?limit=.
func isFiltered(q url.Values) bool {
	for _, p := range []string{paramSourceID, paramJobID, paramError, paramSignature, paramFailedAfter, paramFailedBefore, paramCursor} {
		if q.Has(p) {
			return true
		}
	}
	return false
}

// find answers a filtered list: the page's items as the seed's array, and
// the next page's cursor in the DLQ-Next-Cursor header.
func (h *handler) find(w http.ResponseWriter, r *http.Request, kind dlq.Kind, limit int) {
	q := r.URL.Query()
	f, err := parseFilter(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := h.svc.Find(r.Context(), kind, dlq.Query{Filter: f, Cursor: q.Get(paramCursor), Limit: limit})
	if errors.Is(err, dlq.ErrInvalidCursor) {
		writeError(w, http.StatusBadRequest, "invalid cursor")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if page.Next != "" {
		w.Header().Set(NextCursorHeader, page.Next)
	}
	writeJSON(w, http.StatusOK, page.Items)
}

func (h *handler) count(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
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

func (h *handler) groups(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	gs, err := h.svc.Groups(r.Context(), kind)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, gs)
}

// bulkRequest is a bulk route's input, from the query or a JSON body.
type bulkRequest struct {
	dlq.Filter
	DryRun bool    `json:"dry_run"`
	All    bool    `json:"all"`
	Rate   float64 `json:"rate"`
}

func (h *handler) bulkRetry(w http.ResponseWriter, r *http.Request)  { h.bulk(w, r, false) }
func (h *handler) bulkDelete(w http.ResponseWriter, r *http.Request) { h.bulk(w, r, true) }

// bulk answers POST /dlq/{kind}/retry and /delete with {"matched", "handled"}.
func (h *handler) bulk(w http.ResponseWriter, r *http.Request, del bool) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	req, err := parseBulk(w, r)
	if err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, err.Error())
		return
	}
	if del && req.Filter.IsZero() && !req.All {
		writeError(w, http.StatusBadRequest, "an empty filter deletes every entry: add all=true to mean it")
		return
	}
	var opts []dlq.BulkOption
	if req.DryRun {
		opts = append(opts, dlq.DryRun())
	}
	if req.Rate > 0 {
		opts = append(opts, dlq.WithRate(req.Rate))
	}
	var res dlq.BulkResult
	if del {
		res, err = h.svc.DeleteMatching(r.Context(), kind, req.Filter, opts...)
	} else {
		res, err = h.svc.RetryMatching(r.Context(), kind, req.Filter, opts...)
	}
	if err != nil {
		h.logger().ErrorContext(r.Context(), "dlq/httpapi: bulk action stopped", "kind", string(kind), "matched", res.Matched, "handled", res.Handled, "error", err)
		h.fail(w, r, err)
		return
	}
	if res.Failed > 0 {
		h.logger().WarnContext(r.Context(), "dlq/httpapi: some requeues failed; those entries are back in the DLQ", "kind", string(kind), "failed", res.Failed)
	}
	writeJSON(w, http.StatusOK, res)
}

// parseBulk reads a bulk request from a JSON body, if there is one, or the
// query.
func parseBulk(w http.ResponseWriter, r *http.Request) (bulkRequest, error) {
	var req bulkRequest
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return req, fmt.Errorf("send the filter as query parameters or a JSON body, not %q", ct)
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil && err != io.EOF {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return req, err
			}
			return req, fmt.Errorf("invalid JSON body: %v", err)
		}
		return req, checkRate(req.Rate)
	}
	q := r.URL.Query()
	f, err := parseFilter(q)
	if err != nil {
		return req, err
	}
	req.Filter = f
	if req.DryRun, err = parseBool(q, "dry_run"); err != nil {
		return req, err
	}
	if req.All, err = parseBool(q, "all"); err != nil {
		return req, err
	}
	if v := q.Get("rate"); v != "" {
		if req.Rate, err = strconv.ParseFloat(v, 64); err != nil {
			return req, errors.New("rate must be a number of entries per second")
		}
	}
	return req, checkRate(req.Rate)
}

func checkRate(rate float64) error {
	if rate < 0 || rate != rate || rate > 1e6 {
		return errors.New("rate must be a number of entries per second from 0 to 1000000")
	}
	return nil
}

func parseBool(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s must be true or false", name)
	}
	return b, nil
}

// parseFilter reads a filter from query parameters. Times are RFC 3339.
func parseFilter(q url.Values) (dlq.Filter, error) {
	f := dlq.Filter{
		SourceID:      q.Get(paramSourceID),
		JobID:         q.Get(paramJobID),
		ErrorContains: q.Get(paramError),
		Signature:     q.Get(paramSignature),
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{paramFailedAfter, &f.FailedAfter}, {paramFailedBefore, &f.FailedBefore}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, fmt.Errorf("%s must be an RFC 3339 time, like 2026-11-26T21:43:52Z", t.name)
			}
			*t.dst = tm
		}
	}
	return f, nil
}

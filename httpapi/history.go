package httpapi

import (
	_ "embed"
	"net/http"
	"strconv"
	"time"

	"github.com/dlqkit/dlq"
)

// The failure history: GET /dlq/{kind}/history?window=1h|24h|7d|30d answers
// the kind's failures per minute or per hour (see dlq.Service.History), the
// data of the dashboard's chart.

// chartJS draws the dashboard's chart of failures over time from the
// history route; the dashboard's CSP allows it by its hash.
//
//go:embed assets/chart.js
var chartJS string

// DefaultHistoryWindow is the window of GET /dlq/{kind}/history without
// window=; the others are "1h", "7d" and "30d".
const DefaultHistoryWindow = "24h"

// historyWindows maps a window= value to its length, in the order the
// dashboard offers them.
var historyWindows = []struct {
	name string
	d    time.Duration
}{
	{"1h", time.Hour},
	{"24h", 24 * time.Hour},
	{"7d", 7 * 24 * time.Hour},
	{"30d", 30 * 24 * time.Hour},
}

// history answers GET /dlq/{kind}/history:
//
//	{"window":"24h","bucket_seconds":60,"buckets":[{"start":"2026-11-26T21:43:00.000000+00:00","count":3},…]}
//
// The buckets are oldest first and continuous, empty ones included, ending
// with the one that holds now; their starts are written as items'
// failed_at is. 1h is 60 minute buckets, 24h 1440, 7d 168 hour buckets,
// 30d 720.
func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	q, ok := params(w, r, "window")
	if !ok {
		return
	}
	name := DefaultHistoryWindow
	if q.Has("window") {
		name = q.Get("window")
	}
	var window time.Duration
	for _, hw := range historyWindows {
		if hw.name == name {
			window = hw.d
		}
	}
	if window == 0 {
		writeError(w, http.StatusBadRequest, "window must be 1h, 24h, 7d or 30d")
		return
	}
	buckets, err := h.svc.History(r.Context(), kind, window)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	step := int64(60)
	if window > dlq.MaxMinuteWindow {
		step = 3600
	}
	writeRaw(w, http.StatusOK, appendHistory(nil, name, step, buckets))
}

// appendHistory appends the JSON answer of the history route and a
// newline.
func appendHistory(dst []byte, window string, step int64, buckets []dlq.Bucket) []byte {
	dst = append(dst, `{"window":`...)
	dst = appendJSONString(dst, window)
	dst = append(dst, `,"bucket_seconds":`...)
	dst = strconv.AppendInt(dst, step, 10)
	dst = append(dst, `,"buckets":[`...)
	for i, b := range buckets {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"start":`...)
		dst = wireTime(dst, b.Start)
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, b.Count, 10)
		dst = append(dst, '}')
	}
	return append(dst, "]}\n"...)
}

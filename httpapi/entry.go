package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

// Reading without acting: one entry by its id, and every entry as stored.

// item answers GET /dlq/{kind}/item?id=…: the entry, as the list serves
// it. The id travels in the query, never in the path (see the package
// documentation). An id that is not a canonical UUIDv7 may need a search
// of the list: such a lookup is a heavy request.
func (h *handler) item(w http.ResponseWriter, r *http.Request) {
	kind, ok := h.kind(w, r)
	if !ok {
		return
	}
	q, ok := params(w, r, "id")
	if !ok {
		return
	}
	if !q.Has("id") {
		writeError(w, http.StatusBadRequest, "send the entry's id as ?id=")
		return
	}
	id := q.Get("id")
	if !canonicalV7(id) {
		if !h.acquire(w) {
			return
		}
		defer h.release()
	}
	it, err := h.svc.Get(r.Context(), kind, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeRaw(w, http.StatusOK, append(appendItem(nil, it), '\n'))
}

// canonicalV7 reports whether id is a UUIDv7 as dlq writes it: 36
// characters, lowercase hex and dashes, version 7.
func canonicalV7(id string) bool {
	if len(id) != 36 || id[14] != '7' {
		return false
	}
	for i := range len(id) {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// Trailers of an export, sent when it is complete: lines written, and
// those written encoded.
const (
	ExportCountTrailer   = "DLQ-Export-Count"
	ExportEncodedTrailer = "DLQ-Export-Encoded"
)

// exportFlushBytes is how much of an export is buffered before it is
// written out and flushed.
const exportFlushBytes = 32 << 10

// export answers GET /dlq/{kind}/export?<filter> with NDJSON: one stored
// string per line, oldest first (see dlq.Service.Export), byte for byte. A
// stored string that a line cannot hold as it is (one containing \n or \r,
// the empty string, one starting with a double quote) is written as a JSON
// string of its bytes in standard base64: a line starting with " is
// encoded, any other is the stored string itself. The trailers
// DLQ-Export-Count and DLQ-Export-Encoded end a complete export; an export
// that fails after its first line is cut off (the client reads an error,
// not an end).
func (h *handler) export(w http.ResponseWriter, r *http.Request) {
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
	rc := http.NewResponseController(w)
	var buf []byte
	var lines, encoded int
	started := false
	flush := func() error {
		if !started {
			hd := w.Header()
			hd.Set("Content-Type", "application/x-ndjson")
			hd.Set("X-Content-Type-Options", "nosniff")
			hd.Set("Trailer", ExportCountTrailer+", "+ExportEncodedTrailer)
			w.WriteHeader(http.StatusOK)
			started = true
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		buf = buf[:0]
		return rc.Flush()
	}
	err := h.svc.Export(r.Context(), kind, f, func(raw string) error {
		if raw == "" || raw[0] == '"' || strings.ContainsAny(raw, "\r\n") {
			buf = append(buf, '"')
			buf = base64.StdEncoding.AppendEncode(buf, []byte(raw))
			buf = append(buf, '"')
			encoded++
		} else {
			buf = append(buf, raw...)
		}
		buf = append(buf, '\n')
		lines++
		if len(buf) >= exportFlushBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	switch {
	case err != nil && !started:
		h.fail(w, r, err)
	case err != nil:
		h.logger().InfoContext(r.Context(), "dlq/httpapi: export stopped", "kind", string(kind), "lines", lines, "error", err)
		panic(http.ErrAbortHandler) // the client reads a cut answer, not an end
	default:
		w.Header().Set(ExportCountTrailer, strconv.Itoa(lines))
		w.Header().Set(ExportEncodedTrailer, strconv.Itoa(encoded))
	}
}

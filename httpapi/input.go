package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlqkit/dlq"
)

// Inputs are read once, strictly: each route names the query parameters
// it knows and answers 400 for any other, or for one given twice; a body
// is read only by the routes that take one, and only as JSON.

// Query parameters (and JSON body keys for the bulk routes) of a filter.
const (
	paramSourceID     = "source_id"
	paramJobID        = "job_id"
	paramError        = "error"
	paramSignature    = "signature"
	paramHost         = "host"
	paramFailedAfter  = "failed_after"
	paramFailedBefore = "failed_before"
)

var filterParams = []string{paramSourceID, paramJobID, paramError, paramSignature, paramHost, paramFailedAfter, paramFailedBefore}

// Limits of a request's inputs.
const (
	maxQueryBytes = 8 << 10  // a query string; more is 414
	maxBodyBytes  = 64 << 10 // a JSON body; more is 413
)

// params parses the query and answers 400 (and returns false) when it is
// not valid URL-encoded UTF-8, names a parameter not in allowed, or names
// one twice.
func params(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || !validUTF8(q) {
		writeError(w, http.StatusBadRequest, "query string is not valid URL-encoded UTF-8")
		return nil, false
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !slices.Contains(allowed, k) {
			detail := fmt.Sprintf("unknown query parameter %q", k)
			if len(allowed) == 0 {
				detail += "; this route takes none"
			} else {
				detail += "; this route takes " + strings.Join(allowed, ", ")
			}
			writeError(w, http.StatusBadRequest, detail)
			return nil, false
		}
		if len(q[k]) > 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter %q given %d times", k, len(q[k])))
			return nil, false
		}
	}
	return q, true
}

// onlyParams is params for routes that use no value of the query.
func onlyParams(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	_, ok := params(w, r, allowed...)
	return ok
}

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

// inputError is a bad input and the status it is answered with.
type inputError struct {
	status int
	detail string
}

func (e *inputError) Error() string { return e.detail }

func badRequest(format string, args ...any) *inputError {
	return &inputError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// answerInput answers an input error.
func answerInput(w http.ResponseWriter, err *inputError) {
	writeError(w, err.status, err.detail)
}

// readJSONBody reads a request's body, at most maxBodyBytes of it, and
// returns it with surrounding whitespace removed; "" for none. A body that
// is not empty must be application/json.
func readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, *inputError) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &inputError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxBodyBytes)}
		}
		return nil, badRequest("reading the body: %v", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, &inputError{http.StatusUnsupportedMediaType, fmt.Sprintf("send the body as application/json, not %q", r.Header.Get("Content-Type"))}
	}
	return b, nil
}

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// keys, keys given twice (encoding/json would keep the last, so that
// {"all": true, "signature": "x", "signature": ""} would widen a bulk
// action), keys in another case (encoding/json would match them), and
// anything after the object.
func decodeStrict(b []byte, v any) *inputError {
	if b[0] != '{' {
		return badRequest("invalid JSON body: want an object")
	}
	if ierr := checkKeys(b, jsonKeys(reflect.TypeOf(v).Elem())); ierr != nil {
		return ierr
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" { // name the key, not our struct's field
			return badRequest("invalid JSON body: %s must be %s, not %s", te.Field[strings.LastIndex(te.Field, ".")+1:], jsonType(te.Type), te.Value)
		}
		return badRequest("invalid JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("invalid JSON body: more than one value")
	}
	return nil
}

// jsonType names a Go type as the JSON a client sends for it.
func jsonType(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int64:
		return "a number"
	}
	return t.String()
}

// checkKeys reads the keys of the JSON object b and refuses one that is
// not exactly in known, one that comes twice, and null for a boolean
// (encoding/json would leave it false: {"dry_run": null} must not act).
func checkKeys(b []byte, known []jsonKey) *inputError {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // {
		return badRequest("invalid JSON body: %v", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return badRequest("invalid JSON body: %v", err)
		}
		k, _ := t.(string)
		i := slices.IndexFunc(known, func(j jsonKey) bool { return j.name == k })
		switch {
		case i < 0:
			names := make([]string, len(known))
			for j := range known {
				names[j] = known[j].name
			}
			return badRequest("invalid JSON body: unknown key %q; this route takes %s", k, strings.Join(names, ", "))
		case seen[k]:
			return badRequest("invalid JSON body: key %q given twice", k)
		}
		seen[k] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return badRequest("invalid JSON body: %v", err)
		}
		if known[i].boolean && string(value) == "null" {
			return badRequest("invalid JSON body: %q must be true or false, not null", k)
		}
	}
	return nil
}

// jsonKey is a JSON key a request body may hold.
type jsonKey struct {
	name    string
	boolean bool // its value is a bool (or *bool): null is refused
}

// jsonKeys lists the JSON keys of a struct type, those of embedded structs
// included.
func jsonKeys(t reflect.Type) []jsonKey {
	var keys []jsonKey
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case name == "-":
		case f.Anonymous && f.Tag.Get("json") == "" && ft.Kind() == reflect.Struct:
			keys = append(keys, jsonKeys(ft)...)
		case f.IsExported():
			keys = append(keys, jsonKey{name: name, boolean: ft.Kind() == reflect.Bool})
		}
	}
	return keys
}

// paramForce is the delete routes' parameter that removes an entry even
// under a live claim (dlq.Force).
const paramForce = "force"

// itemRequest is the body of the single-entry routes.
type itemRequest struct {
	ID     *string `json:"id"`
	Force  *bool   `json:"force"`  // delete-item only
	Reason *string `json:"reason"` // for the audit log (audit.go)
}

// parseItem reads the {"id": "..."} body of retry-item and delete-item,
// and delete-item's optional "force": true (takesForce).
func parseItem(w http.ResponseWriter, r *http.Request, takesForce bool) (id string, force bool, reason *string, _ *inputError) {
	b, ierr := readJSONBody(w, r)
	if ierr != nil {
		return "", false, nil, ierr
	}
	if b == nil {
		return "", false, nil, badRequest(`send the entry's id as a JSON body: {"id": "..."}`)
	}
	var req itemRequest
	if ierr := decodeStrict(b, &req); ierr != nil {
		return "", false, nil, ierr
	}
	if req.ID == nil {
		return "", false, nil, badRequest(`the JSON body needs "id"`)
	}
	if req.Force != nil {
		if !takesForce {
			return "", false, nil, badRequest(`unknown field "force": a retry never overrides another retry's claim`)
		}
		if r.URL.Query().Has(paramForce) {
			return "", false, nil, badRequest("force given in both the query and the body; send it in one")
		}
		force = *req.Force
	}
	return *req.ID, force, req.Reason, nil
}

// bulkRequest is a bulk route's input, from the query or a JSON body.
type bulkRequest struct {
	dlq.Filter
	DryRun bool    `json:"dry_run"`
	All    bool    `json:"all"`
	Rate   float64 `json:"rate"`
	Async  bool    `json:"async"`  // start an operation (ops.go)
	Reason *string `json:"reason"` // for the audit log (audit.go)
}

// The bulk routes' own parameters.
const (
	paramDryRun = "dry_run"
	paramAll    = "all"
	paramRate   = "rate"
)

var bulkParams = append([]string{paramDryRun, paramAll, paramRate, paramAsync}, filterParams...)

// parseBulk reads a bulk request from the query or from a JSON body, never
// both: a JSON content type with an empty body means the query, as many
// clients send it by default.
func parseBulk(w http.ResponseWriter, r *http.Request, q url.Values) (bulkRequest, *inputError) {
	var req bulkRequest
	var err error
	b, ierr := readJSONBody(w, r)
	if ierr != nil {
		return req, ierr
	}
	if b != nil {
		if len(q) > 0 {
			return req, badRequest("send the filter in the query or in a JSON body, not both")
		}
		if ierr := decodeStrict(b, &req); ierr != nil {
			return req, ierr
		}
		return req, checkRate(req.Rate)
	}
	if req.Filter, ierr = parseFilter(q); ierr != nil {
		return req, ierr
	}
	if req.DryRun, ierr = parseBool(q, paramDryRun); ierr != nil {
		return req, ierr
	}
	if req.All, ierr = parseBool(q, paramAll); ierr != nil {
		return req, ierr
	}
	if req.Async, ierr = parseBool(q, paramAsync); ierr != nil {
		return req, ierr
	}
	if v := q.Get(paramRate); v != "" {
		if req.Rate, err = strconv.ParseFloat(v, 64); err != nil {
			return req, badRequest("rate must be a number of entries per second")
		}
	}
	return req, checkRate(req.Rate)
}

func checkRate(rate float64) *inputError {
	if rate < 0 || rate != rate || rate > 1e6 {
		return badRequest("rate must be a number of entries per second from 0 to 1000000")
	}
	return nil
}

// parseBool reads a boolean parameter: absent is false; present, it must
// be true or false (or 1, 0, t, f as strconv.ParseBool takes them). A
// bare "dry_run" or "dry_run=" is 400, never false: a dry run that a
// client meant must not act.
func parseBool(q url.Values, name string) (bool, *inputError) {
	if !q.Has(name) {
		return false, nil
	}
	b, err := strconv.ParseBool(q.Get(name))
	if err != nil {
		return false, badRequest("%s must be true or false, not %q", name, q.Get(name))
	}
	return b, nil
}

// parseFilter reads a filter from query parameters. Times are RFC 3339.
func parseFilter(q url.Values) (dlq.Filter, *inputError) {
	f := dlq.Filter{
		SourceID:      q.Get(paramSourceID),
		JobID:         q.Get(paramJobID),
		ErrorContains: q.Get(paramError),
		Signature:     q.Get(paramSignature),
		Host:          q.Get(paramHost),
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{paramFailedAfter, &f.FailedAfter}, {paramFailedBefore, &f.FailedBefore}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, badRequest("%s must be an RFC 3339 time, like 2026-11-26T21:43:52Z", t.name)
			}
			*t.dst = tm
		}
	}
	return f, nil
}

// The limit query parameter: absent means DefaultLimit; otherwise an
// integer from 1 to MaxLimit.
const (
	DefaultLimit = dlq.DefaultLimit
	MaxLimit     = dlq.MaxLimit
)

func parseLimit(q url.Values) (int, *inputError) {
	if !q.Has("limit") {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil || n < 1 || n > MaxLimit {
		return 0, badRequest("limit must be an integer from 1 to %d", MaxLimit)
	}
	return n, nil
}

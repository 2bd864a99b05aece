package dlq

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/dlqkit/dlq/internal/jsonstr"
)

// Item is one failure in the DLQ.
//
// On the wire (in Redis and over HTTP) an Item is a JSON object with exactly
// these seven keys, the format the Python service reads and writes:
//
//	{"id":"5b0b6e0e-…","source_id":"0c3f…","job_id":null,
//	 "error":"GET https://example.com/p/1: 503","failed_at":"2026-11-26T21:43:52.123456+00:00",
//	 "retry_count":0,"dlq_type":"scrape"}
//
// failed_at is written in UTC with microseconds and "+00:00", as Python's
// datetime.now(UTC).isoformat() writes it. On read, any RFC 3339 / ISO 8601
// form is accepted ("Z", other offsets, no fraction, or no offset at all,
// which is taken as UTC), as are keys in any order, whitespace, job_id null
// or absent, and unknown keys (ignored).
//
// Fidelity: an item read from Redis keeps every stored field as it was
// written. failed_at comes back in the writer's own form (Python writes
// "2026-01-02T03:04:05+00:00" when the microsecond is 0) unless FailedAt is
// changed, and keys the item does not know are written back after the
// seven, unchanged.
//
// Over HTTP, an item under a retry also carries "in_flight": true and
// "claimed_until" (see [Service.Retry]); those keys are never stored.
type Item struct {
	ID         string    `json:"id"`          // a UUIDv7 for entries pushed by this library
	SourceID   string    `json:"source_id"`   // the source that failed
	JobID      *string   `json:"job_id"`      // nil when the failure has no job
	Error      string    `json:"error"`       // the cause, at most MaxErrorBytes long
	FailedAt   time.Time `json:"failed_at"`   // when the failure was recorded, UTC
	RetryCount int       `json:"retry_count"` // how many times it has been retried before
	Kind       Kind      `json:"dlq_type"`    // the DLQ it belongs to

	// InFlight is true when a retry holds a claim on the entry, until
	// ClaimedUntil. Set by List, Find and Retry; never stored.
	InFlight     bool      `json:"in_flight,omitempty"`
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`

	failedAt string // failed_at as stored, "" for an item not read from Redis
	extra    []byte // unknown keys as stored: `,"k":v,"k2":v2`
	raw      string // the entry exactly as stored
}

// timeLayout is the failed_at layout we write, minus the "+00:00" suffix.
const timeLayout = "2006-01-02T15:04:05.000000"

// readLayouts are the failed_at forms accepted on read, tried in order.
// Layouts without an offset are taken as UTC, as Python's naive datetimes
// from utcnow() mean.
var readLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

func parseTime(s string) (time.Time, error) {
	var err error
	for _, layout := range readLayouts {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

// MarshalJSON encodes the item in the wire format.
func (it Item) MarshalJSON() ([]byte, error) {
	return it.appendJSON(make([]byte, 0, 192+len(it.Error))), nil
}

// appendJSON appends the wire form of it to dst. Keys are written in a
// fixed order without whitespace.
func (it Item) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, it.ID)
	dst = append(dst, `,"source_id":`...)
	dst = appendString(dst, it.SourceID)
	dst = append(dst, `,"job_id":`...)
	if it.JobID == nil {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, *it.JobID)
	}
	dst = append(dst, `,"error":`...)
	dst = appendString(dst, it.Error)
	dst = append(dst, `,"failed_at":`...)
	if it.failedAt != "" && sameTime(it.failedAt, it.FailedAt) {
		dst = appendString(dst, it.failedAt)
	} else {
		dst = append(dst, '"')
		dst = it.FailedAt.UTC().AppendFormat(dst, timeLayout)
		dst = append(dst, `+00:00"`...)
	}
	dst = append(dst, `,"retry_count":`...)
	dst = strconv.AppendInt(dst, int64(it.RetryCount), 10)
	dst = append(dst, `,"dlq_type":`...)
	dst = appendString(dst, string(it.Kind))
	dst = append(dst, it.extra...)
	if it.InFlight {
		dst = append(dst, `,"in_flight":true,"claimed_until":"`...)
		dst = it.ClaimedUntil.UTC().AppendFormat(dst, timeLayout)
		dst = append(dst, `+00:00"`...)
	}
	return append(dst, '}')
}

// sameTime reports whether the stored form s of failed_at still says t.
func sameTime(s string, t time.Time) bool {
	p, err := parseTime(s)
	return err == nil && p.Equal(t)
}

// wireItem is the decoding form of Item: failed_at is parsed by hand so
// that every ISO 8601 variant other programs write is accepted.
type wireItem struct {
	ID         *string `json:"id"`
	SourceID   string  `json:"source_id"`
	JobID      *string `json:"job_id"`
	Error      string  `json:"error"`
	FailedAt   string  `json:"failed_at"`
	RetryCount int     `json:"retry_count"`
	Kind       Kind    `json:"dlq_type"`
}

// UnmarshalJSON decodes the wire format. It fails, wrapping [ErrMalformed],
// when the input is not a JSON object, when id is missing or empty, or when
// failed_at is not an ISO 8601 time.
func (it *Item) UnmarshalJSON(data []byte) error {
	var w wireItem
	if err := json.Unmarshal(data, &w); err != nil {
		return errorf(ErrMalformed, "%v", err)
	}
	if w.ID == nil || *w.ID == "" {
		return errorf(ErrMalformed, "no id")
	}
	if _, ids := topLevelIDs(string(data)); ids > 1 {
		return errorf(ErrMalformed, "more than one id key")
	}
	extra := extraKeys(data)
	t, err := parseTime(w.FailedAt)
	if err != nil {
		return errorf(ErrMalformed, "failed_at %q is not an ISO 8601 time", w.FailedAt)
	}
	*it = Item{
		ID:         *w.ID,
		SourceID:   w.SourceID,
		JobID:      w.JobID,
		Error:      w.Error,
		FailedAt:   t,
		RetryCount: w.RetryCount,
		Kind:       w.Kind,
		failedAt:   w.FailedAt,
		extra:      extra,
	}
	return nil
}

// wireKeys are the keys of the wire format.
var wireKeys = map[string]bool{
	"id": true, "source_id": true, "job_id": true, "error": true, "failed_at": true,
	"retry_count": true, "dlq_type": true,
}

// extraKeys returns the keys of a JSON object other than the seven wire
// keys, in their order, as `,"key":value` with the values as written (nil
// when there are none). Our own entries have none, and are not parsed
// twice.
func extraKeys(data []byte) []byte {
	if bytes.Count(data, []byte(`":`)) == 7 && ownKeys(data) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var out []byte
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return out
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return out
		}
		if wireKeys[key] {
			continue
		}
		out = append(out, ',')
		out = appendString(out, key)
		out = append(out, ':')
		out = append(out, v...)
	}
	return out
}

// ownKeys reports whether data holds `"key":` for each of the seven wire
// keys: with only seven `":` in it, it then has no other key.
func ownKeys(data []byte) bool {
	for _, k := range []string{`{"id":`, `"source_id":`, `"job_id":`, `"error":`, `"failed_at":`, `"retry_count":`, `"dlq_type":`} {
		if !bytes.Contains(data, []byte(k)) {
			return false
		}
	}
	return true
}

// decodeItem decodes one stored entry and remembers it as stored. Entries
// of the usual shape take the fast path (decode.go); the others, and the
// malformed, Item.UnmarshalJSON.
func decodeItem(raw string) (Item, error) {
	if e, ok := scanEntry(raw); ok {
		return e.item(raw), nil
	}
	var it Item
	err := it.UnmarshalJSON([]byte(raw))
	it.raw = raw
	return it, err
}

// v7Time returns the unix milliseconds of a UUIDv7 id in its canonical
// form (36 characters, lowercase hex and dashes, as Push writes it), or -1
// for any other id: Pop and Retry find entries with such ids by a binary
// search on these times, matching the stored string's start {"id":"<id>",
// so an id must not be able to carry a quote into that match. Other ids
// are found by a scan that compares decoded ids.
func v7Time(id string) int64 {
	if len(id) != 36 || id[14] != '7' {
		return -1
	}
	var ms int64
	for i := 0; i < len(id); i++ {
		c := id[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return -1
			}
			continue
		}
		var d int64
		switch {
		case c >= '0' && c <= '9':
			d = int64(c - '0')
		case c >= 'a' && c <= 'f':
			d = int64(c-'a') + 10
		default:
			return -1
		}
		if i < 13 { // the first 48 bits: the time
			ms = ms<<4 | d
		}
	}
	return ms
}

// MaxErrorBytes is the longest error text stored with an item. Longer texts
// (a 5 MB HTML error page, say) are cut at a UTF-8 boundary and end in
// [TruncatedMarker] followed by the original length, so that one bad
// failure cannot blow up Redis. The limit is on the text; its JSON form may
// be longer where characters need escaping.
const MaxErrorBytes = 64 << 10

// TruncatedMarker introduces the note at the end of a cut error text:
// "… [dlq: truncated from 5242880 bytes]".
const TruncatedMarker = "… [dlq: truncated from "

// truncateError cuts s to at most MaxErrorBytes bytes as documented on
// MaxErrorBytes.
func truncateError(s string) string {
	if len(s) <= MaxErrorBytes {
		return s
	}
	note := TruncatedMarker + strconv.Itoa(len(s)) + " bytes]"
	cut := MaxErrorBytes - len(note)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (see jsonstr.Append).
func appendString(dst []byte, s string) []byte { return jsonstr.Append(dst, s) }

// decodeOf decodes an entry of kind's list: an entry that does not say its
// kind (no dlq_type, or an empty one) takes the list's, so that a
// Requeuer routing on Kind never sees "".
func decodeOf(kind Kind, raw string) (Item, error) {
	it, err := decodeItem(raw)
	if err == nil && it.Kind == "" {
		it.Kind = kind
	}
	return it, err
}

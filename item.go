package dlq

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
type Item struct {
	ID         string    `json:"id"`          // a UUID for entries pushed by this library
	SourceID   string    `json:"source_id"`   // the source that failed
	JobID      *string   `json:"job_id"`      // nil when the failure has no job
	Error      string    `json:"error"`       // the cause, at most MaxErrorBytes long
	FailedAt   time.Time `json:"failed_at"`   // when the failure was recorded, UTC, microsecond precision
	RetryCount int       `json:"retry_count"` // how many times it has been retried before
	Kind       Kind      `json:"dlq_type"`    // the DLQ it belongs to
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
	dst = append(dst, `,"failed_at":"`...)
	dst = it.FailedAt.UTC().AppendFormat(dst, timeLayout)
	dst = append(dst, `+00:00","retry_count":`...)
	dst = strconv.AppendInt(dst, int64(it.RetryCount), 10)
	dst = append(dst, `,"dlq_type":`...)
	dst = appendString(dst, string(it.Kind))
	return append(dst, '}')
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
	}
	return nil
}

// decodeItem decodes one stored entry.
func decodeItem(raw string) (Item, error) {
	var it Item
	err := it.UnmarshalJSON([]byte(raw))
	return it, err
}

// idOf reads an entry's id the way id_of in lua/lib.lua does, so that Go
// and the scripts agree on which index entry belongs to an entry: our
// entries start with {"id":"<36-byte UUID>"; for others, the first "id" key
// whose string value has no escapes.
func idOf(raw string) (string, bool) {
	if len(raw) > 43 && strings.HasPrefix(raw, `{"id":"`) && raw[43] == '"' {
		if id := raw[7:43]; !strings.ContainsAny(id, `"\`) {
			return id, true
		}
	}
	m := idPattern.FindStringSubmatch(raw)
	if m == nil {
		return "", false
	}
	return m[1], true
}

var idPattern = regexp.MustCompile(`"id"[ \t\n\v\f\r]*:[ \t\n\v\f\r]*"([^"\\]*)"`)

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

// appendString appends s as a JSON string. It escapes what JSON requires
// plus U+2028 and U+2029 (as encoding/json does), writes invalid UTF-8 as
// U+FFFD, and leaves <, > and & alone, as Python's json.dumps does.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

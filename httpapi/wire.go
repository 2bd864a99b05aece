package httpapi

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/internal/jsonstr"
)

// The JSON forms of items and groups, with the cuts that keep an answer's
// size bounded whatever other programs wrote into the lists.

// Cuts of what other programs wrote. An entry whose error text is over
// MaxErrorBytes (our own never are: dlq cuts them on push) or whose JSON
// form is over MaxItemBytes is served cut: its error to its first
// MaxErrorBytes bytes, its id, source_id and job_id to their first
// maxFieldBytes, keys unknown to dlq.Item dropped, and two keys added:
// "truncated": true and "size", the length in bytes of its full JSON form.
const (
	MaxErrorBytes = dlq.MaxErrorBytes // 64 KiB
	MaxItemBytes  = 2 * MaxErrorBytes // room for the escapes of a full-size error
	maxFieldBytes = 1 << 10
	// MaxSampleBytes bounds a group's sample error text; a cut sample
	// carries "sample_truncated": true and "sample_size".
	MaxSampleBytes = 1 << 10
)

// served is an item as served: cut when it is over the limits.
type served struct {
	dlq.Item
	cut  bool
	size int // bytes of the full JSON form
}

// serve applies the cuts to an item, and returns its JSON form as served.
func serve(it dlq.Item) (served, []byte) {
	s := cutItem(it, nil)
	b, _ := s.Item.MarshalJSON() // never fails
	if !s.cut {
		return s, b
	}
	b = append(b[:len(b)-1], `,"truncated":true,"size":`...)
	b = strconv.AppendInt(b, int64(s.size), 10)
	return s, append(b, '}')
}

// cutItem applies the cuts to an item without encoding its error text.
// m, when not nil, remembers the last error text measured.
func cutItem(it dlq.Item, m *measurer) served {
	size := m.jsonSize(it)
	if len(it.Error) <= MaxErrorBytes && size <= MaxItemBytes {
		return served{Item: it, size: size}
	}
	c := dlq.Item{
		ID: cutText(it.ID, maxFieldBytes), SourceID: cutText(it.SourceID, maxFieldBytes),
		Error: cutText(it.Error, MaxErrorBytes), FailedAt: it.FailedAt, RetryCount: it.RetryCount,
		Kind: it.Kind, InFlight: it.InFlight, ClaimedUntil: it.ClaimedUntil,
	}
	if it.JobID != nil {
		job := cutText(*it.JobID, maxFieldBytes)
		c.JobID = &job
	}
	return served{Item: c, cut: true, size: size}
}

// jsonSize is len(it.MarshalJSON()), without writing out the error text,
// which is most of a big item. (Its other parts, unknown keys included,
// are encoded: only dlq sees them.)
func jsonSize(it dlq.Item) int { return (*measurer)(nil).jsonSize(it) }

// measurer is jsonSize remembering the last error text it measured: the
// rows of a page often share one (dlq hands out one string for a run of
// entries with the same error).
type measurer struct {
	text string
	n    int
}

func (m *measurer) jsonSize(it dlq.Item) int {
	text := it.Error
	it.Error = ""
	b, _ := it.MarshalJSON()
	if m == nil {
		return len(b) + jsonStringLen(text) - len(`""`)
	}
	if text != m.text || m.n == 0 {
		m.text, m.n = text, jsonStringLen(text)
	}
	return len(b) + m.n - len(`""`)
}

// jsonStringLen is the length of s written as a JSON string, as
// dlq.Item.MarshalJSON writes it.
func jsonStringLen(s string) int { return jsonstr.Len(s) }

// appendItem appends an item's served JSON form.
func appendItem(dst []byte, it dlq.Item) []byte {
	_, b := serve(it)
	return append(dst, b...)
}

// appendItems appends a JSON array of items and a newline; [] when there
// are none.
func appendItems(dst []byte, items []dlq.Item) []byte {
	dst = append(dst, '[')
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendItem(dst, it)
	}
	return append(dst, ']', '\n')
}

// cutText returns s cut to at most n bytes at a UTF-8 boundary.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// wireTime formats a time as items' failed_at is written:
// "2026-11-26T21:43:52.123456+00:00".
func wireTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000")
	return append(dst, `+00:00"`...)
}

// appendGroups appends a JSON array of groups and a newline: each
// {"signature", "count", "newest", "oldest", "sample", "hosts",
// "more_hosts"}, times written as items' are, hosts as [{"host",
// "count"}], and a sample over MaxSampleBytes cut, with
// "sample_truncated": true and "sample_size".
func appendGroups(dst []byte, gs []dlq.Group) []byte {
	dst = append(dst, '[')
	for i, g := range gs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"signature":`...)
		dst = appendJSONString(dst, g.Signature)
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, int64(g.Count), 10)
		dst = append(dst, `,"newest":`...)
		dst = wireTime(dst, g.Newest)
		dst = append(dst, `,"oldest":`...)
		dst = wireTime(dst, g.Oldest)
		dst = append(dst, `,"sample":`...)
		dst = appendJSONString(dst, cutText(g.Sample, MaxSampleBytes))
		if len(g.Sample) > MaxSampleBytes {
			dst = append(dst, `,"sample_truncated":true,"sample_size":`...)
			dst = strconv.AppendInt(dst, int64(len(g.Sample)), 10)
		}
		dst = append(dst, `,"hosts":[`...)
		for j, hc := range g.Hosts {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"host":`...)
			dst = appendJSONString(dst, hc.Host)
			dst = append(dst, `,"count":`...)
			dst = strconv.AppendInt(dst, int64(hc.Count), 10)
			dst = append(dst, '}')
		}
		dst = append(dst, `],"more_hosts":`...)
		dst = strconv.AppendInt(dst, int64(g.MoreHosts), 10)
		dst = append(dst, '}')
	}
	return append(dst, ']', '\n')
}

// appendJSONString appends s as a JSON string, as items are written
// (<, > and & as they are).
func appendJSONString(dst []byte, s string) []byte { return jsonstr.Append(dst, s) }

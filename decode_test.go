package dlq

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decodeSeeds are entries of every shape the fast path reads, and of
// shapes it must leave to Item.UnmarshalJSON.
var decodeSeeds = append([]string{
	`{"id":"a","source_id":"s","job_id":null,"error":"GET https://a.com/p/1: 503","failed_at":"2026-11-26T21:43:52.123456+00:00","retry_count":0,"dlq_type":"scrape"}`,
	`{"id":"a","source_id":"s","job_id":"j","error":"\": 503 \": 503 ","failed_at":"2026-11-26T21:43:52+00:00","retry_count":-3,"dlq_type":"scrape"}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","error":"\ud800x \udc00 \ud83d\ude00 \u00e9 \/ \b\f\n\r\t \u0000","retry_count":null}`,
	"{\"id\":\"a\",\"failed_at\":\"2026-11-26T21:43:52Z\",\"error\":\"\xff\xfe caf\xc3\xa9\"}",
	"{\"id\":\"\xff\",\"failed_at\":\"2026-11-26T21:43:52Z\",\"error\":\"\\\"\xc3\"}",
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","retry_count":9223372036854775807}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","retry_count":9223372036854775808}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","retry_count":1.0}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","retry_count":01}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","retry_count":-0}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","retry_count":"1"}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","job_id":5}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","ID":"b"}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","id":"b"}`,
	`{"Id":"a","failed_at":"2026-11-26T21:43:52Z"}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","source_id":true}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","error":"a\'b"}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","error":"a\u12"}`,
	"{\"id\":\"a\",\"failed_at\":\"2026-11-26T21:43:52Z\",\"error\":\"a\tb\"}",
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z"} x`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z"}` + " \r\n\t",
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z",}`,
	`{"id":"","failed_at":"2026-11-26T21:43:52Z"}`,
	`{"id":null,"failed_at":"2026-11-26T21:43:52Z"}`,
	`{"id":"a","failed_at":null}`,
	`{"id":"a","failed_at":"2026-11-26 21:43:52.5"}`,
	`{"id":"a","failed_at":"yesterday"}`,
	`{"id":"a","failed_at":"2026-11-26T21:43:52Z","error":nul}`,
	`{"id":"a"`, `{`, `{}`, `[]`, `null`, ``, `"x"`,
}, pythonEntries...)

// reference decodes raw with Item.UnmarshalJSON alone, the definition of
// a well-formed entry.
func reference(raw string) (Item, error) {
	var it Item
	err := it.UnmarshalJSON([]byte(raw))
	it.raw = raw
	return it, err
}

// FuzzDecodeWire: whatever the fast path accepts, Item.UnmarshalJSON
// accepts too, with the same item, so decodeItem (and Groups, which reads
// entries on the fast path) agree with it on every entry.
func FuzzDecodeWire(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, werr := reference(raw)
		got, gerr := decodeItem(raw)
		if (werr == nil) != (gerr == nil) || werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodeItem gives %#v, %v; UnmarshalJSON %#v, %v", raw, got, gerr, want, werr)
		}
		if gerr != nil && werr.Error() != gerr.Error() {
			t.Fatalf("%q: decodeItem says %v; UnmarshalJSON %v", raw, gerr, werr)
		}
		if e, ok := scanEntry(raw); ok {
			if werr != nil {
				t.Fatalf("%q: the fast path accepts what UnmarshalJSON refuses: %v", raw, werr)
			}
			if e.tokens[wError].text() != want.Error || !e.failedAt.Equal(want.FailedAt) {
				t.Fatalf("%q: the fast path reads error %q at %v, UnmarshalJSON %q at %v", raw, e.tokens[wError].text(), e.failedAt, want.Error, want.FailedAt)
			}
		}
	})
}

// FuzzUnquote: a JSON string the fast path scans decodes as encoding/json
// decodes it.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`a`, `\"`, `\ud800`, `\ud83d\ude00`, `\udc00\ud800`, `\ud800\u0041`, "\xff", `\u00e9\/\b`, "é\\n\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		quoted := `"` + content + `"`
		tok, end, ok := scanString(quoted, 0)
		var want string
		werr := json.Unmarshal([]byte(quoted), &want)
		if !ok || end != len(quoted) {
			return // not one string: left to encoding/json
		}
		if werr != nil {
			t.Fatalf("%q: scanned, but encoding/json refuses it: %v", quoted, werr)
		}
		if got := tok.text(); got != want {
			t.Fatalf("%q: unquoted to %q, encoding/json %q", quoted, got, want)
		}
	})
}

// TestDecodeFastPath: the entries this library and the Python service
// write take the fast path, and the others it leaves to UnmarshalJSON.
func TestDecodeFastPath(t *testing.T) {
	job := "j"
	own := Item{ID: "a", SourceID: "s", JobID: &job, Error: "quote \" é \u2028 \x00", RetryCount: 2, Kind: Scrape}
	for _, raw := range append([]string{string(own.appendJSON(nil)), decodeSeeds[0], decodeSeeds[1], decodeSeeds[2]}, pythonEntries[:3]...) {
		if _, ok := scanEntry(raw); !ok {
			t.Errorf("%s: not on the fast path", raw)
		}
	}
	for _, raw := range []string{pythonEntries[3], `{"id":"a","failed_at":"2026-11-26T21:43:52Z","ID":"b"}`, `{"id":"a","failed_at":"2026-11-26T21:43:52Z","retry_count":1.0}`} {
		if _, ok := scanEntry(raw); ok {
			t.Errorf("%s: on the fast path", raw)
		}
	}
	for _, raw := range decodeSeeds {
		want, werr := reference(raw)
		got, gerr := decodeItem(raw)
		if (werr == nil) != (gerr == nil) || werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: decodeItem gives %#v, %v; UnmarshalJSON %#v, %v", raw, got, gerr, want, werr)
		}
	}
	if !strings.Contains(decodeSeeds[1], `\"`) {
		t.Fatal("seed 1 should carry escapes")
	}
}

// BenchmarkDecodeHostile: an entry whose error is `": 503 "` repeated to
// 64 KiB, escaped on every fourth byte.
func BenchmarkDecodeHostile(b *testing.B) {
	raw, _ := json.Marshal(map[string]any{"id": "h", "source_id": "s", "job_id": nil, "error": strings.Repeat(`": 503 "`, (64<<10)/8),
		"failed_at": "2026-11-26T21:43:52+00:00", "retry_count": 0, "dlq_type": "scrape"})
	b.SetBytes(int64(len(raw)))
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			scanEntry(string(raw))
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			_, _ = decodeItem(string(raw))
		}
	})
}

// BenchmarkDecodePlain: an entry with 64 KiB of error text without
// escapes.
func BenchmarkDecodePlain(b *testing.B) {
	raw, _ := json.Marshal(map[string]any{"id": "h", "source_id": "s", "job_id": nil, "error": strings.Repeat(`GET https://a.com/p/1: 503 `, (64<<10)/27),
		"failed_at": "2026-11-26T21:43:52+00:00", "retry_count": 0, "dlq_type": "scrape"})
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		scanEntry(string(raw))
	}
}

// FuzzEntryDecoder: an entryDecoder, which compares an error text with the
// last one met instead of scanning it again, decodes a run of entries as
// decodeItem decodes each.
func FuzzEntryDecoder(f *testing.F) {
	hostile := strings.Repeat(`\": 503 \"`, 50)
	for _, s := range decodeSeeds {
		f.Add(s, s)
	}
	f.Add(`{"id":"a","failed_at":"2026-11-26T21:43:52Z","error":"`+hostile+`"}`, `{"id":"b","failed_at":"2026-11-26T21:43:52Z","error":"`+hostile+`"}`)
	f.Add(`{"id":"a","failed_at":"2026-11-26T21:43:52Z","error":"x\"}`, `{"id":"b","failed_at":"2026-11-26T21:43:52Z","error":"x\"y"}`)
	f.Add(`{"id":"a","failed_at":"2026-11-26T21:43:52Z","error":"x"}`, `{"id":"b","failed_at":"2026-11-26T21:43:52Z","error":"x"`)
	f.Add(`{"id":"a","failed_at":"2026-11-26T21:43:52Z","error":""}`, `{"id":"b","failed_at":"2026-11-26T21:43:52Z","error":""}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		var d entryDecoder
		for _, raw := range []string{a, b, a, b} {
			want, werr := reference(raw)
			got, gerr := d.decode(raw)
			if (werr == nil) != (gerr == nil) || werr == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("%q after %q: the decoder gives %#v, %v; UnmarshalJSON %#v, %v", raw, a, got, gerr, want, werr)
			}
		}
	})
}

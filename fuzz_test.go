package dlq

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodeItem feeds arbitrary bytes, as another program might store
// them, to the entry decoder: it never panics, fails only with
// ErrMalformed, and what it accepts encodes to the seven wire keys and
// decodes back to the same item.
func FuzzDecodeItem(f *testing.F) {
	for _, s := range append(pythonEntries,
		`not json`, `{}`, `[]`, `null`, `{"id": ""}`, `{"id": "x", "failed_at": "yesterday"}`,
		`{"id":"a","failed_at":"2026-11-26T21:43:52Z","retry_count":1e400}`,
		`{"id":"a","failed_at":"2026-11-26T21:43:52Z","job_id":5}`,
		`{"id":"\ud800","failed_at":"2026-11-26 21:43:52","error":"\u0000"}`,
	) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := decodeItem(string(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		enc := it.appendJSON(nil)
		var m map[string]any
		if err := json.Unmarshal(enc, &m); err != nil {
			t.Fatalf("re-encoded %q: %v", enc, err)
		}
		for _, k := range []string{"id", "source_id", "job_id", "error", "failed_at", "retry_count", "dlq_type"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("re-encoded %q has no %q", enc, k)
			}
		}
		back, err := decodeItem(string(enc))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v: %s", err, enc)
		}
		if want := it.FailedAt.Truncate(time.Microsecond); !back.FailedAt.Equal(want) {
			t.Fatalf("failed_at %v came back as %v, want %v", it.FailedAt, back.FailedAt, want)
		}
		if utf8.ValidString(it.ID) && back.ID != it.ID {
			t.Fatalf("id %q came back as %q", it.ID, back.ID)
		}
		if again := back.appendJSON(nil); string(again) != string(enc) {
			t.Fatalf("encoding is not stable: %q, then %q", enc, again)
		}
	})
}

// FuzzSignature: any text gets a signature without panicking, on one
// line, valid UTF-8 of at most MaxSignatureLen runes, the same each time;
// the text repeated to 1 MB gets one within signatureBudget, and what
// follows the first 4 KiB changes nothing; and texts that differ only in
// a number share it.
func FuzzSignature(f *testing.F) {
	for _, s := range []string{"GET https://a.com/p/1: 503", `Get "http://[::1]:80/x": EOF`, "x\n\ty", "0x", "é 12 ü", "\xff\xfe", ": 503 ", "a://", `"'`, "1.1.1.1:1 "} {
		f.Add(s, uint16(7))
	}
	f.Fuzz(func(t *testing.T, text string, n uint16) {
		sig := Signature(text)
		if strings.ContainsAny(sig, "\n\t") {
			t.Fatalf("Signature(%q) = %q spans lines", text, sig)
		}
		if !utf8.ValidString(sig) || utf8.RuneCountInString(sig) > MaxSignatureLen {
			t.Fatalf("Signature(%q) = %q: not UTF-8, or over %d runes", text, sig, MaxSignatureLen)
		}
		if again := Signature(text); again != sig {
			t.Fatalf("Signature(%q) is %q, then %q", text, sig, again)
		}
		if text != "" {
			long := strings.Repeat(text, (1<<20)/len(text)+1)
			if d := slowSignature(long); d > 0 {
				t.Fatalf("Signature of %q repeated to %d bytes took %v", text, len(long), d)
			}
			if a, b := Signature(long), Signature(long+` 1 "x" a://b/c`); a != b {
				t.Fatalf("%q repeated to %d bytes gives %q, and with more after it %q", text, len(long), a, b)
			}
		}
		a, b := "page "+itoa(int(n))+" of "+text, "page "+itoa(int(n)+1)+" of "+text
		if len(b) > signatureScan { // the number would move the 4 KiB's end
			return
		}
		if sa, sb := Signature(a), Signature(b); sa != sb {
			t.Fatalf("numbers %d and %d give %q and %q", n, n+1, sa, sb)
		}
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

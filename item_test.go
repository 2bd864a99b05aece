package dlq

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 11, 26, 21, 43, 52, 123456000, time.UTC)
	sec := want.Truncate(time.Second)
	cases := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-26T21:43:52.123456+00:00", want},
		{"2026-11-26T21:43:52.123456Z", want},
		{"2026-11-26T21:43:52Z", sec},
		{"2026-11-26T21:43:52+00:00", sec},
		{"2026-11-26T22:43:52.123456+01:00", want},
		{"2026-11-26T16:43:52.123456-05:00", want},
		{"2026-11-26T21:43:52.123456", want},
		{"2026-11-26T21:43:52", sec},
		{"2026-11-26 21:43:52.123456+00:00", want},
		{"2026-11-26 21:43:52.123456", want},
		{"2026-11-26T21:43:52.123456789Z", want.Add(789)},
	}
	for _, c := range cases {
		got, err := parseTime(c.in)
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; want %v in UTC", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-11-26", "1764193432", "2026-13-26T21:43:52Z"} {
		if _, err := parseTime(bad); err == nil {
			t.Errorf("parseTime(%q) accepted", bad)
		}
	}
}

func TestItemJSONRoundTrip(t *testing.T) {
	job := "j-1"
	it := Item{
		ID: "id-1", SourceID: "src", JobID: &job, Error: "a\x00b\u2028\"<>&\\",
		FailedAt:   time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("X", 3600)),
		RetryCount: 4, Kind: Extraction,
	}
	b, err := json.Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"failed_at":"2026-01-02T02:04:05.000006+00:00"`; !strings.Contains(string(b), want) {
		t.Errorf("JSON %s lacks %s", b, want)
	}
	var back Item
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !itemsEqual(back, it) || *back.JobID != job {
		t.Errorf("round trip: %+v, want %+v", back, it)
	}
	// Inside a slice, as the HTTP API writes it.
	b, _ = json.Marshal([]Item{it})
	var backs []Item
	if err := json.Unmarshal(b, &backs); err != nil || len(backs) != 1 || !itemsEqual(backs[0], it) {
		t.Errorf("slice round trip: %v, %v", backs, err)
	}
}

func TestUnmarshalMalformed(t *testing.T) {
	for _, raw := range []string{`nope`, `[]`, `{}`, `{"id": ""}`, `{"id": "x"}`, `{"id": 5, "failed_at": "2026-11-26T21:43:52Z"}`, `{"id": "x", "failed_at": "2026-11-26T21:43:52Z", "retry_count": "one"}`} {
		if _, err := decodeItem(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("decodeItem(%s): err = %v, want ErrMalformed", raw, err)
		}
	}
}

func TestAppendStringMatchesJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "\"\\/", "\x00\x01\x1f\x7f", "\t\r\n", "é😀", "\u2028\u2029", "bad \xff\xfe utf8", "<script>&</script>", strings.Repeat("x", 1000)} {
		checkAppendString(t, s)
	}
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	enc := appendString(nil, s)
	var back string
	if err := json.Unmarshal(enc, &back); err != nil {
		t.Fatalf("appendString(%q) = %s, not JSON: %v", s, enc, err)
	}
	want := strings.ToValidUTF8(s, "\uFFFD")
	if !utf8.ValidString(s) {
		// encoding/json replaces each bad byte; so do we.
		var b strings.Builder
		for i, r := range s {
			_ = i
			b.WriteRune(r)
		}
		want = b.String()
	}
	if back != want {
		t.Errorf("appendString(%q) decodes to %q, want %q", s, back, want)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "é\u2028"} {
		f.Add(s)
	}
	f.Fuzz(checkAppendString)
}

func TestTruncateError(t *testing.T) {
	short := strings.Repeat("a", MaxErrorBytes)
	if got := truncateError(short); got != short {
		t.Error("a text of exactly MaxErrorBytes was cut")
	}
	for _, long := range []string{strings.Repeat("a", MaxErrorBytes+1), strings.Repeat("€", MaxErrorBytes), strings.Repeat("x", 5<<20)} {
		got := truncateError(long)
		if len(got) > MaxErrorBytes || len(got) < MaxErrorBytes-4 || !utf8.ValidString(got) || !strings.Contains(got, TruncatedMarker) {
			t.Errorf("truncateError of %d bytes: %d bytes, valid %v", len(long), len(got), utf8.ValidString(got))
		}
	}
}

func TestV7Time(t *testing.T) {
	id, _ := uuid.NewV7()
	ms := id.Time()
	sec, nsec := ms.UnixTime()
	want := sec*1000 + nsec/1e6
	for _, tc := range []struct {
		id   string
		want int64
	}{
		{id.String(), want},
		{strings.ToUpper(id.String()), -1},           // not as Push writes it
		{uuid.NewString(), -1},                       // version 4
		{`01900000-0000-7abc","k":"xxxxxxxxxxx`, -1}, // a quote inside
		{"01900000-0000-7abc-8000-00000000000", -1},  // 35 characters
		{"0190000000000-7abc-8000-000000000000", -1}, // a dash misplaced
		{"01900000-0000-7abc-8000-00000000000g", -1}, // not hex
		{"01900000-0000-7abc-8000-000000000000", 0x01900000_0000},
	} {
		if got := v7Time(tc.id); got != tc.want {
			t.Errorf("v7Time(%q) = %d, want %d", tc.id, got, tc.want)
		}
	}
}

package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppend(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain <b>&", `"plain <b>&"`},
		{"q\"b\\n\nr\rt\t", `"q\"b\\n\nr\rt\t"`},
		{"\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`},
		{"bad \xff utf-8", `"bad \ufffd utf-8"`},
		{"sep \u2028 \u2029", `"sep \u2028 \u2029"`},
		{"é 日本", `"é 日本"`},
	} {
		got := string(Append(nil, tc.in))
		if got != tc.want {
			t.Errorf("Append(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if Len(tc.in) != len(got) {
			t.Errorf("Len(%q) = %d, want %d", tc.in, Len(tc.in), len(got))
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil || back != strings.ToValidUTF8(tc.in, "\uFFFD") {
			t.Errorf("Append(%q) decodes to %q, %v", tc.in, back, err)
		}
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("a\"b\\c\x01\xff\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		got := Append(nil, s)
		if Len(s) != len(got) {
			t.Fatalf("Len(%q) = %d, len(Append) = %d", s, Len(s), len(got))
		}
		// Each invalid byte becomes U+FFFD, as encoding/json writes it.
		ref, _ := json.Marshal(s)
		var back, want string
		_ = json.Unmarshal(ref, &want)
		if err := json.Unmarshal(got, &back); err != nil || back != want {
			t.Fatalf("Append(%q) = %s decodes to %q, %v; want %q", s, got, back, err, want)
		}
	})
}

package dlq

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSignature(t *testing.T) {
	cases := []struct{ in, want string }{
		// HTTP status
		{"GET https://a.com/p/123: 503", "GET https://a.com/<path>: 503"},
		{"GET https://a.com/p/9: 503 Service Unavailable", "GET https://a.com/<path>: 503 Service Unavailable"},
		{"GET https://a.com/p/9?page=2&q=x: 404 Not Found", "GET https://a.com/<path>: 404 Not Found"},
		{"unexpected status code 429 from https://shop.example.com/api/v2/items/88", "unexpected status code 429 from https://shop.example.com/<path>"},
		{"HTTP 500 on page 17", "HTTP 500 on page <n>"},
		{"server returned status=502 after 3 attempts", "server returned status=502 after <n> attempts"},
		// timeouts
		{`Get "https://a.com/p/5": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, `Get "https://a.com/<path>": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`},
		{"read tcp 10.0.3.7:51234->93.184.216.34:443: i/o timeout", "read tcp <ip>-><ip>: i/o timeout"},
		{"page load timed out after 30s", "page load timed out after <dur>"},
		{"timeout after 1m30s waiting for selector", "timeout after <dur> waiting for selector"},
		{"navigation timeout of 15000 ms exceeded", "navigation timeout of <n> ms exceeded"},
		// DNS and connections
		{"dial tcp: lookup shop-17.example.com on 127.0.0.53:53: no such host", "dial tcp: lookup shop-17.example.com on <ip>: no such host"},
		{`Get "http://127.0.0.1:1/products/8": dial tcp 127.0.0.1:1: connect: connection refused`, `Get "http://<ip>/<path>": dial tcp <ip>: connect: connection refused`},
		{"read: connection reset by peer", "read: connection reset by peer"},
		// TLS
		{"tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-11-26T21:43:52Z is after 2026-10-01T00:00:00Z", "tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time <time> is after <time>"},
		{"remote error: tls: handshake failure", "remote error: tls: handshake failure"},
		// robots.txt
		{`robots.txt disallows "/products/7731" for user agent "dlqbot/1.2"`, `robots.txt disallows "<str>" for user agent "<str>"`},
		// parse errors
		{"extract https://a.com/p/4: no element matches selector span.price", "extract https://a.com/<path>: no element matches selector span.price"},
		{"html: parse error at line 212, column 17", "html: parse error at line <n>, column <n>"},
		{"strconv.ParseFloat: parsing \"12,50\": invalid syntax", "strconv.ParseFloat: parsing \"<str>\": invalid syntax"},
		// JSON decode errors
		{"invalid character 'o' in literal null (expecting 'u')", "invalid character '<str>' in literal null (expecting '<str>')"},
		{"json: cannot unmarshal string into Go struct field Product.price of type float64", "json: cannot unmarshal string into Go struct field Product.price of type float64"},
		{"unexpected end of JSON input at offset 1834", "unexpected end of JSON input at offset <n>"},
		// LLM extraction errors
		{"llm: openai: 429 Too Many Requests: rate limit reached for requests, retry after 20s (request id req_8f3a9c0b1d2e4f56)", "llm: openai: 429 Too Many Requests: rate limit reached for requests, retry after <dur> (request id req_<hex>)"},
		{"llm: response missing field \"price\" for source 0c3f2a4e-8d0b-4c55-9a57-2f1f3c1b8e01", "llm: response missing field \"<str>\" for source <uuid>"},
		{"llm: context length exceeded: 131072 tokens > 128000 limit", "llm: context length exceeded: <n> tokens > <n> limit"},
		// ids and whitespace
		{"job deadbeefcafe0042 failed   twice", "job <hex> failed twice"},
		{"", ""},
	}
	for _, c := range cases {
		if got := Signature(c.in); got != c.want {
			t.Errorf("Signature(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestSignatureGroupsAndSeparates(t *testing.T) {
	same := [][2]string{
		{"GET https://a.com/p/123: 503", "GET https://a.com/p/9: 503"},
		{`Get "https://a.com/x": context deadline exceeded`, `Get "https://a.com/y/z?q=1": context deadline exceeded`},
		{"dial tcp 10.0.0.1:443: connect: connection refused", "dial tcp 10.0.0.2:8443: connect: connection refused"},
		{"invalid character 'o' in literal null (expecting 'u')", "invalid character 'x' in literal null (expecting 'a')"},
	}
	for _, p := range same {
		if Signature(p[0]) != Signature(p[1]) {
			t.Errorf("%q and %q differ: %q vs %q", p[0], p[1], Signature(p[0]), Signature(p[1]))
		}
	}
	differ := [][2]string{
		{"GET https://a.com/p/123: 503", "GET https://a.com/p/123: 404"},
		{"GET https://a.com/p/1: 503", "GET https://b.com/p/1: 503"},
		{"tls: handshake failure", "tls: bad certificate"},
	}
	for _, p := range differ {
		if Signature(p[0]) == Signature(p[1]) {
			t.Errorf("%q and %q share %q", p[0], p[1], Signature(p[0]))
		}
	}
}

// TestSignatureHostile: texts made to be slow, most of 1 MB, get their
// signature of at most MaxSignatureLen runes within signatureBudget.
func TestSignatureHostile(t *testing.T) {
	const mb = 1 << 20
	fill := func(unit string, n int) string { return strings.Repeat(unit, n/len(unit)+1)[:n] }
	cases := []struct{ name, in, want string }{
		{"status codes", fill(": 503 ", 64<<10), strings.Repeat(": 503 ", 33) + ":"},
		{"status codes, 1 MB", fill(": 503 ", mb), strings.Repeat(": 503 ", 33) + ":"},
		{"named status codes", fill("Status Code 404 ", mb), fill("Status Code 404 ", 200)},
		{"digits", fill("1", mb), "<n>"},
		{"numbers", fill("1.", mb), fill("<ip>.", 200)},
		{"schemes", fill("a://", mb), "a://a:<port>/<path>"},
		{"trailing dots", "see a://x" + fill(".", mb), "see a://x" + fill(".", 191)},
		{"nested quotes", fill(`"'`, mb), strings.Repeat(`"<str>"'<str>'`, 14) + `"`},
		{"unclosed quotes", fill(`"a 'b `, mb), strings.Repeat(`"<str>"a '<str>'b `, 11) + `"`},
		{"addresses", fill("1.1.1.1:1 ", mb), strings.TrimSpace(fill("<ip> ", 200))},
		{"hostname", fill("a.1", mb), fill("a.1", 200)},
		{"brackets", fill("[a:", mb), fill("[a:", 200)},
		{"durations", fill("1s", mb), "<dur>"},
		{"hex", fill("0x", mb), fill("0x", 200)},
		{"every kind", fill(`a://b "x" 0c3f2a4e-8d0b-4c55-9a57-2f1f3c1b8e01 1.1.1.1 1s deadbeef1 2026-11-26T21:43:52Z `, mb),
			fill(`a://b "<str>" <uuid> <ip> <dur> <hex> <time> `, 200)},
		{"whitespace", fill(" \n\t", mb), ""},
		{"one word", fill("x", mb), fill("x", 200)},
		{"two-byte runes", fill("é", mb), strings.Repeat("é", 200)},
		{"invalid UTF-8", fill("\xff", mb), "\uFFFD"},
		{"error then padding", "GET https://a.com/p/9: 503 Service Unavailable" + fill(" \n", mb) + " tail",
			"GET https://a.com/<path>: 503 Service Unavailable"},
	}
	for _, c := range cases {
		got := Signature(c.in)
		if got != c.want {
			t.Errorf("%s: got %q\nwant %q", c.name, got, c.want)
		}
		if n := utf8.RuneCountInString(got); n > MaxSignatureLen || !utf8.ValidString(got) {
			t.Errorf("%s: %d runes, valid UTF-8 %v", c.name, n, utf8.ValidString(got))
		}
		if d := slowSignature(c.in); d > 0 {
			t.Errorf("%s: took %v, over %v", c.name, d, signatureBudget)
		}
	}
}

// TestSignatureCut: the cut to MaxSignatureLen runes splits no rune or
// placeholder, and the 4 KiB read splits no rune.
func TestSignatureCut(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	pad := func(n int) string { return strings.Repeat(" ", n) }
	cases := []struct{ in, want string }{
		{x(200), x(200)},
		{x(201), x(200)},
		{x(199) + " y", x(199)},
		{x(188) + " a://b/c", x(188) + " a://b/"}, // not a://b/<path
		{x(180) + " a://b/c", x(180) + " a://b/<path>"},
		{x(199) + "é", x(199) + "é"},
		{"bad \xff\xfe byte", "bad \uFFFD byte"},
		{pad(signatureScan-2) + "é", "é"},
		{pad(signatureScan-1) + "é", ""}, // é would straddle the 4 KiB
		{pad(signatureScan) + "x", ""},
	}
	for _, c := range cases {
		if got := Signature(c.in); got != c.want {
			t.Errorf("Signature(%.40q…)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// signatureBudget is how long one Signature may take on any text. The
// slowest take about 1 ms, 70 ms under the race detector, so a loaded
// machine stays well within it; work that grows with the text, on the
// 1 MB texts here, does not (41.7 s when status codes were quadratic).
const signatureBudget = time.Second

// slowSignature returns the fastest of three runs of Signature(s) if each
// takes over signatureBudget, else 0; the first run under it ends the
// measuring. A pause of the machine's slows one run, not three.
func slowSignature(s string) time.Duration {
	fastest := time.Duration(1<<63 - 1)
	for range 3 {
		start := time.Now()
		Signature(s)
		d := time.Since(start)
		if d <= signatureBudget {
			return 0
		}
		fastest = min(fastest, d)
	}
	return fastest
}

// BenchmarkSignatureHostile: 64 KiB of ": 503 ", which took 334 ms when
// each status code lower-cased all the text before it.
func BenchmarkSignatureHostile(b *testing.B) {
	s := strings.Repeat(": 503 ", (64<<10)/len(": 503 "))
	for b.Loop() {
		Signature(s)
	}
}

// FuzzSignatureScanners: the hand-written scanners that spare Signature
// its costliest regexps agree with them: urls with sigURL, mayHaveIP with
// sigIP's needs, and normalizeURL's split with sigHost.
func FuzzSignatureScanners(f *testing.F) {
	for _, s := range []string{"GET https://shop.example/p/1: 503", "x_http://a", "_a://b", "1a://b", "a.b+c-d://h/p", "http://", "http:///x", "a://b://c d://e",
		"\xffhttp://\xff/\"", "http://a?b#c", "a://)", "h://a.", "ws://[::1]:80/x", "1.2.3.4", "a.1", "1.a", "[", "http://10.0.0.1:8080/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := sigURL.FindAllStringIndex(s, -1)
		if got := urls(s); len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) {
			t.Fatalf("urls(%q) = %v, sigURL finds %v", s, got, want)
		}
		if got, want := replaceURLs(s), sigURL.ReplaceAllStringFunc(s, normalizeURL); got != want {
			t.Fatalf("replaceURLs(%q) = %q, want %q", s, got, want)
		}
		if sigIP.MatchString(s) && !mayHaveIP(s) {
			t.Fatalf("mayHaveIP(%q) is false, but sigIP matches", s)
		}
		for _, loc := range want {
			u := strings.TrimRight(s[loc[0]:loc[1]], ".,;:!?)]}")
			m := sigHost.FindStringSubmatch(u)
			i := strings.Index(u, "://") + 3
			j := i + strings.IndexAny(u[i:], "/?#")
			if j < i {
				j = len(u)
			}
			if m == nil || m[1] != u[:i] || m[2] != u[i:j] || m[3] != u[j:] {
				t.Fatalf("%q splits as %q %q %q; sigHost says %q", u, u[:i], u[i:j], u[j:], m)
			}
		}
	})
}

// BenchmarkSignatureURL: a typical error text, of the kind the groups
// route meets thousands of.
func BenchmarkSignatureURL(b *testing.B) {
	for b.Loop() {
		Signature("GET https://shop.example/p/12345: 503")
	}
}

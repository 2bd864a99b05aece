package dlq

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSignature(t *testing.T) {
	cases := []struct{ in, want string }{
		// HTTP status: URLs go, status codes and reasons stay
		{"GET https://a.com/p/123: 503", "GET <url>: 503"},
		{"GET https://a.com/p/9?page=2&q=x: 404 Not Found", "GET <url>: 404 Not Found"},
		{"unexpected status code 429 from https://shop.example.com/api/v2/items/88", "unexpected status code 429 from <url>"},
		{"HTTP 500 on page 17", "HTTP 500 on page <n>"},
		{"server returned status=502 after 3 attempts", "server returned status=502 after <n> attempts"},
		{"requests.exceptions.HTTPError: 503 Server Error: Service Unavailable for url: https://b.org/x", "requests.exceptions.HTTPError: 503 Server Error: Service Unavailable for url: <url>"},
		{"urllib.error.HTTPError: HTTP Error 403: Forbidden", "urllib.error.HTTPError: HTTP Error 403: Forbidden"},
		{"<Response [429]>", "<Response [429]>"},
		{"GET https://a.com/p: 503 (retry 2)", "GET <url>: 503 (retry <n>)"},
		{"context length: 150 tokens", "context length: <n> tokens"},
		// timeouts
		{`Get "https://a.com/p/5": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, `Get "<url>": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`},
		{"read tcp 10.0.3.7:51234->93.184.216.34:443: i/o timeout", "read tcp <ip>-><ip>: i/o timeout"},
		{"page load timed out after 30s", "page load timed out after <dur>"},
		{"timeout after 1m30s waiting for selector", "timeout after <dur> waiting for selector"},
		{"TimeoutError: page.goto: Timeout 30000ms exceeded.\nCall log:\n  - navigating to \"https://a.de/x\", waiting until \"load\"\n  - retrying",
			`TimeoutError: page.goto: Timeout <dur> exceeded. Call log: - navigating to "<url>", waiting until "load"`},
		{"navigation timeout of 15000 ms exceeded", "navigation timeout of <n> ms exceeded"},
		// DNS, connections, proxies: hosts, IPs and ports go, errno stays
		{"dial tcp: lookup shop-17.example.com on 127.0.0.53:53: no such host", "dial tcp: lookup <host> on <ip>: no such host"},
		{`Get "http://127.0.0.1:1/products/8": dial tcp 127.0.0.1:1: connect: connection refused`, `Get "<url>": dial tcp <ip>: connect: connection refused`},
		{`Get "http://[::1]:80/x": dial tcp [::1]:80: connect: connection refused`, `Get "<url>": dial tcp <ip>: connect: connection refused`},
		{"HTTPSConnectionPool(host='shop.example.com', port=443): Max retries exceeded with url: /p/123?x=1 (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f3a2b1c4d50>: Failed to establish a new connection: [Errno 111] Connection refused'))",
			"HTTPSConnectionPool(host='<host>', port=<n>): Max retries exceeded with url: <path> (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at <hex>>: Failed to establish a new connection: [Errno 111] Connection refused'))"},
		{"socket.gaierror: [Errno -2] Name or service not known", "socket.gaierror: [Errno -2] Name or service not known"},
		{"Cannot connect to host shop.example.co.uk:443 ssl:default", "Cannot connect to host <host> ssl:default"},
		// TLS
		{"tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-11-26T21:43:52Z is after 2026-10-01T00:00:00Z", "tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time <time> is after <time>"},
		{"x509: certificate is valid for *.cdn.example.net, cdn.example.net, not a.example.org", "x509: certificate is valid for *.<host>, <host>, not <host>"},
		// selectors, fields and exceptions stay
		{`extract https://a.com/p/4: selector "span.price" matched 0 nodes`, `extract <url>: selector "span.price" matched <n> nodes`},
		{`robots.txt disallows "/products/7731" for user agent "dlqbot/1.2"`, `robots.txt disallows "<path>" for user agent "dlqbot/<n>"`},
		{"html: parse error at line 212, column 17", "html: parse error at line <n>, column <n>"},
		{"json: cannot unmarshal string into Go struct field Product.price of type float64", "json: cannot unmarshal string into Go struct field Product.price of type float64"},
		{"invalid character '<' looking for beginning of value", "invalid character '<' looking for beginning of value"},
		{"unexpected end of JSON input at offset 1834", "unexpected end of JSON input at offset <n>"},
		{"1 validation error for Product\nprice\n  field required (type=value_error.missing)", "<n> validation error for Product price field required (type=value_error.missing)"},
		{"1 validation error for Product\nsku\n  Field required [type=missing, input_value={'title': 'Blue Shirt'}, input_type=dict]",
			"<n> validation error for Product sku Field required [type=missing, input_value=<value>, input_type=dict]"},
		// values a parser echoes go
		{`strconv.ParseFloat: parsing "12,50": invalid syntax`, `strconv.ParseFloat: parsing "<value>": invalid syntax`},
		{"ValueError: could not convert string to float: 'Call for price'", "ValueError: could not convert string to float: '<value>'"},
		// LLM clients: ids, organizations and counts go
		{"llm: openai: 429 Too Many Requests: rate limit reached for requests, retry after 20s (request id req_8f3a9c0b1d2e4f56)", "llm: openai: 429 Too Many Requests: rate limit reached for requests, retry after <dur> (request id <id>)"},
		{"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29875, Requested 1200. Please try again in 2.15s.",
			"Rate limit reached for gpt-4o in organization org-<id> on tokens per min (TPM): Limit <n>, Used <n>, Requested <n>. Please try again in <dur>."},
		{"llm: response missing field \"price\" for source 0c3f2a4e-8d0b-4c55-9a57-2f1f3c1b8e01", "llm: response missing field \"price\" for source <uuid>"},
		{"llm: context length exceeded: 131072 tokens > 128000 limit", "llm: context length exceeded: <n> tokens > <n> limit"},
		// stack traces: the exception and where, not the frames' lines
		{"Traceback (most recent call last):\n  File \"/app/main.py\", line 12, in <module>\n    run()\n  File \"/app/extract.py\", line 88, in parse\n    price = data['price']\n            ~~~~^^^^^^^^^\nKeyError: 'price'",
			"KeyError: 'price' (in parse)"},
		{"panic: runtime error: index out of range [5] with length 3\n\ngoroutine 17 [running]:\nmain.parse(...)\n\t/app/parse.go:42 +0x1d\nmain.main()\n\t/app/main.go:10 +0x25\nexit status 2",
			"panic: runtime error: index out of range [<n>] with length <n> (in main.parse)"},
		{"panic: boom\n\ngoroutine 1 [running]:\npanic({0x4a1b2c, 0xc000010250})\n\t/usr/lib/go/src/runtime/panic.go:770 +0x132\nmain.(*Parser).Price(0xc00001c030, 0x3)\n\t/app/p.go:9 +0x25",
			"panic: boom (in main.(*Parser).Price)"},
		{"TimeoutError: Navigation timeout of 30000 ms exceeded\n    at LifecycleWatcher._createTimeoutPromise (/app/node_modules/puppeteer/lib/LifecycleWatcher.js:153:12)\n    at async Frame.goto (/app/node_modules/puppeteer/lib/Frame.js:229:21)",
			"TimeoutError: Navigation timeout of <n> ms exceeded (in LifecycleWatcher._createTimeoutPromise)"},
		// ids, hex and whitespace
		{"job deadbeefcafe0042 failed   twice", "job <id> failed twice"},
		{"GET https://x.example.com/: 403 Forbidden (cf-ray 8a1b2c3d4e5f6789-FRA)", "GET <url>: 403 Forbidden (cf-ray <id>)"},
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
		{"GET https://a.com/p/123: 503", "GET https://b.org/p/9: 503"},
		{`Get "https://a.com/x": context deadline exceeded`, `Get "https://a.com/y/z?q=1": context deadline exceeded`},
		{"dial tcp 10.0.0.1:443: connect: connection refused", "dial tcp 10.0.0.2:8443: connect: connection refused"},
		{"dial tcp: lookup shop.example.com: no such host", "dial tcp: lookup api.vendor.de: no such host"},
		{"request 8f3a9c0b failed", "request 12345678 failed"}, // a hex id of digits only
		{"Traceback (most recent call last):\n  File \"/a.py\", line 1, in f\n    x\nKeyError: 'price'",
			"Traceback (most recent call last):\n  File \"/b.py\", line 9, in g\n    y()\n  File \"/a.py\", line 7, in f\n    x\nKeyError: 'price'"},
	}
	for _, p := range same {
		if Signature(p[0]) != Signature(p[1]) {
			t.Errorf("%q and %q differ: %q vs %q", p[0], p[1], Signature(p[0]), Signature(p[1]))
		}
	}
	differ := [][2]string{
		{"GET https://a.com/p/123: 503", "GET https://a.com/p/123: 404"},
		{"tls: handshake failure", "tls: bad certificate"},
		{`selector "span.price" matched 0 nodes`, `selector "h1.title" matched 0 nodes`},
		{"1 validation error for Product\nprice\n  field required", "1 validation error for Product\nsku\n  field required"},
		{"json: cannot unmarshal string into Go struct field Product.price of type float64", "json: cannot unmarshal string into Go struct field Product.name of type float64"},
		{"[Errno 111] Connection refused", "[Errno 110] Connection refused"},
		{"Traceback (most recent call last):\n  File \"/a.py\", line 1, in f\n    x\nKeyError: 'price'",
			"Traceback (most recent call last):\n  File \"/a.py\", line 1, in f\n    x\nKeyError: 'sku'"},
	}
	for _, p := range differ {
		if Signature(p[0]) == Signature(p[1]) {
			t.Errorf("%q and %q share %q", p[0], p[1], Signature(p[0]))
		}
	}
}

func TestHost(t *testing.T) {
	cases := []struct{ in, want string }{
		{`Get "https://Shop.Example.com:8443/p/1?x=2": EOF`, "shop.example.com"},
		{"GET https://a.com: 503", "a.com"},
		{"GET https://a.com/p: 503, then http://b.com/", "a.com"},
		{"proxy http://user:pw@proxy.example.net:3128/ refused", "proxy.example.net"},
		{`Get "http://[::1]:80/x": EOF`, "::1"},
		{`Get "http://10.0.0.5:8080/x": EOF`, "10.0.0.5"},
		{"https://example.org./x", "example.org"},
		{"HTTPSConnectionPool(host='b.org', port=443): Read timed out.", "b.org"},
		{"dial tcp: lookup c.net on 127.0.0.53:53: no such host", "c.net"},
		{"dial tcp: lookup c.net: no such host", "c.net"},
		{"selector \"span.price\" matched 0 nodes", ""},
		{"", ""},
	}
	for _, c := range cases {
		if got := Host(c.in); got != c.want {
			t.Errorf("Host(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestSignatureHostile: texts made to be slow, most of 1 MB, get their
// signature of at most MaxSignatureLen runes within signatureBudget.
func TestSignatureHostile(t *testing.T) {
	const mb, max = 1 << 20, MaxSignatureLen
	fill := func(unit string, n int) string { return strings.Repeat(unit, n/len(unit)+1)[:n] }
	cases := []struct{ name, in, want string }{
		{"status codes", fill(": 503 ", 64<<10), fill(": 503 ", max)},
		{"status codes, 1 MB", fill(": 503 ", mb), fill(": 503 ", max)},
		{"named status codes", fill("Status Code 404 ", mb), strings.TrimSpace(fill("Status Code 404 ", max))},
		{"digits", fill("1", mb), "<id>"},
		{"numbers", fill("1.", mb), fill("<n>.", max)},
		{"schemes", fill("a://", mb), "<url>"},
		{"trailing dots", "see a://x" + fill(".", mb), "see <url>" + fill(".", max-len("see <url>"))},
		{"nested quotes", fill(`"'`, mb), fill(`"'`, max)},
		{"unclosed quotes", fill(`"a 'b `, mb), strings.TrimSpace(fill(`"a 'b `, max))},
		{"values", fill(`float: "`, mb), fill(`float: "<value>"`, max)},
		{"addresses", fill("1.1.1.1:1 ", mb), strings.TrimSpace(fill("<ip> ", max))},
		{"hostname", fill("a.1", mb), fill("a.1", max)},
		{"hosts", fill("x.com ", mb), strings.TrimSpace(fill("<host> ", max-1))}, // not a split "<"
		{"paths", fill(" /a", mb), strings.TrimSpace(fill("<path> ", max-1))},    // not a split "<"
		{"brackets", fill("[a:", mb), fill("[a:", max)},
		{"durations", fill("1s", mb), "<dur>"},
		{"hex", fill("0x", mb), "<id>"},
		{"every kind", fill(`a://b "x" 0c3f2a4e-8d0b-4c55-9a57-2f1f3c1b8e01 1.1.1.1 1s deadbeef1 2026-11-26T21:43:52Z `, mb),
			strings.TrimSpace(fill(`<url> "x" <uuid> <ip> <dur> <id> <time> `, max))},
		{"tracebacks", fill("Traceback (most recent call last)\n  File \"", mb), fill("Traceback (most recent call last) File \"", max)},
		{"panics", fill("panic: \ngoroutine ", mb), "panic: (in goroutine panic:)"},
		{"frames", fill("x\n    at ", mb), "x a (in x)"}, // the 64 KiB end in "x\n    a"
		{"whitespace", fill(" \n\t", mb), ""},
		{"one word", fill("x", mb), fill("x", max)},
		{"two-byte runes", fill("é", mb), strings.Repeat("é", max)},
		{"invalid UTF-8", fill("\xff", mb), "\uFFFD"},
		{"error then padding", "GET https://a.com/p/9: 503 Service Unavailable" + fill(" \n", mb) + " tail",
			"GET <url>: 503 Service Unavailable"},
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
// placeholder, and the 4 KiB read splits no rune; where a trace happened
// survives a long exception.
func TestSignatureCut(t *testing.T) {
	const max = MaxSignatureLen
	x := func(n int) string { return strings.Repeat("x", n) }
	pad := func(n int) string { return strings.Repeat(" ", n) }
	cases := []struct{ in, want string }{
		{x(400), x(400)},
		{x(401), x(400)},
		{x(399) + " y", x(399)},
		{x(396) + " a://b/c", x(396)}, // not <ur
		{x(394) + " a://b/c", x(394) + " <url>"},
		{x(399) + "é", x(399) + "é"},
		{"bad \xff\xfe byte", "bad \uFFFD byte"},
		{pad(signatureScan-2) + "é", "é"},
		{pad(signatureScan-1) + "é", ""}, // é would straddle the 4 KiB
		{pad(signatureScan) + "x", ""},
		{"Traceback (most recent call last):\n  File \"a.py\", line 1, in parse\n    x\nKeyError: " + x(500), "KeyError: " + x(max-len("KeyError: ")-len(" (in parse)")) + " (in parse)"},
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

// BenchmarkSignatureHostile: 64 KiB texts made to be slow, each a
// sub-benchmark: ": 503 " took 334 ms when each status code lower-cased
// all the text before it; the others start a mask's test at every word.
//
//	go test -run '^$' -bench SignatureHostile .
func BenchmarkSignatureHostile(b *testing.B) {
	fill := func(unit string) string { return strings.Repeat(unit, (64<<10)/len(unit)) }
	for _, c := range []struct{ name, text string }{
		{"status", fill(": 503 ")},
		{"errno", fill("errno 1 ")},
		{"digits", fill("1 ")},
		{"words", fill("a ")},
		{"hosts", fill("a.b.com ")},
		{"durations", fill("1h1m ")},
		{"ids", fill("a1234567 ")},
		{"paths", fill(" /a")},
		{"quotes", fill(`float: "`)},
		{"urls", fill("a://b ")},
		{"tracebacks", fill("Traceback (most recent call last)\n  File \"")},
		{"frames", fill("x\n    at ")},
		{"panics", fill("panic: \ngoroutine ")},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				Signature(c.text)
			}
		})
	}
}

// sigURL is what urls finds, as a regexp: a scheme starting a word,
// "://", a byte that is not a space, a quote, '<', '>', '/', '?' or '#',
// and the bytes up to a space, a quote, '<' or '>'.
var sigURL = regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>/?#]+[^\s"'<>]*`)

// FuzzSignatureURLs: the hand-written scanner that spares Signature a
// regexp's backtracking finds what the regexp finds.
func FuzzSignatureURLs(f *testing.F) {
	for _, s := range []string{"GET https://shop.example/p/1: 503", "x_http://a", "_a://b", "1a://b", "a.b+c-d://h/p", "http://", "http:///x", "a://b://c d://e",
		"\xffhttp://\xff/\"", "http://a?b#c", "a://)", "h://a.", "ws://[::1]:80/x", "1.2.3.4", "a.1", "1.a", "[", "http://10.0.0.1:8080/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := sigURL.FindAllStringIndex(s, -1)
		got := urls(s, -1)
		same := len(got) == len(want)
		for i := 0; same && i < len(got); i++ {
			same = got[i][0] == want[i][0] && got[i][1] == want[i][1]
		}
		if !same {
			t.Fatalf("urls(%q) = %v, sigURL finds %v", s, got, want)
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

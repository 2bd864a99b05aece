// Command gen writes the labeled corpus of error texts that
// TestSignatureCorpus measures Signature on: JSON lines of {"cause", "error"},
// each cause as a real library writes it, with what varies per occurrence
// (hosts, paths, query values, ids, numbers, addresses, times, durations,
// line numbers) drawn from a seeded generator, so the file is the same on
// every run.
//
//	go run ./testdata/corpus/gen > testdata/corpus/corpus.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

var r = rand.New(rand.NewPCG(18, 2026))

var hosts = []string{
	"shop.example.com", "www.acme-store.com", "books.example.org", "m.vendor.de", "api.shop-17.io", "store.example.co.uk",
	"www.bikeparts.nl", "catalog.megamart.com", "fr.example.fr", "deals.example.net", "shop1.example.com", "cdn-3.assets.example.com",
	"www.gadgets.co", "www.tienda.es", "negozio.example.it", "sklep.example.pl", "www.shoes-online.ch", "boutique.example.be",
	"www.kaufen.at", "butik.example.se", "nettbutikk.example.no", "www.example.dk", "kauppa.example.fi", "obchod.example.cz",
	"magazin.example.ru", "www.example.jp", "shop.example.com.au", "www.example.ca", "loja.example.com.br", "tienda.example.mx",
	"www.example.in", "prices.example.info", "market.example.shop", "www.example.store", "app.example.dev", "data.example.ai",
	"ws.example.app", "www.example.us", "eu.example.eu", "static.example.tv", "portal.example.biz", "search.example.xyz",
	"staging.internal.example.com", "www.example.ie", "shop.example.pt", "www.example.gr",
}

func host() string { return hosts[r.IntN(len(hosts))] }

func pick(xs ...string) string { return xs[r.IntN(len(xs))] }

func ip() string {
	return fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254))
}

func path() string {
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("/p/%d", r.IntN(1_000_000))
	case 1:
		return fmt.Sprintf("/products/%s-%d?color=%s&size=%d", pick("shirt", "shoe", "lamp", "desk"), r.IntN(99999), pick("red", "blue", "black"), 36+r.IntN(10))
	case 2:
		return fmt.Sprintf("/c/%s/page/%d", pick("men", "women", "kids", "home"), 1+r.IntN(40))
	default:
		return fmt.Sprintf("/api/v2/items/%d?ref=%x", r.IntN(1<<30), r.Uint32())
	}
}

func url() string { return pick("https://", "https://", "http://") + host() + path() }

func hexn(n int) string {
	const hx = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hx[r.IntN(16)]
	}
	return string(b)
}

func addr() string { return "0x7f" + hexn(10) }

func when() time.Time {
	return time.Date(2026, time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9), time.UTC)
}

func ms() int { return pick4(5000, 10000, 15000, 30000, 60000) }

func pick4(xs ...int) int { return xs[r.IntN(len(xs))] }

func traceback(frames [][3]string, exc string) string {
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):\n")
	for _, f := range frames {
		fmt.Fprintf(&b, "  File \"%s\", line %d, in %s\n    %s\n", f[0], 1+r.IntN(400), f[1], f[2])
	}
	b.WriteString(exc)
	return b.String()
}

func pyFrames() [][3]string {
	fs := [][3]string{{"/app/worker.py", "run", "result = extract(page)"}}
	if r.IntN(2) == 0 {
		fs = append(fs, [3]string{"/usr/local/lib/python3.12/site-packages/celery/app/trace.py", "__call__", "return self.run(*args, **kwargs)"})
	}
	return fs
}

// causes: each makes one error text of its cause.
var causes = []struct {
	name   string
	weight int
	make   func() string
}{
	{"go-conn-refused", 4, func() string {
		return fmt.Sprintf(`Get "%s": dial tcp %s:%d: connect: connection refused`, url(), ip(), pick4(80, 443, 8080, 8443))
	}},
	{"go-client-timeout", 5, func() string {
		return fmt.Sprintf(`Get "%s": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, url())
	}},
	{"go-x509-expired", 2, func() string {
		now := when()
		return fmt.Sprintf(`Get "%s": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time %s is after %s`,
			url(), now.Format(time.RFC3339), now.Add(-time.Duration(1+r.IntN(900))*time.Hour).Format(time.RFC3339))
	}},
	{"go-x509-name", 2, func() string {
		h := host()
		return fmt.Sprintf(`Get "https://%s%s": tls: failed to verify certificate: x509: certificate is valid for %s, *.%s, not %s`, h, path(), host(), host(), h)
	}},
	{"go-dns", 3, func() string {
		h := host()
		return fmt.Sprintf(`Get "https://%s%s": dial tcp: lookup %s on %s:53: no such host`, h, path(), h, pick("127.0.0.53", "10.96.0.10", "169.254.169.254"))
	}},
	{"go-reset", 3, func() string {
		return fmt.Sprintf(`Get "%s": read tcp %s:%d->%s:443: read: connection reset by peer`, url(), ip(), 30000+r.IntN(30000), ip())
	}},
	{"go-eof", 2, func() string { return fmt.Sprintf(`Get "%s": EOF`, url()) }},
	{"go-status-404", 4, func() string { return fmt.Sprintf(`fetch %s: unexpected status: 404 Not Found`, url()) }},
	{"go-status-429", 3, func() string {
		return fmt.Sprintf(`fetch %s: unexpected status: 429 Too Many Requests (retry after %ds)`, url(), 1+r.IntN(120))
	}},
	{"go-proxy-407", 2, func() string { return fmt.Sprintf(`Get "%s": Proxy Authentication Required`, url()) }},
	{"go-proxyconnect", 2, func() string {
		return fmt.Sprintf(`Get "%s": proxyconnect tcp: dial tcp %s:%d: connect: connection refused`, url(), ip(), pick4(3128, 8080, 8888))
	}},
	{"go-http2-goaway", 1, func() string {
		return fmt.Sprintf(`Get "%s": http2: server sent GOAWAY and closed the connection; LastStreamID=%d, ErrCode=NO_ERROR, debug=""`, url(), 1+2*r.IntN(5000))
	}},
	{"py-conn-refused", 4, func() string {
		return fmt.Sprintf(`requests.exceptions.ConnectionError: HTTPSConnectionPool(host='%s', port=443): Max retries exceeded with url: %s (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at %s>: Failed to establish a new connection: [Errno 111] Connection refused'))`, host(), path(), addr())
	}},
	{"py-dns", 3, func() string {
		h := host()
		return fmt.Sprintf(`requests.exceptions.ConnectionError: HTTPSConnectionPool(host='%s', port=443): Max retries exceeded with url: %s (Caused by NameResolutionError("<urllib3.connection.HTTPSConnection object at %s>: Failed to resolve '%s' ([Errno -2] Name or service not known)"))`, h, path(), addr(), h)
	}},
	{"py-read-timeout", 3, func() string {
		return fmt.Sprintf(`requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='%s', port=443): Read timed out. (read timeout=%d)`, host(), pick4(10, 15, 30, 60))
	}},
	{"py-http-503", 4, func() string {
		return fmt.Sprintf(`requests.exceptions.HTTPError: 503 Server Error: Service Unavailable for url: %s`, url())
	}},
	{"py-http-403", 3, func() string {
		return fmt.Sprintf(`requests.exceptions.HTTPError: 403 Client Error: Forbidden for url: %s`, url())
	}},
	{"pw-goto-timeout", 4, func() string {
		return fmt.Sprintf("TimeoutError: page.goto: Timeout %dms exceeded.\nCall log:\n  - navigating to \"%s\", waiting until \"load\"\n", ms(), url())
	}},
	{"pw-locator-timeout", 3, func() string {
		return fmt.Sprintf("TimeoutError: locator.click: Timeout %dms exceeded.\nCall log:\n  - waiting for locator(\"button.load-more\")\n", ms()) +
			strings.Repeat("  - element is not visible - retrying\n", r.IntN(4))
	}},
	{"pw-name-not-resolved", 2, func() string {
		u := url()
		return fmt.Sprintf("Error: page.goto: net::ERR_NAME_NOT_RESOLVED at %s\nCall log:\n  - navigating to \"%s\", waiting until \"domcontentloaded\"\n", u, u)
	}},
	{"chromedp-conn-timeout", 2, func() string {
		return fmt.Sprintf(`render %s: page load error net::ERR_CONNECTION_TIMED_OUT`, url())
	}},
	{"cloudflare-challenge", 3, func() string {
		return fmt.Sprintf(`GET %s: 403 Forbidden: blocked by anti-bot page "Just a moment..." (cf-ray %s-%s)`, url(), hexn(16), pick("FRA", "AMS", "CDG", "IAD", "SJC", "LHR"))
	}},
	{"akamai-denied", 2, func() string {
		return fmt.Sprintf(`GET %s: 403 Forbidden: Access Denied: You don't have permission to access this server. Reference #18.%s.%d.%s`, url(), hexn(8), 1700000000+r.IntN(1e8), hexn(8))
	}},
	{"css-price", 4, func() string { return fmt.Sprintf(`extract %s: selector "span.price" matched 0 nodes`, url()) }},
	{"css-title", 3, func() string { return fmt.Sprintf(`extract %s: selector "h1.product-title" matched 0 nodes`, url()) }},
	{"css-stock", 2, func() string {
		return fmt.Sprintf(`extract %s: selector "div.stock > span:nth-child(2)" matched 0 nodes`, url())
	}},
	{"json-go-price", 3, func() string {
		return fmt.Sprintf(`decode %s: json: cannot unmarshal string into Go struct field Product.price of type float64`, url())
	}},
	{"json-go-offers", 2, func() string {
		return fmt.Sprintf(`decode %s: json: cannot unmarshal object into Go struct field Product.offers of type []main.Offer`, url())
	}},
	{"json-html", 3, func() string {
		return fmt.Sprintf(`decode response from %s: invalid character '<' looking for beginning of value`, url())
	}},
	{"pydantic-price", 3, func() string {
		return "1 validation error for Product\nprice\n  field required (type=value_error.missing)"
	}},
	{"pydantic-sku", 2, func() string {
		return fmt.Sprintf("1 validation error for Product\nsku\n  Field required [type=missing, input_value={'title': '%s %d', 'url': 'https://%s%s'}, input_type=dict]\n    For further information visit https://errors.pydantic.dev/2.%d/v/missing",
			pick("Blue Shirt", "Desk Lamp", "Running Shoe"), r.IntN(100), host(), path(), 5+r.IntN(5))
	}},
	{"openai-rate-limit", 3, func() string {
		return fmt.Sprintf(`openai.RateLimitError: Error code: 429 - {'error': {'message': 'Rate limit reached for gpt-4o in organization org-%s on tokens per min (TPM): Limit 30000, Used %d, Requested %d. Please try again in %.2fs. Visit https://platform.openai.com/account/rate-limits to learn more.', 'type': 'tokens', 'param': None, 'code': 'rate_limit_exceeded'}}`,
			hexn(6)+pick("Ab", "xQ", "Zz"), 20000+r.IntN(10000), 500+r.IntN(4000), r.Float64()*30)
	}},
	{"openai-context-length", 2, func() string {
		return fmt.Sprintf(`openai.BadRequestError: Error code: 400 - {'error': {'message': "This model's maximum context length is 128000 tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.", 'type': 'invalid_request_error', 'param': 'messages', 'code': 'context_length_exceeded'}}`, 128001+r.IntN(60000))
	}},
	{"py-keyerror-price", 3, func() string {
		return traceback(append(pyFrames(), [3]string{"/app/extract.py", "parse", "price = data['price']"}), "KeyError: 'price'")
	}},
	{"py-attr-none", 3, func() string {
		return traceback(append(pyFrames(), [3]string{"/app/extract.py", "title_of", "return soup.find('h1').text"}), "AttributeError: 'NoneType' object has no attribute 'text'")
	}},
	{"py-float", 2, func() string {
		return traceback(append(pyFrames(), [3]string{"/app/extract.py", "price_of", "return float(raw)"}), fmt.Sprintf("ValueError: could not convert string to float: '%s'", pick("N/A", "12,50", "$19.99", "Call for price", "")))
	}},
	{"go-panic-index", 2, func() string {
		n := 1 + r.IntN(9)
		return fmt.Sprintf("panic: runtime error: index out of range [%d] with length %d\n\ngoroutine %d [running]:\nmain.parse(...)\n\t/app/parse.go:%d +0x%s\nmain.worker(0xc%s)\n\t/app/worker.go:%d +0x%s\ncreated by main.main in goroutine 1\n\t/app/main.go:%d +0x%s\nexit status 2",
			n+r.IntN(3), n, 1+r.IntN(500), 10+r.IntN(200), hexn(2), hexn(9), 10+r.IntN(90), hexn(3), 10+r.IntN(90), hexn(2))
	}},
	{"go-panic-nil", 2, func() string {
		return fmt.Sprintf("panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x%s pc=0x%s]\n\ngoroutine %d [running]:\ngithub.com/acme/scraper/extract.(*Parser).Price(0x0, {0xc%s, 0x%s})\n\t/src/extract/price.go:%d +0x%s\ngithub.com/acme/scraper/extract.Run(0xc%s)\n\t/src/extract/run.go:%d +0x%s",
			pick("0", "8", "18"), hexn(6), 1+r.IntN(500), hexn(9), hexn(2), 10+r.IntN(200), hexn(2), hexn(9), 10+r.IntN(90), hexn(3))
	}},
	{"robots-disallowed", 1, func() string {
		return fmt.Sprintf(`robots.txt of %s disallows %s for user agent "acmebot/2.1"`, host(), path())
	}},
}

func main() {
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	total := 0
	for _, c := range causes {
		total += c.weight
	}
	const n = 2600
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, c := range causes {
		for range n * c.weight / total {
			if err := enc.Encode(struct {
				Cause string `json:"cause"`
				Error string `json:"error"`
			}{c.name, c.make()}); err != nil {
				panic(err)
			}
		}
	}
}

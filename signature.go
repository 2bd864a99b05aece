package dlq

import (
	"regexp"
	"strconv"
	"strings"
)

// Signature returns the error text with its varying parts replaced, so
// that failures with one cause share one signature:
//
//	GET https://a.com/p/123: 503 Service Unavailable  →  GET https://a.com/<path>: 503 Service Unavailable
//	GET https://a.com/p/9: 503 Service Unavailable    →  the same
//	GET https://a.com/p/9: 404 Not Found              →  GET https://a.com/<path>: 404 Not Found
//
// URL paths and queries become <path> (scheme and host stay; ports become
// <port>), UUIDs <uuid>, IP addresses <ip>, hex ids of 8 or more digits
// <hex>, quoted strings "<str>" or '<str>', durations <dur>, and other
// numbers <n>, except HTTP status codes (100 to 599 after "status",
// "code", "HTTP" or ": ", or before a capitalized word), which tell causes
// apart. Whitespace runs become one space.
func Signature(errText string) string {
	s := sigURL.ReplaceAllStringFunc(errText, normalizeURL)
	s = sigQuoted.ReplaceAllStringFunc(s, func(q string) string {
		if strings.Contains(q, "://") { // a quoted URL keeps its host
			return q
		}
		return string(q[0]) + "<str>" + string(q[0])
	})
	s = sigUUID.ReplaceAllString(s, "<uuid>")
	s = sigTime.ReplaceAllString(s, "<time>")
	s = sigIP.ReplaceAllString(s, "<ip>")
	s = sigDuration.ReplaceAllString(s, "<dur>")
	s = replaceHex(s)
	s = replaceNumbers(s)
	return strings.Join(strings.Fields(s), " ")
}

var (
	sigURL      = regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>/?#]+[^\s"'<>]*`)
	sigQuoted   = regexp.MustCompile(`"[^"]*"|'[^']*'`)
	sigUUID     = regexp.MustCompile(`\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`)
	sigIP       = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\[[0-9a-fA-F:]+\](?::\d+)?`)
	sigDuration = regexp.MustCompile(`\b(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+\b`)
	sigHex      = regexp.MustCompile(`(?:0x)?[0-9a-fA-F]{8,}\b`)
	sigTime     = regexp.MustCompile(`\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?`)
	sigNumber   = regexp.MustCompile(`\d+(?:\.\d+)?`)
	sigHost     = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/?#]*)(.*)$`)
)

// normalizeURL keeps a URL's scheme and host, with the port replaced, and
// replaces its path and query. Trailing punctuation stays.
func normalizeURL(u string) string {
	trail := ""
	for len(u) > 0 && strings.ContainsRune(".,;:!?)]}", rune(u[len(u)-1])) {
		trail = u[len(u)-1:] + trail
		u = u[:len(u)-1]
	}
	m := sigHost.FindStringSubmatch(u)
	if m == nil {
		return u + trail
	}
	host := m[2]
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i] + ":<port>"
	}
	if sigIP.MatchString(host) {
		host = "<ip>"
	}
	rest := ""
	if m[3] != "" && m[3] != "/" {
		rest = "/<path>"
	}
	return m[1] + host + rest + trail
}

// replaceHex replaces hex ids of 8 or more digits, with at least one digit
// and one letter, that start a word or follow an underscore (req_8f3a…).
func replaceHex(s string) string {
	return replaceEach(s, sigHex, "<hex>", func(start, end int) bool {
		h := s[start:end]
		return start > 0 && isAlnum(s[start-1]) ||
			!strings.ContainsAny(h, "0123456789") || !strings.ContainsAny(h, "abcdefABCDEF")
	})
}

func isAlnum(c byte) bool { return c >= '0' && c <= '9' || isWordByte(c) && c != '_' }

// replaceNumbers replaces numbers with <n>, keeping HTTP status codes,
// numbers in hostnames, and numbers that are part of a word (v2, sha256,
// float64) or of a placeholder written already.
func replaceNumbers(s string) string {
	return replaceEach(s, sigNumber, "<n>", func(start, end int) bool {
		return start > 0 && isWordByte(s[start-1]) || end < len(s) && isWordByte(s[end]) ||
			isStatus(s, start, end) || inHostname(s, start, end)
	})
}

// replaceEach replaces the matches of re in s with repl, except those that
// keep(start, end) keeps.
func replaceEach(s string, re *regexp.Regexp, repl string, keep func(start, end int) bool) string {
	var b strings.Builder
	last := 0
	for _, loc := range re.FindAllStringIndex(s, -1) {
		if keep(loc[0], loc[1]) {
			continue
		}
		b.WriteString(s[last:loc[0]])
		b.WriteString(repl)
		last = loc[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isStatus reports whether s[start:end] reads as an HTTP status code.
func isStatus(s string, start, end int) bool {
	if end-start != 3 {
		return false
	}
	n, err := strconv.Atoi(s[start:end])
	if err != nil || n < 100 || n > 599 {
		return false
	}
	before := strings.ToLower(s[:start])
	for _, p := range []string{"status ", "status: ", "status=", "status code ", "code ", "code: ", "code=", "http ", "http/1.0 ", "http/1.1 ", "http/2 ", "http/2.0 ", ": "} {
		if strings.HasSuffix(before, p) {
			return true
		}
	}
	after := s[end:]
	return len(after) >= 2 && after[0] == ' ' && after[1] >= 'A' && after[1] <= 'Z'
}

// inHostname reports whether the number at s[start:end] is part of a
// hostname-like token (letters and dots: shop-17.example.com), which names
// a site and so stays.
func inHostname(s string, start, end int) bool {
	isSep := func(c byte) bool {
		return c == ' ' || c == '"' || c == '\'' || c == '(' || c == ')' || c == ',' || c == '/'
	}
	for start > 0 && !isSep(s[start-1]) {
		start--
	}
	for end < len(s) && !isSep(s[end]) {
		end++
	}
	tok := strings.TrimRight(s[start:end], ".:;")
	return strings.Contains(tok, ".") && strings.IndexFunc(tok, func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}) >= 0 && !strings.ContainsAny(tok, "<>")
}

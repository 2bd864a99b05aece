package dlq

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSignatureLen is the most characters (runes) a [Signature] has.
const MaxSignatureLen = 200

// signatureScan is how much of an error text [Signature] reads: the first
// 4 KiB, cut back to a rune boundary. Error texts come from scraped sites,
// so their size and content are the attacker's; this bounds the work on
// any of them to about a millisecond, and leaves room for a long URL
// before the status code that follows it.
const signatureScan = 4 << 10

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
// apart. Whitespace runs become one space, and invalid UTF-8 U+FFFD.
//
// Only the first 4 KiB of errText are read, so the work is bounded
// whatever its size, and the signature is cut to at most
// [MaxSignatureLen] runes (dropping a placeholder the cut would split).
func Signature(errText string) string {
	// Each regexp costs tens of nanoseconds a byte, so one runs only if s
	// has something all its matches need, which most error texts lack.
	s := cutUTF8(errText, signatureScan)
	if strings.Contains(s, "://") {
		s = replaceURLs(s)
	}
	if strings.ContainsAny(s, `"'`) {
		s = sigQuoted.ReplaceAllStringFunc(s, func(q string) string {
			if strings.Contains(q, "://") { // a quoted URL keeps its host
				return q
			}
			return string(q[0]) + "<str>" + string(q[0])
		})
	}
	if strings.Contains(s, "-") {
		s = sigUUID.ReplaceAllString(s, "<uuid>")
		s = sigTime.ReplaceAllString(s, "<time>")
	}
	if mayHaveIP(s) {
		s = sigIP.ReplaceAllString(s, "<ip>")
	}
	if hasUnit(s) {
		s = sigDuration.ReplaceAllString(s, "<dur>")
	}
	if hasHexRun(s) {
		s = replaceHex(s)
	}
	if strings.ContainsAny(s, digits) {
		s = replaceNumbers(s)
	}
	s = strings.ToValidUTF8(strings.Join(strings.Fields(s), " "), "\uFFFD")
	return cutRunes(s, MaxSignatureLen)
}

// hasUnit reports whether a digit in s is followed by the first byte of a
// duration unit: ns, us, µs, ms, s, m or h.
func hasUnit(s string) bool {
	for i := 1; i < len(s); i++ {
		if isDigit(s[i-1]) && strings.IndexByte("numsh\xc2", s[i]) >= 0 {
			return true
		}
	}
	return false
}

// hasHexRun reports whether s has 8 hex digits in a row, as a hex id needs.
func hasHexRun(s string) bool {
	n := 0
	for i := 0; i < len(s) && n < 8; i++ {
		if isDigit(s[i]) || s[i]|0x20 >= 'a' && s[i]|0x20 <= 'f' { // |0x20 lower-cases letters
			n++
		} else {
			n = 0
		}
	}
	return n == 8
}

// cutUTF8 returns s cut to at most n bytes, backing off up to three bytes
// so as not to split a rune.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i]
		}
	}
	return s[:n] // not UTF-8 there anyway
}

// cutRunes returns s cut to at most n runes. An unclosed '<' in the last
// five bytes would be a split placeholder ("<pa"), so it goes, as do
// trailing spaces.
func cutRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			s = s[:i]
			if j := strings.LastIndexByte(s, '<'); j >= 0 && len(s)-j < len("<path>") && !strings.Contains(s[j:], ">") {
				s = s[:j]
			}
			return strings.TrimRight(s, " ")
		}
		n--
	}
	return s
}

var (
	sigURL      = regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>/?#]+[^\s"'<>]*`)
	sigQuoted   = regexp.MustCompile(`"[^"]*"|'[^']*'`)
	sigUUID     = regexp.MustCompile(`\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`)
	sigIP       = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\[[0-9a-fA-F:]+\](?::\d+)?`)
	sigDuration = regexp.MustCompile(`\b(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+\b`)
	sigHex      = regexp.MustCompile(`(?:0x)?[0-9a-fA-F]{8,}\b`)
	sigTime     = regexp.MustCompile(`\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?`)
	sigHost     = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/?#]*)(.*)$`)
)

// normalizeURL keeps a URL's scheme and host, with the port replaced, and
// replaces its path and query. Trailing punctuation stays.
func normalizeURL(u string) string {
	base := strings.TrimRight(u, ".,;:!?)]}")
	u, trail := base, u[len(base):]
	// u is scheme://host[rest], as sigHost reads it: the scheme has no
	// ':', and the host ends at the first '/', '?' or '#'.
	i := strings.Index(u, "://") + len("://")
	j := i + strings.IndexAny(u[i:], "/?#")
	if j < i {
		j = len(u)
	}
	m := [4]string{u, u[:i], u[i:j], u[j:]}
	host := m[2]
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i] + ":<port>"
	}
	if mayHaveIP(host) && sigIP.MatchString(host) {
		host = "<ip>"
	}
	rest := ""
	if m[3] != "" && m[3] != "/" {
		rest = "/<path>"
	}
	return m[1] + host + rest + trail
}

// replaceURLs is sigURL.ReplaceAllStringFunc(s, normalizeURL).
func replaceURLs(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range urls(s) {
		b.WriteString(s[last:loc[0]])
		b.WriteString(normalizeURL(s[loc[0]:loc[1]]))
		last = loc[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// urls returns where sigURL matches s, as sigURL.FindAllStringIndex does,
// without a regexp's backtracking at every byte. A match is a scheme ([a-zA-Z][a-zA-Z0-9+.-]*
// starting a word), "://", at least one byte that is not space, a quote,
// '<', '>', '/', '?' or '#', and then the bytes up to a space, a quote,
// '<' or '>'.
func urls(s string) (locs [][]int) {
	for end := 0; ; {
		k := strings.Index(s[end:], "://")
		if k < 0 {
			return locs
		}
		colon := end + k
		start := -1
		for p := colon - 1; p >= end && isSchemeByte(s[p]); p-- {
			if isLetter(s[p]) && (p == 0 || !isWordByte(s[p-1]) && !isDigit(s[p-1])) {
				start = p // the leftmost start wins
			}
		}
		host := colon + len("://")
		if start < 0 || host >= len(s) || urlStop(s[host]) || strings.IndexByte("/?#", s[host]) >= 0 {
			end = colon + 1
			continue
		}
		stop := host
		for stop < len(s) && !urlStop(s[stop]) {
			stop++
		}
		locs = append(locs, []int{start, stop})
		end = stop
	}
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isSchemeByte(c byte) bool { return isLetter(c) || isDigit(c) || c == '+' || c == '.' || c == '-' }

// urlStop reports whether c ends a URL: \s, a quote, '<' or '>'.
func urlStop(c byte) bool { return strings.IndexByte(" \t\n\f\r\"'<>", c) >= 0 }

// mayHaveIP reports whether s has what every sigIP match needs: a '[' or
// a digit, a dot and a digit.
func mayHaveIP(s string) bool {
	if strings.IndexByte(s, '[') >= 0 {
		return true
	}
	for i := strings.IndexByte(s, '.'); i >= 0 && i+1 < len(s); {
		if i > 0 && isDigit(s[i-1]) && isDigit(s[i+1]) {
			return true
		}
		j := strings.IndexByte(s[i+1:], '.')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// replaceHex replaces hex ids of 8 or more digits, with at least one digit
// and one letter, that start a word or follow an underscore (req_8f3a…).
func replaceHex(s string) string {
	return replaceEach(s, sigHex.FindAllStringIndex(s, -1), "<hex>", func(start, end int) bool {
		h := s[start:end]
		return start > 0 && isAlnum(s[start-1]) ||
			!strings.ContainsAny(h, digits) || !strings.ContainsAny(h, "abcdefABCDEF")
	})
}

func isAlnum(c byte) bool { return c >= '0' && c <= '9' || isWordByte(c) && c != '_' }

// replaceNumbers replaces numbers with <n>, keeping HTTP status codes,
// numbers in hostnames, and numbers that are part of a word (v2, sha256,
// float64) or of a placeholder written already.
func replaceNumbers(s string) string {
	tokEnd, host := 0, false // the last token read, which numbers after it may share
	return replaceEach(s, numbers(s), "<n>", func(start, end int) bool {
		if start > 0 && isWordByte(s[start-1]) || end < len(s) && isWordByte(s[end]) || isStatus(s, start, end) {
			return true
		}
		if start >= tokEnd { // numbers come in order, so each token is read once
			tokEnd, host = hostnameToken(s, start, end)
		}
		return host
	})
}

// numbers returns where the numbers in s are, as [start, end) pairs: runs
// of ASCII digits, with a fraction (\d+(?:\.\d+)?). A regexp would do, but
// on a text this short it backtracks, and each match then costs a clearing
// of memory proportional to len(s): a text of numbers would be quadratic.
func numbers(s string) [][]int {
	var locs [][]int
	digitsFrom := func(i int) int {
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		start := i
		i = digitsFrom(i)
		if i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
			i = digitsFrom(i + 1)
		}
		locs = append(locs, []int{start, i})
	}
	return locs
}

const digits = "0123456789"

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// replaceEach replaces the spans locs of s, in order, with repl, except
// those that keep(start, end) keeps.
func replaceEach(s string, locs [][]int, repl string, keep func(start, end int) bool) string {
	var b strings.Builder
	last := 0
	for _, loc := range locs {
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
	for _, p := range statusPrefixes {
		if hasSuffixFold(s[:start], p) {
			return true
		}
	}
	after := s[end:]
	return len(after) >= 2 && after[0] == ' ' && after[1] >= 'A' && after[1] <= 'Z'
}

// statusPrefixes are what an HTTP status code follows, lower case.
var statusPrefixes = []string{"status ", "status: ", "status=", "status code ", "code ", "code: ", "code=", "http ", "http/1.0 ", "http/1.1 ", "http/2 ", "http/2.0 ", ": "}

// hasSuffixFold reports whether s ends with suffix, lower case ASCII, in
// any case, reading only len(suffix) bytes of s. It is
// strings.HasSuffix(strings.ToLower(s), suffix) for the statusPrefixes:
// the only other characters that lower-case to ASCII are İ and the Kelvin
// sign, to i and k, which none has.
func hasSuffixFold(s, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	s = s[len(s)-len(suffix):]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != suffix[i] {
			return false
		}
	}
	return true
}

// hostnameToken finds the token around the number at s[start:end] and
// reports where it ends and whether it is hostname-like (letters and
// dots: shop-17.example.com), which names a site, so its numbers stay.
func hostnameToken(s string, start, end int) (tokEnd int, host bool) {
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
	return end, strings.Contains(tok, ".") && strings.IndexFunc(tok, func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}) >= 0 && !strings.ContainsAny(tok, "<>")
}

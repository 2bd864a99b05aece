package dlq

import (
	"strings"
	"unicode/utf8"
)

// MaxSignatureLen is the most characters (runes) a [Signature] has.
const MaxSignatureLen = 400

// How much of an error text [Signature] reads. Error texts come from
// scraped sites, so their size and content are the attacker's; every
// step below is one pass over what it reads, so the work is bounded
// whatever the text (about 0.1 ms for 64 KiB).
const (
	// signatureRead is how much of the text is read for its structure
	// (a traceback's last frame and exception, a panic's first frame):
	// 64 KiB, what a stored entry holds.
	signatureRead = 64 << 10
	// signatureScan is how much of the part kept is masked: 4 KiB.
	signatureScan = 4 << 10
)

// Signature returns the error text with what varies from one occurrence
// to the next masked, so that failures with one cause share one
// signature, and what an operator acts on kept, so that failures with
// different causes do not:
//
//	Get "https://a.com/p/1?x=2": dial tcp 10.1.2.3:443: connect: connection refused
//	  →  Get "<url>": dial tcp <ip>: connect: connection refused
//	dial tcp: lookup shop.example.com on 127.0.0.53:53: no such host
//	  →  dial tcp: lookup <host> on <ip>: no such host
//	503 Server Error: Service Unavailable for url: https://b.org/x
//	  →  503 Server Error: Service Unavailable for url: <url>
//	selector "span.price" matched 0 nodes  →  selector "span.price" matched <n> nodes
//
// Masked: URLs (<url>), paths (<path>), hostnames (<host>: lower case,
// dotted, ending in a common top-level domain, or named by "lookup" or
// "host="), IP addresses with their port (<ip>), UUIDs (<uuid>),
// timestamps (<time>), durations (<dur>: 30s, 1m30s, 2.15s, 30000ms),
// 0x-addresses and hex ids of 8 or more digits (<hex>), other ids (<id>:
// a word of 8 or more characters with 3 or more digits, as req_01HX9…,
// and OpenAI's org-…), values a parser quotes back (float: '<value>',
// parsing "<value>", input_value=<value>) and other numbers (<n>).
//
// Kept: words, which carry the exception class, the error's text, the
// selector, the field (KeyError: 'price', Product.price of type float64);
// HTTP status codes (100 to 599 after status, code, HTTP, error, got,
// returned or response, or before a capitalized word: 503 Service
// Unavailable); errno numbers ([Errno 111], [Errno -2]); and numbers that
// are part of a word (float64, x509, h1).
//
// Structure: of a Python traceback only the last exception and the
// function of the innermost frame are kept ("KeyError: 'price' (in
// parse)"); of a Go panic its first line and the first function of the
// panicking goroutine that is not the runtime's ("panic: runtime error:
// index out of range [<n>] with length <n> (in main.parse)"); of a
// JavaScript or Java stack, the lines before its frames and the first
// frame's function; of a Playwright call log, its first line. Whitespace
// runs become one space, and invalid UTF-8 U+FFFD.
//
// Signature reads the first 64 KiB of errText for its structure and masks
// at most 4 KiB of what it keeps, so its cost is bounded whatever the
// text, and the signature is cut to at most [MaxSignatureLen] runes
// (dropping a placeholder the cut would split).
func Signature(errText string) string {
	s, where := focus(cutUTF8(errText, signatureRead))
	s = oneLine(mask(cutUTF8(s, signatureScan)))
	if where == "" {
		return cutRunes(s, MaxSignatureLen)
	}
	where = cutRunes(oneLine(mask(cutUTF8(where, 512))), 100)
	suffix := " (in " + where + ")"
	return cutRunes(s, MaxSignatureLen-utf8.RuneCountInString(suffix)) + suffix
}

// oneLine joins the words of s with single spaces, as valid UTF-8.
func oneLine(s string) string {
	return strings.ToValidUTF8(strings.Join(strings.Fields(s), " "), "\uFFFD")
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
// seven bytes would be a split placeholder ("<pa"), so it goes, as do
// trailing spaces.
func cutRunes(s string, n int) string {
	for i := range s {
		if n <= 0 {
			s = s[:i]
			if j := strings.LastIndexByte(s, '<'); j >= 0 && len(s)-j < len("<value>") && !strings.Contains(s[j:], ">") {
				s = s[:j]
			}
			return strings.TrimRight(s, " ")
		}
		n--
	}
	return s
}

// focus returns the part of an error text that tells its cause, and where
// it happened (a function's name) when the text is a stack trace: see
// [Signature]. Each search is one pass over s.
func focus(s string) (msg, where string) {
	if strings.Contains(s, "Traceback (most recent call last)") {
		if msg, where, ok := pythonTraceback(s); ok {
			return msg, where
		}
	}
	if p := strings.Index(s, "panic: "); p >= 0 {
		if g := strings.Index(s[p:], "\ngoroutine "); g >= 0 {
			return s[:p] + firstLine(s[p:p+g]), goFrame(s[p+g+1:])
		}
	}
	if i := strings.Index(s, "\nCall log:"); i >= 0 { // Playwright
		log := strings.TrimLeft(s[i+len("\nCall log:"):], " \t\r\n")
		s = s[:i] + " Call log: " + firstLine(log)
	}
	return stackFrames(s)
}

// pythonTraceback reads a Python traceback: the exception after its last
// frame, and the function of that frame (File "…", line N, in parse).
func pythonTraceback(s string) (msg, where string, ok bool) {
	i := strings.LastIndex(s, "\n  File \"")
	if i < 0 {
		return "", "", false
	}
	frame, rest, _ := strings.Cut(s[i+1:], "\n")
	if j := strings.LastIndex(frame, ", in "); j >= 0 {
		where = strings.TrimSpace(frame[j+len(", in "):])
	}
	// The frame's source line and its ^^^ markers are indented; the
	// exception starts at the first line that is not.
	for rest != "" && (rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r' || rest[0] == '\n') {
		_, rest, _ = strings.Cut(rest, "\n")
	}
	if strings.TrimSpace(rest) == "" {
		return "", "", false
	}
	return rest, where, true
}

// goFrame returns the first function of a goroutine's trace (the lines
// after "goroutine N [running]:") that is not the runtime's, without its
// arguments.
func goFrame(g string) string {
	_, g, _ = strings.Cut(g, "\n") // the goroutine line
	for g != "" {
		var line string
		line, g, _ = strings.Cut(g, "\n")
		line = strings.TrimRight(line, " \r")
		if line == "" || line[0] == '\t' || line[0] == ' ' || strings.HasPrefix(line, "panic(") ||
			strings.HasPrefix(line, "runtime.") || strings.HasPrefix(line, "created by ") {
			continue
		}
		if strings.HasSuffix(line, ")") {
			if j := strings.LastIndexByte(line, '('); j > 0 {
				line = line[:j]
			}
		}
		return line
	}
	return ""
}

// stackFrames drops the frames of a JavaScript or Java stack ("    at
// f (file:1:2)", "\tat a.B.f(B.java:42)", "... 12 more") and returns the
// rest, with the first frame's function.
func stackFrames(s string) (msg, where string) {
	if !strings.Contains(s, "\n    at ") && !strings.Contains(s, "\n\tat ") {
		return s, ""
	}
	var b strings.Builder
	first := true
	for line := range strings.Lines(s) {
		t := strings.TrimSpace(line)
		indented := line[0] == ' ' || line[0] == '\t'
		switch {
		case indented && strings.HasPrefix(t, "at "):
			if first {
				first = false
				f := strings.TrimPrefix(t, "at ")
				if j := strings.IndexAny(f, " ("); j >= 0 {
					f = f[:j]
				}
				if !strings.ContainsAny(f, "/\\") { // not an anonymous function's file:line:col
					where = f
				}
			}
		case indented && strings.HasPrefix(t, "...") && strings.HasSuffix(t, "more"):
		default:
			b.WriteString(line)
		}
	}
	return b.String(), where
}

// firstLine returns s up to its first line break.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// mask replaces the parts of s that vary per occurrence with
// placeholders, in one pass: see [Signature].
func mask(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 16)
	locs := urls(s, -1)
	for i := 0; i < len(s); {
		if len(locs) > 0 && i == locs[0][0] {
			end := locs[0][0] + len(trimURL(s[locs[0][0]:locs[0][1]]))
			locs = locs[1:]
			b.WriteString("<url>")
			i = end
			continue
		}
		if n, ph := maskAt(s, i); n > 0 {
			b.WriteString(ph)
			i += n
			continue
		}
		// Copy up to the next byte a mask may start at.
		j := i + 1
		for j < len(s) && !maskStart(s, j) && (len(locs) == 0 || j < locs[0][0]) {
			j++
		}
		b.WriteString(s[i:j])
		i = j
	}
	return b.String()
}

// maskStart reports whether a mask may start at s[i]: a word's first
// byte, a path's '/', an IPv6 address's '[', or a quote a parser's value
// follows.
func maskStart(s string, i int) bool {
	c := s[i]
	if c == '/' || c == '[' || c == '\'' || c == '"' || c == '=' {
		return true
	}
	return isAlnum(c) && (i == 0 || !isWordChar(s[i-1]))
}

// maskAt returns how many bytes of s from i one mask replaces, and with
// what; 0 if none starts there. The word rules (numbers, ids, hosts)
// apply only at the start of a word.
func maskAt(s string, i int) (int, string) {
	c := s[i]
	switch {
	case c == '/':
		if n := pathLen(s, i); n > 0 {
			return n, "<path>"
		}
		return 0, ""
	case c == '[':
		if n := ipv6Len(s, i); n > 0 {
			return n, "<ip>"
		}
		return 0, ""
	case c == '\'' || c == '"':
		if n := quotedValueLen(s, i); n > 0 {
			return n, string(c) + "<value>" + string(c)
		}
		return 0, ""
	case c == '=':
		if hasSuffixFold(s[:i], "input_value") { // pydantic echoes the input
			j := strings.Index(s[i:min(len(s), i+1024)], ", input_type=")
			if j < 0 {
				return 0, ""
			}
			return j, "=<value>"
		}
		return 0, ""
	case !isAlnum(c) || i > 0 && isWordChar(s[i-1]):
		return 0, ""
	}
	if n := timeLen(s, i); n > 0 {
		return n, "<time>"
	}
	if n := uuidLen(s, i); n > 0 {
		return n, "<uuid>"
	}
	if n := ipv4Len(s, i); n > 0 {
		return n, "<ip>"
	}
	if n := hostLen(s, i); n > 0 {
		return n, "<host>"
	}
	if n := durationLen(s, i); n > 0 {
		return n, "<dur>"
	}
	w := wordLen(s, i)
	word := s[i : i+w]
	switch {
	case len(word) > 2 && word[0] == '0' && word[1]|0x20 == 'x' && isHex(word[2:]):
		return w, "<hex>"
	case isID(word):
		return w + colo(s, i+w), "<id>" // and Cloudflare's colo: cf-ray 8a1b2c3d4e5f6789-FRA
	case i >= 4 && s[i-4:i] == "org-" && (i == 4 || !isWordChar(s[i-5])): // OpenAI's organization
		return w, "<id>"
	case isDigit(c):
		if digitsLen(s, i) < w { // digits then letters: 4o, 3rd
			return w, word
		}
		n := numberLen(s, i)
		if keepNumber(s, i, i+n) {
			return n, s[i : i+n]
		}
		return n, "<n>"
	}
	return w, word
}

// isWordChar reports whether c continues a word: a letter, a digit or '_'.
func isWordChar(c byte) bool { return isAlnum(c) || c == '_' }

func isAlnum(c byte) bool { return isDigit(c) || isLetter(c) }

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// wordLen is the length of the word at s[i]: letters, digits and '_'.
func wordLen(s string, i int) int {
	j := i
	for j < len(s) && isWordChar(s[j]) {
		j++
	}
	return j - i
}

// digitsLen is the length of the run of digits at s[i].
func digitsLen(s string, i int) int {
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	return j - i
}

// numberLen is the length of the number at s[i]: digits, and a fraction
// (not the digits that start a word: 18.1c6e3b49 is 18).
func numberLen(s string, i int) int {
	n := digitsLen(s, i)
	if i+n+1 < len(s) && s[i+n] == '.' && isDigit(s[i+n+1]) {
		f := digitsLen(s, i+n+1)
		if end := i + n + 1 + f; end == len(s) || !isWordChar(s[end]) || unitLen(s, end) > 0 {
			n += 1 + f
		}
	}
	return n
}

// isID reports whether a word is an id: one of its parts between '_'
// (req_8f3a9c…) has 8 or more characters, digits and letters both
// (8f3a9c0b, 01HX9ZQK). Parts of 8 or more digits alone read as ids too,
// so that a hex id's placeholder never depends on its value.
func isID(w string) bool {
	for part := range strings.SplitSeq(w, "_") {
		digits, letters := 0, 0
		for i := 0; i < len(part); i++ {
			switch c := part[i]; {
			case isDigit(c):
				digits++
			case isLetter(c):
				letters++
			}
		}
		if len(part) >= 8 && digits > 0 && (letters > 0 || isHex(part)) {
			return true
		}
	}
	return false
}

// colo is the length of "-ABC" (three capitals ending a word) at s[i].
func colo(s string, i int) int {
	if i+4 <= len(s) && s[i] == '-' && s[i+1] >= 'A' && s[i+1] <= 'Z' && s[i+2] >= 'A' && s[i+2] <= 'Z' &&
		s[i+3] >= 'A' && s[i+3] <= 'Z' && (i+4 == len(s) || !isWordChar(s[i+4])) {
		return 4
	}
	return 0
}

// timeLen is the length of a timestamp at s[i]: 2026-11-26, with
// T21:43:52 or " 21:43", a fraction, and Z or an offset.
func timeLen(s string, i int) int {
	d := func(at, n int) bool { return at+n <= len(s) && digitsLen(s, at) >= n }
	if !d(i, 4) || digitsLen(s, i) != 4 || i+10 > len(s) || s[i+4] != '-' || !d(i+5, 2) || s[i+7] != '-' || !d(i+8, 2) {
		return 0
	}
	j := i + 10
	if j+6 <= len(s) && (s[j] == 'T' || s[j] == ' ') && d(j+1, 2) && s[j+3] == ':' && d(j+4, 2) {
		j += 6
		if j+3 <= len(s) && s[j] == ':' && d(j+1, 2) {
			j += 3
			if j+1 < len(s) && (s[j] == '.' || s[j] == ',') && isDigit(s[j+1]) {
				j += 1 + digitsLen(s, j+1)
			}
		}
		switch {
		case j < len(s) && s[j] == 'Z':
			j++
		case j+3 <= len(s) && (s[j] == '+' || s[j] == '-') && d(j+1, 2):
			j += 3
			if j+3 <= len(s) && s[j] == ':' && d(j+1, 2) {
				j += 3
			} else if d(j, 2) {
				j += 2
			}
		}
	}
	if j < len(s) && isWordChar(s[j]) {
		return 0
	}
	return j - i
}

// uuidLen is the length of a UUID at s[i] (8-4-4-4-12 hex digits).
func uuidLen(s string, i int) int {
	if i+36 > len(s) || i+36 < len(s) && isWordChar(s[i+36]) {
		return 0
	}
	for k := 0; k < 36; k++ {
		switch k {
		case 8, 13, 18, 23:
			if s[i+k] != '-' {
				return 0
			}
		default:
			if !isHexDigit(s[i+k]) {
				return 0
			}
		}
	}
	return 36
}

// ipv4Len is the length of an IPv4 address at s[i], with its :port.
func ipv4Len(s string, i int) int {
	j := i
	for part := 0; part < 4; part++ {
		if part > 0 {
			if j >= len(s) || s[j] != '.' {
				return 0
			}
			j++
		}
		n := digitsLen(s, j)
		if n < 1 || n > 3 {
			return 0
		}
		j += n
	}
	if j < len(s) && (isWordChar(s[j]) || s[j] == '.' && j+1 < len(s) && isDigit(s[j+1])) {
		return 0
	}
	if j+1 < len(s) && s[j] == ':' && isDigit(s[j+1]) {
		j += 1 + digitsLen(s, j+1)
	}
	return j - i
}

// ipv6Len is the length of a bracketed IPv6 address at s[i] ([::1],
// [2606:4700::1]:443), with its :port.
func ipv6Len(s string, i int) int {
	j, colons := i+1, 0
	for j < len(s) && j-i < 48 && (isHexDigit(s[j]) || s[j] == ':' || s[j] == '.') {
		if s[j] == ':' {
			colons++
		}
		j++
	}
	if colons < 2 || j >= len(s) || s[j] != ']' {
		return 0
	}
	j++
	if j+1 < len(s) && s[j] == ':' && isDigit(s[j+1]) {
		j += 1 + digitsLen(s, j+1)
	}
	return j - i
}

// pathLen is the length of a path at s[i] ('/' after a space, a quote, '='
// or '(' and before a path's byte), up to a space, a quote, a bracket or
// a comma, without trailing punctuation.
func pathLen(s string, i int) int {
	if i > 0 && strings.IndexByte(" \t\n\"'=(:", s[i-1]) < 0 || i+1 >= len(s) || !isPathByte(s[i+1]) {
		return 0
	}
	j := i + 1
	for j < len(s) && (isPathByte(s[j]) || s[j] == '/') {
		j++
	}
	return len(strings.TrimRight(s[i:j], ".:!?")) // a sentence's period, a frame's colon
}

func isPathByte(c byte) bool {
	return isWordChar(c) || c >= 0x80 || strings.IndexByte(".-~%+@:=&?#!$*;", c) >= 0
}

// quotedValueLen is the length of a quoted value at s[i] that a parser
// echoes back (could not convert string to float: 'N/A'; base 10: 'x';
// parsing "12,50"; unmarshal "abc"), quotes included; 0 for any other
// quoted string, whose words are kept.
func quotedValueLen(s string, i int) int {
	before := s[:i]
	if !hasSuffixFold(before, "float: ") && !hasSuffixFold(before, "base 10: ") &&
		!hasSuffixFold(before, "parsing ") && !hasSuffixFold(before, "unmarshal ") {
		return 0
	}
	j := strings.IndexByte(s[i+1:min(len(s), i+1+1024)], s[i])
	if j < 0 {
		return 0
	}
	return j + 2
}

// durationLen is the length of a duration at s[i]: numbers with units, as
// 30s, 1m30s, 2.15s, 30000ms, 500µs; 0 if the word goes on after them.
func durationLen(s string, i int) int {
	j := i
	for {
		n := numberLen(s, j)
		if n == 0 {
			break
		}
		u := unitLen(s, j+n)
		if u == 0 {
			break
		}
		j += n + u
	}
	if j == i || j < len(s) && isWordChar(s[j]) {
		return 0
	}
	return j - i
}

// durationUnits are the units durationLen reads, longest first.
var durationUnits = []string{"seconds", "minutes", "second", "minute", "hours", "secs", "mins", "hour", "sec", "min", "ms", "us", "µs", "ns", "s", "m", "h"}

func unitLen(s string, i int) int {
	for _, u := range durationUnits {
		if strings.HasPrefix(s[i:], u) {
			return len(u)
		}
	}
	return 0
}

// hostLen is the length of a hostname at s[i], with its :port: a dotted
// name in lower case whose last label is a common top-level domain
// (shop-17.example.com), or any dotted name after "lookup " or "host=".
func hostLen(s string, i int) int {
	j, dots, last := i, 0, i
	for j < len(s) && (isDigit(s[j]) || s[j] >= 'a' && s[j] <= 'z' || s[j] == '-' || s[j] == '.') {
		if s[j] == '.' {
			if j == last || j+1 >= len(s) || !isAlnum(s[j+1]) {
				break
			}
			dots++
			last = j + 1
		}
		j++
	}
	if dots == 0 || j < len(s) && (isWordChar(s[j]) || s[j] >= 0x80) {
		return 0
	}
	tld := s[last:j]
	if dots == 1 && htmlTags[s[i:last-1]] { // a selector: span.price, div.info
		return 0
	}
	named := hasSuffixFold(s[:i], "lookup ") || hasSuffixFold(s[:i], "host='") || hasSuffixFold(s[:i], `host="`) || hasSuffixFold(s[:i], "host=")
	if !named && !topLevelDomains[tld] {
		return 0
	}
	if j+1 < len(s) && s[j] == ':' && isDigit(s[j+1]) {
		j += 1 + digitsLen(s, j+1)
	}
	return j - i
}

// topLevelDomains are the last labels that make a dotted lower-case word
// a hostname. File extensions (py, go, js, rs, sh, md…) are left out, as
// are words a field or selector may end with.
var topLevelDomains = map[string]bool{}

func init() {
	for _, d := range strings.Fields(`com net org edu gov mil int io co ai app dev shop store online site tech cloud xyz info biz
		example test invalid localhost local internal lan corp arpa
		us uk de fr es it nl be ch at se no dk fi pl cz sk ru ua jp cn kr in au nz ca br mx ar cl pe eu tv me
		gg fm sg hk tw il tr gr pt ie ro hu bg si hr lt lv ee is lu za ng ke eg sa ae vn th my ph nz`) {
		topLevelDomains[d] = true
	}
}

// htmlTags are the elements a CSS selector may start with (span.price),
// which a hostname's first label is not when it has two.
var htmlTags = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`a abbr article aside b body button dd div dl dt em figure footer form h1 h2 h3 h4 h5 h6
		header html i img input label li link main meta nav ol option p picture section select small source span strong
		svg table tbody td th time tr ul`) {
		htmlTags[t] = true
	}
}

// keepNumber reports whether the number at s[start:end] tells causes
// apart: an HTTP status code or an errno.
func keepNumber(s string, start, end int) bool {
	word := prevWord(s, start)
	if strings.EqualFold(word, "errno") {
		return true
	}
	if end-start != 3 || s[start] < '1' || s[start] > '5' {
		return false
	}
	for _, w := range statusWords {
		if strings.EqualFold(word, w) {
			return true
		}
	}
	for _, v := range []string{"http/1.0 ", "http/1.1 ", "http/2 ", "http/2.0 ", "http/3 "} {
		if hasSuffixFold(s[:start], v) {
			return true
		}
	}
	after := s[end:]
	switch {
	case len(after) >= 2 && after[0] == ' ' && after[1] >= 'A' && after[1] <= 'Z': // 503 Service Unavailable
		return true
	case start >= 2 && s[start-2:start] == ": ": // GET https://a.com/p: 503
		return after == "" || after[0] != ' ' || len(after) >= 2 && !(after[1] >= 'a' && after[1] <= 'z')
	}
	return false
}

// statusWords are the words an HTTP status code follows.
var statusWords = []string{"status", "code", "status_code", "statuscode", "http", "error", "response", "returned", "got"}

// prevWord returns the word before s[i], skipping up to four separators
// (spaces, quotes, ':', '=', '[', '(', '-', '/', '.').
func prevWord(s string, i int) string {
	j := i
	for k := 0; k < 4 && j > 0 && strings.IndexByte(" \"':=[(-/.", s[j-1]) >= 0; k++ {
		j--
	}
	end := j
	for j > 0 && isWordChar(s[j-1]) {
		j--
	}
	return s[j:end]
}

// trimURL drops the punctuation a sentence puts after a URL.
func trimURL(u string) string { return strings.TrimRight(u, ".,;:!?)]}") }

// urls returns where the URLs of s are, at most n of them (n < 0: all),
// as [start, end) pairs: a scheme ([a-zA-Z][a-zA-Z0-9+.-]* starting a
// word), "://", at least one byte that is not space, a quote, '<', '>',
// '/', '?' or '#', and then the bytes up to a space, a quote, '<' or '>'.
// It scans s once, where a regexp would backtrack at every byte.
func urls(s string, n int) (locs [][2]int) {
	for end := 0; n < 0 || len(locs) < n; {
		k := strings.Index(s[end:], "://")
		if k < 0 {
			return locs
		}
		colon := end + k
		start := -1
		for p := colon - 1; p >= end && isSchemeByte(s[p]); p-- {
			if isLetter(s[p]) && (p == 0 || !isWordChar(s[p-1])) {
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
		locs = append(locs, [2]int{start, stop})
		end = stop
	}
	return locs
}

func isSchemeByte(c byte) bool { return isAlnum(c) || c == '+' || c == '.' || c == '-' }

// urlStop reports whether c ends a URL: \s, a quote, '<' or '>'.
func urlStop(c byte) bool { return strings.IndexByte(" \t\n\f\r\"'<>", c) >= 0 }

// hasSuffixFold reports whether s ends with suffix, lower case ASCII, in
// any case, reading only len(suffix) bytes of s.
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

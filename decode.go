package dlq

import (
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The fast path of decoding a stored entry. Nearly every entry is a flat
// JSON object of the seven wire keys, each once, with string, null or
// integer values: this library and the Python service write nothing else.
// scanWire reads such an entry in one pass, without encoding/json's
// reflection and validation passes; anything else (unknown keys, keys in
// another case, duplicates, other value types, floats, bad JSON) it leaves
// to Item.UnmarshalJSON, which stays the definition of a well-formed
// entry. The fast path only ever accepts what UnmarshalJSON accepts, with
// the same result (FuzzDecodeWire checks).

// The wire keys, as indexes into wireTokens.
const (
	wID = iota
	wSourceID
	wJobID
	wError
	wFailedAt
	wRetryCount
	wKind
	wKeys
)

func wireKeyIndex(k string) int {
	switch k {
	case "id":
		return wID
	case "source_id":
		return wSourceID
	case "job_id":
		return wJobID
	case "error":
		return wError
	case "failed_at":
		return wFailedAt
	case "retry_count":
		return wRetryCount
	case "dlq_type":
		return wKind
	}
	return -1
}

// wireToken is the value of one wire key as scanned.
type wireToken struct {
	s   string // a string's content between its quotes, as stored; an integer's digits
	typ byte   // 0: absent, '"': string, 'n': null, '0': integer
	esc bool   // a string whose content needs unquoting: escapes, or invalid UTF-8
}

// text returns a string token's value, as encoding/json decodes it.
func (t wireToken) text() string {
	if !t.esc {
		return t.s
	}
	return unquote(t.s)
}

type wireTokens [wKeys]wireToken

// scanWire scans a flat object of wire keys. ok is false for anything
// else, which the caller leaves to Item.UnmarshalJSON.
//
// hint, when not nil, is an error text (a string token) met before: an
// error whose stored form starts with it and its closing quote is that
// token, which is compared instead of scanned.
func scanWire(raw string, hint *wireToken) (t wireTokens, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return t, false
	}
	i = skipSpace(raw, i+1)
	for {
		if i >= len(raw) || raw[i] != '"' {
			return t, false
		}
		j := i + 1
		for j < len(raw) && raw[j] != '"' && raw[j] != '\\' && raw[j] >= ' ' {
			j++
		}
		if j >= len(raw) || raw[j] != '"' {
			return t, false
		}
		k := wireKeyIndex(raw[i+1 : j])
		if k < 0 || t[k].typ != 0 {
			return t, false
		}
		i = skipSpace(raw, j+1)
		if i >= len(raw) || raw[i] != ':' {
			return t, false
		}
		i = skipSpace(raw, i+1)
		if k == wError && hint != nil && hint.typ == '"' && len(raw)-i > len(hint.s)+1 &&
			raw[i] == '"' && raw[i+len(hint.s)+1] == '"' && raw[i+1:i+len(hint.s)+1] == hint.s {
			n := len(hint.s) + 1
			// The same bytes scan to the same token: scanString stops at
			// the first quote that no backslash escapes, reading nothing
			// past it.
			t[k], i = wireToken{s: raw[i+1 : i+n], typ: '"', esc: hint.esc}, i+n+1
		} else if t[k], i, ok = scanValue(raw, i); !ok {
			return t, false
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return t, false
		}
		if raw[i] == '}' {
			return t, skipSpace(raw, i+1) == len(raw)
		}
		if raw[i] != ',' {
			return t, false
		}
		i = skipSpace(raw, i+1)
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// scanValue scans a string, null or integer at s[i:] and returns it and
// where it ends.
func scanValue(s string, i int) (wireToken, int, bool) {
	if i >= len(s) {
		return wireToken{}, i, false
	}
	switch c := s[i]; {
	case c == '"':
		return scanString(s, i)
	case c == 'n':
		if len(s)-i >= 4 && s[i:i+4] == "null" {
			return wireToken{typ: 'n'}, i + 4, true
		}
	case c == '-' || isDigit(c):
		j := i
		if s[j] == '-' {
			j++
		}
		switch {
		case j < len(s) && s[j] == '0':
			j++
		case j < len(s) && isDigit(s[j]):
			for j < len(s) && isDigit(s[j]) {
				j++
			}
		default:
			return wireToken{}, i, false
		}
		if j < len(s) && (s[j] == '.' || s[j] == 'e' || s[j] == 'E' || isDigit(s[j])) {
			return wireToken{}, i, false // a float, or a leading zero
		}
		return wireToken{s: s[i:j], typ: '0'}, j, true
	}
	return wireToken{}, i, false
}

// stringStop marks the bytes a string scan stops at: the quote, the
// backslash and the control characters (which JSON forbids unescaped).
var stringStop = func() (t [256]bool) {
	for c := range ' ' {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// skipPlain returns the index of the first byte at or after i that
// stringStop marks, or len(s). Past eight plain bytes it reads eight at a
// time: entries of other programs can hold megabytes of error text.
func skipPlain(s string, i int) int {
	for end := min(i+8, len(s)); i < end; i++ {
		if stringStop[s[i]] {
			return i
		}
	}
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		q, b := x^(ones*'"'), x^(ones*'\\')
		// (v-ones*n)&^v&highs is not zero exactly when a byte of v is below
		// n (n <= 0x80): here a byte of x that is '"', '\\' or below ' '.
		if (q-ones)&^q&highs|(b-ones)&^b&highs|(x-ones*' ')&^x&highs != 0 {
			break
		}
	}
	for i < len(s) && !stringStop[s[i]] {
		i++
	}
	return i
}

// scanString scans the JSON string starting at s[i], checking its escapes.
func scanString(s string, i int) (wireToken, int, bool) {
	start, escaped := i+1, false
	for j := start; j < len(s); {
		j = skipPlain(s, j)
		if j >= len(s) {
			break
		}
		switch c := s[j]; c {
		case '"':
			content := s[start:j]
			return wireToken{s: content, typ: '"', esc: escaped || !utf8.ValidString(content)}, j + 1, true
		case '\\':
			escaped = true
			if j+1 >= len(s) {
				return wireToken{}, i, false
			}
			switch s[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(s) || hexValue(s[j+2:j+6]) < 0 {
					return wireToken{}, i, false
				}
				j += 6
			default:
				return wireToken{}, i, false
			}
		default: // a control character
			return wireToken{}, i, false
		}
	}
	return wireToken{}, i, false
}

// hexValue returns the value of four hex digits, or -1.
func hexValue(h string) rune {
	var r rune
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unquote decodes the content of a JSON string that scanString checked,
// exactly as encoding/json does: invalid UTF-8 and lone surrogates become
// U+FFFD.
func unquote(s string) string {
	// w never passes r but for U+FFFD, 3 bytes for 1, so b has room for
	// the rest of s whenever that case made sure of it.
	b := make([]byte, len(s)+utf8.UTFMax)
	w := 0
	for r := 0; r < len(s); {
		c := s[r]
		if c < utf8.RuneSelf && c != '\\' {
			b[w] = c
			w++
			r++
			continue
		}
		if c == '\\' && s[r+1] != 'u' {
			b[w] = unescaped[s[r+1]]
			w++
			r += 2
			continue
		}
		var rr rune
		if c == '\\' {
			rr = hexValue(s[r+2 : r+6])
			r += 6
			if utf16.IsSurrogate(rr) {
				rr2 := rune(-1)
				if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
					rr2 = hexValue(s[r+2 : r+6])
				}
				if rr = utf16.DecodeRune(rr, rr2); rr != unicode.ReplacementChar {
					r += 6
				}
			}
		} else {
			var size int
			rr, size = utf8.DecodeRuneInString(s[r:])
			r += size
			if len(b)-w < len(s)-r+2*utf8.UTFMax {
				b = append(b[:w], make([]byte, len(b))...)[:cap(b)]
			}
		}
		w += utf8.EncodeRune(b[w:], rr)
	}
	return string(b[:w])
}

// unescaped maps the letter of a one-letter escape to its byte.
var unescaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// wireEntry is a stored entry that scanWire read and found well formed.
type wireEntry struct {
	tokens   wireTokens
	failedAt time.Time
	retries  int
}

// scanEntry reads a stored entry on the fast path. ok is false when the
// entry is not one scanWire reads or is malformed; Item.UnmarshalJSON
// then decides.
func scanEntry(raw string) (e wireEntry, ok bool) {
	return scanEntryHint(raw, nil)
}

func scanEntryHint(raw string, hint *wireToken) (e wireEntry, ok bool) {
	t, ok := scanWire(raw, hint)
	if !ok || t[wID].typ != '"' || t[wID].s == "" || t[wFailedAt].typ != '"' {
		return e, false
	}
	for _, k := range [...]int{wSourceID, wJobID, wError, wKind} {
		if t[k].typ != 0 && t[k].typ != '"' && t[k].typ != 'n' {
			return e, false
		}
	}
	switch t[wRetryCount].typ {
	case '0':
		n, err := strconv.ParseInt(t[wRetryCount].s, 10, 0)
		if err != nil {
			return e, false
		}
		e.retries = int(n)
	case '"':
		return e, false
	}
	at, err := parseTime(t[wFailedAt].text())
	if err != nil {
		return e, false
	}
	e.tokens, e.failedAt = t, at
	return e, true
}

// item builds the Item of an entry scanEntry read.
func (e wireEntry) item(raw string) Item { return e.itemWith(raw, e.tokens[wError].text()) }

// itemWith builds the Item of an entry scanEntry read, whose error text
// decodes to errText.
func (e wireEntry) itemWith(raw, errText string) Item {
	t := &e.tokens
	it := Item{
		ID: t[wID].text(), SourceID: t[wSourceID].text(), Error: errText,
		FailedAt: e.failedAt, RetryCount: e.retries, Kind: Kind(t[wKind].text()),
		failedAt: t[wFailedAt].text(), raw: raw,
	}
	if t[wJobID].typ == '"' {
		job := t[wJobID].text()
		it.JobID = &job
	}
	return it
}

// entryDecoder decodes the entries of one read, remembering the last
// error text met: entries come in runs of one cause (an outage), and a
// long error text of the run is then compared, not scanned and unquoted
// again.
type entryDecoder struct {
	last     wireToken // the last error text met, as stored
	lastText string    // and decoded, once asked for
	decoded  bool
}

// scan is scanEntry with the last error text as hint.
func (d *entryDecoder) scan(raw string) (wireEntry, bool) {
	e, ok := scanEntryHint(raw, &d.last)
	if tok := e.tokens[wError]; ok && tok.typ == '"' && tok.s != d.last.s {
		d.last, d.decoded = tok, false
	}
	return e, ok
}

// text returns tok decoded, unquoting it only when it is not the last
// error text decoded.
func (d *entryDecoder) text(tok wireToken) string {
	if !tok.esc {
		return tok.s
	}
	if tok.s == d.last.s {
		if !d.decoded {
			d.lastText, d.decoded = tok.text(), true
		}
		return d.lastText
	}
	return tok.text()
}

// decode is decodeItem.
func (d *entryDecoder) decode(raw string) (Item, error) {
	if e, ok := d.scan(raw); ok {
		return e.itemWith(raw, d.text(e.tokens[wError])), nil
	}
	return decodeItem(raw)
}

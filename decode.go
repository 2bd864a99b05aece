package dlq

import (
	"encoding/binary"
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
func scanWire(raw string) (t wireTokens, ok bool) {
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
		if t[k], i, ok = scanValue(raw, skipSpace(raw, i+1)); !ok {
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
// stringStop marks, or len(s). It reads eight bytes at a time: entries of
// other programs can hold megabytes of error text.
func skipPlain(s string, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64([]byte(s[i : i+8]))
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
		c := s[j]
		switch c {
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
	b := make([]byte, 0, len(s)+utf8.UTFMax)
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\' && s[r+1] != 'u':
			b = append(b, unescaped[s[r+1]])
			r += 2
		case c == '\\':
			rr := hexValue(s[r+2 : r+6])
			r += 6
			if utf16.IsSurrogate(rr) {
				if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
					if dec := utf16.DecodeRune(rr, hexValue(s[r+2:r+6])); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
				}
				rr = unicode.ReplacementChar
			}
			b = utf8.AppendRune(b, rr)
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRuneInString(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return string(b)
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
	t, ok := scanWire(raw)
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
func (e wireEntry) item(raw string) Item {
	t := &e.tokens
	it := Item{
		ID: t[wID].text(), SourceID: t[wSourceID].text(), Error: t[wError].text(),
		FailedAt: e.failedAt, RetryCount: e.retries, Kind: Kind(t[wKind].text()),
		failedAt: t[wFailedAt].text(), raw: raw,
	}
	if t[wJobID].typ == '"' {
		job := t[wJobID].text()
		it.JobID = &job
	}
	return it
}

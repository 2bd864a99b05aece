package dlq

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dlqkit/dlq/internal/rdb"
)

// Finding an entry by its id. An id this library wrote is a UUIDv7 and
// carries its push time: the scripts find its place by a binary search on
// the entries' times and look around it (lua/lib.lua's locate), a bounded
// search that answers "missing" without a scan. Other ids (the Python
// service's uuid4, anything another program wrote) carry no time: they
// are searched for inside Redis by search.lua, newest first, a bounded
// stretch per call, and only candidate entries travel to the client, which
// checks each one's id.

// maxSearching is how many lookups by id one Service sends to Redis at
// once. Each such script is bounded (a few ms at most), but fifty callers
// at once would queue fifty of them in Redis, and every other client of
// Redis (a scraper's PING) would wait behind the queue: the queue waits in
// this process instead. Redis runs one script at a time anyway, so this
// costs no throughput.
const maxSearching = 2

// searching runs one lookup call when a slot is free (see maxSearching),
// or returns ctx's error.
func (s *Service) searching(ctx context.Context, call func() error) error {
	if s.searchSlots == nil { // a Service not built by New
		return call()
	}
	select {
	case s.searchSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.searchSlots }()
	return call()
}

// searchOverlap is how far back each search call starts from where the
// last one stopped, so that entries popped at the head meanwhile do not
// make it jump over the one it looks for.
const searchOverlap = 32

// searchFor calls fn with each entry whose id is id, with its index from
// the head when seen, newest first, until fn returns true or an error, or
// the list's end. Each call to Redis is bounded (see search.lua).
func (s *Service) searchFor(ctx context.Context, ks rdb.Keys, id string, fn func(raw string, index int64) (bool, error)) error {
	needles := idNeedles(id)
	start := int64(0)
	for start >= 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		var next int64
		var cands []rdb.Candidate
		err := s.searching(ctx, func() error {
			var err error
			next, cands, err = rdb.Search(ctx, s.rdb, ks.List, start, needles)
			return err
		})
		if err != nil {
			return err
		}
		for _, c := range cands {
			if got, ok := readID(c.Raw); !ok || got != id {
				continue
			}
			if done, err := fn(c.Raw, c.Index); done || err != nil {
				return err
			}
		}
		if next < 0 {
			return nil
		}
		// Step back at most half of what this call read, so that every
		// call advances by half its read (a call reads 16 entries of 64 KiB).
		start = max(next-min(searchOverlap, (next-start)/2), start+1)
	}
	return nil
}

// idNeedles returns the forms the quoted id takes in the JSON of the
// writers we know: as is (an id of printable ASCII without quotes,
// backslashes or <, >, &, ', +, ` is written so by every writer), as this
// library escapes it, with non-ASCII as \u escapes (Python's json.dumps),
// with <, > and & as \u escapes (Go's encoding/json), with those and every
// other character but letters, digits and safe punctuation as upper-case
// \u escapes (.NET's System.Text.Json), and with slashes escaped (\/,
// which some writers do).
func idNeedles(id string) []string {
	forms := []string{string(appendString(nil, id))}
	add := func(f string) {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	add(asciiJSON(id))
	add(goHTMLEscape.Replace(forms[0]))
	add(dotnetJSON(id))
	for _, f := range forms[:len(forms):len(forms)] {
		if strings.Contains(f, "/") {
			add(strings.ReplaceAll(f, "/", `\/`))
		}
	}
	return forms
}

// goHTMLEscape turns this library's form of a JSON string into Go's
// encoding/json's, which escapes <, > and & for HTML.
var goHTMLEscape = strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`)

// dotnetJSON writes s as a JSON string as .NET's System.Text.Json does by
// default: ASCII letters, digits and punctuation as they are, but for ",
// &, ', +, <, >, ` (and the backslash, as \\), and every other character as
// upper-case \u escapes (control characters with their short escapes).
func dotnetJSON(s string) string { return escapedJSON(s, "\"&'+<>`", true) }

// asciiJSON writes s as a JSON string with every non-ASCII character as
// \u escapes, as Python's json.dumps does by default.
func asciiJSON(s string) string { return escapedJSON(s, "", false) }

// escapedJSON writes s as a JSON string the way writers that keep only
// printable ASCII do: the short escapes for the backslash, \n, \r, \t, \b
// and \f; a quote as \" unless escaped names it; the characters escaped
// names and all but printable ASCII as \u escapes (surrogate pairs past
// U+FFFF, U+FFFD for invalid UTF-8), in upper-case hex if upper.
func escapedJSON(s, escaped string, upper bool) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r < 0x7f && !strings.ContainsRune(escaped, r):
			if r == '"' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16Pair(r)
			b.WriteString(u4(r1, upper))
			b.WriteString(u4(r2, upper))
		default:
			b.WriteString(u4(r, upper))
		}
	}
	b.WriteByte('"')
	return b.String()
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// u4 is the \u escape of a UTF-16 code unit, in lower- or upper-case hex.
func u4(r rune, upper bool) string {
	digits := hexDigits
	if upper {
		digits = "0123456789ABCDEF"
	}
	return `\u` + string([]byte{digits[r>>12&0xf], digits[r>>8&0xf], digits[r>>4&0xf], digits[r&0xf]})
}

// NeedsSearch reports whether finding the entry with this id by
// [Service.Pop], [Service.Delete], [Service.Retry] or [Service.Get] may
// need a search of the list (ids that are not canonical UUIDv7s: another
// program's ids), rather than the bounded look where the id's time says.
// The search is bounded per call to Redis but reads up to the whole list
// in calls; the httpapi package counts such requests as heavy.
func NeedsSearch(id string) bool { return v7Time(id) < 0 }

// Get returns the entry with the given id, with its claim (see
// [Item.InFlight]), without changing anything. It finds the entry as
// [Service.Pop] does, within the same bounds. It returns an error wrapping
// [ErrNotFound] when there is no such entry, [ErrMalformed] when the entry
// with this id cannot be decoded, and [ErrInvalidID] for an empty id or one
// longer than [MaxIDLen].
func (s *Service) Get(ctx context.Context, kind Kind, id string) (Item, error) {
	if err := s.check(kind); err != nil {
		return Item{}, err
	}
	if err := checkID(id); err != nil {
		return Item{}, err
	}
	ks := kind.keys()
	var raw string
	var found bool
	var err error
	search := v7Time(id) < 0
	if ts := v7Time(id); ts >= 0 {
		var st rdb.Status
		err = s.searching(ctx, func() error {
			var err error
			st, raw, _, err = rdb.Locate(ctx, s.rdb, ks, id, ts)
			return err
		})
		found, search = st == rdb.OK, st == rdb.MissingForeign
	}
	if search && err == nil {
		err = s.searchFor(ctx, ks, id, func(r string, _ int64) (bool, error) {
			raw, found = r, true
			return true, nil
		})
	}
	switch {
	case err != nil:
		return Item{}, opError("get", kind, err)
	case !found:
		return Item{}, errorf(ErrNotFound, "%s id %q", kind, id)
	}
	it, err := decodeOf(kind, raw)
	if err != nil {
		return Item{}, fmt.Errorf("dlq: get %s id %q: %w", kind, id, err)
	}
	items := []Item{it}
	if err := s.markClaims(ctx, ks, items); err != nil {
		return Item{}, opError("get", kind, err)
	}
	return items[0], nil
}

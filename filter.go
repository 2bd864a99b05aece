package dlq

import (
	"context"

	"encoding/base64"
	"github.com/dlqkit/dlq/internal/rdb"
	"strconv"
	"strings"
	"time"
)

// Filter selects entries. Each field that is set must match; the zero
// Filter matches every well-formed entry. Malformed entries never match.
type Filter struct {
	SourceID      string    `json:"source_id,omitempty"`    // exact source id
	JobID         string    `json:"job_id,omitempty"`       // exact job id
	ErrorContains string    `json:"error,omitempty"`        // substring of the error text, case-insensitive
	Signature     string    `json:"signature,omitempty"`    // exact [Signature] of the error text
	Host          string    `json:"host,omitempty"`         // exact [Host] of the error text, in any case
	FailedAfter   time.Time `json:"failed_after,omitzero"`  // failed_at at or after this time
	FailedBefore  time.Time `json:"failed_before,omitzero"` // failed_at before this time
}

// IsZero reports whether f matches every entry.
func (f Filter) IsZero() bool { return f == Filter{} }

// Match reports whether it matches f.
func (f Filter) Match(it Item) bool {
	switch {
	case f.SourceID != "" && it.SourceID != f.SourceID,
		f.JobID != "" && (it.JobID == nil || *it.JobID != f.JobID),
		!f.FailedAfter.IsZero() && it.FailedAt.Before(f.FailedAfter),
		!f.FailedBefore.IsZero() && !it.FailedAt.Before(f.FailedBefore),
		f.ErrorContains != "" && !containsFold(it.Error, f.ErrorContains),
		f.Signature != "" && Signature(it.Error) != f.Signature,
		f.Host != "" && !strings.EqualFold(Host(it.Error), f.Host):
		return false
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// Query asks [Service.Find] for one page of entries.
type Query struct {
	Filter
	// Cursor continues from a previous page's Next; "" starts at the
	// newest entry.
	Cursor string
	// Limit is the most items a page holds: 0 means DefaultLimit, more than
	// MaxLimit means MaxLimit.
	Limit int
}

// Page is one page of [Service.Find]'s answer.
type Page struct {
	Items []Item `json:"items"`
	// Next is the cursor of the next page, or "" when the list was read to
	// its end.
	Next string `json:"next,omitempty"`
}

// maxFindScan bounds how many entries one Find call reads: a page of a
// rare filter may come back short, with a Next to go on from.
const maxFindScan = 10_000

// Find returns the newest entries of a kind that match q's filter, one page
// at a time: pass each page's Next as the next query's Cursor. A page holds
// at most Limit items and reads at most 10,000 entries, so a selective
// filter can return a short (even empty) page with a Next.
//
// The cursor counts from the tail: it remembers how many entries older than
// the page were left to read, and the kind's evicted counter. Pushes at the
// head (by this library or any other program) and removals of entries
// already shown (pops, retries, deletes) do not move it, so the next page
// neither repeats nor skips because of them. Entries the cap or the age
// limit evicted meanwhile are subtracted. Each entry not yet shown that
// another removal took out makes the next page start one entry earlier
// (repeating one), and each entry put back at the tail (a failed retry) one
// entry later. Two identical stored strings are two entries, as in
// List and Count.
//
// It returns an error wrapping [ErrInvalidLimit] for a negative limit and
// one wrapping [ErrInvalidCursor] for a cursor it did not write.
func (s *Service) Find(ctx context.Context, kind Kind, q Query) (Page, error) {
	if err := s.check(kind); err != nil {
		return Page{}, err
	}
	limit, err := normLimit(q.Limit)
	if err != nil {
		return Page{}, err
	}
	ks := kind.keys()
	c, err := rdb.ReadCounters(ctx, s.rdb, ks)
	if err != nil {
		return Page{}, opError("find", kind, err)
	}
	evicted := counter(ks.Evicted, c.Evicted, new([]string))
	// left is the number of entries still to read, counted from the tail:
	// the next entry is at index -left.
	left := c.Length
	if q.Cursor != "" {
		cleft, cevicted, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		left = min(cleft-max(evicted-cevicted, 0), c.Length)
	}
	page := Page{Items: []Item{}}
	scanned := int64(0)
	var dec entryDecoder
	rd := s.newReader(ks.List).warm()
	for left > 0 && len(page.Items) < limit && scanned < maxFindScan {
		// The entries just older than the last one read, newest first,
		// named from the tail: pushes at the head during the call do not
		// shift what is read next.
		k := min(rd.next(), left)
		_, raws, err := rd.tail(ctx, left-k, k)
		if err != nil {
			return Page{}, opError("find", kind, err)
		}
		if len(raws) == 0 {
			left = 0 // removals from the tail made the list shorter than left
			break
		}
		for _, raw := range raws {
			scanned++
			left--
			it, err := dec.decode(raw)
			if err == nil && q.Match(it) {
				if it.Kind == "" { // an entry that does not say its kind is of its list's
					it.Kind = kind
				}
				page.Items = append(page.Items, it)
				if len(page.Items) == limit {
					break
				}
			}
		}
	}
	if left > 0 {
		page.Next = encodeCursor(left, evicted)
	}
	if err := s.markClaims(ctx, ks, page.Items); err != nil {
		return Page{}, opError("find", kind, err)
	}
	return page, nil
}

func encodeCursor(left, evicted int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(left, 10) + "." + strconv.FormatInt(evicted, 10)))
}

func decodeCursor(c string) (left, evicted int64, err error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		p, q, ok := strings.Cut(string(b), ".")
		left, err1 := strconv.ParseInt(p, 10, 64)
		evicted, err2 := strconv.ParseInt(q, 10, 64)
		if ok && err1 == nil && err2 == nil && left >= 0 && evicted >= 0 {
			return left, evicted, nil
		}
	}
	return 0, 0, errorf(ErrInvalidCursor, "%.40q", c)
}

// Count returns how many entries of a kind match f, reading the whole list
// in pages (outside any script), each entry once. Use it to preview a bulk
// action.
func (s *Service) Count(ctx context.Context, kind Kind, f Filter) (int, error) {
	if err := s.check(kind); err != nil {
		return 0, err
	}
	n := 0
	var dec entryDecoder
	err := s.walk(ctx, kind.Key(), nil, func(page []stored) (int, error) {
		for _, e := range page {
			if it, err := dec.decode(e.raw); err == nil && f.Match(it) {
				n++
			}
		}
		return 0, nil
	})
	if err != nil {
		return 0, opError("count", kind, err)
	}
	return n, nil
}

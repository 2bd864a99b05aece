package dlq

import (
	"context"
	"encoding/base64"
	"hash/maphash"
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
		f.Signature != "" && Signature(it.Error) != f.Signature:
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
// The cursor remembers a position in the list and the kind's push counter,
// so that pushes made between pages (by this library) do not make a page
// repeat entries. Entries removed between pages can make the next page skip
// as many entries; Find never returns an entry twice in one page.
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
	ks := keysOf(kind)
	c, err := s.counters(ctx, ks)
	if err != nil {
		return Page{}, opError("find", kind, err)
	}
	pos := int64(0)
	if q.Cursor != "" {
		cpos, cpushes, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		pos = cpos + max(c.pushes-cpushes, 0)
	}
	page := Page{Items: []Item{}}
	seen := map[uint64]struct{}{}
	seed := maphash.MakeSeed()
	scanned := int64(0)
	for len(page.Items) < limit && scanned < maxFindScan {
		raws, err := s.rdb.LRange(ctx, ks.list, pos, pos+scanPage-1).Result()
		if err != nil {
			return Page{}, opError("find", kind, err)
		}
		for i, raw := range raws {
			scanned++
			h := maphash.String(seed, raw)
			if _, dup := seen[h]; dup {
				continue
			}
			seen[h] = struct{}{}
			it, err := decodeItem(raw)
			if err == nil && q.Match(it) {
				page.Items = append(page.Items, it)
				if len(page.Items) == limit {
					pos += int64(i) + 1
					return s.withNext(page, pos, c.pushes, c.length), nil
				}
			}
		}
		pos += int64(len(raws))
		if len(raws) < scanPage {
			return page, nil // the end of the list
		}
	}
	return s.withNext(page, pos, c.pushes, c.length), nil
}

func (s *Service) withNext(p Page, pos, pushes, length int64) Page {
	if pos < length {
		p.Next = encodeCursor(pos, pushes)
	}
	return p
}

func encodeCursor(pos, pushes int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(pos, 10) + "." + strconv.FormatInt(pushes, 10)))
}

func decodeCursor(c string) (pos, pushes int64, err error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		p, q, ok := strings.Cut(string(b), ".")
		pos, err1 := strconv.ParseInt(p, 10, 64)
		pushes, err2 := strconv.ParseInt(q, 10, 64)
		if ok && err1 == nil && err2 == nil && pos >= 0 && pushes >= 0 {
			return pos, pushes, nil
		}
	}
	return 0, 0, errorf(ErrInvalidCursor, "%.40q", c)
}

// Count returns how many entries of a kind match f, reading the whole list
// in pages (outside any script). Use it to preview a bulk action.
func (s *Service) Count(ctx context.Context, kind Kind, f Filter) (int, error) {
	if err := s.check(kind); err != nil {
		return 0, err
	}
	n := 0
	err := s.eachUnique(ctx, keysOf(kind).list, func(it Item, _ string) bool {
		if f.Match(it) {
			n++
		}
		return true
	})
	if err != nil {
		return 0, opError("count", kind, err)
	}
	return n, nil
}

// eachUnique calls fn with each well-formed entry of a list from the
// oldest, skipping the entries eachFromTail shows twice where its pages
// overlap. (Two identical entries, which only other programs write, in one
// page or the next count once.)
func (s *Service) eachUnique(ctx context.Context, key string, fn func(it Item, raw string) bool) error {
	seed := maphash.MakeSeed()
	prev, cur := map[uint64]struct{}{}, map[uint64]struct{}{}
	return s.eachFromTail(ctx, key, func(raw string) bool {
		h := maphash.String(seed, raw)
		if _, dup := prev[h]; dup {
			return true
		}
		if _, dup := cur[h]; dup {
			return true
		}
		if cur[h] = struct{}{}; len(cur) >= scanPage {
			prev, cur = cur, prev
			clear(cur)
		}
		it, err := decodeItem(raw)
		if err != nil {
			return true
		}
		return fn(it, raw)
	})
}

package dlq

import (
	"context"

	"github.com/dlqkit/dlq/internal/rdb"
	"sort"
	"time"
)

// Group is the failures of a kind that share one [Signature].
type Group struct {
	Signature string    `json:"signature"`
	Count     int       `json:"count"`
	Newest    time.Time `json:"newest"` // the latest failed_at
	Oldest    time.Time `json:"oldest"` // the earliest failed_at
	Sample    string    `json:"sample"` // the error text of the newest failure
}

// Groups sorts a kind's failures by cause: one [Group] per error
// signature, the largest first (ties: the most recent first). It reads the
// whole list in pages, outside any script; malformed entries are left out.
// Pass a group's Signature in a [Filter] to list, count, retry or delete
// exactly its entries.
func (s *Service) Groups(ctx context.Context, kind Kind) ([]Group, error) {
	return s.groups(ctx, kind, 0)
}

// RecentGroups is [Service.Groups] over the newest n entries only: a cheap
// view of what is failing now, for dashboards that refresh often on a
// large DLQ. n <= 0 means the whole list.
func (s *Service) RecentGroups(ctx context.Context, kind Kind, n int) ([]Group, error) {
	return s.groups(ctx, kind, n)
}

func (s *Service) groups(ctx context.Context, kind Kind, newest int) ([]Group, error) {
	if err := s.check(kind); err != nil {
		return nil, err
	}
	var gs grouper
	var err error
	if newest > 0 {
		err = s.eachNewest(ctx, kind.Key(), newest, gs.add)
	} else {
		err = s.walk(ctx, kind.Key(), nil, func(page []stored) (int, error) {
			for _, e := range page {
				gs.add(e.raw)
			}
			return 0, nil
		})
	}
	if err != nil {
		return nil, opError("groups", kind, err)
	}
	out := gs.done()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		if !out[i].Newest.Equal(out[j].Newest) {
			return out[i].Newest.After(out[j].Newest)
		}
		return out[i].Signature < out[j].Signature
	})
	return out, nil
}

// eachNewest calls fn with each of the newest n entries of a list, newest
// first.
func (s *Service) eachNewest(ctx context.Context, key string, n int, fn func(raw string)) error {
	for off := int64(0); off < int64(n); off += scanPage {
		stop := min(off+scanPage, int64(n)) - 1
		raws, err := rdb.Range(ctx, s.rdb, key, off, stop)
		if err != nil {
			return err
		}
		for _, raw := range raws {
			fn(raw)
		}
		if int64(len(raws)) < stop-off+1 {
			return nil
		}
	}
	return nil
}

// grouper counts stored entries by signature. It needs only an entry's
// error and failed_at, so it reads entries on decodeItem's fast path
// without decoding their other fields, and computes each distinct error
// text's signature once. Entries off the fast path are decoded in full,
// so the entries counted are exactly those decodeItem accepts.
type grouper struct {
	byID         map[string]*group
	sigOf        map[string]string // the signature of each decoded error text met
	sigOfEscaped map[string]string // the same, keyed by the stored form, for texts stored with escapes
	dec          entryDecoder
}

// group is a Group under way: its sample stays as stored until the end.
type group struct {
	Group
	sample wireToken
}

func (gs *grouper) add(raw string) {
	var errText wireToken
	var at time.Time
	if e, ok := gs.dec.scan(raw); ok {
		errText, at = e.tokens[wError], e.failedAt
	} else if it, err := decodeItem(raw); err == nil {
		errText, at = wireToken{s: it.Error}, it.FailedAt // decoded: needs no unquoting
	} else {
		return // malformed
	}
	if gs.byID == nil {
		gs.byID, gs.sigOf, gs.sigOfEscaped = map[string]*group{}, map[string]string{}, map[string]string{}
	}
	// Two texts stored alike decode alike. A text stored without escapes
	// is its own decoded form; an escaped one is looked up as stored.
	sigOf := gs.sigOf
	if errText.esc {
		sigOf = gs.sigOfEscaped
	}
	sig, ok := sigOf[errText.s]
	if !ok {
		sig = Signature(errText.text())
		sigOf[errText.s] = sig
	}
	g := gs.byID[sig]
	if g == nil {
		g = &group{Group: Group{Signature: sig, Newest: at, Oldest: at}, sample: errText}
		gs.byID[sig] = g
	}
	g.Count++
	if at.After(g.Newest) {
		g.Newest, g.sample = at, errText
	}
	if at.Before(g.Oldest) {
		g.Oldest = at
	}
}

// done returns the groups, unsorted, their samples decoded.
func (gs *grouper) done() []Group {
	out := make([]Group, 0, len(gs.byID))
	for _, g := range gs.byID {
		g.Sample = g.sample.text()
		out = append(out, g.Group)
	}
	return out
}

package dlq

import (
	"context"
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
	if err := s.check(kind); err != nil {
		return nil, err
	}
	byID := map[string]*Group{}
	err := s.eachUnique(ctx, keysOf(kind).list, func(it Item, _ string) bool {
		sig := Signature(it.Error)
		g := byID[sig]
		if g == nil {
			g = &Group{Signature: sig, Newest: it.FailedAt, Oldest: it.FailedAt, Sample: it.Error}
			byID[sig] = g
		}
		g.Count++
		if it.FailedAt.After(g.Newest) {
			g.Newest, g.Sample = it.FailedAt, it.Error
		}
		if it.FailedAt.Before(g.Oldest) {
			g.Oldest = it.FailedAt
		}
		return true
	})
	if err != nil {
		return nil, opError("groups", kind, err)
	}
	out := make([]Group, 0, len(byID))
	for _, g := range byID {
		out = append(out, *g)
	}
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

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
	byID := map[string]*Group{}
	add := func(it Item) {
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
	}
	var err error
	if newest > 0 {
		err = s.eachNewest(ctx, kind.Key(), newest, add)
	} else {
		err = s.walk(ctx, kind.Key(), func(page []stored) (int, error) {
			for _, e := range page {
				if it, err := decodeItem(e.raw); err == nil {
					add(it)
				}
			}
			return 0, nil
		})
	}
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

// eachNewest calls fn with the well-formed entries among the newest n of a
// list, newest first.
func (s *Service) eachNewest(ctx context.Context, key string, n int, fn func(Item)) error {
	for off := int64(0); off < int64(n); off += scanPage {
		stop := min(off+scanPage, int64(n)) - 1
		raws, err := rdb.Range(ctx, s.rdb, key, off, stop)
		if err != nil {
			return err
		}
		for _, raw := range raws {
			if it, err := decodeItem(raw); err == nil {
				fn(it)
			}
		}
		if int64(len(raws)) < stop-off+1 {
			return nil
		}
	}
	return nil
}

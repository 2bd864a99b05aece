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
	// Hosts are where the group's failures happen: the [Host] of their
	// error texts, at most GroupHosts of them, the most failures first
	// (ties: by name). Failures whose text names no host are not counted.
	Hosts []HostCount `json:"hosts"`
	// MoreHosts is how many other hosts the group's failures name.
	MoreHosts int `json:"more_hosts"`
}

// HostCount is how many failures of a [Group] name one host.
type HostCount struct {
	Host  string `json:"host"`
	Count int    `json:"count"`
}

// GroupHosts is the most hosts a [Group] lists; MoreHosts counts the rest.
const GroupHosts = 5

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
	rd := s.newReader(key).warm()
	for off := int64(0); off < int64(n); {
		k := min(rd.next(), int64(n)-off)
		_, raws, err := rd.head(ctx, off, k)
		if err != nil {
			return err
		}
		for _, raw := range raws {
			fn(raw)
		}
		if int64(len(raws)) < k {
			return nil
		}
		off += k
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
	sigOf        map[string]cause // the signature and host of each decoded error text met
	sigOfEscaped map[string]cause // the same, keyed by the stored form, for texts stored with escapes
	dec          entryDecoder
}

// cause is what the grouper reads from an error text.
type cause struct{ sig, host string }

// group is a Group under way: its sample stays as stored until the end.
type group struct {
	Group
	sample wireToken
	hosts  map[string]int
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
		gs.byID, gs.sigOf, gs.sigOfEscaped = map[string]*group{}, map[string]cause{}, map[string]cause{}
	}
	// Two texts stored alike decode alike. A text stored without escapes
	// is its own decoded form; an escaped one is looked up as stored.
	sigOf := gs.sigOf
	if errText.esc {
		sigOf = gs.sigOfEscaped
	}
	c, ok := sigOf[errText.s]
	if !ok {
		text := errText.text()
		c = cause{Signature(text), Host(text)}
		sigOf[errText.s] = c
	}
	g := gs.byID[c.sig]
	if g == nil {
		g = &group{Group: Group{Signature: c.sig, Newest: at, Oldest: at}, sample: errText, hosts: map[string]int{}}
		gs.byID[c.sig] = g
	}
	g.Count++
	if c.host != "" {
		g.hosts[c.host]++
	}
	if at.After(g.Newest) {
		g.Newest, g.sample = at, errText
	}
	if at.Before(g.Oldest) {
		g.Oldest = at
	}
}

// done returns the groups, unsorted, their samples decoded and their top
// hosts sorted.
func (gs *grouper) done() []Group {
	out := make([]Group, 0, len(gs.byID))
	for _, g := range gs.byID {
		g.Sample = g.sample.text()
		g.Hosts = make([]HostCount, 0, len(g.hosts))
		for h, n := range g.hosts {
			g.Hosts = append(g.Hosts, HostCount{h, n})
		}
		sort.Slice(g.Hosts, func(i, j int) bool {
			if g.Hosts[i].Count != g.Hosts[j].Count {
				return g.Hosts[i].Count > g.Hosts[j].Count
			}
			return g.Hosts[i].Host < g.Hosts[j].Host
		})
		if len(g.Hosts) > GroupHosts {
			g.MoreHosts = len(g.Hosts) - GroupHosts
			g.Hosts = g.Hosts[:GroupHosts:GroupHosts]
		}
		out = append(out, g.Group)
	}
	return out
}

package dlq

import (
	"context"
	"errors"
	"strings"

	"github.com/dlqkit/dlq/internal/rdb"
)

// RemoveOption changes how [Service.Pop] and [Service.Delete] treat an
// entry.
type RemoveOption func(*removeConfig)

type removeConfig struct{ force bool }

// Force makes Pop and Delete remove an entry even while a retry holds a
// claim on it. The retry's Requeuer may still be running: the job can be
// requeued and popped both.
func Force() RemoveOption { return func(c *removeConfig) { c.force = true } }

// PopScrapeItem removes and returns the scrape failure with the given id.
// See [Service.Pop].
func (s *Service) PopScrapeItem(ctx context.Context, id string, opts ...RemoveOption) (Item, error) {
	return s.Pop(ctx, Scrape, id, opts...)
}

// PopExtractionItem removes and returns the extraction failure with the
// given id. See [Service.Pop].
func (s *Service) PopExtractionItem(ctx context.Context, id string, opts ...RemoveOption) (Item, error) {
	return s.Pop(ctx, Extraction, id, opts...)
}

// Pop removes the entry with the given id from a kind's list and returns
// it. It returns an error wrapping [ErrNotFound] when there is no such
// entry, one wrapping [ErrClaimed] when a retry holds a claim on it (unless
// [Force] is passed), and one wrapping [ErrInvalidID] for an empty id or
// one longer than [MaxIDLen].
//
// Pop is atomic: when many callers pop one id at once, exactly one gets the
// item and the others get ErrNotFound. An entry this library pushed is
// found without reading the list: its UUIDv7 id carries its push time, and
// one script finds its place by a binary search on the times and removes
// it with LREM from the nearer end. Other entries (other programs' ids, or
// one pushed far out of time order) are found by reading the list in pages
// from the oldest end; the exact stored string is then removed in one
// atomic step. If many entries are removed while that scan runs, such an
// entry can be missed and reported as not found; it stays in the list.
func (s *Service) Pop(ctx context.Context, kind Kind, id string, opts ...RemoveOption) (Item, error) {
	it, err := s.remove(ctx, "pop", kind, id, opts)
	s.auditSingle(ctx, kind, AuditPop, id, forced(opts), err)
	return it, err
}

// Delete removes the entry with the given id from a kind's list, like
// [Service.Pop] but without returning it.
func (s *Service) Delete(ctx context.Context, kind Kind, id string, opts ...RemoveOption) error {
	_, err := s.remove(ctx, "delete", kind, id, opts)
	s.auditSingle(ctx, kind, AuditDelete, id, forced(opts), err)
	return err
}

func (s *Service) remove(ctx context.Context, op string, kind Kind, id string, opts []RemoveOption) (Item, error) {
	if err := s.check(kind); err != nil {
		return Item{}, err
	}
	if err := checkID(id); err != nil {
		return Item{}, err
	}
	var cfg removeConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	ks := kind.keys()
	t := rdb.Target{ID: id, TS: v7Time(id)}
	if t.TS >= 0 {
		st, v, err := rdb.Pop(ctx, s.rdb, ks, t, s.shift(), cfg.force)
		if done, it, err := s.removed(op, kind, id, st, v, err); done {
			return it, err
		}
	}
	// Not where its time says, or an id without a time: scan.
	var it Item
	var result error = errorf(ErrNotFound, "%s id %q", kind, id)
	err := s.scanFor(ctx, ks, id, func(raw string, index int64) bool {
		st, v, err := rdb.Pop(ctx, s.rdb, ks, rdb.Target{ID: id, TS: -1, Raw: raw, Index: index}, s.shift(), cfg.force)
		var done bool
		done, it, result = s.removed(op, kind, id, st, v, err)
		if !done {
			result = errorf(ErrNotFound, "%s id %q", kind, id)
		}
		return done // else someone else removed it first: look on
	})
	if err != nil {
		return Item{}, opError(op, kind, err)
	}
	return it, result
}

// removed interprets pop.lua's answer: done is false when the entry was
// missing.
func (s *Service) removed(op string, kind Kind, id string, st rdb.Status, v string, err error) (done bool, it Item, _ error) {
	switch {
	case err != nil:
		return true, Item{}, opError(op, kind, err)
	case st == rdb.Claimed:
		d, _ := rdb.ClaimDeadline(v)
		return true, Item{}, errorf(ErrClaimed, "%s id %q until %s", kind, id, d.UTC().Format(timeLayout))
	case st == rdb.OK:
		it, derr := decodeItem(v)
		if derr != nil {
			// Removed all the same: it had this id. Hand back what we can.
			it = Item{ID: id, Kind: kind, raw: v}
		}
		return true, it, nil
	}
	return false, Item{}, nil
}

// errFound stops a scan's walk.
var errFound = errors.New("found")

// scanFor calls fn with each entry whose id is id, with its index from the
// head, walking the list from the oldest end (see walk: no entry present
// throughout is skipped), until fn returns true. Entries are matched by
// their id alone, so that an entry whose other fields do not decode can
// still be removed by id.
func (s *Service) scanFor(ctx context.Context, ks rdb.Keys, id string, fn func(raw string, index int64) bool) error {
	// A plain id appears verbatim in the entry's JSON; others may be
	// escaped there, so every entry is decoded.
	plain := isPlainASCII(id)
	err := s.walk(ctx, ks.List, func(page []stored) (int, error) {
		for _, e := range page {
			if plain && !strings.Contains(e.raw, id) {
				continue
			}
			if got, ok := entryID(e.raw); ok && got == id && fn(e.raw, e.index) {
				return 0, errFound
			}
		}
		return 0, nil
	})
	if errors.Is(err, errFound) {
		return nil
	}
	return err
}

// isPlainASCII reports whether s is printable ASCII that JSON writes as is.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '/' {
			return false
		}
	}
	return true
}

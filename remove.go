package dlq

import (
	"context"

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
// item and the others get ErrNotFound. Every call it sends to Redis is
// bounded in time and bytes, whatever the list holds:
//
//   - An id this library wrote (a UUIDv7, see [NeedsSearch]) carries its
//     push time: one script finds the entry by a binary search on the
//     entries' times and a look around that place, and removes it. An
//     entry not there (a missing id, or one pushed by a process whose
//     clock was off by more than the look covers) is ErrNotFound after
//     that bounded search, without reading the list; unless the look met
//     other programs' entries (whose time it cannot read): then the id is
//     searched for as theirs are.
//   - Other ids (uuid4 from the Python service, other programs' ids) are
//     searched for inside Redis, newest first, a bounded stretch of the
//     list per call; only the candidates travel to the client. The entry
//     is then removed by its exact stored string.
//
// An entry whose fields do not decode but whose id is readable is popped
// all the same (the Item then holds its id and kind only): that is how an
// operator discards it.
func (s *Service) Pop(ctx context.Context, kind Kind, id string, opts ...RemoveOption) (Item, error) {
	return s.remove(ctx, "pop", AuditPop, kind, id, opts)
}

// Delete removes the entry with the given id from a kind's list, like
// [Service.Pop] but without returning it.
func (s *Service) Delete(ctx context.Context, kind Kind, id string, opts ...RemoveOption) error {
	_, err := s.remove(ctx, "delete", AuditDelete, kind, id, opts)
	return err
}

// remove pops or deletes one entry; the script that removes it writes its
// audit record, with this action.
func (s *Service) remove(ctx context.Context, op, action string, kind Kind, id string, opts []RemoveOption) (Item, error) {
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
	rec := s.record(ctx, auditRec{kind: kind, action: action, id: id, forced: cfg.force, result: "ok"})
	if ts := v7Time(id); ts >= 0 {
		var st rdb.Status
		var v, aerr string
		err := s.searching(ctx, func() error {
			var err error
			st, v, aerr, err = rdb.Pop(ctx, s.rdb, ks, rdb.Target{ID: id, TS: ts}, cfg.force, rec)
			return err
		})
		s.auditFailed(ctx, rec, aerr)
		if done, it, err := s.removed(op, kind, id, st, v, err); done {
			return it, err
		}
		if st != rdb.MissingForeign {
			return Item{}, errorf(ErrNotFound, "%s id %q", kind, id)
		}
		// Among other programs' entries: search, as for their ids.
	}
	var it Item
	var result error = errorf(ErrNotFound, "%s id %q", kind, id)
	err := s.searchFor(ctx, ks, id, func(raw string, index int64) (bool, error) {
		st, v, aerr, err := rdb.Pop(ctx, s.rdb, ks, rdb.Target{ID: id, TS: -1, Raw: raw, Index: index}, cfg.force, rec)
		s.auditFailed(ctx, rec, aerr)
		done, got, rerr := s.removed(op, kind, id, st, v, err)
		if done {
			it, result = got, rerr
		}
		return done, nil // not done: someone else removed it first; look on
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
		it, derr := decodeOf(kind, v)
		if derr != nil {
			// Removed all the same: it had this id. Hand back what we can.
			it = Item{ID: id, Kind: kind, raw: v}
		}
		return true, it, nil
	}
	return false, Item{}, nil
}

package dlq

import (
	"context"
	"hash/maphash"

	"github.com/dlqkit/dlq/internal/rdb"
)

// stored is one entry a walk read: exactly as stored, and where it was
// (a hint: others push and pop meanwhile), as an LRANGE index from the
// nearer end: from the head, or negative from the tail.
type stored struct {
	raw   string
	index int64
}

// position names the entry at tail distance d (0 is the oldest) of a list
// of n entries from its nearer end.
func position(d, n int64) int64 {
	if head := n - 1 - d; head*2 < n && head >= 0 {
		return head
	}
	return -(d + 1)
}

// distance is how many entries lie between a position and its end: what
// LREM from that end compares before it gets there.
func distance(pos int64) int64 {
	if pos < 0 {
		return -pos - 1
	}
	return pos
}

// walkPage and walkOverlap shape a walk's reads.
const (
	walkPage    = 512
	walkOverlap = 32
)

// walk calls fn with the entries of a list from the oldest to the newest,
// a page at a time, each entry once. fn returns how many of the entries it
// was given it removed. The walk does not skip: every entry that is in the
// list from the walk's start to its end is shown, whatever others push,
// pop, trim or remove meanwhile, at either end or in the middle.
//
// How: the walk reads pages from the tail that overlap the part already
// read, and remembers (a hash of) every entry shown. Entries only ever join
// a list at its ends, so the part older than the newest entry shown has
// been shown entirely; a page whose oldest entry was shown before therefore
// continues the walk without a gap. A page whose oldest entry is new to the
// walk means entries behind it were removed (pops, trims, evictions) and
// the page may have jumped over some: the walk steps back toward the tail
// until a page starts on shown ground. Entries pushed at the head while
// the walk runs are shown if the walk gets there; entries pushed at the
// tail (RPUSH, by other programs) after the walk passed are not.
// Identical stored strings (only other programs write such, e.g. a retried
// LPUSH) are each shown when they lie within one page of each other.
func (s *Service) walk(ctx context.Context, key string, fn func([]stored) (removed int, err error)) error {
	seed := maphash.MakeSeed()
	seen := map[uint64]int{} // copies shown of each stored string
	var off int64            // entries at the tail that were shown and are still there (an estimate)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := max(off-walkOverlap, 0)
		n, raws, err := rdb.LenRange(ctx, s.rdb, key, -(start + walkPage), -(start + 1))
		if err != nil {
			return err
		}
		if s.afterRead != nil {
			s.afterRead()
		}
		if len(raws) == 0 {
			if start == 0 {
				return nil
			}
			off = 0 // the list shrank below start: read from the tail again
			continue
		}
		if start > 0 {
			if seen[maphash.String(seed, raws[len(raws)-1])] == 0 {
				off = max(start-walkPage, 0) // a gap may lie behind this page
				continue
			}
		}
		page := make([]stored, 0, len(raws))
		copies := map[uint64]int{} // copies met in this page so far
		for i := len(raws) - 1; i >= 0; i-- {
			h := maphash.String(seed, raws[i])
			copies[h]++
			if copies[h] <= seen[h] {
				continue // shown before
			}
			seen[h] = copies[h]
			page = append(page, stored{raw: raws[i], index: position(start+int64(len(raws)-1-i), n)})
		}
		removed := 0
		if len(page) > 0 {
			if removed, err = fn(page); err != nil {
				return err
			}
		}
		off = start + int64(len(raws)-removed)
		if len(raws) < walkPage {
			return nil
		}
	}
}

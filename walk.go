package dlq

import (
	"context"
	"hash/maphash"
)

// stored is one entry a walk read: exactly as stored, and where it was
// (a hint: others push and pop meanwhile), as an LRANGE index from the
// nearer end: from the head, or negative from the tail.
type stored struct {
	raw   string
	index int64
	n     int64 // the list's length when it was read
	// removed is set by the walk's fn when it removed the entry: a copy
	// of the same string met later is then another entry.
	removed bool
}

// position names the entry at tail distance d (0 is the oldest) of a list
// of n entries from its nearer end.
func position(d, n int64) int64 {
	if head := n - 1 - d; head*2 < n && head >= 0 {
		return head
	}
	return -(d + 1)
}

// walkOverlap is the most entries a walk's page re-reads of the part
// already read (at most half a page).
const walkOverlap = 32

// walk calls fn with the entries of a list from the oldest to the newest,
// a page at a time, each entry once. fn returns how many of the entries it
// was given it removed. The walk does not skip: every entry that is in the
// list from the walk's start to its end is shown, whatever others push,
// pop, trim or remove meanwhile, at either end or in the middle. With a
// snapshot, it shows only entries present at the snapshot (see snapshot
// and snapEnd): it ends at the first entry beyond the start's newest ones,
// unless the same read shows the run of them going on after that entry
// (then the entry lies below the rest of the run: RPUSHed at the tail and
// read again from the tail, after the walk's own removals emptied the part
// it had shown); it shows nothing when the list was empty at the start.
//
// How: the walk reads pages from the tail that overlap the part already
// read, and remembers (a hash of) every entry shown. Entries only ever join
// a list at its ends, so the part older than the newest entry shown has
// been shown entirely; a page whose oldest entry was shown before therefore
// continues the walk without a gap. A page whose oldest entry is new to the
// walk means entries behind it were removed (pops, trims, evictions) and
// the page may have jumped over some: the walk steps back toward the tail
// until a page starts on shown ground. Identical stored strings (only
// other programs write such, e.g. a retried LPUSH) are each shown when
// they lie within one page of each other, or when the walk gets to the
// newer one from the newest entry it showed (a page beyond it holds only
// entries new to the walk).
func (s *Service) walk(ctx context.Context, key string, sn *snapshot, fn func([]stored) (removed int, err error)) error {
	seed := maphash.MakeSeed()
	seen := map[uint64]int{} // copies shown of each stored string
	var front uint64         // the hash of the newest entry shown, if known
	hasFront := false
	var off int64         // entries at the tail that were shown and are still there (an estimate)
	var shown, gone int64 // entries shown; of them, removed by fn
	rd := s.newReader(key)
	var se *snapEnd
	if sn != nil {
		if sn.length == 0 {
			return nil // nothing was there at the start
		}
		se = newSnapEnd(sn)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		size := rd.next()
		// Pages overlap by at most half a page, so that each read gets
		// on by at least half a page.
		start := max(off-min(walkOverlap, size/2), 0)
		n, raws, err := rd.tail(ctx, start, size)
		if err != nil {
			return err
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
				off = max(start-size, 0) // a gap may lie behind this page
				continue
			}
		}
		page := make([]stored, 0, len(raws))
		copies := map[uint64]int{} // copies met in this page so far
		// Past the newest entry shown, every entry of the page is new to
		// the walk, copies of strings shown included. (Not in a page read
		// from the tail, where another program may have RPUSHed a copy of
		// that entry.)
		boundary := false
		newest := false // the page's newest entry is shown now
		end := false
		below := len(raws) // entries older than this index lie below the rest of the run
		for i := len(raws) - 1; i >= 0; i-- {
			h := maphash.String(seed, raws[i])
			copies[h]++
			if !boundary && copies[h] <= seen[h] {
				boundary = start > 0 && hasFront && h == front && copies[h] == seen[h]
				newest = false
				continue // shown before
			}
			if sn != nil {
				if shown >= sn.length+snapSlack {
					end = true
					break
				}
				// Beyond the start's newest entries: pushed after the
				// start, unless the run of them goes on later in this
				// read (the entry was RPUSHed at the tail, and the read
				// is from the tail again).
				if i <= below && se.at(raws[i], start+int64(len(raws)-1-i), gone) {
					if below = se.goesOn(raws[:i]); below < 0 {
						end = true
						break
					}
				}
			}
			seen[h]++
			shown++
			newest = true
			page = append(page, stored{raw: raws[i], index: position(start+int64(len(raws)-1-i), n), n: n})
		}
		removed := 0
		if len(page) > 0 {
			if removed, err = fn(page); err != nil {
				return err
			}
		}
		gone += int64(removed)
		for _, e := range page {
			if e.removed {
				seen[maphash.String(seed, e.raw)]--
			}
		}
		if k := len(page); k > 0 && newest {
			// Unknown when fn removed it.
			hasFront = !page[k-1].removed
			front = maphash.String(seed, page[k-1].raw)
		}
		off = start + int64(len(raws)-removed)
		if end || int64(len(raws)) < size {
			return nil
		}
	}
}

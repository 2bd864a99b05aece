package dlq

import (
	"context"
	"hash/maphash"

	"github.com/dlqkit/dlq/internal/rdb"
)

// Export's reads: at most exportMaxPage entries and, as far as the sizes of
// the entries just read tell, about exportPageBytes per LRANGE. The first
// page is small, and each page at most twice the one before, so that a
// list of 64 KiB entries is read 16 at a time.
const (
	exportMaxPage   = 512
	exportFirstPage = 16
	exportPageBytes = 1 << 20
	exportRecent    = 64 // entries handed on that a resync looks for
)

// Export calls fn with every entry of a kind as stored, byte for byte,
// oldest first: with a zero Filter every stored string, malformed ones
// included; otherwise the well-formed entries that match f. It reads the
// list in pages (LRANGE from the tail, at most 512 entries, and about 1 MB
// as far as the entries of the read before tell: the first read after a
// run of small entries may hold up to 512 big ones), so its memory is
// bounded whatever the list's length. It stops with the first error of fn
// or of ctx.
//
// Export acts on the list as it was when it started: it reads the list's
// length first and hands on that many entries counted from the tail, with
// negative indexes, so that entries pushed at the head meanwhile (by this
// library or any other program) are not included. Each page re-reads the
// last entry handed on; when that entry moved, because entries were
// removed at the tail (the cap, the age limit, RPOP) or between it and the
// tail (a pop, retry or delete), or pushed at the tail (RPUSH), Export
// finds the newest of the last 64 entries it handed on where it now lies
// and goes on from there: nothing is handed on twice or skipped. Entries
// not yet handed on that are removed meanwhile are not handed on, and as
// many entries pushed after the start are handed on instead at the end.
// If none of the last 64 entries handed on is left in the list, Export
// goes on from the list's tail, and may hand on again what it handed on
// before.
//
// It returns an error wrapping [ErrInvalidKind] for an invalid kind.
func (s *Service) Export(ctx context.Context, kind Kind, f Filter, fn func(raw string) error) error {
	if err := s.check(kind); err != nil {
		return err
	}
	x := exporter{s: s, key: kind.Key(), seed: maphash.MakeSeed(), size: exportFirstPage}
	n, err := rdb.Lens(ctx, s.rdb, x.key)
	if err != nil {
		return opError("export", kind, err)
	}
	var dec entryDecoder
	left := n[0] // entries of the snapshot not handed on yet
	for left > 0 {
		if err := ctx.Err(); err != nil {
			return opError("export", kind, err)
		}
		raws, err := x.next(ctx, left)
		if err != nil {
			return opError("export", kind, err)
		}
		if raws == nil {
			return nil // the list is shorter than the part handed on: nothing is left to read
		}
		for _, raw := range raws {
			left--
			x.handedOn(raw)
			if !f.IsZero() {
				if it, err := dec.decode(raw); err != nil || !f.Match(it) {
					continue
				}
			}
			if err := fn(raw); err != nil {
				return err
			}
		}
	}
	return nil
}

// exporter is where an Export stands in the list.
type exporter struct {
	s    *Service
	key  string
	seed maphash.Seed
	size int64 // entries to read next
	// off is the tail distance of the last entry handed on (it lies at
	// LRANGE index -off), 0 before the first; last is that entry.
	off  int64
	last string
	// recent holds hashes of the last exportRecent entries handed on; n
	// counts the entries handed on.
	recent [exportRecent]uint64
	n      int
}

func (x *exporter) handedOn(raw string) {
	x.off++
	x.last = raw
	x.recent[x.n%exportRecent] = maphash.String(x.seed, raw)
	x.n++
}

// next reads the up to want entries after the last one handed on, oldest
// first; nil when the list holds none.
func (x *exporter) next(ctx context.Context, want int64) ([]string, error) {
	for {
		count := min(x.size, want)
		stop := -(x.off + 1)
		if x.off > 0 {
			stop = -x.off // the last entry handed on, to check that it did not move
		}
		raws, err := rdb.Range(ctx, x.s.rdb, x.key, -(x.off + count), stop)
		if err != nil {
			return nil, err
		}
		x.resize(raws)
		if x.off > 0 {
			if len(raws) > 0 && raws[len(raws)-1] == x.last {
				raws = raws[:len(raws)-1]
			} else {
				if x.off, err = x.resync(ctx); err != nil {
					return nil, err
				}
				continue
			}
		}
		if len(raws) == 0 {
			return nil, nil
		}
		// LRANGE answers oldest last; hand them on oldest first.
		for i, j := 0, len(raws)-1; i < j; i, j = i+1, j-1 {
			raws[i], raws[j] = raws[j], raws[i]
		}
		return raws, nil
	}
}

// resize sets the next read's size from the biggest entry of this one:
// about exportPageBytes, at most twice this read's and exportMaxPage.
func (x *exporter) resize(raws []string) {
	biggest := 1
	for _, r := range raws {
		biggest = max(biggest, len(r))
	}
	x.size = max(1, min(exportMaxPage, 2*x.size, int64(exportPageBytes/biggest)))
}

// resync finds the newest of the recent entries handed on that is still
// in the list, makes it the last one handed on and returns its tail
// distance; 0 when none is there. It looks from a page beyond where the
// last one was (RPUSHes move it away from the tail) toward the tail, so
// the first one it meets is the newest (entries keep their order).
func (x *exporter) resync(ctx context.Context) (int64, error) {
	recent := func(h uint64) bool {
		for i := range min(x.n, exportRecent) {
			if x.recent[i] == h {
				return true
			}
		}
		return false
	}
	for hi := x.off + exportMaxPage; hi > 0; {
		lo := max(hi-x.size+1, 1)
		raws, err := rdb.Range(ctx, x.s.rdb, x.key, -hi, -lo)
		if err != nil {
			return 0, err
		}
		x.resize(raws)
		for i, raw := range raws { // raws[i] lies at tail distance lo+len(raws)-1-i
			if recent(maphash.String(x.seed, raw)) {
				x.last = raw
				return lo + int64(len(raws)-1-i), nil
			}
		}
		hi = lo - 1
	}
	x.last = ""
	return 0, nil
}

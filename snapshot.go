package dlq

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// snapshot fixes what a bulk action acts on: the entries present when it
// started. Entries join a list only at its ends: LPUSH (this library, the
// Python service, a Requeuer's jobs failing again) at the head, beyond the
// newest entries present at the start, and RPUSH at the tail, where a walk
// has been already. Removals (anyone's: pops, LREM, trims, evictions)
// keep the order of what stays. So the newest entries of the start stay
// one run, in their order, whatever else happens: the ones others have
// not removed, with nothing between them. A walk from the tail ends at the
// first entry beyond the shown part that follows that run (see snapEnd),
// and never shows more entries than the list held at the start plus
// snapSlack.
type snapshot struct {
	length int64            // entries at the start
	newest map[[20]byte]int // hashes (SHA-1) of the newest entries at the start -> copies
	sizes  map[int]struct{} // their lengths: only entries of these lengths are hashed (nil: all)
	// order holds the same hashes in the order a walk meets them: from
	// the oldest of the newest entries to the newest. It is nil for a
	// snapshot of the first wire form, which did not keep the order: only
	// the position rule (see snapEnd) ends such a walk.
	order [][20]byte
}

// snapNewest is how many of the newest entries a snapshot remembers; a
// run of snapRun distinct strings of them, in their order, ends a walk
// (see snapEnd). If others remove so many of them before the walk gets
// there that fewer are left, the length at the start plus snapSlack bounds
// the walk (entries other programs RPUSH at the tail while it runs are
// shown too, and must not end it early).
const (
	snapNewest = readFirstPage // the snapshot is one first read
	snapRun    = 4
	snapSlack  = 1024
)

// snapPrefix starts the wire form that keeps the newest entries' order.
// The first form ("<length>:<sha1 hex>…", in no order) still parses; a
// version of the library that knows only the first form refuses this one
// (its length does not parse), and acts on a snapshot of its own instead.
const snapPrefix = "v2"

// takeSnapshot reads the list's length and its newest entries in one round
// trip: a reader's first read, which holds snapNewest (= readFirstPage)
// entries.
func (s *Service) takeSnapshot(ctx context.Context, key string) (*snapshot, error) {
	n, raws, err := s.newReader(key).head(ctx, 0, snapNewest)
	if err != nil {
		return nil, err
	}
	sn := &snapshot{length: n, newest: map[[20]byte]int{}, sizes: map[int]struct{}{}, order: make([][20]byte, len(raws))}
	for i, r := range raws {
		h := sha1.Sum([]byte(r))
		sn.newest[h]++
		sn.sizes[len(r)] = struct{}{}
		sn.order[len(raws)-1-i] = h // raws are newest first
	}
	return sn, nil
}

// String encodes the snapshot, for an operation to keep in Redis:
// "v2:<length>" then ":<sha1 hex>" per newest entry, from the oldest of
// them to the newest. A snapshot of the first form encodes in that form.
func (sn *snapshot) String() string {
	var b strings.Builder
	if sn.order != nil {
		b.WriteString(snapPrefix + ":")
	}
	b.WriteString(strconv.FormatInt(sn.length, 10))
	hash := func(h [20]byte) {
		b.WriteByte(':')
		b.WriteString(hex.EncodeToString(h[:]))
	}
	if sn.order != nil {
		for _, h := range sn.order {
			hash(h)
		}
		return b.String()
	}
	for h, n := range sn.newest {
		for range n {
			hash(h)
		}
	}
	return b.String()
}

// parseSnapshot reads what String wrote, of either form; "" is no
// snapshot (nil).
func parseSnapshot(s string) (*snapshot, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ":")
	ordered := parts[0] == snapPrefix
	if ordered {
		parts = parts[1:]
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("snapshot %.40q does not parse", s)
	}
	n, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || n < 0 || len(parts) > snapNewest+1 {
		return nil, fmt.Errorf("snapshot %.40q does not parse", s)
	}
	sn := &snapshot{length: n, newest: map[[20]byte]int{}} // sizes nil: every entry is hashed
	if ordered {
		sn.order = make([][20]byte, 0, len(parts)-1)
	}
	for _, p := range parts[1:] {
		var h [20]byte
		if b, err := hex.DecodeString(p); err != nil || len(b) != len(h) {
			return nil, fmt.Errorf("snapshot %.40q does not parse", s)
		} else {
			copy(h[:], b)
		}
		sn.newest[h]++
		if ordered {
			sn.order = append(sn.order, h)
		}
	}
	return sn, nil
}

// hash returns raw's hash and whether raw is one of the snapshot's newest
// entries (a string identical to one of them).
func (sn *snapshot) hash(raw string) ([20]byte, bool) {
	if sn.sizes != nil {
		if _, ok := sn.sizes[len(raw)]; !ok {
			return [20]byte{}, false
		}
	}
	h := sha1.Sum([]byte(raw))
	return h, sn.newest[h] > 0
}

// snapEnd finds where the part of a list present at a snapshot ends, as a
// walk shows, oldest first, the entries beyond the part it has shown. A
// stretch is the entries met since the last one that is not one of the
// snapshot's newest strings. The walk ends at the first entry that follows
//
//   - a run of the stretch that holds at least snapRun distinct strings of
//     the newest entries, in their order (gaps allowed: entries others
//     removed), when the entry does not go on with the run: it is none of
//     the newest strings, or one that is not next in their order (a copy
//     pushed after the start). This is the run rule. The start's newest
//     entries are such a run wherever others' removals and pushes have
//     moved them, as long as snapRun distinct strings of them are left;
//   - or a stretch in which one of the newest strings lay where the start's
//     newest entries were (a tail distance, counted with the walk's own
//     removals, within snapNewest entries of theirs at the start), when the
//     entry is none of the newest strings. This is the position rule, of
//     the first version. It ends the walk where the run rule cannot (a
//     snapshot of the first wire form; fewer than snapRun distinct strings
//     left) if others removed about as many older entries as they RPUSHed.
//
// A copy of one of the newest strings deeper in the list (other programs
// may push identical strings) ends the walk under neither rule: it is no
// run of snapRun distinct strings, and it does not lie where the newest
// did. Only a deeper copy of snapRun or more of them, in their order, can
// end a walk early (another program pushing the same batch twice).
type snapEnd struct {
	sn   *snapshot
	pos  int    // order index of the run's last entry; -1: no run
	run  uint64 // the run's distinct strings: bit c set for order[c], c the first index of its string
	near bool   // the position rule: one of the stretch lay where the start's newest were
}

func newSnapEnd(sn *snapshot) *snapEnd { return &snapEnd{sn: sn, pos: -1} }

// at reports whether the walk ends before raw, met at tail distance d of
// a read after the walk itself removed gone entries. If not, the walk
// shows raw, and at counts it.
func (e *snapEnd) at(raw string, d, gone int64) bool {
	h, newest := e.sn.hash(raw)
	if !newest {
		if e.near || e.isRun() {
			return true
		}
		e.pos, e.run = -1, 0 // the stretch ends: raw was there at the start
		return false
	}
	j := e.next(h, e.pos)
	if j < 0 && e.sn.order != nil {
		if e.isRun() {
			return true // a copy of one of the run, newer than it
		}
		e.run = 0 // a new run starts
		j = e.next(h, -1)
	}
	if j >= 0 {
		e.pos = j
		e.run |= 1 << e.next(h, -1)
	}
	e.near = e.near || d+gone+snapNewest >= e.sn.length-snapNewest
	return false
}

// goesOn returns the index in raws (a read's entries newer than the one
// at hand, newest first) of the oldest entry that goes on with the run
// (or, for a snapshot of the first form, is one of the newest strings),
// or -1.
func (e *snapEnd) goesOn(raws []string) int {
	for i := len(raws) - 1; i >= 0; i-- {
		if h, newest := e.sn.hash(raws[i]); newest && (e.sn.order == nil || e.next(h, e.pos) >= 0) {
			return i
		}
	}
	return -1
}

// isRun reports whether the run holds snapRun distinct strings.
func (e *snapEnd) isRun() bool { return bits.OnesCount64(e.run) >= snapRun }

// next returns the first index after i of order that holds h, or -1.
func (e *snapEnd) next(h [20]byte, i int) int {
	for j := i + 1; j < len(e.sn.order); j++ {
		if e.sn.order[j] == h {
			return j
		}
	}
	return -1
}

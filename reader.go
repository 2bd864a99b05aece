package dlq

import (
	"context"

	"github.com/dlqkit/dlq/internal/rdb"
)

// Pages of the reads: at most readPage entries and about readBytes bytes
// a read, so that no read makes Redis build a large reply (2,500 entries of
// 64 KiB are 160 MB). A reader's first read asks for readFirstPage
// entries; each next one is sized by the bytes per entry of the read
// before it, and asks for at least readMinPage entries (a walk needs two
// to get on), so a read of entries over half a megabyte each holds two.
const (
	readPage      = 512
	readFirstPage = 16
	readMinPage   = 2
	readBytes     = 1 << 20
)

// reader reads a list's entries to the client, a page at a time. It is the
// only code that does: walk (and through it Count, Groups, bulk actions,
// Export and age eviction), Find, RecentGroups and the snapshot all read
// through one. Each read is one LLEN and one LRANGE in one round trip.
type reader struct {
	s    *Service
	key  string
	size int64 // the most entries the next read asks for
}

// newReader returns a reader of the list at key, whose first read asks
// for readFirstPage entries: a walk that will likely stop at once (an idle
// sweep's look at the tail) reads little.
func (s *Service) newReader(key string) *reader {
	return &reader{s: s, key: key, size: readFirstPage}
}

// warm makes the first read ask for as many entries as the last read of
// the list by this Service suggested: a List of small entries is one round
// trip, and one of 64 KiB entries never asks for a hundred.
func (r *reader) warm() *reader {
	if r.s.readSizes != nil {
		if v, ok := r.s.readSizes.Load(r.key); ok {
			r.size = v.(int64)
		}
	}
	return r
}

// next is the most entries the next read asks for.
func (r *reader) next() int64 { return r.size }

// tail reads up to want entries (at most next) from tail distance d on (0
// is the oldest entry): the entries at tail distances d to d+k-1, with
// negative indexes, so pushes at the head do not move them. It returns the
// list's length and the entries in LRANGE's order, newest first.
func (r *reader) tail(ctx context.Context, d, want int64) (int64, []string, error) {
	k := max(min(want, r.size), 1)
	return r.read(ctx, -(d + k), -(d + 1))
}

// newest reads up to want of the newest entries (at most next), the
// list's length and the number of claims, in one round trip: List's read.
func (r *reader) newest(ctx context.Context, want int64, ks rdb.Keys) (n int64, raws []string, claims int64, err error) {
	k := max(min(want, r.size), 1)
	n, raws, claims, err = rdb.LenRangeClaims(ctx, r.s.rdb, ks, 0, k-1)
	if err != nil {
		return 0, nil, 0, err
	}
	r.sized(raws)
	return n, raws, claims, nil
}

// head reads up to want entries (at most next) from head index i on, newest
// first. It returns the list's length and the entries.
func (r *reader) head(ctx context.Context, i, want int64) (int64, []string, error) {
	k := max(min(want, r.size), 1)
	return r.read(ctx, i, i+k-1)
}

// read sends one read and sizes the next by it.
func (r *reader) read(ctx context.Context, start, stop int64) (int64, []string, error) {
	n, raws, err := rdb.LenRange(ctx, r.s.rdb, r.key, start, stop)
	if err != nil {
		return 0, nil, err
	}
	r.sized(raws)
	return n, raws, nil
}

// sized sizes the next read by the bytes per entry of raws, a read's
// answer; an empty answer changes nothing.
func (r *reader) sized(raws []string) {
	if len(raws) == 0 {
		return
	}
	var b int64
	for _, raw := range raws {
		b += int64(len(raw))
	}
	avg := max(b/int64(len(raws)), 1)
	r.size = max(min(readPage, readBytes/avg), readMinPage)
	if r.s.readSizes != nil {
		r.s.readSizes.Store(r.key, r.size)
	}
}

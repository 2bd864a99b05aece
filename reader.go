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

func (s *Service) newReader(key string) *reader {
	return &reader{s: s, key: key, size: readFirstPage}
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
}

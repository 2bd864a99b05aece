package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// List limits. See [Service.List].
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// MaxIDLen is the longest id [Service.Pop] accepts. Our ids are 36-byte
// UUIDs; other programs' ids may be longer, but not this long.
const MaxIDLen = 256

// maxEvictPerPush bounds the work one push does when the list is far over
// its cap (after the cap was lowered); later pushes and the janitor remove
// the rest.
const maxEvictPerPush = 64

// Service records failures in Redis and hands them back to operators. It
// is safe for concurrent use; build it with [New].
type Service struct {
	rdb          Redis
	log          *slog.Logger
	maxItems     int
	maxAge       time.Duration
	janitorEvery time.Duration
	requeuer     Requeuer
	recoverAfter time.Duration
	sleep        func(context.Context, time.Duration) error // the bulk pacer's wait; tests replace it
	now          func() time.Time                           // the clock; tests replace it
	indexDelay   time.Duration                              // see index.go; tests lengthen it
	kinds        sync.Map                                   // Kind -> *kindState, for each kind pushed to
	bg           sync.WaitGroup                             // background trims and index writes under way; tests wait on it
	swept        func()                                     // called after each janitor round; for tests
}

// New returns a Service storing failures through rdb, which is typically a
// *redis.Client or *redis.ClusterClient. By default each kind is capped at
// [DefaultMaxItems] entries and logs go to [slog.Default].
func New(rdb Redis, opts ...Option) *Service {
	s := &Service{
		rdb:          rdb,
		maxItems:     DefaultMaxItems,
		janitorEvery: DefaultJanitorInterval,
		recoverAfter: DefaultRecoverAfter,
		now:          time.Now,
		sleep:        sleepCtx,
		indexDelay:   defaultIndexDelay,
	}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

func (s *Service) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	return slog.Default()
}

var errNoRedis = errors.New("dlq: Service has no Redis client (build it with dlq.New)")

// check validates what every by-kind call needs.
func (s *Service) check(k Kind) error {
	if s == nil || s.rdb == nil {
		return errNoRedis
	}
	return k.Validate()
}

// PushScrapeFailure records that scraping sourceID failed with cause.
// See [Service.Push].
func (s *Service) PushScrapeFailure(ctx context.Context, sourceID uuid.UUID, cause error, opts ...PushOption) (Item, error) {
	return s.Push(ctx, Scrape, sourceID, cause, opts...)
}

// PushExtractionFailure records that extracting sourceID failed with cause.
// See [Service.Push].
func (s *Service) PushExtractionFailure(ctx context.Context, sourceID uuid.UUID, cause error, opts ...PushOption) (Item, error) {
	return s.Push(ctx, Extraction, sourceID, cause, opts...)
}

// Push records a failure of the given kind at the head of its list and
// returns the stored item, with a new UUID as its id and the current time,
// to the microsecond, as FailedAt.
//
// cause.Error() becomes the item's Error, cut to [MaxErrorBytes]. A nil
// cause returns an error wrapping [ErrNilCause] and writes nothing; an
// invalid kind returns one wrapping [ErrInvalidKind].
//
// The entry is written with one LPUSH; its index entry, which lets Pop find
// it without scanning, follows within 10 ms with those of other pushes (see
// [Service.Flush]). Pushes of one kind that arrive while another is in
// flight share one LPUSH (group commit), so many workers pushing at once
// cost Redis one command per batch. If ctx ends while a push waits for its batch,
// Push returns ctx's error: a push still queued wrote nothing; one whose
// batch was already sent says so in the error ("may have been recorded"),
// and its entry is in Redis if the batch succeeded.
//
// When the push takes the list over its cap (see [WithMaxItems]), a trim
// evicts the oldest entries atomically and adds them to the kind's evicted
// counter; for caps of 100 and more it runs in the background. If the trim
// fails, the push still succeeds (it is recorded), the failure is logged,
// and the janitor trims later.
// Evictions are logged at warning level: the first at once, later ones at
// most every 10 seconds per kind, each line with the number evicted since
// the previous one.
func (s *Service) Push(ctx context.Context, kind Kind, sourceID uuid.UUID, cause error, opts ...PushOption) (Item, error) {
	if err := s.check(kind); err != nil {
		return Item{}, err
	}
	text, err := errorText(cause)
	if err != nil {
		return Item{}, fmt.Errorf("dlq: push %s failure of source %s: %w", kind, sourceID, err)
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return Item{}, opError("push", kind, err)
	}
	it := Item{
		ID:       id.String(),
		SourceID: sourceID.String(),
		Error:    truncateError(text),
		FailedAt: s.now().UTC().Truncate(time.Microsecond),
		Kind:     kind,
	}
	for _, o := range opts {
		if o != nil {
			o(&it)
		}
	}
	if err := ctx.Err(); err != nil {
		return Item{}, opError("push", kind, err)
	}
	entry := it.appendJSON(make([]byte, 0, 192+len(it.Error)))
	if err := s.store(ctx, kind, it.ID, entry); err != nil {
		return Item{}, opError("push", kind, err)
	}
	return it, nil
}

// errorText returns cause.Error(), or an error wrapping ErrNilCause for a
// nil cause or one whose Error method panics (a typed nil pointer).
func errorText(cause error) (text string, err error) {
	if cause == nil {
		return "", ErrNilCause
	}
	defer func() {
		if r := recover(); r != nil {
			err = errorf(ErrNilCause, "%T.Error panicked: %v", cause, r)
		}
	}()
	return cause.Error(), nil
}

// ListScrape returns the newest scrape failures. See [Service.List].
func (s *Service) ListScrape(ctx context.Context, limit int) ([]Item, error) {
	return s.List(ctx, Scrape, limit)
}

// ListExtraction returns the newest extraction failures. See [Service.List].
func (s *Service) ListExtraction(ctx context.Context, limit int) ([]Item, error) {
	return s.List(ctx, Extraction, limit)
}

// List returns up to limit of the newest entries of a kind, newest first.
//
// A limit of 0 means [DefaultLimit]; limits above [MaxLimit] are treated as
// MaxLimit; a negative limit returns an error wrapping [ErrInvalidLimit].
// Entries that are not valid items (see [Item.UnmarshalJSON]) are skipped
// and logged at warning level with their position, so the result may hold
// fewer than limit items; they stay in Redis untouched.
func (s *Service) List(ctx context.Context, kind Kind, limit int) ([]Item, error) {
	if err := s.check(kind); err != nil {
		return nil, err
	}
	n, err := normLimit(limit)
	if err != nil {
		return nil, err
	}
	raws, err := s.rdb.LRange(ctx, kind.Key(), 0, int64(n-1)).Result()
	if err != nil {
		return nil, opError("list", kind, err)
	}
	items := make([]Item, 0, len(raws))
	for i, raw := range raws {
		it, err := decodeItem(raw)
		if err != nil {
			s.reportMalformed(ctx, kind, int64(i), raw, err)
			continue
		}
		items = append(items, it)
	}
	return items, nil
}

func normLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, errorf(ErrInvalidLimit, "%d is negative", limit)
	case limit == 0:
		return DefaultLimit, nil
	case limit > MaxLimit:
		return MaxLimit, nil
	}
	return limit, nil
}

// reportMalformed logs an entry that does not decode, with enough of it to
// find it in Redis.
func (s *Service) reportMalformed(ctx context.Context, kind Kind, pos int64, raw string, err error) {
	const show = 120
	head := raw
	if len(head) > show {
		head = head[:show] + "…"
	}
	s.logger().WarnContext(ctx, "dlq: skipped a malformed entry",
		"key", kind.Key(), "index", pos, "bytes", len(raw), "entry", head, "error", err)
}

// Stats counts the entries of the two seed kinds, malformed ones included.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	if s == nil || s.rdb == nil {
		return Stats{}, errNoRedis
	}
	var st Stats
	var err error
	if st.Scrape, err = s.rdb.LLen(ctx, ScrapeKey).Result(); err != nil {
		return Stats{}, opError("stats", Scrape, err)
	}
	if st.Extraction, err = s.rdb.LLen(ctx, ExtractionKey).Result(); err != nil {
		return Stats{}, opError("stats", Extraction, err)
	}
	return st, nil
}

// Stats holds the number of entries in each seed kind's list.
type Stats struct {
	Scrape     int64 `json:"scrape"`
	Extraction int64 `json:"extraction"`
}

// PopScrapeItem removes and returns the scrape failure with the given id.
// See [Service.Pop].
func (s *Service) PopScrapeItem(ctx context.Context, id string) (Item, error) {
	return s.Pop(ctx, Scrape, id)
}

// PopExtractionItem removes and returns the extraction failure with the
// given id. See [Service.Pop].
func (s *Service) PopExtractionItem(ctx context.Context, id string) (Item, error) {
	return s.Pop(ctx, Extraction, id)
}

// Pop removes the entry with the given id from a kind's list and returns
// it. It returns an error wrapping [ErrNotFound] when there is no such
// entry, and one wrapping [ErrInvalidID] for an empty id or one longer than
// [MaxIDLen].
//
// Pop is atomic: when many callers pop one id at once, exactly one gets the
// item and the others get ErrNotFound. Entries pushed by this library are
// found through the index in one script. Entries written by other programs
// are not indexed: Pop finds them by reading the list in pages from the
// oldest end, then removes the exact stored string in one atomic step. If
// many other entries are removed while that scan runs, such an entry can be
// missed and reported as not found; it stays in the list.
func (s *Service) Pop(ctx context.Context, kind Kind, id string) (Item, error) {
	it, _, err := s.remove(ctx, "pop", kind, id, "")
	return it, err
}

// remove takes the entry with the given id out of the list, and claims it
// (moves it to the in-flight hash with the claim time) unless claim is "".
// It returns the item and the exact stored entry.
func (s *Service) remove(ctx context.Context, op string, kind Kind, id, claim string) (Item, string, error) {
	if err := s.check(kind); err != nil {
		return Item{}, "", err
	}
	if id == "" || len(id) > MaxIDLen {
		return Item{}, "", errorf(ErrInvalidID, "%d bytes", len(id))
	}
	s.syncIndex(ctx, kind)
	ks := keysOf(kind)
	raw, err := popScript.Run(ctx, s.rdb, []string{ks.list, ks.index, ks.inflight}, id, claim).Text()
	switch {
	case err == nil:
		it, derr := decodeItem(raw)
		if derr != nil { // the index only holds entries we encoded
			return Item{}, "", opError(op, kind, derr)
		}
		return it, raw, nil
	case !errors.Is(err, redis.Nil):
		return Item{}, "", opError(op, kind, err)
	}
	return s.removeByScan(ctx, op, ks, kind, id, claim)
}

// Delete removes the entry with the given id from a kind's list, like
// [Service.Pop] but without returning it. It returns an error wrapping
// [ErrNotFound] when there is no such entry.
func (s *Service) Delete(ctx context.Context, kind Kind, id string) error {
	_, _, err := s.remove(ctx, "delete", kind, id, "")
	return err
}

// Paging of the fallback scan: pages overlap a little, so that a few
// removals nearer the tail while the scan runs do not make it skip entries.
const (
	scanPage    = 512
	scanOverlap = 32
)

// removeByScan finds an unindexed entry by reading the list from the tail
// (oldest first), and removes (and claims) the exact string it read.
func (s *Service) removeByScan(ctx context.Context, op string, ks keys, kind Kind, id, claim string) (Item, string, error) {
	// A plain id appears verbatim in the entry's JSON; others may be
	// escaped there, so every entry is decoded.
	plain := isPlainASCII(id)
	var found Item
	var foundRaw string
	var removeErr error
	err := s.eachFromTail(ctx, ks.list, func(raw string) bool {
		if plain && !strings.Contains(raw, id) {
			return true
		}
		it, err := decodeItem(raw)
		if err != nil || it.ID != id {
			return true
		}
		n, err := removeScript.Run(ctx, s.rdb, []string{ks.list, ks.index, ks.evicted, ks.inflight}, -1, 0, claim, id, raw).Int64()
		switch {
		case err != nil:
			removeErr = err
			return false
		case n == 1:
			found, foundRaw = it, raw
			return false
		}
		return true // someone else removed it first; look for another copy
	})
	switch {
	case removeErr != nil:
		return Item{}, "", opError(op, kind, removeErr)
	case err != nil:
		return Item{}, "", opError(op, kind, err)
	case found.ID == "":
		return Item{}, "", errorf(ErrNotFound, "%s id %q", kind, id)
	}
	return found, foundRaw, nil
}

// eachFromTail calls fn with the entries of a list from the oldest to the
// newest, read in pages outside any script, until fn returns false. Pages
// overlap a little, so that a few removals nearer the tail while it runs do
// not make it skip entries; fn may see an entry twice.
func (s *Service) eachFromTail(ctx context.Context, key string, fn func(raw string) bool) error {
	for off := int64(0); ; off += scanPage - scanOverlap {
		raws, err := s.rdb.LRange(ctx, key, -(off + scanPage), -(off + 1)).Result()
		if err != nil {
			return err
		}
		for i := len(raws) - 1; i >= 0; i-- {
			if !fn(raws[i]) {
				return nil
			}
		}
		if len(raws) < scanPage {
			return nil
		}
	}
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

package dlq

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
	"github.com/google/uuid"
)

// List limits. See [Service.List].
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// MaxIDLen is the longest id [Service.Pop] accepts. Our ids are 36-byte
// UUIDs; other programs' ids may be longer, but not this long.
const MaxIDLen = 256

// Service records failures in Redis and hands them back to operators. It
// is safe for concurrent use; build it with [New]. It starts no goroutine:
// only [Service.Run] works in the background, until its context ends.
type Service struct {
	rdb          Redis
	log          *slog.Logger
	maxItems     int
	maxAge       time.Duration
	janitorEvery time.Duration
	claimTimeout time.Duration
	requeuer     Requeuer
	kinds        []Kind           // the seed kinds, then WithKinds'
	now          func() time.Time // stamps failed_at and history buckets, paces logs; tests replace it

	searchSlots chan struct{} // lookups by id under way (see maxSearching)
	readSizes   *sync.Map     // list key -> entries its last read suggested (reader.go)

	pushers sync.Map // Kind -> *pusher
	policy  policyCache
	janitorState
	auditState // audit.go
	opsState   // ops.go
}

// New returns a Service storing failures through rdb, which is typically a
// *redis.Client or *redis.ClusterClient. By default each kind is capped at
// [DefaultMaxItems] entries, claims last [DefaultClaimTimeout], and logs go
// to [slog.Default].
func New(rdb Redis, opts ...Option) *Service {
	s := &Service{
		rdb:          rdb,
		maxItems:     DefaultMaxItems,
		janitorEvery: DefaultJanitorInterval,
		claimTimeout: DefaultClaimTimeout,
		kinds:        []Kind{Scrape, Extraction},
		now:          time.Now,
		searchSlots:  make(chan struct{}, maxSearching),
		readSizes:    new(sync.Map),
	}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

// Kinds returns the kinds this Service knows: [Scrape], [Extraction], then
// those named with [WithKinds]. The janitor sweeps them; the httpapi
// package serves them.
func (s *Service) Kinds() []Kind {
	if s == nil {
		return nil
	}
	return slices.Clone(s.kinds)
}

func (s *Service) knows(k Kind) bool { return slices.Contains(s.kinds, k) }

func (s *Service) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	return slog.Default()
}

// check validates what every by-kind call needs.
func (s *Service) check(k Kind) error {
	if s == nil || s.rdb == nil {
		return ErrNoRedis
	}
	return k.Validate()
}

func checkID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return errorf(ErrInvalidID, "%d bytes", len(id))
	}
	return nil
}

// ListScrape returns the newest scrape failures. See [Service.List].
func (s *Service) ListScrape(ctx context.Context, limit int) ([]Item, error) {
	return s.List(ctx, Scrape, limit)
}

// ListExtraction returns the newest extraction failures. See [Service.List].
func (s *Service) ListExtraction(ctx context.Context, limit int) ([]Item, error) {
	return s.List(ctx, Extraction, limit)
}

// List returns up to limit of the newest entries of a kind, newest first,
// with their claims (see [Item.InFlight]).
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
	ks := kind.keys()
	// The newest entries, a byte-bounded page at a time (reader.go): the
	// first page with the list's length and the number of claims; the next
	// ones named from the tail by that length, so that pushes at the head
	// meanwhile neither repeat an entry nor shift the pages.
	rd := s.newReader(ks.List).warm()
	length, raws, claims, err := rd.newest(ctx, int64(n), ks)
	if err != nil {
		return nil, opError("list", kind, err)
	}
	for want := min(int64(n), length) - int64(len(raws)); want > 0; {
		k := min(rd.next(), want)
		_, more, err := rd.tail(ctx, length-int64(len(raws))-k, k)
		if err != nil {
			return nil, opError("list", kind, err)
		}
		raws = append(raws, more...)
		want -= int64(len(more))
		if int64(len(more)) < k {
			break // removals made the list shorter
		}
	}
	items := make([]Item, 0, len(raws))
	for i, raw := range raws {
		it, err := decodeOf(kind, raw)
		if err != nil {
			s.reportMalformed(ctx, kind, int64(i), raw, err)
			continue
		}
		items = append(items, it)
	}
	if claims > 0 {
		if err := s.markClaims(ctx, ks, items); err != nil {
			return nil, opError("list", kind, err)
		}
	}
	return items, nil
}

// markClaims sets InFlight and ClaimedUntil on the items that have a live
// claim, reading the claims of those items only (one round trip).
func (s *Service) markClaims(ctx context.Context, ks rdb.Keys, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	ids := make([]string, len(items))
	for i := range items {
		ids[i] = items[i].ID
	}
	claims, now, err := rdb.ClaimsOf(ctx, s.rdb, ks, ids)
	if err != nil {
		return err
	}
	for i := range items {
		if v, ok := claims[items[i].ID]; ok {
			if d, ok := rdb.ClaimDeadline(v); ok && d.After(now) {
				items[i].InFlight, items[i].ClaimedUntil = true, d.UTC()
			}
		}
	}
	return nil
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

// Stats holds the number of entries in each seed kind's list, claimed
// entries included (they are in the DLQ until their retry succeeds).
type Stats struct {
	Scrape     int64 `json:"scrape"`
	Extraction int64 `json:"extraction"`
}

// Stats counts the entries of the two seed kinds, malformed and claimed
// ones included, in one round trip.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	if s == nil || s.rdb == nil {
		return Stats{}, ErrNoRedis
	}
	n, err := rdb.Lens(ctx, s.rdb, ScrapeKey, ExtractionKey)
	if err != nil {
		return Stats{}, fmt.Errorf("dlq: stats %w", err) // "dlq: stats scrape:dlq: …"
	}
	return Stats{Scrape: n[0], Extraction: n[1]}, nil
}

// Info describes one kind's list.
type Info struct {
	Kind Kind `json:"kind"`
	// Length is the number of entries, malformed and claimed ones included.
	Length int64 `json:"length"`
	// InFlight is the number of entries claimed by a retry under way (see
	// [Service.Retry]); they are counted in Length too.
	InFlight int64 `json:"in_flight"`
	// Evicted counts the entries the size cap and the age limit removed,
	// ever, as recorded in Redis.
	Evicted int64 `json:"evicted"`
	// Pushed counts the entries this library pushed, ever, as recorded in
	// Redis; other programs' pushes are not counted.
	Pushed int64 `json:"pushed"`
	// Oldest is the failed_at of the oldest entry (the list's tail); zero
	// when the list is empty or its tail is malformed.
	Oldest time.Time `json:"oldest,omitzero"`
	// MaxItems and MaxAgeSeconds are this Service's limits; 0 means none.
	MaxItems      int   `json:"max_items"`
	MaxAgeSeconds int64 `json:"max_age_seconds"`
	// MaxMemoryPolicy is Redis' maxmemory_policy ("" when Redis does not
	// say). Any policy but "noeviction" lets Redis delete DLQ entries
	// silently when it is full.
	MaxMemoryPolicy string `json:"maxmemory_policy"`
	// Warnings describe problems found in Redis, such as a counter that
	// holds something other than a number (it reads as 0).
	Warnings []string `json:"warnings,omitempty"`
}

// Info returns the counters of a kind, in one round trip to Redis plus, at
// most once a minute, one INFO memory.
func (s *Service) Info(ctx context.Context, kind Kind) (Info, error) {
	if err := s.check(kind); err != nil {
		return Info{}, err
	}
	ks := kind.keys()
	c, err := rdb.ReadCounters(ctx, s.rdb, ks)
	if err != nil {
		return Info{}, opError("info", kind, err)
	}
	in := Info{
		Kind: kind, Length: c.Length, InFlight: c.Claims,
		MaxItems: s.maxItems, MaxAgeSeconds: int64(s.maxAge / time.Second),
		MaxMemoryPolicy: s.maxMemoryPolicy(ctx),
	}
	in.Warnings = append(in.Warnings, c.Problems...)
	in.Evicted = counter(ks.Evicted, c.Evicted, &in.Warnings)
	in.Pushed = counter(ks.Pushed, c.Pushed, &in.Warnings)
	if c.Claims > 0 {
		if in.InFlight, err = s.liveClaims(ctx, ks); err != nil {
			return Info{}, opError("info", kind, err)
		}
	}
	if c.Tail != "" {
		if it, err := decodeItem(c.Tail); err == nil {
			in.Oldest = it.FailedAt
		}
	}
	if p := in.MaxMemoryPolicy; p != "" && p != "noeviction" {
		in.Warnings = append(in.Warnings, "Redis maxmemory_policy is "+p+", not noeviction: when Redis is full it deletes DLQ entries without a trace")
	}
	return in, nil
}

// counter parses a counter as stored; "" is 0, and anything else that is
// not a number, or is negative (a count never is: another program wrote
// it), is 0 with a warning.
func counter(key, v string, warnings *[]string) int64 {
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil:
		*warnings = append(*warnings, "counter "+key+" holds "+strconv.Quote(truncate(v, 40))+", not a number; it reads as 0 and is not counting")
		return 0
	case n < 0:
		*warnings = append(*warnings, "counter "+key+" holds "+v+", a negative count (written by another program?); it reads as 0 until it counts past 0")
		return 0
	}
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// liveClaims counts the claims that have not expired.
func (s *Service) liveClaims(ctx context.Context, ks rdb.Keys) (int64, error) {
	claims, now, err := rdb.Claims(ctx, s.rdb, ks)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, v := range claims {
		if d, ok := rdb.ClaimDeadline(v); ok && d.After(now) {
			n++
		}
	}
	return n, nil
}

// newID returns a UUIDv7: it carries its push time, which Pop and Retry
// use to find the entry in the list without an index.
func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// policyCache remembers Redis' maxmemory_policy for a minute.
type policyCache struct {
	mu    sync.Mutex
	value string
	read  time.Time
}

// maxMemoryPolicy returns Redis' maxmemory_policy, read at most once a
// minute; "" when Redis does not say or cannot be asked.
func (s *Service) maxMemoryPolicy(ctx context.Context) string {
	s.policy.mu.Lock()
	defer s.policy.mu.Unlock()
	now := s.now()
	if !s.policy.read.IsZero() && now.Sub(s.policy.read) < time.Minute {
		return s.policy.value
	}
	s.policy.read = now // a server that refuses INFO (an ACL, miniredis) is asked once a minute too
	p, err := rdb.MaxMemoryPolicy(ctx, s.rdb)
	if err != nil {
		return s.policy.value
	}
	s.policy.value = p
	return p
}

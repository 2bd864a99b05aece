// Package dlq is a dead letter queue for failed scrape and extraction jobs,
// backed by Redis.
//
// A scraper worker that fails to scrape or extract a source records the
// failure with [Service.PushScrapeFailure] or [Service.PushExtractionFailure];
// operators list, count and pop failures with [Service.List],
// [Service.Stats] and [Service.Pop] (or over HTTP with the httpapi
// subpackage).
//
// # Wire format
//
// Each failure is one JSON string in a Redis list, newest first:
// scrape failures under "scrape:dlq" ([ScrapeKey]), extraction failures under
// "extraction:dlq" ([ExtractionKey]). The format is shared with other programs
// (the Python service this library replaces reads and writes the same keys);
// see [Item] for the exact fields. Entries written by other programs are
// read, listed and popped like our own; entries that are not valid JSON are
// skipped by List and reported through the [log/slog] logger, never deleted.
//
// Next to each list the library keeps helper keys in the same Redis Cluster
// hash slot: "{scrape:dlq}:index" (a hash of id to stored entry, so Pop does
// not scan the list; written within 10 ms of each push, see [Service.Flush]),
// "{scrape:dlq}:evicted" (how many entries the size and age limits removed)
// and "{scrape:dlq}:inflight" (entries handed to a [Requeuer] and not yet
// confirmed).
//
// # Errors
//
// Methods return errors that wrap the sentinel errors below, so callers test
// them with [errors.Is]. Redis failures and context cancellation are returned
// wrapped with the operation that failed.
package dlq

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Redis keys of the two seed kinds. They are the keys the Python service
// uses; do not change them while both services share a Redis.
const (
	ScrapeKey     = "scrape:dlq"
	ExtractionKey = "extraction:dlq"
)

// Kind names a class of failure. Its [Kind.Key] is the Redis list holding
// that class. The two seed kinds are [Scrape] and [Extraction]; other kinds
// work with the by-kind methods of [Service] (Kind("render") lives under
// "render:dlq").
type Kind string

// The seed kinds.
const (
	Scrape     Kind = "scrape"
	Extraction Kind = "extraction"
)

// Key returns the Redis list key of the kind: "<kind>:dlq".
func (k Kind) Key() string { return string(k) + ":dlq" }

// maxKindLen bounds the length of a kind name.
const maxKindLen = 64

// Validate returns an error wrapping [ErrInvalidKind] unless k can name a
// list of its own whose helper keys share its Redis Cluster slot: k must be
// non-empty, at most 64 bytes of printable UTF-8, without whitespace or the
// braces Redis Cluster reads as a hash tag.
func (k Kind) Validate() error {
	if k == "" || len(k) > maxKindLen || !utf8.ValidString(string(k)) ||
		strings.ContainsAny(string(k), "{} \t\r\n") {
		return errorf(ErrInvalidKind, "%q", string(k))
	}
	for _, r := range string(k) {
		if r < 0x20 || r == 0x7f {
			return errorf(ErrInvalidKind, "%q", string(k))
		}
	}
	return nil
}

// keys are the Redis keys of one kind. Helper keys use the list key as
// their hash tag, so all of them hash to the list's Redis Cluster slot.
type keys struct {
	list     string // the wire-format list, shared with other programs
	index    string // hash: id -> the entry exactly as stored
	evicted  string // counter of entries removed by size and age limits
	inflight string // hash: id -> "<claimed ms>:<entry>" of retries under way
}

func keysOf(k Kind) keys {
	list := k.Key()
	tag := "{" + list + "}:"
	return keys{
		list:     list,
		index:    tag + "index",
		evicted:  tag + "evicted",
		inflight: tag + "inflight",
	}
}

func (ks keys) all() []string {
	return []string{ks.list, ks.index, ks.evicted, ks.inflight}
}

// Sentinel errors. Methods wrap them with details; test with [errors.Is].
var (
	// ErrNotFound means no entry with the given id is in the DLQ.
	ErrNotFound = errors.New("dlq: item not found")
	// ErrInvalidKind means a Kind is empty, too long, or contains
	// whitespace, control characters or braces.
	ErrInvalidKind = errors.New("dlq: invalid kind")
	// ErrInvalidID means an id is empty or longer than [MaxIDLen].
	ErrInvalidID = errors.New("dlq: invalid id")
	// ErrInvalidLimit means a negative list limit.
	ErrInvalidLimit = errors.New("dlq: invalid limit")
	// ErrNilCause means a failure was pushed without an error; nothing was
	// written.
	ErrNilCause = errors.New("dlq: nil cause")
	// ErrInvalidCursor means a cursor that [Service.Find] did not write.
	ErrInvalidCursor = errors.New("dlq: invalid cursor")
	// ErrMalformed means a stored entry is not a JSON object with the
	// fields of [Item].
	ErrMalformed = errors.New("dlq: malformed entry")
)

// Redis is the part of a go-redis client the service uses: scripts, LPUSH
// and HSET for pushes, two list reads, HSCAN for the janitor, and
// MULTI/EXEC and HDEL for evictions. *redis.Client, *redis.ClusterClient,
// *redis.Ring and redis.UniversalClient all satisfy it; so does a wrapper
// that embeds one of them, which is how tests inject faults.
type Redis interface {
	redis.Scripter
	LLen(ctx context.Context, key string) *redis.IntCmd
	LRange(ctx context.Context, key string, start, stop int64) *redis.StringSliceCmd
	HScan(ctx context.Context, key string, cursor uint64, match string, count int64) *redis.ScanCmd
	LPush(ctx context.Context, key string, values ...any) *redis.IntCmd
	HSet(ctx context.Context, key string, values ...any) *redis.IntCmd
	HDel(ctx context.Context, key string, fields ...string) *redis.IntCmd
	TxPipeline() redis.Pipeliner
}

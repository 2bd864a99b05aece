// Package dlq is a dead letter queue for failed scrape and extraction jobs,
// backed by Redis.
//
// A scraper worker that fails to scrape or extract a source records the
// failure with [Service.PushScrapeFailure] or [Service.PushExtractionFailure];
// operators list, count, retry and discard failures with [Service.List],
// [Service.Find], [Service.Stats], [Service.Retry] and [Service.Pop] (or over
// HTTP with the httpapi subpackage).
//
// # Wire format
//
// Each failure is one JSON string in a Redis list, newest first: scrape
// failures under "scrape:dlq" ([ScrapeKey]), extraction failures under
// "extraction:dlq" ([ExtractionKey]). The format is shared with other
// programs (the Python service this library replaces reads and writes the
// same keys); see [Item] for the exact fields. Entries written by other
// programs are read, listed, popped and retried like our own; entries that
// are not valid JSON are skipped by List and reported through the
// [log/slog] logger, never deleted by a filter.
//
// The list is the only place an entry lives. Next to it the library keeps
// small helper keys in the same Redis Cluster hash slot:
// "{scrape:dlq}:claims" (retries under way, see [Service.Retry]),
// "{scrape:dlq}:evicted" and "{scrape:dlq}:pushed" (counters) and
// "{scrape:dlq}:history" (pushes per minute and hour, see
// [Service.History]).
//
// # Claims
//
// A retry does not move its entry: it marks the entry's id as claimed
// until a deadline ([WithClaimTimeout]), calls the [Requeuer], and removes
// the entry only when the Requeuer succeeded. A failed requeue drops the
// claim; a crash leaves a claim that expires, after which the entry is
// retryable again, whatever its kind. Nothing has to be recovered.
//
// # Errors
//
// Methods return errors that wrap the sentinel errors below, so callers
// test them with [errors.Is]. Redis failures and context cancellation are
// returned wrapped with the operation that failed. Redis Cluster answers
// that mean "not here" or "not now" (MOVED, ASK, TRYAGAIN, CLUSTERDOWN)
// are retried with backoff inside the caller's context and never returned
// as such.
package dlq

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dlqkit/dlq/internal/rdb"
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
// "render:dlq"); name them with [WithKinds] so that the janitor and the
// HTTP API know them.
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

func (k Kind) keys() rdb.Keys { return rdb.KeysOf(k.Key()) }

// Redis is the part of a go-redis client the service uses: scripts, a
// pipeline for pushes and counters, and a few reads (LLEN, LRANGE, HLEN,
// the history hash's HGETALL, HKEYS and HDEL, EXISTS, INFO and TIME).
// *redis.Client, *redis.ClusterClient, *redis.Ring and
// redis.UniversalClient all satisfy it; so does a wrapper that embeds one
// of them, which is how tests inject faults. It is defined once, beside
// the commands that use it (internal/rdb), and named here.
type Redis = rdb.Client

var (
	_ Redis = (*redis.Client)(nil)
	_ Redis = (*redis.ClusterClient)(nil)
	_ Redis = (*redis.Ring)(nil)
	_ Redis = (redis.UniversalClient)(nil)
)

// Sentinel errors. Methods wrap them with details; test with [errors.Is].
var (
	// ErrNotFound means no entry with the given id is in the DLQ.
	ErrNotFound = errors.New("dlq: item not found")
	// ErrClaimed means the entry is claimed by a retry under way (see
	// [Service.Retry]); pass [Force] to Pop or Delete it all the same.
	ErrClaimed = errors.New("dlq: item is claimed by a retry under way")
	// ErrNoRequeuer means a bulk retry on a Service built without
	// [WithRequeuer]: there is nowhere to send the entries, so nothing was
	// changed.
	ErrNoRequeuer = errors.New("dlq: no Requeuer (build the Service with dlq.WithRequeuer)")
	// ErrRequeue means the Requeuer failed (returned an error or
	// panicked); the entry is still in the DLQ, unchanged and unclaimed.
	ErrRequeue = errors.New("dlq: requeue failed")
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
	// ErrOutOfMemory means Redis refused a change because it is out of
	// memory (maxmemory with the noeviction policy); nothing was changed.
	// Removals (Pop, Delete, DeleteMatching, evictions) still work: they
	// are how room is made. An operation ([Service.Start]) does not: its
	// state must be written first.
	ErrOutOfMemory = errors.New("dlq: Redis is out of memory")
	// ErrNoRedis means a nil *Service, or one not built with [New].
	ErrNoRedis = errors.New("dlq: Service has no Redis client (build it with dlq.New)")
)

// errorf wraps a sentinel error with a formatted detail:
// "dlq: item not found: <detail>".
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

// opError wraps an error from Redis or the context with the operation and
// kind it happened in, e.g. "dlq: push scrape: context canceled".
func opError(op string, k Kind, err error) error {
	return fmt.Errorf("dlq: %s %s: %w", op, k, err)
}

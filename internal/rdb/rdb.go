// Package rdb is the Redis side of dlq: the keys of a kind, the scripts,
// and the commands each operation sends. The root package holds the domain
// (items, filters, retries, bulk actions) and calls down into this one;
// nothing here knows about items beyond the stored strings and the ids.
//
// Every key of a kind hashes to one Redis Cluster slot: the list key
// ("scrape:dlq", shared with other programs) is the hash tag of its helper
// keys ("{scrape:dlq}:claims", …).
package rdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is the part of a go-redis client dlq uses; the root package
// exports it as dlq.Redis. Each method is one that a function here sends.
type Client interface {
	redis.Scripter
	LLen(ctx context.Context, key string) *redis.IntCmd
	LRange(ctx context.Context, key string, start, stop int64) *redis.StringSliceCmd
	HGetAll(ctx context.Context, key string) *redis.MapStringStringCmd
	HLen(ctx context.Context, key string) *redis.IntCmd
	HKeys(ctx context.Context, key string) *redis.StringSliceCmd
	HDel(ctx context.Context, key string, fields ...string) *redis.IntCmd
	Exists(ctx context.Context, keys ...string) *redis.IntCmd
	Info(ctx context.Context, section ...string) *redis.StringCmd
	Time(ctx context.Context) *redis.TimeCmd
	Pipeline() redis.Pipeliner
}

// Keys are the Redis keys of one kind.
type Keys struct {
	List    string // the wire-format list, newest first, shared with other programs
	Claims  string // hash: id -> "<deadline ms>:<token>" of retries under way
	Evicted string // counter of entries the size cap and the age limit removed
	Pushed  string // counter of entries this library pushed
	History string // hash: "m<unix minute>" and "h<unix hour>" -> pushes in it
	Audit   string // stream: one record per change (audit.go)
	Ops     string // sorted set: operation id -> creation time in ms (opsstate.go)
	OpTag   string // prefix of an operation's hash: OpTag + id (opsstate.go)

	// Keys of earlier versions, migrated by the janitor.
	LegacyIndex    string // hash: id -> entry (a second copy; deleted)
	LegacyInflight string // hash: id -> "<ms>:<entry>" moved out of the list (put back)
}

// KeysOf returns the keys of the list with the given key.
func KeysOf(list string) Keys {
	tag := "{" + list + "}:"
	return Keys{
		List:           list,
		Claims:         tag + "claims",
		Evicted:        tag + "evicted",
		Pushed:         tag + "pushed",
		History:        tag + "history",
		Audit:          tag + "audit",
		Ops:            tag + "ops",
		OpTag:          tag + "op:",
		LegacyIndex:    tag + "index",
		LegacyInflight: tag + "inflight",
	}
}

// All lists every key of the kind, for tests that clean up after
// themselves.
func (k Keys) All() []string {
	return []string{k.List, k.Claims, k.Evicted, k.Pushed, k.History, k.LegacyIndex, k.LegacyInflight, k.Audit, k.Ops}
}

// retryable reports whether err is a Redis Cluster answer that means "not
// now, or not here": the command did not run and may be sent again.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	s := re.Error()
	for _, p := range []string{"TRYAGAIN", "MOVED ", "ASK ", "CLUSTERDOWN", "LOADING", "MASTERDOWN"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// IsOOM reports whether err is Redis refusing a command because it is out
// of memory (maxmemory with the noeviction policy), sent alone or from a
// script ("OOM command not allowed when used memory > 'maxmemory'…").
func IsOOM(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "OOM ")
}

// Bounds of retry: the backoff, and how long it goes on at most.
const (
	minBackoff = time.Millisecond
	maxBackoff = 100 * time.Millisecond
	maxRetry   = 4 * time.Second
)

// retry runs fn until it succeeds, fails with an error that is not a
// Cluster redirect or TRYAGAIN, ctx ends, or 4 seconds have passed (then
// it returns the last answer). During a slot migration a script whose keys
// are split between two nodes answers TRYAGAIN until the migration of its
// keys ends; callers never see those answers.
func retry(ctx context.Context, fn func() error) error {
	wait := minBackoff
	var deadline time.Time
	for {
		err := fn()
		if !retryable(err) {
			return err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(maxRetry)
		} else if time.Now().After(deadline) {
			return fmt.Errorf("redis kept answering %w for %v", err, maxRetry)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// run runs a script with retry.
func run(ctx context.Context, c Client, s *redis.Script, keys []string, args ...any) (any, error) {
	var v any
	err := retry(ctx, func() error {
		var err error
		v, err = s.Run(ctx, c, keys, args...).Result()
		return err
	})
	return v, err
}

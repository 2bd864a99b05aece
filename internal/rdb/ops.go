package rdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Push LPUSHes entries (the last one ends up at the head) and, in the same
// round trip, adds them to the pushed counter and to the history buckets of
// now. It returns the list's length after the push. A counter that could
// not be written is reported in counterErr; the push stands.
func Push(ctx context.Context, c Client, k Keys, entries []any, now time.Time) (length int64, counterErr, err error) {
	n := int64(len(entries))
	minute, hour := now.Unix()/60, now.Unix()/3600
	var lp *redis.IntCmd
	var counters []redis.Cmder
	err = pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		lp = p.LPush(ctx, k.List, entries...)
		counters = []redis.Cmder{
			p.IncrBy(ctx, k.Pushed, n),
			p.HIncrBy(ctx, k.History, "m"+strconv.FormatInt(minute, 10), n),
			p.HIncrBy(ctx, k.History, "h"+strconv.FormatInt(hour, 10), n),
		}
		return []redis.Cmder{lp} // only the LPUSH's error is the push's
	})
	if err != nil {
		return 0, nil, err
	}
	for _, cmd := range counters {
		if cmd.Err() != nil {
			return lp.Val(), cmd.Err(), nil
		}
	}
	return lp.Val(), nil, nil
}

// pipelined sends the commands fn queues in one round trip, with retry,
// and returns the first error of those fn returns: the commands whose
// errors are the call's (the caller reads the others').
func pipelined(ctx context.Context, c Client, fn func(p redis.Pipeliner) []redis.Cmder) error {
	return retry(ctx, func() error {
		p := c.Pipeline()
		cmds := fn(p)
		_, _ = p.Exec(ctx)
		for _, cmd := range cmds {
			if err := cmd.Err(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Trim evicts the oldest entries beyond max and adds them to the evicted
// counter; counterErr is the counter's error, if any (the eviction stands).
func Trim(ctx context.Context, c Client, k Keys, max int) (evicted int64, counterErr string, err error) {
	v, err := run(ctx, c, trimScript, []string{k.List, k.Evicted}, max)
	if err != nil {
		return 0, "", err
	}
	r, ok := v.([]any)
	if !ok || len(r) != 2 {
		return 0, "", fmt.Errorf("trim script answered %v", v)
	}
	n, _ := r[0].(int64)
	s, _ := r[1].(string)
	return n, s, nil
}

// Status is what a script found.
type Status string

// Script answers.
const (
	OK      Status = "ok"
	Claimed Status = "claimed" // the entry has a live claim
	Missing Status = "missing" // no such entry (where the script looked)
)

// Target names one entry for a script: its id ("" for an entry without
// one), and either the exact stored string with the position where it was
// seen (Raw set; Index a hint, an LRANGE index: from the head, or negative
// from the tail, whichever end was nearer), or its id's UUIDv7 time to
// locate it by (Raw "", TS >= 0; TS -1 when the id carries none).
type Target struct {
	ID    string
	TS    int64
	Raw   string
	Index int64
}

// hint is the position to pass to a script: "" for none.
func (t Target) hint() any {
	if t.Raw == "" {
		return ""
	}
	return t.Index
}

// Claims are stamped and judged by the Redis server's clock (TIME), so that
// processes whose clocks disagree agree on them. shift is added to it: a
// hook for tests, 0 in use.

// Pop removes the target unless it has a live claim (or force is set). On
// OK it returns the removed entry; on Claimed, the claim.
func Pop(ctx context.Context, c Client, k Keys, t Target, shift time.Duration, force bool) (Status, string, error) {
	f := "0"
	if force {
		f = "1"
	}
	v, err := run(ctx, c, popScript, []string{k.List, k.Claims}, t.ID, t.TS, shift.Milliseconds(), f, t.Raw, t.hint())
	if err != nil {
		return "", "", err
	}
	st, s, _, err := answer(v)
	return st, s, err
}

// Claimed is one entry a Claim took.
type ClaimedEntry struct {
	Raw      string    // the entry as stored
	Index    int64     // where it was: a position from the nearer end (see Target)
	Deadline time.Time // when the claim expires, by the Redis server's clock
}

// Claim marks the target as claimed by token for timeout, unless it has a
// live claim. On OK it returns the entry; on Claimed, the claim that
// stopped it.
func Claim(ctx context.Context, c Client, k Keys, t Target, shift, timeout time.Duration, token string) (Status, ClaimedEntry, string, error) {
	v, err := run(ctx, c, claimScript, []string{k.List, k.Claims},
		t.ID, t.TS, shift.Milliseconds(), timeout.Milliseconds(), token, t.Raw, t.hint())
	if err != nil {
		return "", ClaimedEntry{}, "", err
	}
	st, s, i, err := answer(v)
	if err != nil || st != OK {
		return st, ClaimedEntry{}, s, err
	}
	var d int64
	if r := v.([]any); len(r) > 3 {
		d, _ = r[3].(int64)
	}
	return st, ClaimedEntry{Raw: s, Index: i, Deadline: time.UnixMilli(d)}, "", nil
}

func answer(v any) (Status, string, int64, error) {
	r, ok := v.([]any)
	if !ok || len(r) == 0 {
		return "", "", 0, fmt.Errorf("script answered %v", v)
	}
	st, _ := r[0].(string)
	var s string
	var i int64
	if len(r) > 1 {
		s, _ = r[1].(string)
	}
	if len(r) > 2 {
		i, _ = r[2].(int64)
	}
	return Status(st), s, i, nil
}

// Ack removes the exact entry raw (seen at index) after a successful retry,
// and the claim if it is still token's.
func Ack(ctx context.Context, c Client, k Keys, id, token, raw string, index int64) (removed, held bool, err error) {
	v, err := run(ctx, c, ackScript, []string{k.List, k.Claims}, id, token, raw, index)
	if err != nil {
		return false, false, err
	}
	r, ok := v.([]any)
	if !ok || len(r) != 2 {
		return false, false, fmt.Errorf("ack script answered %v", v)
	}
	a, _ := r[0].(int64)
	b, _ := r[1].(int64)
	return a > 0, b > 0, nil
}

// Release drops the claim on id if it is still token's.
func Release(ctx context.Context, c Client, k Keys, id, token string) (bool, error) {
	v, err := run(ctx, c, releaseScript, []string{k.Claims}, id, token)
	if err != nil {
		return false, err
	}
	n, _ := v.(int64)
	return n == 1, nil
}

// Remove removes exact entries (Target.Raw, near Target.Index), skipping
// those with a live claim. It returns one byte per target: '1' removed,
// '0' gone already, 'c' claimed. With countEvicted the removed entries are
// added to the evicted counter, whose error is returned in counterErr.
func Remove(ctx context.Context, c Client, k Keys, ts []Target, shift time.Duration, countEvicted bool) (results, counterErr string, err error) {
	keys := []string{k.List, k.Claims}
	if countEvicted {
		keys = append(keys, k.Evicted)
	}
	args := make([]any, 0, 1+3*len(ts))
	args = append(args, shift.Milliseconds())
	for _, t := range ts {
		args = append(args, t.ID, t.Raw, t.Index)
	}
	v, err := run(ctx, c, removeScript, keys, args...)
	if err != nil {
		return "", "", err
	}
	r, ok := v.([]any)
	if !ok || len(r) != 2 {
		return "", "", fmt.Errorf("remove script answered %v", v)
	}
	results, _ = r[0].(string)
	counterErr, _ = r[1].(string)
	if len(results) != len(ts) {
		return "", "", fmt.Errorf("remove script answered %d results for %d entries", len(results), len(ts))
	}
	return results, counterErr, nil
}

// Range reads entries start to stop (LRANGE indexes) of a list.
func Range(ctx context.Context, c Client, key string, start, stop int64) ([]string, error) {
	var out []string
	err := retry(ctx, func() error {
		var err error
		out, err = c.LRange(ctx, key, start, stop).Result()
		return err
	})
	return out, err
}

// RangeClaims reads the list's entries start to stop (LRANGE indexes) and
// the number of claims, in one round trip.
func RangeClaims(ctx context.Context, c Client, k Keys, start, stop int64) ([]string, int64, error) {
	var r *redis.StringSliceCmd
	var h *redis.IntCmd
	err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		r, h = p.LRange(ctx, k.List, start, stop), p.HLen(ctx, k.Claims)
		return []redis.Cmder{r, h}
	})
	if err != nil {
		return nil, 0, err
	}
	return r.Val(), h.Val(), nil
}

// ClaimsOf returns the claims on the given ids (ids without one are left
// out) and the Redis server's time plus shift, in one round trip: HMGET of
// those ids only, whatever the size of the claims hash.
func ClaimsOf(ctx context.Context, c Client, k Keys, ids []string, shift time.Duration) (map[string]string, time.Time, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, time.Time{}, nil
	}
	var h *redis.SliceCmd
	var t *redis.TimeCmd
	err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		h, t = p.HMGet(ctx, k.Claims, ids...), p.Time(ctx)
		return []redis.Cmder{h, t}
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	for i, v := range h.Val() {
		if s, ok := v.(string); ok && i < len(ids) {
			out[ids[i]] = s
		}
	}
	return out, t.Val().Add(shift), nil
}

// LenRange reads a list's length and its entries start to stop (LRANGE
// indexes) in one round trip.
func LenRange(ctx context.Context, c Client, key string, start, stop int64) (int64, []string, error) {
	var l *redis.IntCmd
	var r *redis.StringSliceCmd
	err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		l, r = p.LLen(ctx, key), p.LRange(ctx, key, start, stop)
		return []redis.Cmder{l, r}
	})
	if err != nil {
		return 0, nil, err
	}
	return l.Val(), r.Val(), nil
}

// Lens returns the lengths of lists, in one round trip. An error names the
// list it came from.
func Lens(ctx context.Context, c Client, keys ...string) ([]int64, error) {
	cmds := make([]*redis.IntCmd, len(keys))
	err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		out := make([]redis.Cmder, len(keys))
		for i, k := range keys {
			cmds[i] = p.LLen(ctx, k)
			out[i] = cmds[i]
		}
		return out
	})
	if err != nil {
		for i, cmd := range cmds {
			if cmd.Err() != nil {
				return nil, fmt.Errorf("%s: %w", keys[i], cmd.Err())
			}
		}
		return nil, err
	}
	n := make([]int64, len(keys))
	for i, cmd := range cmds {
		n[i] = cmd.Val()
	}
	return n, nil
}

// Len returns a list's length.
func Len(ctx context.Context, c Client, key string) (int64, error) {
	var n int64
	err := retry(ctx, func() error {
		var err error
		n, err = c.LLen(ctx, key).Result()
		return err
	})
	return n, err
}

// Counters are the raw values Info reads in one round trip.
type Counters struct {
	Length   int64
	Evicted  string // as stored; "" when unset
	Pushed   string
	Claims   int64    // fields of the claims hash, expired ones included
	Tail     string   // the oldest entry; "" when the list is empty
	Problems []string // helper keys that could not be read (of another type)
}

// ReadCounters reads a kind's counters in one round trip. A counter or the
// claims hash that cannot be read (a key of another type, written by
// someone else) is reported in Problems, not as an error.
func ReadCounters(ctx context.Context, c Client, k Keys) (Counters, error) {
	var out Counters
	err := retry(ctx, func() error {
		p := c.Pipeline()
		l := p.LLen(ctx, k.List)
		e := p.Get(ctx, k.Evicted)
		ps := p.Get(ctx, k.Pushed)
		h := p.HLen(ctx, k.Claims)
		t := p.LIndex(ctx, k.List, -1)
		_, _ = p.Exec(ctx)
		if err := l.Err(); err != nil {
			return err
		}
		out = Counters{Length: l.Val(), Evicted: e.Val(), Pushed: ps.Val(), Claims: h.Val(), Tail: t.Val()}
		for _, x := range []struct {
			key string
			cmd redis.Cmder
		}{{k.Evicted, e}, {k.Pushed, ps}, {k.Claims, h}, {k.List, t}} {
			err := x.cmd.Err()
			switch {
			case err == nil, err == redis.Nil:
			case retryable(err) || !isRedisError(err):
				return err
			default:
				out.Problems = append(out.Problems, x.key+": "+err.Error())
			}
		}
		return nil
	})
	return out, err
}

func isRedisError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// Claims returns the claims hash (id -> "<deadline ms>:<token>") and the
// Redis server's time (plus shift) to judge them by.
func Claims(ctx context.Context, c Client, k Keys, shift time.Duration) (map[string]string, time.Time, error) {
	var h *redis.MapStringStringCmd
	var t *redis.TimeCmd
	err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		h, t = p.HGetAll(ctx, k.Claims), p.Time(ctx)
		return []redis.Cmder{h, t}
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return h.Val(), t.Val().Add(shift), nil
}

// Expire drops the claims on ids whose deadline has passed by the Redis
// server's clock.
func Expire(ctx context.Context, c Client, k Keys, ids []string, shift time.Duration) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, 0, 1+len(ids))
	args = append(args, shift.Milliseconds())
	for _, id := range ids {
		args = append(args, id)
	}
	v, err := run(ctx, c, expireScript, []string{k.Claims}, args...)
	if err != nil {
		return 0, err
	}
	n, _ := v.(int64)
	return n, nil
}

// ClaimDeadline parses a claim's deadline; ok is false for a value in
// another form (which the scripts treat as expired).
//
// The deadline is 1 to maxDeadlineDigits ASCII digits, read the same way
// as lib.lua's deadline_of reads it: a claim in any other form (a sign,
// more digits, no colon) counts as expired on both sides.
func ClaimDeadline(v string) (time.Time, bool) {
	ms, _, ok := strings.Cut(v, ":")
	if !ok || len(ms) == 0 || len(ms) > maxDeadlineDigits {
		return time.Time{}, false
	}
	var n int64
	for i := 0; i < len(ms); i++ {
		c := ms[i]
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n = n*10 + int64(c-'0')
	}
	return time.UnixMilli(n), true
}

// maxDeadlineDigits bounds a claim's deadline in ms: 15 digits reach the
// year 33658, and every one of them is exact in Lua's doubles.
const maxDeadlineDigits = 15

// History returns the history hash: "m<unix minute>" or "h<unix hour>" ->
// pushes in it.
func History(ctx context.Context, c Client, k Keys) (map[string]string, error) {
	var out map[string]string
	err := retry(ctx, func() error {
		var err error
		out, err = c.HGetAll(ctx, k.History).Result()
		return err
	})
	return out, err
}

// History bounds: minute buckets for a day, hour buckets for 30 days.
const (
	HistoryMinutes = 24 * 60
	HistoryHours   = 30 * 24
)

// TrimHistory deletes history buckets older than the bounds. It reads the
// field names only when the hash holds more fields than the bounds allow.
func TrimHistory(ctx context.Context, c Client, k Keys, now time.Time) (int64, error) {
	n, err := c.HLen(ctx, k.History).Result()
	if err != nil || n <= HistoryMinutes+HistoryHours+2 {
		return 0, err
	}
	fields, err := c.HKeys(ctx, k.History).Result()
	if err != nil {
		return 0, err
	}
	minCut := now.Unix()/60 - HistoryMinutes
	hourCut := now.Unix()/3600 - HistoryHours
	var old []string
	for _, f := range fields {
		if len(f) < 2 {
			old = append(old, f)
			continue
		}
		v, err := strconv.ParseInt(f[1:], 10, 64)
		switch {
		case err != nil,
			f[0] == 'm' && v <= minCut,
			f[0] == 'h' && v <= hourCut,
			f[0] != 'm' && f[0] != 'h':
			old = append(old, f)
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	return c.HDel(ctx, k.History, old...).Result()
}

// MigrateLegacy puts back entries an earlier version left in its in-flight
// hash and deletes its index, if either exists. It returns how many entries
// it put back.
func MigrateLegacy(ctx context.Context, c Client, k Keys) (int64, error) {
	n, err := c.Exists(ctx, k.LegacyIndex).Result()
	if err != nil {
		return 0, err
	}
	m, err := c.Exists(ctx, k.LegacyInflight).Result()
	if err != nil || n+m == 0 {
		return 0, err
	}
	v, err := run(ctx, c, migrateScript, []string{k.List, k.LegacyInflight, k.LegacyIndex})
	if err != nil {
		return 0, err
	}
	restored, _ := v.(int64)
	return restored, nil
}

// MaxMemoryPolicy reads maxmemory_policy from INFO memory; "" when the
// server does not say (miniredis).
func MaxMemoryPolicy(ctx context.Context, c Client) (string, error) {
	s, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok {
			return v, nil
		}
	}
	return "", nil
}

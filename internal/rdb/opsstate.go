package rdb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// An operation's state is a hash, KeysOf(list).OpTag + id, beside the
// sorted set KeysOf(list).Ops (id -> creation time in ms), both in the
// kind's slot. Times are the Redis server's, in ms. The hash expires a
// while after its last write; the set is trimmed by age and by number.
var (
	opCreateScript   = load("opcreate")
	opBeatScript     = load("opbeat")
	opFinishScript   = load("opfinish")
	opCancelScript   = load("opcancel")
	opTakeoverScript = load("optakeover")
	opsListScript    = load("opslist")
)

// OpCreate records a new running operation with the given fields (field,
// value, …), kept for keep after its last write, and trims the set of
// operations to at most maxOps (deleting the hashes of those trimmed). It
// returns the creation time by Redis' clock.
func OpCreate(ctx context.Context, c Client, k Keys, id string, fields []string, keep time.Duration, maxOps int) (time.Time, error) {
	args := append([]any{id, keep.Milliseconds()}, toAny(fields)...)
	v, err := run(ctx, c, opCreateScript, []string{k.OpTag + id, k.Ops}, args...)
	if err != nil {
		return time.Time{}, err
	}
	r, ok := v.([]any)
	if !ok || len(r) != 2 {
		return time.Time{}, fmt.Errorf("opcreate script answered %v", v)
	}
	now, _ := r[0].(int64)
	n, _ := r[1].(int64)
	if over := n - int64(maxOps); over > 0 {
		if err := trimOps(ctx, c, k, over); err != nil {
			return time.UnixMilli(now), fmt.Errorf("trimming old operations: %w", err)
		}
	}
	return time.UnixMilli(now), nil
}

// trimOps deletes the n oldest operations, their hashes with them.
func trimOps(ctx context.Context, c Client, k Keys, n int64) error {
	var old *redis.StringSliceCmd
	if err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		old = p.ZRange(ctx, k.Ops, 0, n-1)
		return []redis.Cmder{old}
	}); err != nil {
		return err
	}
	ids := old.Val()
	if len(ids) == 0 {
		return nil
	}
	return pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		keys := make([]string, len(ids))
		members := make([]any, len(ids))
		for i, id := range ids {
			keys[i], members[i] = k.OpTag+id, id
		}
		return []redis.Cmder{p.Del(ctx, keys...), p.ZRem(ctx, k.Ops, members...)}
	})
}

// Counts are a bulk action's four counts, in the order matched, handled,
// failed, skipped.
type Counts [4]int64

func (n Counts) args() []any { return []any{n[0], n[1], n[2], n[3]} }

// Beat answers of OpBeat.
const (
	BeatOK     = "ok"
	BeatCancel = "cancel" // someone asked the operation to stop
	BeatLost   = "lost"   // the caller no longer owns it
)

// OpBeat writes a running operation's counts and heartbeat if owner still
// owns it, and says whether it was asked to stop.
func OpBeat(ctx context.Context, c Client, k Keys, id, owner string, n Counts, keep time.Duration) (string, error) {
	args := append(append([]any{owner}, n.args()...), keep.Milliseconds())
	v, err := run(ctx, c, opBeatScript, []string{k.OpTag + id}, args...)
	if err != nil {
		return "", err
	}
	s, _ := v.(string)
	return s, nil
}

// OpFinish ends a running operation owner owns with the given state;
// false when owner no longer owns it.
func OpFinish(ctx context.Context, c Client, k Keys, id, owner, state string, n Counts, errText string, keep time.Duration) (bool, error) {
	args := append(append([]any{owner, state}, n.args()...), errText, keep.Milliseconds())
	v, err := run(ctx, c, opFinishScript, []string{k.OpTag + id}, args...)
	if err != nil {
		return false, err
	}
	return v == int64(1), nil
}

// OpCancel asks an operation to stop: it answers "requested" (its runner
// will stop), "cancelled" (nobody ran it: cancelled now), "finished" or
// "missing". stale is how old a running operation's heartbeat may be.
func OpCancel(ctx context.Context, c Client, k Keys, id string, stale time.Duration) (string, error) {
	v, err := run(ctx, c, opCancelScript, []string{k.OpTag + id}, stale.Milliseconds())
	if err != nil {
		return "", err
	}
	s, _ := v.(string)
	return s, nil
}

// OpTakeover makes owner the owner of an operation nobody runs. It answers
// "ok", "running" (its heartbeat is fresh), "finished" or "missing".
func OpTakeover(ctx context.Context, c Client, k Keys, id, owner string, stale time.Duration) (string, error) {
	v, err := run(ctx, c, opTakeoverScript, []string{k.OpTag + id}, owner, stale.Milliseconds())
	if err != nil {
		return "", err
	}
	s, _ := v.(string)
	return s, nil
}

// OpRead reads one operation's hash (empty when there is none) and the
// Redis server's time, in one round trip.
func OpRead(ctx context.Context, c Client, k Keys, id string) (map[string]string, time.Time, error) {
	var h *redis.MapStringStringCmd
	var t *redis.TimeCmd
	err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		h, t = p.HGetAll(ctx, k.OpTag+id), p.Time(ctx)
		return []redis.Cmder{h, t}
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return h.Val(), t.Val(), nil
}

// OpList reads the newest operations (at most limit), newest first, each
// as its hash with "id" set, and the Redis server's time: one call.
func OpList(ctx context.Context, c Client, k Keys, limit int) ([]map[string]string, time.Time, error) {
	v, err := run(ctx, c, opsListScript, []string{k.Ops}, k.OpTag, limit)
	if err != nil {
		return nil, time.Time{}, err
	}
	r, ok := v.([]any)
	if !ok || len(r) == 0 {
		return nil, time.Time{}, fmt.Errorf("opslist script answered %v", v)
	}
	now, _ := r[0].(int64)
	out := make([]map[string]string, 0, len(r)-1)
	for _, e := range r[1:] {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, time.Time{}, fmt.Errorf("opslist script answered %v", e)
		}
		flat, _ := pair[1].([]any)
		m := make(map[string]string, len(flat)/2+1)
		for i := 0; i+1 < len(flat); i += 2 {
			f, _ := flat[i].(string)
			v, _ := flat[i+1].(string)
			m[f] = v
		}
		m["id"], _ = pair[0].(string)
		out = append(out, m)
	}
	return out, time.UnixMilli(now), nil
}

// MillisOf parses a time in ms as stored; the zero time for "" or junk.
func MillisOf(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

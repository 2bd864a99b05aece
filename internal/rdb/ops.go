package rdb

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// MissingForeign is Missing where the search by time met entries whose
	// time it cannot read (another program's): the entry may be among
	// them, in a layout the script does not read; search for it.
	MissingForeign Status = "missing-foreign"
	OOM            Status = "oom" // Redis refused to write the claim: out of memory
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
// processes whose clocks disagree agree on them.

// Record is an audit record a script writes with its change (XADD to the
// kind's audit stream, MAXLEN ~ Limit); Limit 0 writes none.
type Record struct {
	Limit  int
	Fields []string // field, value, …
}

func (r Record) args() []any {
	out := make([]any, 0, 1+len(r.Fields))
	out = append(out, max(r.Limit, 0))
	for _, f := range r.Fields {
		out = append(out, f)
	}
	return out
}

// Pop removes the target unless it has a live claim (or force is set),
// and writes rec with the removal. On OK it returns the removed entry and
// the audit record's error, if Redis refused it (the removal stands); on
// Claimed, the claim. A target that is not where its hint or its id's time
// says is Missing: the search is bounded (see lua/lib.lua).
func Pop(ctx context.Context, c Client, k Keys, t Target, force bool, rec Record) (st Status, raw, auditErr string, err error) {
	f := "0"
	if force {
		f = "1"
	}
	args := append([]any{t.ID, t.TS, f, t.Raw, t.hint()}, rec.args()...)
	v, err := run(ctx, c, popScript, []string{k.List, k.Claims, k.Audit}, args...)
	if err != nil {
		return "", "", "", err
	}
	st, raw, _, err = answer(v)
	if r, ok := v.([]any); ok && st == OK && len(r) > 2 {
		auditErr, _ = r[2].(string)
	}
	return st, raw, auditErr, err
}

// ClaimedEntry is one entry a Claim took.
type ClaimedEntry struct {
	Raw      string    // the entry as stored
	Index    int64     // where it was: a position from the nearer end (see Target)
	Deadline time.Time // when the claim expires, by the Redis server's clock
	Now      time.Time // the Redis server's clock when the claim was stamped
	Len      int64     // the list's length then (see PageTarget.Len)
}

// Claim marks the target as claimed by token for timeout, unless it has a
// live claim. On OK it returns the entry; on Claimed, the claim that
// stopped it; on OOM, Redis' refusal.
func Claim(ctx context.Context, c Client, k Keys, t Target, timeout time.Duration, token string) (Status, ClaimedEntry, string, error) {
	v, err := run(ctx, c, claimScript, []string{k.List, k.Claims},
		t.ID, t.TS, timeout.Milliseconds(), token, t.Raw, t.hint())
	if err != nil {
		return "", ClaimedEntry{}, "", err
	}
	st, s, i, err := answer(v)
	if err != nil || st != OK {
		return st, ClaimedEntry{}, s, err
	}
	r := v.([]any)
	var d, now, n int64
	if len(r) > 5 {
		d, _ = r[3].(int64)
		now, _ = r[4].(int64)
		n, _ = r[5].(int64)
	}
	return st, ClaimedEntry{Raw: s, Index: i, Deadline: time.UnixMilli(d), Now: time.UnixMilli(now), Len: n}, "", nil
}

func answer(v any) (Status, string, int64, error) {
	r, ok := v.([]any)
	if !ok || len(r) == 0 {
		return "", "", 0, fmt.Errorf("script answered %v", v)
	}
	st, _ := r[0].(string)
	if Status(st) == Missing && len(r) > 1 && r[1] == int64(1) {
		return MissingForeign, "", 0, nil
	}
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

// Actions of page.lua.
const (
	ActDelete  byte = 'd' // remove, unless a live claim holds it
	ActClaim   byte = 'c' // claim for the token, unless a live claim holds it
	ActAck     byte = 'a' // remove after a successful retry; drop the token's claim
	ActRelease byte = 'r' // drop the token's claim; the entry stays
)

// Results of page.lua, one per target. An ack that answers Gone keeps
// its claim: the entry may lie beyond where the script looked (see
// lua/page.lua).
const (
	Done      byte = '1' // removed, claimed or released
	Gone      byte = '0' // not there (removed by someone else), or the claim is not the token's
	ClaimedBy byte = 'c' // a live claim of someone else holds it
	Refused   byte = 'm' // Redis refused the claim: out of memory
)

// PageTarget is one entry of a Page call.
type PageTarget struct {
	Act   byte
	ID    string // "" for an entry without one
	Raw   string // the entry as stored
	Index int64  // where it was seen (see Target)
	// Len is the list's length when Index was read (0 if not known): a
	// position from the head moves with every push, and the script finds
	// the entry where the pushes since have moved it.
	Len int64
}

// PageResult is what a Page call did.
type PageResult struct {
	Results    string    // one of Done, Gone, ClaimedBy, Refused per target, in order
	Now        time.Time // the Redis server's clock at the first call
	Deadline   time.Time // the deadline of the claims stamped by the first call
	CounterErr string    // the evicted counter's error, if any (the removals stand)
	AuditErr   string    // the audit record's error, if Redis refused it (the changes stand)
}

// maxPageTargets and maxPageBytes bound what one page.lua call is sent
// (at least one target): the script's budget bounds its work, these bound
// its arguments, which Redis copies into Lua before the script runs (a
// page of 128 entries of 64 KiB is 8 MB). Half of lib.lua's max_bytes:
// each target is copied twice, as an argument and by the LINDEX that
// finds it.
const (
	maxPageTargets = 128
	maxPageBytes   = 512 << 10
)

// Page acts on targets (see lua/page.lua) in as many calls as the scripts'
// budget needs: each call does what fits and says how far it got. Between
// calls, the positions of the targets left are corrected for the older
// entries the calls removed. With countEvicted the removed entries are
// added to the evicted counter. The first call writes rec with its
// changes.
func Page(ctx context.Context, c Client, k Keys, ts []PageTarget, timeout time.Duration, token string, countEvicted bool, rec Record) (PageResult, error) {
	keys := []string{k.List, k.Claims, k.Evicted, k.Audit}
	evict := "0"
	if countEvicted {
		evict = "1"
	}
	ts = slices.Clone(ts)
	var out PageResult
	var results []byte
	for len(ts) > 0 {
		k, size := 1, len(ts[0].Raw)
		for k < len(ts) && k < maxPageTargets && size+len(ts[k].Raw) <= maxPageBytes {
			size += len(ts[k].Raw)
			k++
		}
		send := ts[:k]
		args := make([]any, 0, 5+len(rec.Fields)+5*len(send))
		args = append(args, timeout.Milliseconds(), token, evict, max(rec.Limit, 0), len(rec.Fields))
		for _, f := range rec.Fields {
			args = append(args, f)
		}
		rec = Record{} // written once, by the first call
		for _, t := range send {
			args = append(args, string(t.Act), t.ID, t.Raw, t.Index, t.Len)
		}
		v, err := run(ctx, c, pageScript, keys, args...)
		if err != nil {
			out.Results = string(results)
			return out, err
		}
		r, ok := v.([]any)
		if !ok || len(r) != 6 {
			return out, fmt.Errorf("page script answered %v", v)
		}
		if s, _ := r[5].(string); s != "" {
			out.AuditErr = s
		}
		got, _ := r[0].(string)
		if len(got) == 0 || len(got) > len(send) {
			return out, fmt.Errorf("page script answered %d results for %d entries", len(got), len(send))
		}
		if len(results) == 0 {
			now, _ := r[1].(int64)
			d, _ := r[2].(int64)
			out.Now, out.Deadline = time.UnixMilli(now), time.UnixMilli(d)
		}
		if s, _ := r[3].(string); s != "" {
			out.CounterErr = s
		}
		results = append(results, got...)
		removed := 0
		for i := range len(got) {
			if got[i] == Done && (ts[i].Act == ActDelete || ts[i].Act == ActAck) {
				removed++
			}
		}
		ts = ts[len(got):]
		ShiftHints(ts, removed)
	}
	out.Results = string(results)
	return out, nil
}

// ShiftHints corrects the positions of targets for k older entries
// removed before them: an entry named by its distance from the tail is k
// nearer to it, and the list is k shorter. Targets come oldest first, as a
// walk from the tail shows them.
func ShiftHints(ts []PageTarget, k int) {
	if k == 0 {
		return
	}
	for i := range ts {
		if ts[i].Index < 0 {
			ts[i].Index = min(ts[i].Index+int64(k), -1)
		}
		if ts[i].Len > 0 {
			ts[i].Len = max(ts[i].Len-int64(k), 1)
		}
	}
}

// Candidate is an entry a Search found that holds one of the needles.
type Candidate struct {
	Raw   string
	Index int64 // from the head, when it was seen
}

// Search looks for entries holding any of needles from index start (from
// the head) toward the tail, in one bounded call (see lua/search.lua). It
// returns the index to go on from (-1 at the end of the list) and the
// candidates met.
func Search(ctx context.Context, c Client, key string, start int64, needles []string) (next int64, cands []Candidate, err error) {
	args := make([]any, 0, 1+len(needles))
	args = append(args, start)
	for _, n := range needles {
		args = append(args, n)
	}
	v, err := run(ctx, c, searchScript, []string{key}, args...)
	if err != nil {
		return 0, nil, err
	}
	r, ok := v.([]any)
	if !ok || len(r) == 0 || len(r)%2 != 1 {
		return 0, nil, fmt.Errorf("search script answered %v", v)
	}
	next, _ = r[0].(int64)
	for i := 1; i+1 < len(r); i += 2 {
		idx, _ := r[i].(int64)
		raw, _ := r[i+1].(string)
		cands = append(cands, Candidate{Raw: raw, Index: idx})
	}
	return next, cands, nil
}

// LenRangeClaims reads the list's length, its entries start to stop
// (LRANGE indexes) and the number of claims, in one round trip.
func LenRangeClaims(ctx context.Context, c Client, k Keys, start, stop int64) (int64, []string, int64, error) {
	var l, h *redis.IntCmd
	var r *redis.StringSliceCmd
	err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		l, r, h = p.LLen(ctx, k.List), p.LRange(ctx, k.List, start, stop), p.HLen(ctx, k.Claims)
		return []redis.Cmder{l, r, h}
	})
	if err != nil {
		return 0, nil, 0, err
	}
	return l.Val(), r.Val(), h.Val(), nil
}

// ClaimsOf returns the claims on the given ids (ids without one are left
// out) and the Redis server's time, in one round trip: HMGET of
// those ids only, whatever the size of the claims hash.
func ClaimsOf(ctx context.Context, c Client, k Keys, ids []string) (map[string]string, time.Time, error) {
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
	return out, t.Val(), nil
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
// Redis server's time to judge them by.
func Claims(ctx context.Context, c Client, k Keys) (map[string]string, time.Time, error) {
	var h *redis.MapStringStringCmd
	var t *redis.TimeCmd
	err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		h, t = p.HGetAll(ctx, k.Claims), p.Time(ctx)
		return []redis.Cmder{h, t}
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return h.Val(), t.Val(), nil
}

// Expire drops the claims on ids whose deadline has passed by the Redis
// server's clock.
func Expire(ctx context.Context, c Client, k Keys, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, 0, len(ids))
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
	n, err := HLen(ctx, c, k.History)
	if err != nil || n <= HistoryMinutes+HistoryHours+2 {
		return 0, err
	}
	fields, err := do(ctx, func() ([]string, error) { return c.HKeys(ctx, k.History).Result() })
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
	return do(ctx, func() (int64, error) { return c.HDel(ctx, k.History, old...).Result() })
}

// MigrateLegacy puts back entries an earlier version left in its in-flight
// hash and deletes its index, if either exists. It returns how many entries
// it put back.
func MigrateLegacy(ctx context.Context, c Client, k Keys) (int64, error) {
	n, err := do(ctx, func() (int64, error) { return c.Exists(ctx, k.LegacyIndex).Result() })
	if err != nil {
		return 0, err
	}
	m, err := do(ctx, func() (int64, error) { return c.Exists(ctx, k.LegacyInflight).Result() })
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
	s, err := do(ctx, func() (string, error) { return c.Info(ctx, "memory").Result() })
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

// Locate finds the entry with a UUIDv7 id (whose time is ts) where its
// time says, without changing anything, and returns it and its position
// (see Target): Missing or MissingForeign when it is not there (see
// MissingForeign).
func Locate(ctx context.Context, c Client, k Keys, id string, ts int64) (Status, string, int64, error) {
	v, err := run(ctx, c, locateScript, []string{k.List}, id, ts)
	if err != nil {
		return "", "", 0, err
	}
	r, _ := v.([]any)
	if len(r) < 1 {
		return "", "", 0, fmt.Errorf("locate script answered %v", v)
	}
	if raw, ok := r[0].(string); ok {
		var p int64
		if len(r) > 1 {
			p, _ = r[1].(int64)
		}
		return OK, raw, p, nil
	}
	if len(r) > 1 && r[1] == int64(1) {
		return MissingForeign, "", 0, nil
	}
	return Missing, "", 0, nil
}

// Now returns the Redis server's clock.
func Now(ctx context.Context, c Client) (time.Time, error) {
	return do(ctx, func() (time.Time, error) { return c.Time(ctx).Result() })
}

// HLen returns the number of fields of a hash.
func HLen(ctx context.Context, c Client, key string) (int64, error) {
	return do(ctx, func() (int64, error) { return c.HLen(ctx, key).Result() })
}

// do runs one command with retry (see retry).
func do[T any](ctx context.Context, cmd func() (T, error)) (T, error) {
	var v T
	err := retry(ctx, func() error {
		var err error
		v, err = cmd()
		return err
	})
	return v, err
}

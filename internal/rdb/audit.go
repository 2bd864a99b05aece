package rdb

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Audit appends one record (field, value, field, value, …) to the kind's
// audit stream and trims the stream to about limit records (XADD MAXLEN ~
// limit: Redis trims whole macro nodes, so the stream holds from limit to
// limit plus about 100 records). The record's id, "*", is given by Redis
// from its own clock: it is the record's time and its cursor. It returns
// the id. Under maxmemory with noeviction Redis refuses the XADD: the
// caller counts the record as dropped.
func Audit(ctx context.Context, c Client, k Keys, limit int, fields []string) (string, error) {
	var cmd *redis.StringCmd
	err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		cmd = p.XAdd(ctx, &redis.XAddArgs{Stream: k.Audit, MaxLen: int64(limit), Approx: true, ID: "*", Values: fields})
		return []redis.Cmder{cmd}
	})
	if err != nil {
		return "", err
	}
	return cmd.Val(), nil
}

// AuditRange reads up to count records of the audit stream, newest first,
// older than the record before ("" for the newest), in one round trip.
func AuditRange(ctx context.Context, c Client, k Keys, before string, count int) ([]redis.XMessage, error) {
	stop := "+"
	if before != "" {
		prev, ok := PrevStreamID(before)
		if !ok {
			return nil, nil // before the first possible id: nothing older
		}
		stop = prev
	}
	var cmd *redis.XMessageSliceCmd
	err := pipelined(ctx, c, func(p redis.Pipeliner) []redis.Cmder {
		cmd = p.XRevRangeN(ctx, k.Audit, stop, "-", int64(count))
		return []redis.Cmder{cmd}
	})
	if err != nil {
		return nil, err
	}
	return cmd.Val(), nil
}

// ParseStreamID parses a stream id "<ms>-<seq>"; ok is false for anything
// else.
func ParseStreamID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}

// PrevStreamID returns the largest stream id smaller than id (an exclusive
// bound that works on every Redis since 5.0, and on miniredis); ok is false
// for 0-0 or an id that does not parse.
func PrevStreamID(id string) (string, bool) {
	ms, seq, ok := ParseStreamID(id)
	switch {
	case !ok, ms == 0 && seq == 0:
		return "", false
	case seq > 0:
		return fmt.Sprintf("%d-%d", ms, seq-1), true
	}
	return fmt.Sprintf("%d-%d", ms-1, uint64(1<<64-1)), true
}

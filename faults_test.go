package dlq

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// slowRedis answers every call only after a delay, or when the caller's
// context ends first: a Redis under load, or a network that stalls.
type slowRedis struct {
	redis.UniversalClient
	delay time.Duration
}

func (s slowRedis) wait(ctx context.Context) error {
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s slowRedis) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	if err := s.wait(ctx); err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return s.UniversalClient.EvalSha(ctx, sha, keys, args...)
}

func (s slowRedis) LRange(ctx context.Context, key string, start, stop int64) *redis.StringSliceCmd {
	if err := s.wait(ctx); err != nil {
		cmd := redis.NewStringSliceCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return s.UniversalClient.LRange(ctx, key, start, stop)
}

func (s slowRedis) LLen(ctx context.Context, key string) *redis.IntCmd {
	if err := s.wait(ctx); err != nil {
		cmd := redis.NewIntCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return s.UniversalClient.LLen(ctx, key)
}

func (s slowRedis) LPush(ctx context.Context, key string, values ...any) *redis.IntCmd {
	if err := s.wait(ctx); err != nil {
		cmd := redis.NewIntCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return s.UniversalClient.LPush(ctx, key, values...)
}

func (s slowRedis) HDel(ctx context.Context, key string, fields ...string) *redis.IntCmd {
	if err := s.wait(ctx); err != nil {
		cmd := redis.NewIntCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return s.UniversalClient.HDel(ctx, key, fields...)
}

func (s slowRedis) TxPipeline() redis.Pipeliner {
	return slowPipe{Pipeliner: s.UniversalClient.TxPipeline(), s: s}
}

type slowPipe struct {
	redis.Pipeliner
	s slowRedis
}

func (p slowPipe) Exec(ctx context.Context) ([]redis.Cmder, error) {
	if err := p.s.wait(ctx); err != nil {
		return nil, err
	}
	return p.Pipeliner.Exec(ctx)
}

func (s slowRedis) HSet(ctx context.Context, key string, values ...any) *redis.IntCmd {
	if err := s.wait(ctx); err != nil {
		cmd := redis.NewIntCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return s.UniversalClient.HSet(ctx, key, values...)
}

// TestSlowRedisTimesOut: with a deadline shorter than Redis takes, every
// call returns an error wrapping context.DeadlineExceeded, and a push that
// timed out wrote nothing.
func TestSlowRedisTimesOut(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		stored := push(t, e, e.kind, "already there")
		svc := New(slowRedis{e.Client, 5 * time.Second}, WithLogger(e.svc.logger()))
		calls := map[string]func(ctx context.Context) error{
			"push": func(ctx context.Context) error {
				_, err := svc.Push(ctx, e.kind, uuid.New(), errors.New("x"))
				return err
			},
			"list":  func(ctx context.Context) error { _, err := svc.List(ctx, e.kind, 10); return err },
			"stats": func(ctx context.Context) error { _, err := svc.Stats(ctx); return err },
			"pop":   func(ctx context.Context) error { _, err := svc.Pop(ctx, e.kind, stored.ID); return err },
			"info":  func(ctx context.Context) error { _, err := svc.Info(ctx, e.kind); return err },
			"find":  func(ctx context.Context) error { _, err := svc.Find(ctx, e.kind, Query{}); return err },
			"count": func(ctx context.Context) error { _, err := svc.Count(ctx, e.kind, Filter{}); return err },
			"bulk": func(ctx context.Context) error {
				_, err := svc.DeleteMatching(ctx, e.kind, Filter{})
				return err
			},
		}
		for name, call := range calls {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			err := call(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: err = %v, want one wrapping context.DeadlineExceeded", name, err)
			}
		}
		if got := ids(mustList(t, e)); len(got) != 1 || got[0] != stored.ID {
			t.Fatalf("after timed-out calls the DLQ holds %v, want only %s", got, stored.ID)
		}
	})
}

// TestRequeuerPastItsDeadline: a requeuer that hangs until the caller's
// deadline leaves the entry in the DLQ, unchanged.
func TestRequeuerPastItsDeadline(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		withRequeuer(e, RequeueFunc(func(ctx context.Context, it Item) error {
			<-ctx.Done() // a queue that never answers
			return ctx.Err()
		}))
		it := push(t, e, e.kind, "stuck")
		before := rawList(t, e, e.kind)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := e.svc.Retry(ctx, e.kind, it.ID)
		if !errors.Is(err, ErrRequeue) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Retry = %v, want ErrRequeue wrapping context.DeadlineExceeded", err)
		}
		if after := rawList(t, e, e.kind); len(after) != 1 || after[0] != before[0] {
			t.Fatalf("entries %q, want %q", after, before)
		}
		if info, _ := e.svc.Info(context.Background(), e.kind); info.InFlight != 0 {
			t.Fatalf("%d left in flight", info.InFlight)
		}
	})
}

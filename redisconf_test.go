package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

// #7: with maxmemory 20mb and noeviction, fill Redis until pushes fail;
// every cleanup path still works (Delete, Pop, the cap's trim, the age
// eviction's removals, DeleteMatching), and one DeleteMatching frees the
// space pushes need.
func TestCleanupWhenRedisIsFull(t *testing.T) {
	srv := dlqtest.StartServer(t, "--appendonly", "no", "--maxmemory", "20mb", "--maxmemory-policy", "noeviction")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	ctx := context.Background()
	logs := &dlqtest.LogBuffer{}
	s := New(c, WithMaxItems(0), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	var pushed atomic.Int64
	var full atomic.Bool
	var wg sync.WaitGroup
	text := strings.Repeat("x", 300)
	for range 8 {
		wg.Go(func() {
			for !full.Load() {
				_, err := s.PushScrapeFailure(ctx, uuid.New(), errors.New(text))
				switch {
				case err == nil:
					pushed.Add(1)
				case strings.Contains(err.Error(), "OOM"):
					full.Store(true)
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if !full.Load() || pushed.Load() < 1000 {
		t.Fatalf("pushed %d and Redis is not full", pushed.Load())
	}
	items, err := s.ListScrape(ctx, 3)
	if err != nil || len(items) != 3 {
		t.Fatalf("List when full: %v, %v", items, err)
	}
	if err := s.Delete(ctx, Scrape, items[0].ID); err != nil {
		t.Fatalf("Delete when full: %v", err)
	}
	if _, err := s.Pop(ctx, Scrape, items[1].ID); err != nil {
		t.Fatalf("Pop when full: %v", err)
	}
	// The cap's trim, with the counter write refused or not, evicts.
	n, _ := c.LLen(ctx, ScrapeKey).Result()
	s.maxItems = int(n) - 100
	res, err := s.Sweep(ctx, Scrape)
	if err != nil || res.EvictedByCap != 100 {
		t.Fatalf("Sweep when full = %+v, %v; want 100 evicted by the cap", res, err)
	}
	s.maxItems = 0
	// Fill again, then one DeleteMatching makes room.
	for {
		if _, err := s.PushScrapeFailure(ctx, uuid.New(), errors.New(text)); err != nil {
			if !strings.Contains(err.Error(), "OOM") {
				t.Fatal(err)
			}
			break
		}
	}
	bres, err := s.DeleteMatching(ctx, Scrape, Filter{})
	if err != nil || bres.Handled < 1000 || bres.Handled != bres.Matched {
		t.Fatalf("DeleteMatching when full = %+v, %v", bres, err)
	}
	if _, err := s.PushScrapeFailure(ctx, uuid.New(), errors.New("after the cleanup")); err != nil {
		t.Fatalf("push after DeleteMatching: %v", err)
	}
}

// #9: a Redis whose maxmemory_policy is not noeviction is named in Info
// and logged by Run, once.
func TestMaxMemoryPolicyWarning(t *testing.T) {
	srv := dlqtest.StartServer(t, "--appendonly", "no", "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	logs := &dlqtest.LogBuffer{}
	s := New(c, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	info, err := s.Info(context.Background(), Scrape)
	if err != nil || info.MaxMemoryPolicy != "allkeys-lru" || len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], "allkeys-lru") {
		t.Fatalf("Info = %+v, %v; want the policy and a warning", info, err)
	}
	// Three rounds, then stop: each round starts with the length of the
	// first kind it sweeps, so the fourth's says the three are done.
	rounds := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.AddHook(dlqtest.AfterReply(func(_ context.Context, cmd redis.Cmder) {
		if a := cmd.Args(); cmd.Name() == "llen" && len(a) == 2 && a[1] == Scrape.Key() {
			if rounds++; rounds == 4 {
				cancel()
			}
		}
	}))
	s.janitorEvery = 1 // as fast as it goes
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "maxmemory_policy is not noeviction"); n != 1 {
		t.Fatalf("logged the policy %d times in 3 rounds, want once:\n%s", n, logs)
	}
	// On noeviction there is nothing to say.
	if err := c.ConfigSet(context.Background(), "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	s2 := New(c)
	if info, err := s2.Info(context.Background(), Scrape); err != nil || info.MaxMemoryPolicy != "noeviction" || len(info.Warnings) != 0 {
		t.Fatalf("Info on noeviction = %+v, %v", info, err)
	}
}

// replyBytes counts the bytes of Redis replies a client reads.
type replyBytes struct{ n atomic.Int64 }

func (r *replyBytes) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *replyBytes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		r.n.Add(int64(replySize(cmd)))
		return err
	}
}

func (r *replyBytes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			r.n.Add(int64(replySize(cmd)))
		}
		return err
	}
}

func replySize(cmd redis.Cmder) int {
	switch c := cmd.(type) {
	case *redis.StringCmd:
		return len(c.Val()) + 8
	case *redis.StringSliceCmd:
		n := 8
		for _, s := range c.Val() {
			n += len(s) + 8
		}
		return n
	case *redis.MapStringStringCmd:
		n := 8
		for k, v := range c.Val() {
			n += len(k) + len(v) + 16
		}
		return n
	case *redis.Cmd:
		return len(fmt.Sprint(c.Val())) + 8
	}
	return 8
}

// #6: an idle sweep of a kind with 100,000 entries reads at most 64 KB.
func TestIdleSweepReadsLittle(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const n = 100_000
		fillEntries(t, e, e.kind, n)
		var counted replyBytes
		c := redis.NewUniversalClient(universalOptions(e))
		defer c.Close()
		c.AddHook(&counted)
		s := New(c, WithMaxItems(n), WithMaxAge(24*3600e9))
		if _, err := s.Sweep(ctx, e.kind); err != nil { // migrates (nothing) once
			t.Fatal(err)
		}
		counted.n.Store(0)
		res, err := s.Sweep(ctx, e.kind)
		if err != nil || res != (SweepResult{}) {
			t.Fatalf("idle Sweep = %+v, %v", res, err)
		}
		if got := counted.n.Load(); got > 64<<10 {
			t.Fatalf("an idle sweep read %d bytes, want at most 64 KB", got)
		} else {
			t.Logf("an idle sweep of %d entries read about %d bytes", n, got)
		}
	})
}

// fillEntries adds n entries as Push writes them to an empty list, oldest first
// as if pushed one by one, 1,000 a command. (It RPUSHes them newest first:
// miniredis' LPUSH copies the whole list.)
func fillEntries(t testing.TB, e *env, k Kind, n int) {
	t.Helper()
	ctx := context.Background()
	entries := make([]any, n)
	for i := range entries {
		entries[n-1-i] = testEntry(k, fmt.Sprint("failure ", i))
	}
	for i := 0; i < n; i += 1000 {
		if err := e.Client.RPush(ctx, k.Key(), entries[i:min(i+1000, n)]...).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// testEntry is an entry as Push writes it, with a fresh UUIDv7.
func testEntry(k Kind, text string) string {
	id, _ := uuid.NewV7()
	return string(Item{ID: id.String(), SourceID: uuid.NewString(), Error: text, FailedAt: nowMicro(), Kind: k}.appendJSON(nil))
}

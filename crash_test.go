package dlq

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// The crash test's child process: TestMain runs it instead of the tests
// when DLQ_CRASH_CHILD is set.
const (
	crashChildEnv   = "DLQ_CRASH_CHILD"      // "addr|cluster|db|kind|dir"
	crashClaimAfter = 400 * time.Millisecond // the child's claim timeout
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashChildEnv); spec != "" {
		crashChild(spec)
		os.Exit(0)
	}
	if spec := os.Getenv(opsChildEnv); spec != "" {
		opsChild(spec)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild pushes and retries on the seed kinds and a custom kind until
// it is killed. It writes each acknowledged push's id to dir/acked, and
// its Requeuer records each id it receives, with the time, in Redis, before
// it returns. Every operation prints a line, for the parent to count.
func crashChild(spec string) {
	p := strings.Split(spec, "|")
	db, _ := strconv.Atoi(p[2])
	var c redis.UniversalClient
	if p[1] == "cluster" {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(p[0], ",")})
	} else {
		c = redis.NewClient(&redis.Options{Addr: p[0], DB: db})
	}
	custom := Kind(p[3])
	received := receivedKey(custom)
	acked, err := os.OpenFile(p[4]+"/acked", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	q := New(c, WithKinds(custom), WithClaimTimeout(crashClaimAfter), WithRequeuer(RequeueFunc(func(ctx context.Context, it Item) error {
		time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond) // the requeue's own work
		return c.RPush(ctx, received, it.ID+" "+strconv.FormatInt(time.Now().UnixMilli(), 10)).Err()
	})))
	kinds := []Kind{Scrape, Extraction, custom}
	out := bufio.NewWriter(os.Stdout)
	say := func() { fmt.Fprintln(out, "op"); out.Flush() }
	for i := 0; ; i++ {
		k := kinds[i%3]
		it, err := q.Push(ctx, k, uuid.New(), fmt.Errorf("batch %d", i/30))
		if err == nil {
			_, _ = acked.WriteString(string(k) + " " + it.ID + "\n") // unbuffered: survives SIGKILL
		}
		say()
		if i%3 == 2 {
			if items, err := q.List(ctx, k, 5); err == nil && len(items) > 0 {
				_, _ = q.Retry(ctx, k, items[rand.IntN(len(items))].ID)
			}
			say()
		}
		if i%40 == 39 {
			_, _ = q.RetryMatching(ctx, k, Filter{ErrorContains: fmt.Sprintf("batch %d", i/30-1)})
			say()
		}
	}
}

func receivedKey(k Kind) string { return "{" + k.Key() + "}:test-received" }

// TestCrashDuringRetries kills a child process that pushes and retries
// (single and bulk) on the seed kinds and a custom kind at 10 random
// moments, then runs a fresh Service with WithKinds for one claim timeout.
// Every acknowledged push is then in the DLQ, unclaimed, or was received by
// the Requeuer; none was received twice within the claim timeout.
func TestCrashDuringRetries(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		dir := t.TempDir()
		spec := crashSpec(t, e) + "|" + string(e.kind) + "|" + dir
		defer e.Client.Del(ctx, receivedKey(e.kind))
		for trial := range 10 {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+spec)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			for range 20 + rand.IntN(300) { // a random moment
				if !lines.Scan() {
					t.Fatalf("trial %d: the child ended early", trial)
				}
			}
			_ = cmd.Process.Kill() // SIGKILL
			_ = cmd.Wait()
		}

		fresh := New(e.Client, WithKinds(e.kind), WithClaimTimeout(crashClaimAfter), WithJanitorInterval(crashClaimAfter/4))
		rctx, cancel := context.WithTimeout(ctx, crashClaimAfter+100*time.Millisecond)
		defer cancel()
		if err := fresh.Run(rctx); err != nil {
			t.Fatal(err)
		}

		b, err := os.ReadFile(dir + "/acked")
		if err != nil {
			t.Fatal(err)
		}
		inDLQ := map[string]bool{}
		for _, k := range []Kind{Scrape, Extraction, e.kind} {
			items, err := fresh.List(ctx, k, MaxLimit)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := e.Client.LLen(ctx, k.Key()).Result(); n > MaxLimit {
				t.Fatalf("%d entries in %s: more than one List shows", n, k)
			}
			for _, it := range items {
				if it.InFlight {
					t.Errorf("%s %s is still claimed after the claim timeout", k, it.ID)
				}
				inDLQ[it.ID] = true
			}
		}
		log, err := e.Client.LRange(ctx, receivedKey(e.kind), 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]int64{}
		for _, l := range log {
			id, ms, _ := strings.Cut(l, " ")
			at, _ := strconv.ParseInt(ms, 10, 64)
			got[id] = append(got[id], at)
		}
		acked := strings.Fields(string(b))
		lost, twice := 0, 0
		for i := 1; i < len(acked); i += 2 {
			id := acked[i]
			if !inDLQ[id] && len(got[id]) == 0 {
				lost++
				t.Errorf("%s %s was acknowledged, and is neither in the DLQ nor requeued", acked[i-1], id)
			}
			for j := 1; j < len(got[id]); j++ {
				if gap := time.Duration(got[id][j]-got[id][j-1]) * time.Millisecond; gap < crashClaimAfter {
					twice++
					t.Errorf("%s requeued twice %v apart, within the claim timeout", id, gap)
				}
			}
		}
		t.Logf("10 kills: %d pushes acknowledged, %d requeued, %d in the DLQ; %d lost, %d requeued twice within the bound",
			len(acked)/2, len(got), len(inDLQ), lost, twice)
		if len(got) == 0 || len(acked) == 0 {
			t.Fatal("the children did no work")
		}
		// What was claimed when its process died is retryable now.
		for id := range inDLQ {
			for _, k := range []Kind{Scrape, Extraction, e.kind} {
				if _, err := fresh.Pop(ctx, k, id); err != nil && !errors.Is(err, ErrNotFound) {
					t.Fatalf("Pop(%s) after the claim timeout: %v", id, err)
				}
			}
		}
	})
}

// crashSpec tells the child how to reach the env's Redis.
func crashSpec(t *testing.T, e *env) string {
	switch c := e.Client.(type) {
	case *redis.ClusterClient:
		return strings.Join(c.Options().Addrs, ",") + "|cluster|0"
	case *redis.Client:
		return c.Options().Addr + "|single|" + strconv.Itoa(c.Options().DB)
	}
	t.Fatalf("unknown client %T", e.Client)
	return ""
}

package dlq

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
)

// waitFor polls cond every 10 ms until it holds or d has passed.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noLeak checks that no goroutine of an operation is left once Wait
// returned (connections' goroutines come and go with the pools, so the
// stacks are searched for the runner's functions).
func noLeak(t *testing.T, s *Service) {
	t.Helper()
	s.Wait()
	if n := s.opsRunning.Load(); n != 0 {
		t.Fatalf("%d operations still running after Wait", n)
	}
	// Wait returns when the runner called Done; its goroutine may still be
	// returning for a moment: look until it is gone, for at most a second.
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(time.Second)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		left := ""
		for _, fn := range []string{"dlq.(*Service).runOp", "dlq.(*Service).launch"} {
			if strings.Contains(stacks, fn) {
				left = fn
			}
		}
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine in %s is left behind", left)
		}
		runtime.Gosched()
	}
}

// TestOpRunsToTheEnd: an operation deletes what its filter matches,
// reports its counts, is listed newest first, and leaves op_start and
// op_finish records; nothing runs after it ended.
func TestOpRunsToTheEnd(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		fillKind(t, e, 300, func(i int) string { return fmt.Sprintf("cause %d", i%3) })
		ctx := WithReason(WithActor(context.Background(), "dora"), "why not")
		first, err := e.svc.Start(ctx, e.kind, OpDelete, Filter{ErrorContains: "cause 1"})
		if err != nil {
			t.Fatal(err)
		}
		op, err := e.svc.Start(ctx, e.kind, OpDelete, Filter{ErrorContains: "cause 2"})
		if err != nil {
			t.Fatal(err)
		}
		noLeak(t, e.svc)
		for _, id := range []string{first.ID, op.ID} {
			got, err := e.svc.Op(ctx, e.kind, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != OpDone || got.Matched != 100 || got.Handled != 100 || got.Failed+got.Skipped != 0 ||
				got.Actor != "dora" || got.Reason != "why not" || got.Action != OpDelete || got.Finished.IsZero() {
				t.Fatalf("op %+v", got)
			}
		}
		if n, _ := e.Client.LLen(ctx, e.kind.Key()).Result(); n != 100 {
			t.Fatalf("%d entries left, want 100", n)
		}
		ops, err := e.svc.Ops(ctx, e.kind, 0)
		if err != nil || len(ops) != 2 || ops[0].ID != op.ID || ops[1].ID != first.ID {
			t.Fatalf("Ops: %+v, %v", ops, err)
		}
		recs := auditAll(t, e.svc, e.kind)
		var actions []string
		for _, r := range recs {
			actions = append(actions, r.Action+":"+r.Op[len(r.Op)-4:])
			if r.Actor != "dora" || r.Reason != "why not" {
				t.Errorf("record %+v", r)
			}
		}
		// Each operation has its op_start and, newer, its op_finish (the
		// two may run one after the other or side by side).
		if len(recs) != 4 {
			t.Fatalf("records %v", actions)
		}
		for _, id := range []string{first.ID, op.ID} {
			var seq []string
			for _, r := range recs {
				if r.Op != id {
					continue
				}
				seq = append(seq, r.Action)
				if r.Action == AuditOpFinish && (r.Counts == nil || r.Counts.Handled != 100 || r.Result != string(OpDone)) {
					t.Fatalf("op_finish %+v", r)
				}
			}
			if len(seq) != 2 || seq[0] != AuditOpFinish || seq[1] != AuditOpStart {
				t.Fatalf("records of %s, newest first: %v (all: %v)", id, seq, actions)
			}
		}
		if _, err := e.svc.Op(ctx, e.kind, "0190b0b0-0000-7000-8000-000000000000"); !errors.Is(err, ErrOpNotFound) {
			t.Fatalf("missing op: %v", err)
		}
		if _, err := e.svc.Cancel(ctx, e.kind, op.ID); !errors.Is(err, ErrOpFinished) {
			t.Fatalf("cancel a finished op: %v", err)
		}
		if _, err := New(e.Client).Start(ctx, e.kind, OpRetry, Filter{}); !errors.Is(err, ErrNoRequeuer) {
			t.Fatalf("retry without Requeuer: %v", err)
		}
	})
}

// TestOpCancelHalfway: a paced retry cancelled from another Service stops
// between entries; the entries it did not reach are untouched, and the
// counts say how many those are.
func TestOpCancelHalfway(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		got := &requeued{}
		withRequeuer(e, RequeueFunc(func(_ context.Context, it Item) error { got.add(it.ID); return nil }))
		items := fillKind(t, e, 300, func(int) string { return "x" })
		ctx := context.Background()
		op, err := e.svc.Start(ctx, e.kind, OpRetry, Filter{}, WithRate(200))
		if err != nil {
			t.Fatal(err)
		}
		other := New(e.Client)
		waitFor(t, 10*time.Second, "progress visible from another Service", func() bool {
			o, err := other.Op(ctx, e.kind, op.ID)
			return err == nil && o.Handled >= 50
		})
		if _, err := other.Cancel(WithActor(ctx, "erin"), e.kind, op.ID); err != nil {
			t.Fatal(err)
		}
		noLeak(t, e.svc)
		o, err := other.Op(ctx, e.kind, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := e.Client.LLen(ctx, e.kind.Key()).Result()
		requeued := map[string]bool{}
		for _, id := range got.list() {
			requeued[id] = true
		}
		if o.State != OpCancelled || o.Handled != len(got.list()) || o.Handled >= 250 || int(n) != 300-o.Handled ||
			o.Matched-o.Handled-o.Failed-o.Skipped != 300-o.Handled || len(requeued) != o.Handled {
			t.Fatalf("cancelled op %+v; %d requeued, %d left", o, len(got.list()), n)
		}
		left, err := e.svc.List(ctx, e.kind, MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range left {
			if requeued[it.ID] || it.InFlight {
				t.Fatalf("entry %s left requeued or claimed", it.ID)
			}
		}
		_ = items
		recs := auditAll(t, e.svc, e.kind)
		if len(recs) != 3 || recs[0].Action != AuditOpFinish || recs[0].Result != string(OpCancelled) ||
			recs[1].Action != AuditOpCancel || recs[1].Actor != "erin" || recs[2].Action != AuditOpStart {
			t.Fatalf("records %+v", recs)
		}
	})
}

// TestOpInterruptedAndResumed: an operation whose context ends reads
// interrupted; one whose runner stopped beating reads interrupted after
// the claim timeout; Resume finishes each, and of two Resumes at once
// exactly one runs it.
func TestOpInterruptedAndResumed(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		got := &requeued{}
		withRequeuer(e, RequeueFunc(func(_ context.Context, it Item) error { got.add(it.ID); return nil }), WithClaimTimeout(200*time.Millisecond))
		fillKind(t, e, 100, func(int) string { return "x" })
		ctx, stop := context.WithCancel(context.Background())
		op, err := e.svc.Start(ctx, e.kind, OpRetry, Filter{}, WithRate(100))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "progress", func() bool { o, _ := e.svc.Op(ctx, e.kind, op.ID); return o.Handled >= 10 })
		stop()
		e.svc.Wait()
		bg := context.Background()
		o, err := e.svc.Op(bg, e.kind, op.ID)
		if err != nil || o.State != OpInterrupted {
			t.Fatalf("after its context ended: %+v, %v", o, err)
		}
		// Two processes resume it at once: one runs it.
		a := New(e.Client, WithRequeuer(e.svc.requeuer), WithClaimTimeout(200*time.Millisecond))
		b := New(e.Client, WithRequeuer(e.svc.requeuer), WithClaimTimeout(200*time.Millisecond))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*Service{a, b} {
			wg.Go(func() { _, errs[i] = s.Resume(bg, e.kind, op.ID) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), ErrOpRunning) {
			t.Fatalf("two resumes: %v", errs)
		}
		a.Wait()
		b.Wait()
		o, err = e.svc.Op(bg, e.kind, op.ID)
		if err != nil || o.State != OpDone || o.Resumed != 1 || o.Handled != 100 || len(got.list()) != 100 || !unique(got.list()) {
			t.Fatalf("resumed: %+v, %v; %d requeued", o, err, len(got.list()))
		}
		if n, _ := e.Client.LLen(bg, e.kind.Key()).Result(); n != 0 {
			t.Fatalf("%d entries left", n)
		}
		// A runner that stopped beating (its process died): interrupted
		// once its heartbeat is older than the claim timeout, not before.
		id := "0190b0b0-0000-7000-8000-00000000dead"
		if _, err := rdb.OpCreate(bg, e.Client, e.kind.keys(), id, []string{"state", "running", "action", "delete", "owner", "gone", "filter", "{}"}, time.Hour, 100); err != nil {
			t.Fatal(err)
		}
		born := time.Now()
		if o, _ := e.svc.Op(bg, e.kind, id); o.State != OpRunning {
			t.Fatalf("fresh: %s", o.State)
		}
		if _, err := e.svc.Resume(bg, e.kind, id); !errors.Is(err, ErrOpRunning) {
			t.Fatalf("resume a live op: %v", err)
		}
		waitFor(t, 5*time.Second, "interrupted", func() bool { o, _ := e.svc.Op(bg, e.kind, id); return o.State == OpInterrupted })
		if d := time.Since(born); d < e.svc.claimTimeout {
			t.Fatalf("interrupted after %v, within the claim timeout", d)
		}
		if _, err := e.svc.Resume(bg, e.kind, id); err != nil {
			t.Fatal(err)
		}
		noLeak(t, e.svc)
		noLeak(t, a)
		if o, _ := e.svc.Op(bg, e.kind, id); o.State != OpDone {
			t.Fatalf("resumed: %+v", o)
		}
	})
}

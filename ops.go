package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
	"github.com/google/uuid"
)

// Operations: a bulk retry or delete that outlives the call that started
// it. Its state lives in Redis, in the kind's slot ("{scrape:dlq}:op:<id>"
// hashes and the sorted set "{scrape:dlq}:ops"), so that any process
// answers about any operation. The process that started it runs it, in a
// goroutine of its Service (see [Service.Start] and [Service.Wait]),
// writing its counts and a heartbeat every 250 ms by Redis' clock. An
// operation whose heartbeat is older than the claim timeout (plus 1 s)
// reads [OpInterrupted]: its process died, and its claims have expired as
// any retry's do; [Service.Resume] continues it.

// OpState is an operation's state.
type OpState string

// The states of an operation.
const (
	OpRunning     OpState = "running"
	OpDone        OpState = "done"
	OpCancelled   OpState = "cancelled"
	OpInterrupted OpState = "interrupted" // its runner died or stopped: resumable
	OpFailed      OpState = "failed"      // stopped on an error (Op.Error)
)

// The actions of an operation.
const (
	OpRetry  = "retry"
	OpDelete = "delete"
)

// Sentinel errors of operations.
var (
	// ErrOpNotFound means no operation with that id is kept for the kind.
	ErrOpNotFound = errors.New("dlq: operation not found")
	// ErrOpRunning means the operation is running, in this process or
	// another (its heartbeat is fresh), so it cannot be resumed.
	ErrOpRunning = errors.New("dlq: operation is running")
	// ErrOpFinished means the operation is done, cancelled or failed.
	ErrOpFinished = errors.New("dlq: operation has finished")
	// ErrInvalidAction means an operation's action is not "retry" or
	// "delete".
	ErrInvalidAction = errors.New("dlq: invalid action")
)

// Operations are kept for DefaultOpsKeep after their last write, and at
// most DefaultMaxOps per kind (the oldest go first).
const (
	DefaultOpsKeep = 7 * 24 * time.Hour
	DefaultMaxOps  = 100
)

// opBeat is how often a runner writes its counts and heartbeat, and reads
// whether it was cancelled.
const opBeat = 250 * time.Millisecond

// Op is an operation's state, as kept in Redis.
type Op struct {
	ID     string  `json:"id"`
	Kind   Kind    `json:"kind"`
	Action string  `json:"action"` // OpRetry or OpDelete
	Filter Filter  `json:"filter"`
	Rate   float64 `json:"rate"`    // requeues a second; 0 for no limit
	DryRun bool    `json:"dry_run"` // it only counts
	Actor  string  `json:"actor"`
	Reason string  `json:"reason"`
	State  OpState `json:"state"`
	// The counts so far, over every run of the operation (a resumed one
	// counts again the entries whose requeue failed before). When it
	// stopped early, Matched minus the other three is how many matched
	// entries it did not reach; entries of pages it never read are in no
	// count.
	BulkResult
	Created   time.Time `json:"created"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	Heartbeat time.Time `json:"heartbeat"`
	Owner     string    `json:"owner"`   // the process running it: host:pid:token
	Resumed   int       `json:"resumed"` // how many times it was resumed

	snapshot string // what it acts on: the entries present when it started (see snapshot.go)
	Error    string `json:"error,omitempty"`
}

// opsState is what a Service keeps of the operations it runs.
type opsState struct {
	opsWG      sync.WaitGroup
	opsRunning atomic.Int64
}

// opStale is how old a running operation's heartbeat may be before it
// reads interrupted: the claim timeout, so that the claims of a dead
// runner have expired, plus four beats for the claim stamped after its
// last beat.
func (s *Service) opStale() time.Duration { return s.claimTimeout + 4*opBeat }

// Start starts a bulk retry or delete (action [OpRetry] or [OpDelete]) of
// the entries of kind matching f as an operation, and returns it running.
// opts are [WithRate] and [DryRun]. The actor and reason of ctx
// ([WithActor], [WithReason]) are the operation's.
//
// The operation runs in a goroutine of this Service until it is done,
// cancelled ([Service.Cancel], from any process), fails, or ctx ends: ctx
// is the run's lifetime, not only the call's. A caller answering a request
// passes a context that outlives it (the server's, or
// context.WithoutCancel(r.Context())). When ctx ends the operation is
// marked [OpInterrupted], and can be resumed. [Service.Wait] waits for
// every operation this Service runs.
//
// It returns an error wrapping [ErrInvalidAction], [ErrNoRequeuer] (a
// retry without a Requeuer), [ErrOutOfMemory] (Redis is full and refused
// to record the operation: make room with [Service.DeleteMatching]), or a
// Redis error.
func (s *Service) Start(ctx context.Context, kind Kind, action string, f Filter, opts ...BulkOption) (Op, error) {
	if err := s.check(kind); err != nil {
		return Op{}, err
	}
	if action != OpRetry && action != OpDelete {
		return Op{}, errorf(ErrInvalidAction, "%q", action)
	}
	if action == OpRetry && s.requeuer == nil {
		return Op{}, opError("start", kind, ErrNoRequeuer)
	}
	var cfg bulkConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	fj, _ := json.Marshal(f)
	// The snapshot is taken now and kept with the operation, so that a
	// resumed run acts on the same entries: those present at the start.
	sn, err := s.takeSnapshot(ctx, kind.Key())
	if err != nil {
		return Op{}, opError("start", kind, err)
	}
	op := Op{snapshot: sn.String(),
		ID: uuid.Must(uuid.NewV7()).String(), Kind: kind, Action: action, Filter: f, Rate: max(cfg.rate, 0), DryRun: cfg.dryRun,
		Actor: ActorOf(ctx), Reason: ReasonOf(ctx), State: OpRunning, Owner: newOwner(),
	}
	dry := "0"
	if op.DryRun {
		dry = "1"
	}
	fields := []string{"kind", string(kind), "action", action, "filter", string(fj), "rate", strconv.FormatFloat(op.Rate, 'g', -1, 64),
		"dry_run", dry, "actor", op.Actor, "reason", op.Reason, "state", string(OpRunning), "owner", op.Owner, "snapshot", op.snapshot,
		"matched", "0", "handled", "0", "failed", "0", "skipped", "0"}
	created, err := rdb.OpCreate(ctx, s.rdb, kind.keys(), op.ID, fields, DefaultOpsKeep, DefaultMaxOps)
	if err != nil && created.IsZero() {
		return Op{}, opError("start", kind, opOOM(err, "record the operation, so none was started; make room with a delete that is not an operation (DeleteMatching), or raise maxmemory"))
	}
	if err != nil {
		s.logger().WarnContext(ctx, "dlq: operation started, but trimming old ones failed", "kind", string(kind), "error", err)
	}
	op.Created, op.Started, op.Heartbeat = created.UTC(), created.UTC(), created.UTC()
	s.audit(ctx, auditRec{kind: kind, action: AuditOpStart, op: op.ID, filter: &op.Filter, result: "ok"})
	s.launch(ctx, op, opts)
	return op, nil
}

// opOOM says what Redis refused when an operation's state could not be
// written for memory (instead of Lua's text, which names the script and
// its line); other errors are returned as they are.
func opOOM(err error, what string) error {
	if rdb.IsOOM(err) {
		return fmt.Errorf("%w (OOM): it refused to %s", ErrOutOfMemory, what)
	}
	return err
}

// newOwner names a run: host, pid and a random token.
func newOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), uuid.NewString()[:8])
}

// Wait blocks until every operation this Service runs has stopped (done,
// cancelled, failed, or interrupted by the end of the context it was
// started or resumed with).
func (s *Service) Wait() {
	if s != nil {
		s.opsWG.Wait()
	}
}

// launch runs op in a goroutine the Service tracks (Wait).
func (s *Service) launch(ctx context.Context, op Op, opts []BulkOption) {
	s.opsWG.Add(1)
	s.opsRunning.Add(1)
	go func() {
		defer s.opsWG.Done()
		defer s.opsRunning.Add(-1)
		s.runOp(ctx, op, opts)
	}()
}

// runOp runs the bulk action of op in a second goroutine and, in this
// one, writes its counts every beat, stops it when cancelled, and records
// how it ended. Both end before runOp returns.
func (s *Service) runOp(ctx context.Context, op Op, opts []BulkOption) {
	ks := op.Kind.keys()
	base := op.BulkResult // counts of earlier runs
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var cur BulkResult
	var stop atomic.Bool
	progress := func(r BulkResult) {
		mu.Lock()
		cur = r
		mu.Unlock()
		if stop.Load() {
			cancel() // between entries: the next one is not started
		}
	}
	total := func() rdb.Counts {
		mu.Lock()
		defer mu.Unlock()
		return rdb.Counts{int64(base.Matched + cur.Matched), int64(base.Handled + cur.Handled),
			int64(base.Failed + cur.Failed), int64(base.Skipped + cur.Skipped)}
	}
	type result struct {
		res BulkResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Every run acts on the snapshot taken when the operation started.
		res, err := s.bulk(bctx, "operation", op.Kind, op.Filter, op.Action == OpRetry, append(opts, withProgress(progress), withSnapshot(op.snapshot)))
		done <- result{res, err}
	}()
	t := time.NewTicker(opBeat)
	defer t.Stop()
	var stopAsked time.Time
	lost := false
	for {
		select {
		case r := <-done:
			mu.Lock()
			cur = r.res
			mu.Unlock()
			s.endOp(ctx, op, ks, total(), r.err, stop.Load(), lost)
			return
		case <-t.C:
			st, err := rdb.OpBeat(ctx, s.rdb, ks, op.ID, op.Owner, total(), DefaultOpsKeep)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					s.logger().WarnContext(ctx, "dlq: writing an operation's progress failed", "kind", string(op.Kind), "op", op.ID, "error", err)
				}
			case st == rdb.BeatCancel:
				if !stop.Swap(true) {
					stopAsked = time.Now()
				} else if time.Since(stopAsked) > time.Second {
					cancel() // waiting on the rate limit: stop now
				}
			case st == rdb.BeatLost:
				lost = true
				cancel()
			}
		}
	}
}

// endOp records how a run ended.
func (s *Service) endOp(ctx context.Context, op Op, ks rdb.Keys, n rdb.Counts, err error, cancelled, lost bool) {
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer wcancel()
	state, errText := OpDone, ""
	switch {
	case lost:
		s.logger().WarnContext(ctx, "dlq: operation taken over by another process; this run stopped", "kind", string(op.Kind), "op", op.ID)
		return
	case err == nil:
	case cancelled && errors.Is(err, context.Canceled):
		state = OpCancelled
	case ctx.Err() != nil:
		state = OpInterrupted
	default:
		state, errText = OpFailed, err.Error()
		s.logger().ErrorContext(ctx, "dlq: operation failed", "kind", string(op.Kind), "op", op.ID, "error", err)
	}
	ok, ferr := rdb.OpFinish(wctx, s.rdb, ks, op.ID, op.Owner, string(state), n, errText, DefaultOpsKeep)
	switch {
	case ferr != nil:
		s.logger().ErrorContext(ctx, "dlq: recording an operation's end failed; it will read interrupted", "kind", string(op.Kind), "op", op.ID, "state", state, "error", ferr)
	case !ok:
		s.logger().WarnContext(ctx, "dlq: operation taken over by another process before it ended here", "kind", string(op.Kind), "op", op.ID)
		return
	}
	res := BulkResult{Matched: int(n[0]), Handled: int(n[1]), Failed: int(n[2]), Skipped: int(n[3])}
	s.audit(WithReason(wctx, op.Reason), auditRec{kind: op.Kind, action: AuditOpFinish, op: op.ID, actor: op.Actor,
		filter: &op.Filter, counts: &res, result: string(state)})
}

// Op returns one operation of a kind, read in one round trip. A running
// operation whose heartbeat is older than the claim timeout reads
// [OpInterrupted]. It returns an error wrapping [ErrOpNotFound] when no
// such operation is kept.
func (s *Service) Op(ctx context.Context, kind Kind, id string) (Op, error) {
	if err := s.check(kind); err != nil {
		return Op{}, err
	}
	if _, err := uuid.Parse(id); err != nil {
		return Op{}, errorf(ErrOpNotFound, "%s op %q", kind, id)
	}
	h, now, err := rdb.OpRead(ctx, s.rdb, kind.keys(), id)
	if err != nil {
		return Op{}, opError("op", kind, err)
	}
	if len(h) == 0 {
		return Op{}, errorf(ErrOpNotFound, "%s op %q", kind, id)
	}
	h["id"] = id
	return s.opOf(kind, h, now), nil
}

// Ops returns a kind's operations, newest first (at most limit; 0 means
// [DefaultMaxOps]), read in one round trip.
func (s *Service) Ops(ctx context.Context, kind Kind, limit int) ([]Op, error) {
	if err := s.check(kind); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, errorf(ErrInvalidLimit, "%d", limit)
	}
	if limit == 0 || limit > DefaultMaxOps {
		limit = DefaultMaxOps
	}
	hs, now, err := rdb.OpList(ctx, s.rdb, kind.keys(), limit)
	if err != nil {
		return nil, opError("ops", kind, err)
	}
	out := make([]Op, 0, len(hs))
	for _, h := range hs {
		out = append(out, s.opOf(kind, h, now))
	}
	return out, nil
}

// opOf reads an operation's hash, judging its heartbeat by now (Redis'
// clock).
func (s *Service) opOf(kind Kind, h map[string]string, now time.Time) Op {
	n := func(k string) int { i, _ := strconv.Atoi(h[k]); return i }
	t := func(k string) time.Time {
		if v := rdb.MillisOf(h[k]); !v.IsZero() {
			return v.UTC()
		}
		return time.Time{}
	}
	op := Op{
		ID: h["id"], Kind: kind, Action: h["action"], Actor: h["actor"], Reason: h["reason"], snapshot: h["snapshot"],
		State: OpState(h["state"]), DryRun: h["dry_run"] == "1", Owner: h["owner"], Error: h["error"],
		BulkResult: BulkResult{Matched: n("matched"), Handled: n("handled"), Failed: n("failed"), Skipped: n("skipped")},
		Created:    t("created"), Started: t("started"), Finished: t("finished"), Heartbeat: t("heartbeat"), Resumed: n("resumed"),
	}
	op.Rate, _ = strconv.ParseFloat(h["rate"], 64)
	_ = json.Unmarshal([]byte(h["filter"]), &op.Filter)
	// Judged as the takeover and cancel scripts judge it: by Redis' clock
	// in whole ms, so that an operation that reads interrupted can be
	// resumed at once.
	if op.State == OpRunning && now.Truncate(time.Millisecond).Sub(op.Heartbeat) > s.opStale() {
		op.State = OpInterrupted
	}
	return op
}

// Cancel stops an operation: its runner, in whatever process, stops
// between entries within about a second; entries it had not reached stay
// untouched. An operation nobody runs (interrupted) is cancelled at once.
// It returns the operation as it reads after the call, or an error
// wrapping [ErrOpNotFound] or [ErrOpFinished].
func (s *Service) Cancel(ctx context.Context, kind Kind, id string) (Op, error) {
	if err := s.check(kind); err != nil {
		return Op{}, err
	}
	if _, err := uuid.Parse(id); err != nil {
		return Op{}, errorf(ErrOpNotFound, "%s op %q", kind, id)
	}
	st, err := rdb.OpCancel(ctx, s.rdb, kind.keys(), id, s.opStale())
	switch {
	case err != nil:
		return Op{}, opError("cancel", kind, opOOM(err, "record the cancel, so the operation goes on; free memory (delete entries) or raise maxmemory"))
	case st == "missing":
		return Op{}, errorf(ErrOpNotFound, "%s op %q", kind, id)
	case st == "finished":
		return Op{}, errorf(ErrOpFinished, "%s op %q", kind, id)
	}
	s.audit(ctx, auditRec{kind: kind, action: AuditOpCancel, op: id, result: st})
	return s.Op(ctx, kind, id)
}

// Resume continues an interrupted operation in this process, as
// [Service.Start] runs a new one (ctx is the run's lifetime). Taking it
// over is one script that checks the heartbeat is stale and sets this
// process as the owner, so two processes never run it at once. The counts
// go on from where they were. It returns an error wrapping [ErrOpNotFound],
// [ErrOpFinished], [ErrOpRunning] (its heartbeat is fresh), or
// [ErrNoRequeuer] (a retry on a Service without one).
func (s *Service) Resume(ctx context.Context, kind Kind, id string) (Op, error) {
	op, err := s.Op(ctx, kind, id)
	if err != nil {
		return Op{}, err
	}
	if op.Action == OpRetry && s.requeuer == nil {
		return Op{}, opError("resume", kind, ErrNoRequeuer)
	}
	owner := newOwner()
	st, err := rdb.OpTakeover(ctx, s.rdb, kind.keys(), id, owner, s.opStale())
	switch {
	case err != nil:
		return Op{}, opError("resume", kind, opOOM(err, "record the new owner, so nothing was resumed; free memory (delete entries) or raise maxmemory"))
	case st == "missing":
		return Op{}, errorf(ErrOpNotFound, "%s op %q", kind, id)
	case st == "finished":
		return Op{}, errorf(ErrOpFinished, "%s op %q", kind, id)
	case st == "running":
		return Op{}, errorf(ErrOpRunning, "%s op %q, by %s", kind, id, op.Owner)
	}
	op.Owner, op.State = owner, OpRunning
	op.Resumed++
	// The entries the dead run matched but never reached are matched again
	// by this run: only what was dealt with carries over.
	op.Matched = op.Handled + op.Failed + op.Skipped
	var opts []BulkOption
	if op.Rate > 0 {
		opts = append(opts, WithRate(op.Rate))
	}
	if op.DryRun {
		opts = append(opts, DryRun())
	}
	s.audit(ctx, auditRec{kind: kind, action: AuditOpResume, op: id, result: "ok"})
	s.launch(ctx, op, opts)
	return op, nil
}

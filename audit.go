package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlqkit/dlq/internal/rdb"
)

// The audit log: every change (Retry, Pop, Delete, RetryMatching,
// DeleteMatching, operations started, cancelled, resumed and finished,
// sweeps that evicted) appends one record to a Redis stream in the kind's
// slot, "{scrape:dlq}:audit", bounded with XADD MAXLEN ~. A change made
// by one script (Pop, Delete, the end of a Retry) writes its record in that
// script, so a change that happened is recorded; bulk actions, operations
// and sweeps, which are many calls, write theirs after them. A record
// Redis refuses (out of memory under noeviction) is logged and counted
// ([Service.AuditDropped]), and the change stands.

// DefaultAuditLimit is how many records each kind's audit stream keeps
// unless [WithAuditLimit] says otherwise.
const DefaultAuditLimit = 10_000

// Bounds of an actor's and a reason's length in bytes.
const (
	MaxActorLen  = 256
	MaxReasonLen = 1024
)

// WithAuditLimit keeps about n records in each kind's audit stream (from n
// to n plus about 100: Redis trims whole nodes). n <= 0 turns the audit log
// off: changes write no record.
func WithAuditLimit(n int) Option {
	return func(s *Service) {
		if n <= 0 {
			n = -1
		}
		s.auditLimit = n
	}
}

// auditState is what a Service keeps for the audit log.
type auditState struct {
	auditLimit   int          // 0 means DefaultAuditLimit; -1 off
	auditDropped atomic.Int64 // records Redis refused
}

// AuditDropped returns how many audit records this Service could not write
// (Redis refused them, e.g. out of memory, or was unreachable); each was
// logged with its content. The prometheus module exports it as
// dlq_audit_dropped_total.
func (s *Service) AuditDropped() int64 {
	if s == nil {
		return 0
	}
	return s.auditDropped.Load()
}

type ctxKey int

const (
	actorKey ctxKey = iota
	reasonKey
)

// WithActor returns a context whose changes are recorded in the audit log
// as done by actor (a user name, a service name). It is cut to
// [MaxActorLen] bytes at a UTF-8 boundary, with invalid UTF-8 and control
// characters replaced by U+FFFD.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey, bound(actor, MaxActorLen))
}

// WithReason returns a context whose changes are recorded in the audit log
// with this reason, bounded to [MaxReasonLen] bytes as [WithActor] bounds
// an actor.
func WithReason(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, reasonKey, bound(reason, MaxReasonLen))
}

// ActorOf returns the actor [WithActor] set on ctx, or "".
func ActorOf(ctx context.Context) string { s, _ := ctx.Value(actorKey).(string); return s }

// ReasonOf returns the reason [WithReason] set on ctx, or "".
func ReasonOf(ctx context.Context) string { s, _ := ctx.Value(reasonKey).(string); return s }

// bound cuts s to at most n bytes at a rune boundary and replaces invalid
// UTF-8 and control characters (tabs and newlines included) with U+FFFD.
func bound(s string, n int) string {
	var b strings.Builder
	for i, r := range s {
		if i >= n*2 || b.Len() >= n { // n*2: a cheap stop for huge inputs
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Audit actions, as recorded in an [AuditRecord]'s Action.
const (
	AuditRetry          = "retry"
	AuditPop            = "pop"
	AuditDelete         = "delete"
	AuditRetryMatching  = "retry_matching"
	AuditDeleteMatching = "delete_matching"
	AuditOpStart        = "op_start"
	AuditOpCancel       = "op_cancel"
	AuditOpResume       = "op_resume"
	AuditOpFinish       = "op_finish"
	AuditSweep          = "sweep"
)

// AuditRecord is one change in the audit log.
type AuditRecord struct {
	// Cursor is the record's stream id: pass it as [AuditQuery].Cursor to
	// read the records older than this one.
	Cursor string `json:"cursor"`
	// Time is when it was written, by the Redis server's clock (ms).
	Time   time.Time `json:"time"`
	Kind   Kind      `json:"kind"`
	Action string    `json:"action"` // one of the Audit… constants
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	// ID is the entry of a single-entry change.
	ID string `json:"id,omitempty"`
	// Forced is true for a Pop or Delete with [Force].
	Forced bool `json:"forced,omitempty"`
	// Op is the operation of an op_… record.
	Op string `json:"op,omitempty"`
	// Filter is a bulk action's filter.
	Filter *Filter `json:"filter,omitempty"`
	// Counts are a bulk action's counts (Matched, Handled, Failed,
	// Skipped), or a sweep's evictions in Handled.
	Counts *BulkResult `json:"counts,omitempty"`
	// Result is "ok", "requeue_failed" (a Retry whose Requeuer failed: the
	// entry stayed), or for a bulk action that stopped, "error: …" or an
	// operation's final state.
	Result string `json:"result"`
}

// auditRec is a record to write.
type auditRec struct {
	kind   Kind
	action string
	id     string
	forced bool
	op     string
	filter *Filter
	counts *BulkResult
	result string
	actor  string // "" takes the context's
}

// audit writes one record after a change, with the context's actor and
// reason. A record Redis refuses is logged and counted, never returned:
// the change stands. Changes made by one script (Pop, Delete, the end of
// a Retry) write their record in that script instead (see record).
func (s *Service) audit(ctx context.Context, r auditRec) {
	rec := s.record(ctx, r)
	if rec.Limit <= 0 {
		return
	}
	// The change is done: its record is written even if the caller's
	// context ended meanwhile.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	if _, err := rdb.Audit(wctx, s.rdb, r.kind.keys(), rec.Limit, rec.Fields); err != nil {
		s.auditFailed(ctx, rec, err.Error())
	}
}

// auditFailed counts and logs a record Redis refused (a script's error
// text, or a call's); nothing when err is "".
func (s *Service) auditFailed(ctx context.Context, rec rdb.Record, err string) {
	if err == "" {
		return
	}
	s.auditDropped.Add(1)
	s.logger().ErrorContext(ctx, "dlq: audit record dropped (the change stands)", "record", rec.Fields, "error", err)
}

// record is the audit record r, with the context's actor and reason, for
// a script to write with its change; Limit 0 when the log is off.
func (s *Service) record(ctx context.Context, r auditRec) rdb.Record {
	if s == nil || s.rdb == nil || s.auditLimit < 0 {
		return rdb.Record{}
	}
	limit := s.auditLimit
	if limit == 0 {
		limit = DefaultAuditLimit
	}
	actor := r.actor
	if actor == "" {
		actor = ActorOf(ctx)
	}
	f := []string{"kind", string(r.kind), "action", r.action, "actor", actor, "reason", ReasonOf(ctx), "result", r.result}
	if r.id != "" {
		f = append(f, "id", r.id)
	}
	if r.forced {
		f = append(f, "forced", "1")
	}
	if r.op != "" {
		f = append(f, "op", r.op)
	}
	if r.filter != nil {
		b, _ := json.Marshal(r.filter)
		f = append(f, "filter", string(b))
	}
	if c := r.counts; c != nil {
		f = append(f, "matched", strconv.Itoa(c.Matched), "handled", strconv.Itoa(c.Handled),
			"failed", strconv.Itoa(c.Failed), "skipped", strconv.Itoa(c.Skipped))
	}
	return rdb.Record{Limit: limit, Fields: f}
}

// auditBulk records a bulk action that ran (not a dry run, not one refused
// before it touched anything).
func (s *Service) auditBulk(ctx context.Context, kind Kind, action string, f Filter, opts []BulkOption, res BulkResult, err error) {
	var cfg bulkConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.dryRun || (err != nil && res == BulkResult{} && !isErr(err, context.Canceled, context.DeadlineExceeded)) {
		return
	}
	result := "ok"
	if err != nil {
		result = "error: " + err.Error()
	}
	s.audit(ctx, auditRec{kind: kind, action: action, filter: &f, counts: &res, result: result})
}

// AuditQuery asks [Service.Audit] for a page of records.
type AuditQuery struct {
	// Limit is the most records a page holds: 0 means DefaultLimit, more
	// than MaxLimit means MaxLimit.
	Limit int
	// Cursor continues from a record's Cursor (the page's Next): records
	// older than it. "" starts at the newest.
	Cursor string
	// Action and Actor keep only records with exactly this action or actor.
	Action string
	Actor  string
}

// AuditPage is one page of [Service.Audit]'s answer.
type AuditPage struct {
	Records []AuditRecord `json:"records"`
	// Next is the cursor of the next page, or "" at the oldest record.
	Next string `json:"next,omitempty"`
}

// auditScanMax bounds the records one Audit call reads to fill a filtered
// page: a page may come back short, with Next set.
const auditScanMax = 5_000

// Audit returns a kind's audit records, newest first. With Action or Actor
// set it reads at most 5,000 records for one page: a page may hold fewer
// than Limit records and still have a Next. It returns an error wrapping
// [ErrInvalidCursor] for a cursor that is not a record's.
func (s *Service) Audit(ctx context.Context, kind Kind, q AuditQuery) (AuditPage, error) {
	if err := s.check(kind); err != nil {
		return AuditPage{}, err
	}
	if q.Limit < 0 {
		return AuditPage{}, errorf(ErrInvalidLimit, "%d", q.Limit)
	}
	if q.Cursor != "" {
		if _, _, ok := rdb.ParseStreamID(q.Cursor); !ok {
			return AuditPage{}, errorf(ErrInvalidCursor, "%q", q.Cursor)
		}
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	page := AuditPage{Records: []AuditRecord{}}
	filtered := q.Action != "" || q.Actor != ""
	cursor, read := q.Cursor, 0
	for {
		n := limit - len(page.Records)
		if filtered {
			n = min(max(n, 100), auditScanMax-read)
		}
		if n <= 0 {
			break // the scan's budget is spent
		}
		msgs, err := rdb.AuditRange(ctx, s.rdb, kind.keys(), cursor, n)
		if err != nil {
			return AuditPage{}, opError("audit", kind, err)
		}
		last := len(msgs) < n // the oldest record is among these
		for i, m := range msgs {
			read++
			cursor = m.ID
			r := auditRecord(kind, m.ID, m.Values)
			if (q.Action != "" && r.Action != q.Action) || (q.Actor != "" && r.Actor != q.Actor) {
				continue
			}
			page.Records = append(page.Records, r)
			if len(page.Records) == limit {
				if !last || i < len(msgs)-1 {
					page.Next = cursor
				}
				return page, nil
			}
		}
		if last {
			return page, nil
		}
	}
	page.Next = cursor
	return page, nil
}

// isErr reports whether err is any of targets.
func isErr(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// auditRecord reads a stream entry.
func auditRecord(kind Kind, id string, v map[string]any) AuditRecord {
	str := func(k string) string { s, _ := v[k].(string); return s }
	ms, _, _ := rdb.ParseStreamID(id)
	r := AuditRecord{
		Cursor: id, Time: time.UnixMilli(int64(ms)).UTC(), Kind: kind,
		Action: str("action"), Actor: str("actor"), Reason: str("reason"),
		ID: str("id"), Forced: str("forced") == "1", Op: str("op"), Result: str("result"),
	}
	if k := str("kind"); k != "" {
		r.Kind = Kind(k)
	}
	if fs := str("filter"); fs != "" {
		var f Filter
		if json.Unmarshal([]byte(fs), &f) == nil {
			r.Filter = &f
		}
	}
	if _, ok := v["matched"]; ok {
		n := func(k string) int { i, _ := strconv.Atoi(str(k)); return i }
		r.Counts = &BulkResult{Matched: n("matched"), Handled: n("handled"), Failed: n("failed"), Skipped: n("skipped")}
	}
	return r
}

// auditSweep records a sweep that evicted entries: one record with the
// count in Handled (the age limit's evictions in Matched too, for the
// record), its actor "janitor" unless the context names one.
func (s *Service) auditSweep(ctx context.Context, kind Kind, res SweepResult) {
	n := res.EvictedByCap + res.EvictedByAge
	if n == 0 {
		return
	}
	actor := ActorOf(ctx)
	if actor == "" {
		actor = "janitor"
	}
	s.audit(ctx, auditRec{kind: kind, action: AuditSweep, actor: actor, counts: &BulkResult{Matched: int(n), Handled: int(n)}, result: "ok"})
}

package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// PushScrapeFailure records that scraping sourceID failed with cause.
// See [Service.Push].
func (s *Service) PushScrapeFailure(ctx context.Context, sourceID uuid.UUID, cause error, opts ...PushOption) (Item, error) {
	return s.Push(ctx, Scrape, sourceID, cause, opts...)
}

// PushExtractionFailure records that extracting sourceID failed with cause.
// See [Service.Push].
func (s *Service) PushExtractionFailure(ctx context.Context, sourceID uuid.UUID, cause error, opts ...PushOption) (Item, error) {
	return s.Push(ctx, Extraction, sourceID, cause, opts...)
}

// Push records a failure of the given kind at the head of its list and
// returns the stored item, with a new UUIDv7 as its id and the current
// time, to the microsecond, as FailedAt.
//
// cause.Error() becomes the item's Error, cut to [MaxErrorBytes]. A nil
// cause returns an error wrapping [ErrNilCause] and writes nothing; an
// invalid kind returns one wrapping [ErrInvalidKind]. A valid kind the
// Service does not know (see [WithKinds]) is pushed, and logged once per
// kind at warning level: nothing that lists the Service's kinds sees it.
//
// The entry is written with one LPUSH, in one round trip with the kind's
// pushed counter and history buckets (see [Service.History]). Pushes of one
// kind that arrive while another is in flight share one round trip (group
// commit), sent by one of the waiting callers: Push starts no goroutine.
// If ctx ends while a push waits for its turn, Push returns ctx's error and
// wrote nothing; if its batch was already sent, the error says it may have
// been recorded. A push Redis refuses for memory returns an error wrapping
// [ErrOutOfMemory].
//
// When the push takes the list more than 1% over its cap (see
// [WithMaxItems]), Push evicts the oldest entries down to the cap before
// it returns, adds them to the kind's evicted counter, and logs them at
// warning level (at most every 10 seconds per kind and process, each line
// with the number since the previous one). If the trim fails, the push
// still succeeds, the failure is logged, and a later push or the janitor
// trims.
func (s *Service) Push(ctx context.Context, kind Kind, sourceID uuid.UUID, cause error, opts ...PushOption) (Item, error) {
	if err := s.check(kind); err != nil {
		return Item{}, err
	}
	text, err := errorText(cause)
	if err != nil {
		return Item{}, fmt.Errorf("dlq: push %s failure of source %s: %w", kind, sourceID, err)
	}
	id, err := newID()
	if err != nil {
		return Item{}, opError("push", kind, err)
	}
	it := Item{
		ID:       id,
		SourceID: sourceID.String(),
		Error:    truncateError(strings.ToValidUTF8(text, "\uFFFD")),
		FailedAt: s.now().UTC().Truncate(time.Microsecond),
		Kind:     kind,
	}
	for _, o := range opts {
		if o != nil {
			o(&it)
		}
	}
	if err := ctx.Err(); err != nil {
		return Item{}, opError("push", kind, err)
	}
	entry := it.appendJSON(make([]byte, 0, 192+len(it.Error)))
	if err := s.pusher(kind).push(ctx, s, kind, entry); err != nil {
		if mayHaveLanded(err) {
			err = fmt.Errorf("%w (the connection failed after the push was sent: the failure may have been recorded all the same)", err)
		}
		return Item{}, opError("push", kind, err)
	}
	return it, nil
}

// mayHaveLanded reports whether a push's error leaves its outcome unknown:
// the connection failed (EOF, reset, a timeout) rather than Redis
// answering with an error, so the LPUSH may have run.
func mayHaveLanded(err error) bool {
	var re redis.Error
	if errors.As(err, &re) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "may have been recorded") {
		return false
	}
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || (errors.As(err, &ne) && ne.Timeout())
}

// errorText returns cause.Error(), or an error wrapping ErrNilCause for a
// nil cause or one whose Error method panics (a typed nil pointer).
func errorText(cause error) (text string, err error) {
	if cause == nil {
		return "", ErrNilCause
	}
	defer func() {
		if r := recover(); r != nil {
			err = errorf(ErrNilCause, "%T.Error panicked: %v", cause, r)
		}
	}()
	return cause.Error(), nil
}

// Group commit bounds: one round trip carries at most this many entries
// or bytes.
const (
	maxBatchEntries = 64
	maxBatchBytes   = 1 << 20
)

// pusher batches the pushes of one kind. One caller at a time is the
// leader and sends a batch; the others wait, and when the leader is done it
// hands the lead to the first of them, which sends itself and those behind
// it. No goroutine is started: every batch is sent by a caller of Push.
type pusher struct {
	keys rdb.Keys // the kind's keys, built once

	mu      sync.Mutex
	busy    bool // a leader is sending
	waiting []*pushReq

	logMu    sync.Mutex // guards lastLog and unlogged
	lastLog  time.Time
	unlogged int64
}

type pushReq struct {
	entry []byte
	done  chan struct{} // closed when err is set, or when the lead is handed over
	err   error
	taken bool // in a batch being sent; guarded by pusher.mu
	lead  bool // this caller sends the next batch; guarded by pusher.mu
}

func (s *Service) pusher(k Kind) *pusher {
	if p, ok := s.pushers.Load(k); ok {
		return p.(*pusher)
	}
	p, loaded := s.pushers.LoadOrStore(k, &pusher{keys: k.keys()})
	if !loaded && !s.knows(k) {
		// Once per kind and Service: the push succeeds, but nothing that
		// lists the Service's kinds (the janitor, httpapi, metrics) sees it.
		s.logger().Warn("dlq: push to a kind this Service does not know; name it with dlq.WithKinds so that the janitor, the HTTP API and the metrics see it",
			"kind", string(k), "key", k.Key())
	}
	return p.(*pusher)
}

func (p *pusher) push(ctx context.Context, s *Service, kind Kind, entry []byte) error {
	r := &pushReq{entry: entry, done: make(chan struct{})}
	p.mu.Lock()
	if !p.busy {
		p.busy, r.lead, r.taken = true, true, true
		p.mu.Unlock()
		return p.lead(ctx, s, kind, []*pushReq{r})
	}
	p.waiting = append(p.waiting, r)
	p.mu.Unlock()

	select {
	case <-r.done:
	case <-ctx.Done():
		p.mu.Lock()
		if !r.taken && !r.lead {
			p.waiting = deleteReq(p.waiting, r)
			p.mu.Unlock()
			return ctx.Err() // nothing was written
		}
		p.mu.Unlock()
		<-r.done // taken, or handed the lead: see it through
		if !r.lead {
			if r.err != nil {
				return r.err
			}
			return fmt.Errorf("%w (the failure may have been recorded all the same)", ctx.Err())
		}
	}
	if !r.lead {
		return r.err
	}
	// The previous leader handed over: send this request and those
	// behind it.
	p.mu.Lock()
	batch := p.take(r)
	p.mu.Unlock()
	return p.lead(ctx, s, kind, batch)
}

// take builds a batch led by r from the waiting requests; p.mu is held.
func (p *pusher) take(r *pushReq) []*pushReq {
	batch := []*pushReq{r}
	bytes := len(r.entry)
	n := 0
	for _, w := range p.waiting {
		if w == r {
			n++
			continue
		}
		if len(batch) == maxBatchEntries || bytes+len(w.entry) > maxBatchBytes {
			break
		}
		w.taken = true
		batch = append(batch, w)
		bytes += len(w.entry)
		n++
	}
	r.taken = true
	p.waiting = append(p.waiting[:0], p.waiting[n:]...)
	return batch
}

// lead sends a batch whose first request is the caller's, then hands the
// lead on or frees it.
func (p *pusher) lead(ctx context.Context, s *Service, kind Kind, batch []*pushReq) error {
	sendCtx := ctx
	if len(batch) > 1 {
		// Others' entries ride along: the leader's deadline must not cut
		// them off, but the send is bounded all the same.
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
		defer cancel()
	}
	err := s.send(sendCtx, kind, batch)
	p.mu.Lock()
	for _, w := range batch[1:] {
		w.err = err
		close(w.done)
	}
	if len(p.waiting) > 0 {
		next := p.waiting[0]
		next.lead = true
		close(next.done)
	} else {
		p.busy = false
	}
	p.mu.Unlock()
	return err
}

// sendTimeout bounds a batch that carries other callers' entries.
const sendTimeout = 10 * time.Second

func deleteReq(rs []*pushReq, r *pushReq) []*pushReq {
	for i, w := range rs {
		if w == r {
			return append(rs[:i], rs[i+1:]...)
		}
	}
	return rs
}

// send writes a batch in one round trip, then trims the list if it went
// over its cap.
func (s *Service) send(ctx context.Context, kind Kind, batch []*pushReq) error {
	entries := make([]any, len(batch))
	for i, r := range batch {
		entries[i] = r.entry
	}
	length, cerr, err := rdb.Push(ctx, s.rdb, s.pusher(kind).keys, entries, s.now())
	if rdb.IsOOM(err) {
		return fmt.Errorf("%w (OOM): it refused the push, so nothing was recorded; free memory (delete entries) or raise maxmemory", ErrOutOfMemory)
	}
	if err != nil {
		return err
	}
	if cerr != nil {
		s.logger().WarnContext(ctx, "dlq: pushed, but a counter could not be written", "kind", string(kind), "error", cerr)
	}
	if s.maxItems > 0 && length > int64(s.maxItems+capSlack(s.maxItems)) {
		s.trim(ctx, kind)
	}
	return nil
}

// trim evicts the entries over the cap and logs them; errors are logged,
// never returned: the push that called it is recorded.
func (s *Service) trim(ctx context.Context, kind Kind) int64 {
	n, cerr, err := rdb.Trim(ctx, s.rdb, kind.keys(), s.maxItems)
	if err != nil {
		s.logger().WarnContext(ctx, "dlq: trimming the list to its cap failed; the janitor will try again",
			"kind", string(kind), "error", err)
		return 0
	}
	if cerr != "" {
		s.logger().ErrorContext(ctx, "dlq: evicted entries over the size cap, but the evicted counter could not be written",
			"kind", string(kind), "evicted", n, "max_items", s.maxItems, "error", cerr)
		return n
	}
	if n > 0 {
		s.logEvicted(ctx, kind, n)
	}
	return n
}

// evictLogEvery is how often, at most, evictions are logged per kind: a
// DLQ at its cap evicts every few pushes, and one line each would flood
// the log just when an incident fills the DLQ.
const evictLogEvery = 10 * time.Second

// logEvicted logs n evictions, or adds them to the next line.
func (s *Service) logEvicted(ctx context.Context, kind Kind, n int64) {
	p := s.pusher(kind)
	p.logMu.Lock()
	p.unlogged += n
	now := s.now()
	if !p.lastLog.IsZero() && now.Sub(p.lastLog) < evictLogEvery {
		p.logMu.Unlock()
		return
	}
	report := p.unlogged
	p.unlogged, p.lastLog = 0, now
	p.logMu.Unlock()
	s.logger().WarnContext(ctx, "dlq: evicted the oldest entries over the size cap",
		"kind", string(kind), "evicted", report, "max_items", s.maxItems)
}

// flushEvictLog logs evictions not logged yet; the janitor calls it.
func (s *Service) flushEvictLog(ctx context.Context, kind Kind) {
	p := s.pusher(kind)
	p.logMu.Lock()
	n := p.unlogged
	p.unlogged = 0
	if n > 0 {
		p.lastLog = s.now()
	}
	p.logMu.Unlock()
	if n > 0 {
		s.logger().WarnContext(ctx, "dlq: evicted the oldest entries over the size cap",
			"kind", string(kind), "evicted", n, "max_items", s.maxItems)
	}
}

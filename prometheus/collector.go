// Package prometheus exports the state of a [dlq.Service]'s queues as
// Prometheus metrics. It is a module of its own
// (github.com/dlqkit/dlq/prometheus), so programs that import dlq without
// it never download the Prometheus client.
//
// The [Collector] reads Redis at scrape time, so every process that
// registers one reports the same numbers, and a fleet of workers needs no
// shared memory: the counters are those kept in Redis by dlq itself.
// Register it with a registry:
//
//	reg.MustRegister(dlqprom.NewCollector(q))
//
// Per kind (label "kind") it exports:
//
//	dlq_entries                   gauge    entries in the list, claimed and malformed ones included
//	dlq_in_flight                 gauge    entries claimed by a retry under way
//	dlq_oldest_entry_age_seconds  gauge    age of the oldest entry; 0 when the list is empty
//	dlq_pushed_total              counter  entries dlq pushed, ever, as counted in Redis
//	dlq_evicted_total             counter  entries the size cap and the age limit evicted, ever
//	dlq_collector_errors_total    counter  collections of this collector that could not read the kind
//
// The two Redis counters only reset if Redis loses them. Pushes by other
// programs sharing the lists are in dlq_entries but not in
// dlq_pushed_total.
package prometheus

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlqkit/dlq"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	labels      = []string{"kind"}
	entriesDesc = prometheus.NewDesc("dlq_entries",
		"Entries in the dead letter queue, claimed and malformed ones included.", labels, nil)
	inFlightDesc = prometheus.NewDesc("dlq_in_flight",
		"Entries claimed by a retry under way.", labels, nil)
	oldestDesc = prometheus.NewDesc("dlq_oldest_entry_age_seconds",
		"Age of the oldest entry (from its failed_at); 0 when the queue is empty.", labels, nil)
	pushedDesc = prometheus.NewDesc("dlq_pushed_total",
		"Entries pushed by the dlq library, as counted in Redis; pushes by other programs are not counted.", labels, nil)
	evictedDesc = prometheus.NewDesc("dlq_evicted_total",
		"Entries removed by the size cap or the age limit, as counted in Redis.", labels, nil)
	errorsDesc = prometheus.NewDesc("dlq_collector_errors_total",
		"Collections of these metrics that could not read the kind from Redis (Redis down or too slow).", labels, nil)
	auditDroppedDesc = prometheus.NewDesc("dlq_audit_dropped_total",
		"Audit records this process could not write (Redis refused them, e.g. out of memory); the changes stand, the records were logged.", nil, nil)
)

// DefaultTimeout bounds one scrape unless [WithTimeout] says otherwise.
const DefaultTimeout = 5 * time.Second

// Option configures a [Collector].
type Option func(*Collector)

// WithTimeout bounds one scrape: kinds not read within d are reported as
// scrape errors, and the scrape answers with the others. Values <= 0 mean
// [DefaultTimeout]. Keep it below Prometheus' scrape_timeout (10s by
// default).
func WithTimeout(d time.Duration) Option {
	return func(c *Collector) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithKinds sets the kinds the collector reports, instead of the Service's
// [dlq.Service.Kinds]. Invalid kinds and repeats are ignored.
func WithKinds(kinds ...dlq.Kind) Option {
	return func(c *Collector) {
		c.kinds = c.kinds[:0]
		for _, k := range kinds {
			if k.Validate() == nil && !slices.Contains(c.kinds, k) {
				c.kinds = append(c.kinds, k)
			}
		}
	}
}

// Collector is a [prometheus.Collector] of a Service's queues. It is safe
// for concurrent scrapes; build it with [NewCollector].
type Collector struct {
	svc     *dlq.Service
	kinds   []dlq.Kind
	timeout time.Duration
	now     func() time.Time // the clock for ages; tests replace it

	mu     sync.Mutex
	errors map[dlq.Kind]float64 // scrape errors per kind

	stuck    atomic.Int32 // reads cut off by the timeout and not finished yet
	finished func()       // called when a read ends; for tests
}

// NewCollector returns a collector of s's kinds ([dlq.Service.Kinds], or
// those of [WithKinds]).
//
// Each scrape calls [dlq.Service.Info] once per kind: one pipelined round
// trip to Redis, plus one HGETALL of the claims hash when claims exist and
// one INFO memory at most once a minute, whatever the length of the lists.
func NewCollector(s *dlq.Service, opts ...Option) *Collector {
	c := &Collector{
		svc:     s,
		kinds:   s.Kinds(),
		timeout: DefaultTimeout,
		now:     time.Now,
		errors:  map[dlq.Kind]float64{},
	}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	for _, k := range c.kinds {
		c.errors[k] = 0
	}
	return c
}

// Describe sends the descriptions of the seven metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{entriesDesc, inFlightDesc, oldestDesc, pushedDesc, evictedDesc, errorsDesc, auditDroppedDesc} {
		ch <- d
	}
}

// Collect reads every kind from Redis and sends its metrics. A kind that
// could not be read (Redis down, the timeout reached) is left out of the
// scrape, so its series go stale rather than report a wrong value, and its
// dlq_collector_errors_total goes up by one; the kinds read are reported.
//
// Collect returns within its timeout (see [WithTimeout]) even when the
// Redis client does not honour context deadlines (go-redis does only with
// ContextTimeoutEnabled): a read cut off by the timeout then ends on the
// client's own read timeout, in the background, and until it has ended the
// collector sends no other reads to Redis and reports every kind as a
// scrape error.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	results := c.read(ctx)
	now := c.now()
	ch <- prometheus.MustNewConstMetric(auditDroppedDesc, prometheus.CounterValue, float64(c.svc.AuditDropped()))

	errs := make([]float64, len(c.kinds))
	c.mu.Lock()
	for i, k := range c.kinds {
		if results[i].err != nil {
			c.errors[k]++
		}
		errs[i] = c.errors[k]
	}
	c.mu.Unlock()

	for i, k := range c.kinds {
		kind := string(k)
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, errs[i], kind)
		in := results[i].info
		if results[i].err != nil {
			continue
		}
		age := 0.0
		if !in.Oldest.IsZero() {
			age = max(now.Sub(in.Oldest).Seconds(), 0) // 0 too for a clock behind the pusher's
		}
		ch <- prometheus.MustNewConstMetric(entriesDesc, prometheus.GaugeValue, float64(in.Length), kind)
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(in.InFlight), kind)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, kind)
		ch <- prometheus.MustNewConstMetric(pushedDesc, prometheus.CounterValue, float64(in.Pushed), kind)
		ch <- prometheus.MustNewConstMetric(evictedDesc, prometheus.CounterValue, float64(in.Evicted), kind)
	}
}

type result struct {
	i    int
	info dlq.Info
	err  error
}

var (
	errTimeout = errors.New("dlq/prometheus: not read within the scrape timeout")
	errStuck   = errors.New("dlq/prometheus: an earlier scrape is still waiting for Redis")
)

// read calls Info for each kind, in a goroutine so that the scrape can end
// at ctx's deadline even if the client does not; the results not in by
// then are errTimeout.
func (c *Collector) read(ctx context.Context) []result {
	out := make([]result, len(c.kinds))
	if c.stuck.Load() > 0 {
		for i := range out {
			out[i].err = errStuck
		}
		return out
	}
	for i := range out {
		out[i].err = errTimeout
	}
	results := make(chan result, len(c.kinds)) // never blocks the sender
	done := make(chan struct{})
	var state atomic.Int32 // 0 reading, 1 done, 2 abandoned by the scrape
	go func() {
		defer close(done)
		for i, k := range c.kinds {
			if ctx.Err() != nil {
				break
			}
			in, err := c.svc.Info(ctx, k)
			results <- result{i, in, err}
		}
		if !state.CompareAndSwap(0, 1) {
			c.stuck.Add(-1)
		}
		if c.finished != nil {
			c.finished()
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if state.CompareAndSwap(0, 2) {
			c.stuck.Add(1)
		}
	}
	for {
		select {
		case r := <-results:
			out[r.i] = r
		default:
			return out
		}
	}
}

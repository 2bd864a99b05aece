package prometheus

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/internal/dlqtest"
)

// gather collects c once and returns each metric's value by name and kind.
func gather(t *testing.T, c *Collector) map[string]map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			kind := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" {
					kind = l.GetValue()
				}
			}
			if out[mf.GetName()] == nil {
				out[mf.GetName()] = map[string]float64{}
			}
			var v float64
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			default:
				v = m.GetGauge().GetValue()
			}
			out[mf.GetName()][kind] = v
		}
	}
	return out
}

// Counters another program corrupted: a counter is never exported below 0
// (Prometheus counters cannot be negative), and the kind is still reported.
// (Found by a second adversarial review.)
func TestCorruptCountersNeverNegative(t *testing.T) {
	forEach(t, func(t *testing.T, b *dlqtest.Backend, k, empty dlq.Kind) {
		ctx := context.Background()
		s := newService(b.Client, dlq.WithKinds(k))
		push(t, s, k)
		push(t, s, k)
		cases := []struct{ pushed, evicted string }{
			{"-5", "3"},
			{"7", "-9223372036854775808"},
			{"1e3", "0x10"},
			{"99999999999999999999999", " 4"},
		}
		for _, c := range cases {
			_ = b.Client.Set(ctx, "{"+k.Key()+"}:pushed", c.pushed, 0).Err()
			_ = b.Client.Set(ctx, "{"+k.Key()+"}:evicted", c.evicted, 0).Err()
			m := gather(t, NewCollector(s, WithKinds(k)))
			if m["dlq_entries"][string(k)] != 2 {
				t.Errorf("pushed %q evicted %q: dlq_entries %v", c.pushed, c.evicted, m["dlq_entries"])
			}
			for _, name := range []string{"dlq_pushed_total", "dlq_evicted_total"} {
				if v, ok := m[name][string(k)]; ok && v < 0 {
					t.Errorf("pushed %q evicted %q: %s{kind=%q} = %g, a negative counter", c.pushed, c.evicted, name, k, v)
				}
			}
		}
		// Wrong types: the claims hash and a counter as other types.
		_ = b.Client.Del(ctx, "{"+k.Key()+"}:pushed", "{"+k.Key()+"}:evicted").Err()
		_ = b.Client.Set(ctx, "{"+k.Key()+"}:claims", "x", 0).Err()
		_ = b.Client.HSet(ctx, "{"+k.Key()+"}:pushed", "a", "1").Err()
		m := gather(t, NewCollector(s, WithKinds(k)))
		if m["dlq_entries"][string(k)] != 2 || m["dlq_collector_errors_total"][string(k)] != 0 {
			t.Errorf("wrong types: %v", m)
		}
	})
}

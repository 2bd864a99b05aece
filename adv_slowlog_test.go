package dlq

// SLOWLOG figures of the bounded calls at 100k entries of ~300 bytes, on a
// real Redis (DLQ_TEST_REDIS_ADDR) when DLQ_ADV_SLOWLOG=1:
//
//	DLQ_ADV_SLOWLOG=1 DLQ_TEST_REDIS_ADDR=127.0.0.1:6395 go test -run TestAdvSlowlog -v .
//
// It uses database 11, logs every command (slowlog-log-slower-than 0) and
// reports, per scenario, the commands sent, the slowest and how many took
// over 5 ms. It restores the server's settings.
//
// DEFECT shown here (page.lua budget): the first target of each page.lua
// call is taken whatever its cost ("#out > 0 and ..."), and exact's LPOS
// walks up to the hint's distance + slack. A delete (or ack) of an entry
// seen mid-list and removed a moment ago by another caller (two
// DeleteMatching at once) is one LPOS over half the list: 7 ms at 100k
// entries, 15-20 ms at 400k (DLQ_ADV_N=400000 DLQ_ADV_ONLY_PAGE=1); the
// "60,000 units of ~50 ns" budget is also ~140 ns a unit here, ~8 ms.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlqkit/dlq/internal/rdb"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

func advV7At(t time.Time) string {
	var u uuid.UUID
	rand.Read(u[:])
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(u[:6], ms[2:])
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// advLibEntry is an entry as this library writes it, ~300 bytes.
func advLibEntry(id string, at time.Time, i int) string {
	msg := fmt.Sprintf("GET https://shop-%d.example.com/item/%d: 503 Service Unavailable", i%50, i)
	msg += strings.Repeat(" ", max(0, 170-len(msg)))
	return fmt.Sprintf(`{"id":"%s","source_id":"%s","job_id":null,"error":"%s","failed_at":"%s","retry_count":0,"dlq_type":"scrape"}`,
		id, uuid.NewString(), msg, at.UTC().Format("2006-01-02T15:04:05.000000Z"))
}

func TestAdvSlowlog(t *testing.T) {
	addr := os.Getenv("DLQ_TEST_REDIS_ADDR")
	if os.Getenv("DLQ_ADV_SLOWLOG") != "1" || addr == "" {
		t.Skip("set DLQ_ADV_SLOWLOG=1 and DLQ_TEST_REDIS_ADDR")
	}
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr, DB: 11})
	defer c.Close()
	old, _ := c.ConfigGet(ctx, "slowlog-*").Result()
	defer func() {
		for k, v := range old {
			c.ConfigSet(ctx, k, v)
		}
	}()
	c.ConfigSet(ctx, "slowlog-max-len", "1000000")
	c.ConfigSet(ctx, "slowlog-log-slower-than", "0")
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("DLQ_ADV_N")); err == nil && v > 0 {
		n = v // e.g. 400000, with DLQ_ADV_ONLY_PAGE=1
	}
	start := time.Now().Add(-24 * time.Hour)
	fill := func() {
		c.FlushDB(ctx)
		batch := make([]any, 0, 1000)
		for i := range n {
			at := start.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n))
			batch = append(batch, advLibEntry(advV7At(at), at, i))
			if len(batch) == cap(batch) {
				c.LPush(ctx, Scrape.Key(), batch...)
				batch = batch[:0]
			}
		}
	}
	measure := func(name string, fn func()) {
		c.SlowLogReset(ctx)
		t0 := time.Now()
		fn()
		wall := time.Since(t0)
		logs, err := c.SlowLogGet(ctx, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		var ds []time.Duration
		kinds := map[string]int{}
		var slow []string
		for _, l := range logs {
			if len(l.Args) > 0 && strings.EqualFold(l.Args[0], "slowlog") {
				continue
			}
			ds = append(ds, l.Duration)
			kinds[strings.ToLower(l.Args[0])]++
			if l.Duration > 5*time.Millisecond {
				a := strings.Join(l.Args[:min(4, len(l.Args))], " ")
				slow = append(slow, fmt.Sprintf("%v %.60s", l.Duration, a))
			}
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] > ds[j] })
		var top time.Duration
		if len(ds) > 0 {
			top = ds[0]
		}
		t.Logf("%-44s wall %8v  commands %6d %v  max %v  >5ms %d %v", name, wall.Round(time.Millisecond), len(ds), kinds, top, len(slow), slow[:min(3, len(slow))])
	}
	svc := New(c)
	fill()
	if l := c.LLen(ctx, Scrape.Key()).Val(); l != int64(n) {
		t.Fatalf("LLEN %d", l)
	}
	mid := start.Add(12 * time.Hour)
	for _, tc := range []struct{ name, id string }{
		{"Pop missing UUIDv7 (now)", advV7At(time.Now())},
		{"Pop missing UUIDv7 (mid-list time)", advV7At(mid)},
		{"Pop missing UUIDv7 (before all)", advV7At(start.Add(-time.Hour))},
		{"Pop missing uuid4", uuid.NewString()},
		{"Pop missing \"x\"", "x"},
		{"Pop missing \"scrape\" (common needle)", "scrape"},
	} {
		measure(tc.name, func() {
			if _, err := svc.Pop(ctx, Scrape, tc.id); err == nil {
				t.Errorf("%s: found", tc.name)
			}
		})
	}
	for _, hint := range []int64{int64(n/2 - 1), -int64(n / 2)} {
		measure(fmt.Sprintf("page.lua delete of a gone entry, hint %d", hint), func() {
			gone := advLibEntry(advV7At(mid), mid, 7)
			ts := []rdb.PageTarget{{Act: rdb.ActDelete, ID: "gone", Raw: gone, Index: hint}}
			pr, err := rdb.Page(ctx, c, Scrape.keys(), ts, time.Minute, "", false, rdb.Record{})
			if err != nil || pr.Results != "0" {
				t.Errorf("Page = %+v, %v", pr, err)
			}
		})
	}
	if os.Getenv("DLQ_ADV_ONLY_PAGE") == "1" {
		c.FlushDB(ctx)
		return
	}
	measure("DeleteMatching(all) x2 concurrently", func() {
		var wg sync.WaitGroup
		res := make([]BulkResult, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i], errs[i] = New(c).DeleteMatching(ctx, Scrape, Filter{})
			}()
		}
		wg.Wait()
		t.Logf("DeleteMatching results %+v %v, %+v %v; left %d", res[0], errs[0], res[1], errs[1], c.LLen(ctx, Scrape.Key()).Val())
	})
	fill()
	rs := New(c, WithRequeuer(RequeueFunc(func(context.Context, Item) error { return nil })))
	measure("RetryMatching(all) no-op Requeuer", func() {
		res, err := rs.RetryMatching(ctx, Scrape, Filter{})
		t.Logf("RetryMatching %+v %v; left %d", res, err, c.LLen(ctx, Scrape.Key()).Val())
	})
	c.FlushDB(ctx)
}

package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

// The go-redis clients users have must satisfy Redis.
var (
	_ Redis = (*redis.Client)(nil)
	_ Redis = (*redis.ClusterClient)(nil)
	_ Redis = (*redis.Ring)(nil)
	_ Redis = redis.UniversalClient(nil)
)

// testDB is this package's database on a real Redis.
const testDB = 9

// env is one test's service and a raw client to inspect Redis with.
type env struct {
	*dlqtest.Backend
	svc  *Service
	kind Kind // a kind unique to the test
	logs *dlqtest.LogBuffer
}

// run runs fn against every backend with a fresh service. The service logs
// into env.logs.
func run(t *testing.T, fn func(t *testing.T, e *env), opts ...Option) {
	t.Helper()
	kind := Kind(dlqtest.UniqueKind(t))
	dlqtest.ForEach(t, testDB, []string{string(Scrape), string(Extraction), string(kind)}, func(t *testing.T, b *dlqtest.Backend) {
		logs := &dlqtest.LogBuffer{}
		o := append([]Option{WithLogger(slog.New(slog.NewTextHandler(logs, nil)))}, opts...)
		svc := New(b.Client, o...)
		e := &env{Backend: b, svc: svc, kind: kind, logs: logs}
		fn(t, e)
	})
}

func push(t *testing.T, e *env, k Kind, cause string, opts ...PushOption) Item {
	t.Helper()
	it, err := e.svc.Push(context.Background(), k, uuid.New(), errors.New(cause), opts...)
	if err != nil {
		t.Fatalf("Push(%s, %q): %v", k, cause, err)
	}
	return it
}

func ids(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func rawList(t *testing.T, e *env, k Kind) []string {
	t.Helper()
	raws, err := e.Client.LRange(context.Background(), k.Key(), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return raws
}

func TestSeedFlow(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var scrape []Item
		for i := range 3 {
			scrape = append(scrape, push(t, e, Scrape, fmt.Sprintf("GET https://a.example/p/%d: 503", i)))
		}
		jobID := uuid.New()
		ext, err := e.svc.PushExtractionFailure(ctx, uuid.New(), errors.New("llm: no price found"), WithJobID(jobID), WithRetryCount(2))
		if err != nil {
			t.Fatal(err)
		}
		if ext.JobID == nil || *ext.JobID != jobID.String() || ext.RetryCount != 2 || ext.Kind != Extraction {
			t.Fatalf("extraction item = %+v", ext)
		}

		st, err := e.svc.Stats(ctx)
		if err != nil || st != (Stats{Scrape: 3, Extraction: 1}) {
			t.Fatalf("Stats = %+v, %v; want 3 and 1", st, err)
		}

		got, err := e.svc.ListScrape(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{scrape[2].ID, scrape[1].ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
			t.Fatalf("ListScrape(2) ids = %v, want newest first %v", ids(got), want)
		}
		if !itemsEqual(got[0], scrape[2]) {
			t.Errorf("listed %+v, pushed %+v", got[0], scrape[2])
		}

		exts, err := e.svc.ListExtraction(ctx, 10)
		if err != nil || len(exts) != 1 || !itemsEqual(exts[0], ext) {
			t.Fatalf("ListExtraction = %+v, %v; want [%+v]", exts, err, ext)
		}

		popped, err := e.svc.PopScrapeItem(ctx, scrape[1].ID)
		if err != nil || !itemsEqual(popped, scrape[1]) {
			t.Fatalf("PopScrapeItem = %+v, %v; want %+v", popped, err, scrape[1])
		}
		if _, err := e.svc.PopScrapeItem(ctx, scrape[1].ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second pop: err = %v, want ErrNotFound", err)
		}
		if _, err := e.svc.PopExtractionItem(ctx, scrape[0].ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("pop of a scrape id from extraction: err = %v, want ErrNotFound", err)
		}
		if _, err := e.svc.PopExtractionItem(ctx, ext.ID); err != nil {
			t.Fatal(err)
		}
		left, _ := e.svc.ListScrape(ctx, 10)
		if want := []string{scrape[2].ID, scrape[0].ID}; fmt.Sprint(ids(left)) != fmt.Sprint(want) {
			t.Fatalf("after pop, ids = %v, want %v", ids(left), want)
		}
		if st, _ := e.svc.Stats(ctx); st != (Stats{Scrape: 2}) {
			t.Fatalf("Stats after pops = %+v", st)
		}
	})
}

func itemsEqual(a, b Item) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb) && a.FailedAt.Equal(b.FailedAt)
}

var pythonTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$`)

func TestStoredWireFormat(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		job := uuid.New()
		push(t, e, Scrape, "plain")
		push(t, e, Scrape, `quote " backslash \ newline`+"\n<tag>&", WithJobID(job), WithRetryCount(3))
		raws := rawList(t, e, Scrape)
		if len(raws) != 2 {
			t.Fatalf("list has %d entries, want 2", len(raws))
		}
		for i, raw := range raws {
			var m map[string]any
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatalf("entry %d is not JSON: %v: %s", i, err, raw)
			}
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			if len(m) != 7 {
				t.Errorf("entry %d has keys %v, want exactly the seven wire keys", i, keys)
			}
			for _, k := range []string{"id", "source_id", "job_id", "error", "failed_at", "retry_count", "dlq_type"} {
				if _, ok := m[k]; !ok {
					t.Errorf("entry %d lacks %q: %s", i, k, raw)
				}
			}
			if !pythonTime.MatchString(m["failed_at"].(string)) {
				t.Errorf("failed_at = %q, want Python isoformat with microseconds and +00:00", m["failed_at"])
			}
			if m["dlq_type"] != "scrape" {
				t.Errorf("dlq_type = %v", m["dlq_type"])
			}
			if _, err := uuid.Parse(m["id"].(string)); err != nil {
				t.Errorf("id %v is not a UUID", m["id"])
			}
		}
		var newest, oldest map[string]any
		_ = json.Unmarshal([]byte(raws[0]), &newest)
		_ = json.Unmarshal([]byte(raws[1]), &oldest)
		if oldest["job_id"] != nil {
			t.Errorf("job_id = %v without WithJobID, want null", oldest["job_id"])
		}
		if newest["job_id"] != job.String() || newest["retry_count"] != float64(3) {
			t.Errorf("job_id, retry_count = %v, %v", newest["job_id"], newest["retry_count"])
		}
		if want := `quote " backslash \ newline` + "\n<tag>&"; newest["error"] != want {
			t.Errorf("error = %q, want %q", newest["error"], want)
		}
	})
}

// pythonEntries are entries as other programs write them: json.dumps
// spacing, other key orders, other time forms, job_id absent or null.
var pythonEntries = []string{
	`{"id": "py-1", "source_id": "s1", "job_id": null, "error": "timeout", "failed_at": "2026-11-26T21:43:52.123456+00:00", "retry_count": 0, "dlq_type": "scrape"}`,
	`{"dlq_type": "scrape", "retry_count": 1, "failed_at": "2026-11-26T21:43:52Z", "error": "dns: no such host", "source_id": "s2", "id": "py-2"}`,
	`{ "id" : "py-3" , "source_id" : "s3" , "job_id" : "j3" , "error" : "HTTP 404 \"not found\"" , "failed_at" : "2026-11-26T22:43:52.5+01:00" , "retry_count" : 2 , "dlq_type" : "scrape" }`,
	`{"id": "py-4", "source_id": "s4", "job_id": null, "error": "caf\u00e9 \ud83d\ude00", "failed_at": "2026-11-26T21:43:52.123456", "retry_count": 0, "dlq_type": "scrape", "extra": [1, {"id": "not-me"}]}`,
}

func TestForeignEntries(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ours := push(t, e, Scrape, "ours, oldest")
		for _, raw := range pythonEntries {
			if err := e.Client.LPush(ctx, ScrapeKey, raw).Err(); err != nil {
				t.Fatal(err)
			}
		}
		items, err := e.svc.ListScrape(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"py-4", "py-3", "py-2", "py-1", ours.ID}; fmt.Sprint(ids(items)) != fmt.Sprint(want) {
			t.Fatalf("ids = %v, want %v", ids(items), want)
		}
		byID := map[string]Item{}
		for _, it := range items {
			byID[it.ID] = it
		}
		if it := byID["py-2"]; it.JobID != nil || it.RetryCount != 1 || it.FailedAt.Format("15:04:05.000000") != "21:43:52.000000" {
			t.Errorf("py-2 = %+v", it)
		}
		if it := byID["py-3"]; it.JobID == nil || *it.JobID != "j3" || it.Error != `HTTP 404 "not found"` || !it.FailedAt.Equal(byID["py-2"].FailedAt.Add(500_000_000)) {
			t.Errorf("py-3 = %+v", it)
		}
		if it := byID["py-4"]; it.Error != "café 😀" || it.FailedAt.Location().String() != "UTC" {
			t.Errorf("py-4 = %+v", it)
		}

		// Pop removes the exact stored string of foreign entries.
		for i, id := range []string{"py-3", "py-1", "py-4"} {
			it, err := e.svc.PopScrapeItem(ctx, id)
			if err != nil || it.ID != id {
				t.Fatalf("Pop(%s) = %+v, %v", id, it, err)
			}
			if n := len(rawList(t, e, Scrape)); n != len(pythonEntries)-i {
				t.Fatalf("after popping %s the list has %d entries, want %d", id, n, len(pythonEntries)-i)
			}
		}
		if _, err := e.svc.PopScrapeItem(ctx, "not-me"); !errors.Is(err, ErrNotFound) {
			t.Errorf("an id inside another entry's extra field popped: err = %v", err)
		}
		left := rawList(t, e, Scrape)
		if len(left) != 2 || left[0] != pythonEntries[1] {
			t.Fatalf("left = %q, want py-2 untouched and ours", left)
		}
	})
}

func TestMalformedEntries(t *testing.T) {
	bad := []string{`not json`, `{"id": "x", "failed_at": "yesterday"}`, `{"error": "no id", "failed_at": "2026-11-26T21:43:52Z"}`, `[1,2]`, ``}
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		first := push(t, e, Scrape, "first")
		for _, raw := range bad {
			if err := e.Client.LPush(ctx, ScrapeKey, raw).Err(); err != nil {
				t.Fatal(err)
			}
		}
		last := push(t, e, Scrape, "last")

		items, err := e.svc.ListScrape(ctx, 100)
		if err != nil {
			t.Fatalf("List with malformed entries: %v", err)
		}
		if want := []string{last.ID, first.ID}; fmt.Sprint(ids(items)) != fmt.Sprint(want) {
			t.Fatalf("ids = %v, want %v", ids(items), want)
		}
		if n := strings.Count(e.logs.String(), "skipped a malformed entry"); n != len(bad) {
			t.Errorf("logged %d malformed entries, want %d:\n%s", n, len(bad), e.logs)
		}
		if !strings.Contains(e.logs.String(), "key=scrape:dlq") {
			t.Errorf("log does not name the key:\n%s", e.logs)
		}
		st, err := e.svc.Stats(ctx)
		if err != nil || st.Scrape != int64(len(bad)+2) {
			t.Fatalf("Stats = %+v, %v; malformed entries must be counted", st, err)
		}
		if _, err := e.svc.PopScrapeItem(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		// A malformed entry with a readable id can still be removed by it:
		// nothing else could remove it.
		if _, err := e.svc.PopScrapeItem(ctx, "x"); err != nil {
			t.Errorf("Pop of a malformed entry's id: err = %v, want it removed", err)
		}
		if _, err := e.svc.PopScrapeItem(ctx, "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Pop of a malformed entry's id: err = %v, want ErrNotFound", err)
		}
		raws := rawList(t, e, Scrape)
		if len(raws) != len(bad) {
			t.Fatalf("%d entries left, want the %d other malformed ones and one of ours", len(raws), len(bad)-1)
		}
	})
}

func TestConcurrentPopOneWinner(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, foreign := range []bool{false, true} {
			var id string
			if foreign {
				id = "foreign-" + uuid.NewString()
				raw := fmt.Sprintf(`{"id": %q, "source_id": "s", "job_id": null, "error": "e", "failed_at": "2026-11-26T21:43:52Z", "retry_count": 0, "dlq_type": "scrape"}`, id)
				if err := e.Client.LPush(ctx, ScrapeKey, raw).Err(); err != nil {
					t.Fatal(err)
				}
			} else {
				id = push(t, e, Scrape, "contended").ID
			}
			for range 20 {
				push(t, e, Scrape, "bystander")
			}
			var wins, notFound, other atomic.Int32
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					it, err := e.svc.PopScrapeItem(ctx, id)
					switch {
					case err == nil && it.ID == id:
						wins.Add(1)
					case errors.Is(err, ErrNotFound):
						notFound.Add(1)
					default:
						other.Add(1)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 || notFound.Load() != 15 || other.Load() != 0 {
				t.Fatalf("foreign=%v: %d winners, %d not found, %d other; want 1, 15, 0", foreign, wins.Load(), notFound.Load(), other.Load())
			}
		}
		if n := len(rawList(t, e, Scrape)); n != 40 {
			t.Fatalf("%d entries left, want the 40 bystanders", n)
		}
	})
}

func TestBadInput(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		src := uuid.New()
		var typedNil *myErr
		cases := []struct {
			name string
			call func() error
			want error
		}{
			{"nil cause", func() error { _, err := e.svc.PushScrapeFailure(ctx, src, nil); return err }, ErrNilCause},
			{"typed nil cause", func() error { _, err := e.svc.PushScrapeFailure(ctx, src, typedNil); return err }, ErrNilCause},
			{"empty kind", func() error { _, err := e.svc.Push(ctx, "", src, errors.New("x")); return err }, ErrInvalidKind},
			{"kind with braces", func() error { _, err := e.svc.List(ctx, "a{b}", 1); return err }, ErrInvalidKind},
			{"kind with newline", func() error { _, err := e.svc.Pop(ctx, "a\nb", "id"); return err }, ErrInvalidKind},
			{"negative limit", func() error { _, err := e.svc.ListScrape(ctx, -1); return err }, ErrInvalidLimit},
			{"empty id", func() error { _, err := e.svc.PopScrapeItem(ctx, ""); return err }, ErrInvalidID},
			{"huge id", func() error { _, err := e.svc.PopScrapeItem(ctx, strings.Repeat("x", MaxIDLen+1)); return err }, ErrInvalidID},
			{"unknown id", func() error { _, err := e.svc.PopScrapeItem(ctx, uuid.NewString()); return err }, ErrNotFound},
			{"nil service", func() error { _, err := (*Service)(nil).Stats(ctx); return err }, ErrNoRedis},
			{"no client", func() error { _, err := New(nil).ListScrape(ctx, 1); return err }, ErrNoRedis},
		}
		for _, c := range cases {
			if err := c.call(); !errors.Is(err, c.want) {
				t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
			}
		}
		if n, err := e.Client.Exists(ctx, dlqtest.Keys("scrape")...).Result(); err != nil || n != 0 {
			t.Errorf("bad input wrote %d keys (err %v)", n, err)
		}
	})
}

type myErr struct{ msg string }

func (e *myErr) Error() string { return e.msg }

func TestLimits(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		// Pushing through a pipeline keeps the setup fast on a real server.
		pipe := e.Client.Pipeline()
		for i := range MaxLimit + 5 {
			pipe.LPush(ctx, e.kind.Key(), Item{ID: fmt.Sprint(i), FailedAt: e.svc.now(), Kind: e.kind}.appendJSON(nil))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ limit, want int }{{0, DefaultLimit}, {1, 1}, {7, 7}, {MaxLimit, MaxLimit}, {MaxLimit + 1, MaxLimit}, {1 << 40, MaxLimit}} {
			items, err := e.svc.List(ctx, e.kind, c.limit)
			if err != nil || len(items) != c.want {
				t.Errorf("List(%d) = %d items, %v; want %d", c.limit, len(items), err, c.want)
				continue
			}
			if items[0].ID != fmt.Sprint(MaxLimit+4) {
				t.Errorf("List(%d) starts at %s, want the newest", c.limit, items[0].ID)
			}
		}
	})
}

func TestOversizedError(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		page := "<html>" + strings.Repeat("é", 5<<20/2) + "</html>" // 5 MB, two bytes a rune
		it, err := e.svc.PushScrapeFailure(ctx, uuid.New(), errors.New(page))
		if err != nil {
			t.Fatal(err)
		}
		if len(it.Error) > MaxErrorBytes || !utf8.ValidString(it.Error) {
			t.Fatalf("stored error is %d bytes (valid UTF-8: %v), want at most %d", len(it.Error), utf8.ValidString(it.Error), MaxErrorBytes)
		}
		if want := fmt.Sprintf("%s%d bytes]", TruncatedMarker, len(page)); !strings.HasSuffix(it.Error, want) {
			t.Errorf("error ends %q, want %q", it.Error[len(it.Error)-60:], want)
		}
		if !strings.HasPrefix(it.Error, "<html>éé") {
			t.Errorf("error starts %q", it.Error[:20])
		}
		got, err := e.svc.ListScrape(ctx, 1)
		if err != nil || len(got) != 1 || got[0].Error != it.Error {
			t.Fatalf("listed error differs from the returned one (err %v)", err)
		}
	})
}

func TestContextAndRedisErrors(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := e.svc.PushScrapeFailure(ctx, uuid.New(), errors.New("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Push with cancelled ctx: err = %v, want context.Canceled", err)
		}
		if _, err := e.svc.ListScrape(ctx, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("List with cancelled ctx: err = %v", err)
		}
		if _, err := e.svc.PopScrapeItem(ctx, "x"); !errors.Is(err, context.Canceled) {
			t.Errorf("Pop with cancelled ctx: err = %v", err)
		}
		if _, err := e.svc.Stats(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Stats with cancelled ctx: err = %v", err)
		}
		if n, _ := e.Client.LLen(context.Background(), ScrapeKey).Result(); n != 0 {
			t.Errorf("a cancelled push wrote %d entries", n)
		}
	})
}

func TestRedisDown(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		e.svc = New(e.Down(t))
		ctx := context.Background()
		calls := map[string]func() error{
			"push":  func() error { _, err := e.svc.PushScrapeFailure(ctx, uuid.New(), errors.New("x")); return err },
			"list":  func() error { _, err := e.svc.ListScrape(ctx, 10); return err },
			"stats": func() error { _, err := e.svc.Stats(ctx); return err },
			"pop":   func() error { _, err := e.svc.PopScrapeItem(ctx, uuid.NewString()); return err },
		}
		for name, call := range calls {
			err := call()
			if err == nil || errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), "dlq: "+name+" ") {
				t.Errorf("%s with Redis down: err = %v, want a dlq: %s error", name, err, name)
			}
		}
	})
}

func TestSizeCap(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		clk := newClock(e)
		var pushed []Item
		for i := range 8 {
			pushed = append(pushed, push(t, e, e.kind, fmt.Sprint("failure ", i)))
		}
		items, err := e.svc.List(ctx, e.kind, 100)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := 7; i >= 3; i-- {
			want = append(want, pushed[i].ID)
		}
		if fmt.Sprint(ids(items)) != fmt.Sprint(want) {
			t.Fatalf("ids = %v, want the newest five %v", ids(items), want)
		}
		if n, err := e.Client.Get(ctx, e.kind.keys().Evicted).Int(); err != nil || n != 3 {
			t.Errorf("evicted counter = %d, %v; want 3", n, err)
		}
		// The first eviction is logged at once; the next two within 10s
		// wait for the next line.
		if n := strings.Count(e.logs.String(), "evicted the oldest"); n != 1 || !strings.Contains(e.logs.String(), "evicted=1 ") {
			t.Errorf("logged %d eviction lines, want 1 with evicted=1:\n%s", n, e.logs)
		}
		clk.Add(evictLogEvery)
		push(t, e, e.kind, "one more")
		if n := strings.Count(e.logs.String(), "evicted the oldest"); n != 2 || !strings.Contains(e.logs.String(), "evicted=3 ") {
			t.Errorf("the second line must report the 3 evictions since the first:\n%s", e.logs)
		}
		// Evictions still pending when pushes stop are logged by the
		// janitor's next sweep.
		push(t, e, e.kind, "and another")
		if _, err := e.svc.Sweep(ctx, e.kind); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(e.logs.String(), "evicted the oldest"); n != 3 || !strings.HasSuffix(strings.TrimSpace(e.logs.String()), "evicted=1 max_items=5") {
			t.Errorf("the sweep must log the pending eviction:\n%s", e.logs)
		}
		if _, err := e.svc.Pop(ctx, e.kind, pushed[0].ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("evicted entry popped: %v", err)
		}
	}, WithMaxItems(5))
}

func TestHelperKeysShareTheSlot(t *testing.T) {
	if got := slot("123456789"); got != 0x31C3%16384 {
		t.Fatalf("slot(123456789) = %d: the CRC16 below is wrong", got)
	}
	for _, k := range []Kind{Scrape, Extraction, "render"} {
		ks := k.keys()
		want := dlqtest.Keys(string(k))
		for _, key := range ks.All() {
			if !strings.Contains(strings.Join(want, " "), key) {
				t.Errorf("dlqtest.Keys(%s) misses %s, so tests would not clean it", k, key)
			}
			if slot(key) != slot(ks.List) {
				t.Errorf("%s hashes to slot %d, %s to %d", key, slot(key), ks.List, slot(ks.List))
			}
		}
	}
}

// slot is Redis Cluster's key slot: CRC16 of the hash tag or the key.
func slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

// TestEveryKeyInTheListSlot asks the server (on a cluster) or CRC16 (on
// the others) for the slot of every key the library can touch.
func TestEveryKeyInTheListSlot(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		slotOf := func(key string) int64 {
			if !e.Cluster {
				return int64(slot(key))
			}
			n, err := e.Client.ClusterKeySlot(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, k := range []Kind{Scrape, Extraction, e.kind} {
			ks := k.keys()
			want := slotOf(ks.List)
			for _, key := range ks.All() {
				if got := slotOf(key); got != want {
					t.Errorf("%s is in slot %d, %s in %d", key, got, ks.List, want)
				}
			}
		}
	})
}

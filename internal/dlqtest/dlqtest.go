// Package dlqtest runs the project's tests against every Redis backend at
// hand: an in-process miniredis always, a real redis-server when
// DLQ_TEST_REDIS_ADDR is set (host:port), and a real Redis Cluster when
// DLQ_TEST_REDIS_CLUSTER is set (host:port,host:port,…).
//
// Tests on a real server use a database of their package's own (so packages
// tested in parallel do not meet) and delete exactly the keys they may have
// written, before and after each test; nothing is flushed. A cluster has
// one database only: run the packages one at a time (go test -p 1).
package dlqtest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/dlqkit/dlq/internal/rdb"
	"github.com/redis/go-redis/v9"
)

// Environment variables naming real Redis servers.
const (
	AddrEnv    = "DLQ_TEST_REDIS_ADDR"
	ClusterEnv = "DLQ_TEST_REDIS_CLUSTER"
)

// Backend is one Redis a test runs against.
type Backend struct {
	Name   string
	Client redis.UniversalClient
	// Mini is the in-process server, or nil for a real Redis. Tests that
	// need to fast-forward time or simulate an outage use it.
	Mini *miniredis.Miniredis
	// Cluster is set for a Redis Cluster.
	Cluster bool
}

// Real reports whether the backend is a real redis-server.
func (b *Backend) Real() bool { return b.Mini == nil }

// ForEach runs fn as a subtest once per backend: "miniredis", "redis" when
// DLQ_TEST_REDIS_ADDR is set, and "cluster" when DLQ_TEST_REDIS_CLUSTER is.
// db is the database the package uses on a real server; kinds are the DLQ
// kinds (e.g. "scrape") whose keys the test may write, deleted before and
// after it.
func ForEach(t *testing.T, db int, kinds []string, fn func(t *testing.T, b *Backend)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		// miniredis runs scripts far slower than Redis, and CI runs
		// packages side by side on 2 cores: a script may take seconds.
		// go-redis would time it out and send it again, and the second
		// run would find the first one's work done.
		c := redis.NewClient(&redis.Options{Addr: m.Addr(), ReadTimeout: time.Minute, WriteTimeout: time.Minute})
		t.Cleanup(func() { _ = c.Close() })
		fn(t, &Backend{Name: "miniredis", Client: c, Mini: m})
	})
	if addr := os.Getenv(AddrEnv); addr != "" {
		t.Run("redis", func(t *testing.T) {
			c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
			runReal(t, AddrEnv+"="+addr, c, kinds, func() { fn(t, &Backend{Name: "redis", Client: c}) })
		})
	}
	if addrs := os.Getenv(ClusterEnv); addrs != "" {
		t.Run("cluster", func(t *testing.T) {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
			runReal(t, ClusterEnv+"="+addrs, c, kinds, func() { fn(t, &Backend{Name: "cluster", Client: c, Cluster: true}) })
		})
	}
}

// runReal checks a real backend, cleans the test's keys around run, and
// closes the client after.
func runReal(t *testing.T, name string, c redis.UniversalClient, kinds []string, run func()) {
	t.Helper()
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	clean := func() {
		if err := Clean(ctx, c, kinds...); err != nil {
			t.Errorf("cleaning test keys: %v", err)
		}
	}
	clean()
	t.Cleanup(clean)
	run()
}

// Clean deletes every key the library may write for the given kinds, one
// DEL per kind (a kind's keys share a cluster slot; different kinds' may
// not).
func Clean(ctx context.Context, c redis.UniversalClient, kinds ...string) error {
	for _, k := range kinds {
		if err := c.Del(ctx, Keys(k)...).Err(); err != nil {
			return err
		}
	}
	return nil
}

// Down returns a client of a Redis that went away, retrying nothing:
// the backend's own miniredis, closed, or on a real backend a loopback
// port nobody listens on.
func (b *Backend) Down(t *testing.T) *redis.Client {
	t.Helper()
	addr := "127.0.0.1:1"
	if b.Mini != nil {
		addr = b.Mini.Addr()
		b.Mini.Close()
	}
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Keys lists every key the library may write for the given kinds.
func Keys(kinds ...string) []string {
	var ks []string
	for _, k := range kinds {
		ks = append(ks, rdb.KeysOf(k+":dlq").All()...)
	}
	return ks
}

// UniqueKind returns a kind name unique to the test, safe as a Redis key.
func UniqueKind(t *testing.T) string {
	r := strings.NewReplacer("/", "-", " ", "_", "{", "", "}", "")
	name := r.Replace(t.Name())
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	return name
}

// LogBuffer is an io.Writer for a test's slog handler, safe for the
// concurrent writes of the code under test.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Server is a redis-server a test starts, stops and starts again, with an
// append-only file so that what it acknowledged survives a restart.
type Server struct {
	t    *testing.T
	Addr string
	dir  string
	args []string
	cmd  *exec.Cmd
}

// StartServer starts a redis-server on a free loopback port, with the
// given extra arguments (e.g. "--maxmemory", "20mb"), stopped when the test
// ends. Without a redis-server binary the test is skipped, except
// in CI (CI=true), where that is a failure.
func StartServer(t *testing.T, args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found in CI: %v", err)
		}
		t.Skip("redis-server not found; install it (apt-get install redis-server) to run this test")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	s := &Server{t: t, Addr: addr, dir: t.TempDir(), args: args}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again) and waits until it answers PING.
func (s *Server) Start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := append([]string{"--bind", "127.0.0.1", "--port", port, "--dir", s.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always"}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not start", s.Addr)
		}
		time.Sleep(20 * time.Millisecond) // waiting for a process to come up
	}
}

// Stop stops the server abruptly (SIGKILL): what it acknowledged is in
// its append-only file, fsynced on every write.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

package dlqtest

import (
	"context"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// OwnRedis starts a redis-server of the test's own on a free loopback port
// (no persistence), for tests that change its configuration (maxmemory,
// SLOWLOG) or read what it logs, which a server shared with packages
// tested in parallel would mix up. It is stopped when the test ends; the
// test is skipped where redis-server is not installed.
func OwnRedis(t testing.TB, opts *redis.Options) *redis.Client {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_ = ln.Close()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if opts == nil {
		opts = &redis.Options{}
	}
	o := *opts
	o.Addr = "127.0.0.1:" + port
	c := redis.NewClient(&o)
	t.Cleanup(func() { _ = c.Close() })
	for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
		if i > 200 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond) // polling its start: nothing to wait on
	}
	return c
}

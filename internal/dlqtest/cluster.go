package dlqtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster a test starts on loopback: one redis-server
// process per node, stopped when the test ends.
type Cluster struct {
	t     *testing.T
	Addrs []string // every node, masters first as redis-cli --cluster create took them
	procs map[string]*exec.Cmd
}

// StartCluster starts masters*(1+replicas) redis-servers with
// --cluster-enabled on free loopback ports from firstPort upwards (each
// node's bus port, its port + 10000, must be free too), joins them with
// redis-cli --cluster create, and waits until every node answers
// cluster_state:ok and every replica's link to its master is up. Every
// process is killed when the test ends, whatever happened. Without the
// redis-server and redis-cli binaries the test is skipped, except in CI
// (CI=true), where that is a failure.
func StartCluster(t *testing.T, firstPort, masters, replicas int) *Cluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found in CI: %v", bin, err)
			}
			t.Skipf("%s not found; install it (apt-get install redis-server redis-tools) to run this test", bin)
		}
	}
	c := &Cluster{t: t, procs: map[string]*exec.Cmd{}}
	t.Cleanup(c.stopAll)
	dir := t.TempDir()
	port := firstPort
	for range masters * (1 + replicas) {
		port = freeClusterPort(t, port)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		d := filepath.Join(dir, strconv.Itoa(port))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--dir", d, "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c.procs[addr] = cmd
		c.Addrs = append(c.Addrs, addr)
		port++
	}
	for _, addr := range c.Addrs {
		c.waitFor(addr, 10*time.Second, "PING", func(*redis.Client) bool { return true })
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, addr := range c.Addrs {
		c.waitFor(addr, 20*time.Second, "cluster_state:ok and its replication link up", func(n *redis.Client) bool {
			info, err := n.ClusterInfo(context.Background()).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
			repl, err := n.Info(context.Background(), "replication").Result()
			return err == nil && (strings.Contains(repl, "role:master") || strings.Contains(repl, "master_link_status:up"))
		})
	}
	return c
}

// freeClusterPort returns the first port from p upwards on which nothing
// listens, nor on its bus port (+10000).
func freeClusterPort(t *testing.T, p int) int {
	t.Helper()
	for ; p+10000 < 65536; p++ {
		if portFree(p) && portFree(p+10000) {
			return p
		}
	}
	t.Fatal("no free port for a cluster node")
	return 0
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

// waitFor polls the node at addr until ok returns true, failing the test
// after d.
func (c *Cluster) waitFor(addr string, d time.Duration, what string, ok func(*redis.Client) bool) {
	c.t.Helper()
	n := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer n.Close()
	deadline := time.Now().Add(d)
	for n.Ping(context.Background()).Err() != nil || !ok(n) {
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster node %s: no %s within %v", addr, what, d)
		}
		time.Sleep(50 * time.Millisecond) // waiting for another process
	}
}

// Kill sends SIGKILL to the node at addr and waits for it to end.
func (c *Cluster) Kill(addr string) error {
	cmd, ok := c.procs[addr]
	if !ok || cmd == nil {
		return fmt.Errorf("no running cluster node at %s", addr)
	}
	delete(c.procs, addr)
	if err := cmd.Process.Kill(); err != nil {
		return err
	}
	_ = cmd.Wait()
	return nil
}

// Signal sends sig to the node at addr (e.g. SIGSTOP, SIGCONT).
func (c *Cluster) Signal(addr string, sig os.Signal) error {
	cmd, ok := c.procs[addr]
	if !ok || cmd == nil {
		return fmt.Errorf("no running cluster node at %s", addr)
	}
	return cmd.Process.Signal(sig)
}

// stopAll kills every node still running.
func (c *Cluster) stopAll() {
	for addr := range c.procs {
		_ = c.Kill(addr)
	}
}

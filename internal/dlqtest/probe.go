package dlqtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// PingProbeEnv names the Redis a ping probe process PINGs (see
// StartPingProbe).
const PingProbeEnv = "DLQ_TEST_PING_PROBE"

// Pings is what a ping probe measured.
type Pings struct {
	N        int           // PINGs sent
	P99, Max time.Duration // their latency
	Err      error         // the first PING that failed, if any
}

func (p Pings) String() string {
	return fmt.Sprintf("PING p99 %v max %v over %d", p.P99, p.Max, p.N)
}

// StartPingProbe starts another client of the Redis at addr, in a process
// of its own as Redis' other clients are (in the test's process it would
// wait for the test's goroutines, not for Redis): the test binary itself,
// running only the test named test, which must call RunPingProbe. The
// probe PINGs every 10 ms until the returned function is called, which
// stops it and returns what it measured.
func StartPingProbe(t testing.TB, test, addr string) (stop func() Pings) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), PingProbeEnv+"="+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && lines.Text() != "probe ready" {
	}
	return func() Pings {
		t.Helper()
		_ = stdin.Close()
		var p Pings
		for lines.Scan() {
			var p99, pmax int64
			if _, err := fmt.Sscanf(lines.Text(), "probe p99 %d max %d pings %d", &p99, &pmax, &p.N); err == nil {
				p.P99, p.Max = time.Duration(p99), time.Duration(pmax)
				return p
			}
			if msg, ok := strings.CutPrefix(lines.Text(), "probe error "); ok && p.Err == nil {
				p.Err = errors.New(msg)
			}
		}
		t.Fatal("the PING probe reported nothing")
		return p
	}
}

// RunPingProbe is the probe's side of StartPingProbe: it skips the test
// unless the test binary was started as a probe; then it PINGs every 10 ms
// until its standard input closes, and prints what it measured.
func RunPingProbe(t *testing.T) {
	addr := os.Getenv(PingProbeEnv)
	if addr == "" {
		t.Skip("a ping probe, started by a load test")
	}
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	fmt.Println("probe ready")
	var lat []time.Duration
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-done:
			slices.Sort(lat)
			var p99, pmax time.Duration
			if len(lat) > 0 {
				p99, pmax = lat[len(lat)*99/100], lat[len(lat)-1]
			}
			fmt.Printf("probe p99 %d max %d pings %d\n", p99, pmax, len(lat))
			return
		case <-tk.C:
		}
		t0 := time.Now()
		if err := c.Ping(ctx).Err(); err != nil {
			fmt.Printf("probe error %v\n", err)
		}
		lat = append(lat, time.Since(t0))
	}
}

package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// redisAnswer is an error Redis answered, as go-redis gives it.
type redisAnswer string

func (e redisAnswer) Error() string { return string(e) }
func (redisAnswer) RedisError()     {}

var _ redis.Error = redisAnswer("")

// A 500 says what failed in words an operator can act on, never the
// addresses or texts the log has.
func TestFailureDetail(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("dlq: stats scrape: %w", err) }
	dial := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 6379}, Err: errors.New("no route to host")}
	for _, c := range []struct {
		err  error
		want string
	}{
		{wrap(&net.DNSError{Err: "no such host", Name: "redis.internal", IsNotFound: true}), "Redis is unavailable (its host name does not resolve)"},
		{wrap(&net.OpError{Op: "read", Net: "tcp", Err: timeoutError{}}), "Redis is unavailable (timed out)"},
		{wrap(dial), "Redis is unavailable (connection lost)"},
		{wrap(redisAnswer("OOM command not allowed when used memory > 'maxmemory'. script: abc, on @user_script:12.")), "Redis refused the command (OOM)"},
		{wrap(redisAnswer("NOAUTH Authentication required.")), "Redis refused the command (NOAUTH)"},
		{wrap(context.DeadlineExceeded), "Redis is unavailable (timed out)"},
		{wrap(errors.New("dlq: malformed counter")), "internal error"},
	} {
		got := failureDetail(c.err)
		if !strings.HasPrefix(got, c.want+"; ") || strings.Contains(got, "10.1.2.3") || strings.Contains(got, "script") {
			t.Errorf("%v: %q, want %q", c.err, got, c.want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

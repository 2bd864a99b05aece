package dlq

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/dlqkit/dlq/internal/dlqtest"
)

// A push to a kind the Service was not given with WithKinds succeeds, but
// the janitor, httpapi and the metrics never see that kind: the Service
// says so, once per kind.
func TestPushUnknownKindWarnsOnce(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		logs := &dlqtest.LogBuffer{}
		s := New(e.Client, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
		for range 3 {
			if _, err := s.Push(ctx, e.kind, uuid.New(), errors.New("boom")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.PushScrapeFailure(ctx, uuid.New(), errors.New("boom")); err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		if n := strings.Count(out, "does not know"); n != 1 || !strings.Contains(out, "level=WARN") ||
			!strings.Contains(out, "kind="+string(e.kind)) || !strings.Contains(out, "dlq.WithKinds") {
			t.Fatalf("%d warnings, want 1 naming the kind and dlq.WithKinds:\n%s", n, out)
		}
		// A Service that knows the kind says nothing.
		quiet := &dlqtest.LogBuffer{}
		s = New(e.Client, WithKinds(e.kind), WithLogger(slog.New(slog.NewTextHandler(quiet, nil))))
		if _, err := s.Push(ctx, e.kind, uuid.New(), errors.New("boom")); err != nil {
			t.Fatal(err)
		}
		if quiet.String() != "" {
			t.Fatalf("logs for a known kind: %s", quiet.String())
		}
	})
}

package dlq_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEQuotesExamples checks that the README's snippets are the code
// the examples compile: that source ids are uuid.UUID, and the Cluster
// client's reload interval (see docs/design.md, Failover), cannot drift
// out of the README unnoticed.
func TestREADMEQuotesExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`sourceID := uuid.MustParse("0c3f2a4e-8d0b-4c55-9a57-2f1f3c1b8e01")`,
		`if _, perr := q.PushScrapeFailure(ctx, sourceID, err, dlq.WithJobID(uuid.New())); perr != nil {`,
		`q := dlq.New(redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ClusterStateReloadInterval: time.Second}))`,
	} {
		if !strings.Contains(string(readme), line) {
			t.Errorf("README.md does not show %s", line)
		}
		if !strings.Contains(string(examples), line) {
			t.Errorf("example_test.go does not compile %s", line)
		}
	}
}

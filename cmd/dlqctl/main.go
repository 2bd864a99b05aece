// Command dlqctl is the operators' command line for a dlq dead letter
// queue: it talks to the HTTP API (github.com/dlqkit/dlq/httpapi) that the
// scraper service mounts, so the service's Requeuer does the requeueing and
// its auth applies.
//
//	go install github.com/dlqkit/dlq/cmd/dlqctl@latest
//	export DLQ_URL=http://127.0.0.1:8080/api/v1/dlq   # the dashboard's address
//	dlqctl stats
//	dlqctl ls scrape --error timeout --limit 20
//	dlqctl show scrape 019ac4b2-6f0e-7c3a-9a4e-52a0d7f1f7a1
//	dlqctl groups scrape
//	dlqctl history scrape --window 7d
//	dlqctl retry scrape --signature 3f2a… --reason "shop back up"
//	dlqctl delete scrape --all --yes
//	dlqctl export scrape > failures.ndjson
//	dlqctl ops scrape; dlqctl op scrape OP; dlqctl audit scrape
//
// Run "dlqctl help" for every command and flag. Exit codes: 0 done, 1
// error (including a refused confirmation, a cancelled or failed
// operation, and requeues that failed), 2 usage, 3 nothing matched.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		env: os.Getenv, terminal: isTerminal,
	}
	os.Exit(a.run(ctx, os.Args[1:]))
}

// isTerminal reports whether f is a terminal: whether dlqctl may draw a
// progress bar on it, or ask for a confirmation from it. (golang.org/x/term
// asks the terminal driver; a character device test would take /dev/null
// for a terminal.)
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

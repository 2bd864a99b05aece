package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Exit codes; scripts are written against them.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitNoMatches = 3
)

// app is one run of dlqctl, with its streams and environment (tests
// replace them).
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
	terminal       func(any) bool // whether a stream is a terminal
	pollEvery      time.Duration  // how often an operation's progress is read; 0 means 500ms
}

// usageError is a mistake on the command line: exit code 2.
type usageError string

func (e usageError) Error() string { return string(e) }

// exitCode is an outcome that is not an error but ends with a code of its
// own (3 nothing matched; 1 a refused confirmation, an operation that did
// not finish), after its message was printed.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// command is one dlqctl command.
type command struct {
	name, args, help string
	run              func(a *app, ctx context.Context, c *client, o *opts, args []string) error
	flags            func(fs *flag.FlagSet, o *opts)
	nargs            int
}

// opts holds every flag; each command registers those it takes.
type opts struct {
	url, reason, window    string
	headers                multiFlag
	timeout                time.Duration
	json, ndjson, yes, all bool
	force                  bool
	limit, scan            int
	rate                   float64
	filter                 filterFlags
}

type filterFlags struct {
	sourceID, jobID, errorText, signature, failedAfter, failedBefore string
}

// query returns the filter as the API's query parameters.
func (f filterFlags) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{
		"source_id": f.sourceID, "job_id": f.jobID, "error": f.errorText,
		"signature": f.signature, "failed_after": f.failedAfter, "failed_before": f.failedBefore,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func filterFlagsOn(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.filter.sourceID, "source-id", "", "only entries of this source id")
	fs.StringVar(&o.filter.jobID, "job-id", "", "only entries of this job id")
	fs.StringVar(&o.filter.errorText, "error", "", "only entries whose error contains this text (any case)")
	fs.StringVar(&o.filter.signature, "signature", "", "only entries of this cause (a signature from groups)")
	fs.StringVar(&o.filter.failedAfter, "failed-after", "", "only entries that failed at or after this RFC 3339 time")
	fs.StringVar(&o.filter.failedBefore, "failed-before", "", "only entries that failed before this RFC 3339 time")
}

func outputFlagsOn(fs *flag.FlagSet, o *opts) {
	fs.BoolVar(&o.json, "json", false, "print the API's JSON")
	fs.BoolVar(&o.ndjson, "ndjson", false, "print one JSON value per line")
}

var commands []command

func init() {
	commands = []command{
		{name: "stats", help: "entries per kind", run: (*app).stats, flags: outputFlagsOn},
		{name: "ls", args: "KIND [filters]", help: "the newest entries (--limit N, default 20; --all for every page)", nargs: 1, run: (*app).ls,
			flags: func(fs *flag.FlagSet, o *opts) {
				filterFlagsOn(fs, o)
				outputFlagsOn(fs, o)
				fs.IntVar(&o.limit, "limit", 20, "entries to list, 1 to 1000")
				fs.BoolVar(&o.all, "all", false, "list every matching entry, page after page")
			}},
		{name: "show", args: "KIND ID", help: "one entry", nargs: 2, run: (*app).show, flags: outputFlagsOn},
		{name: "groups", args: "KIND", help: "failures grouped by cause, largest first", nargs: 1, run: (*app).groups,
			flags: func(fs *flag.FlagSet, o *opts) {
				outputFlagsOn(fs, o)
				fs.IntVar(&o.scan, "scan", 0, "group the newest N entries (server default 5000)")
			}},
		{name: "history", args: "KIND", help: "failures over time, as a sparkline", nargs: 1, run: (*app).history,
			flags: func(fs *flag.FlagSet, o *opts) {
				outputFlagsOn(fs, o)
				fs.StringVar(&o.window, "window", "24h", "24h (per minute), 7d or 30d (per hour)")
			}},
		{name: "export", args: "KIND [filters]", help: "every matching entry as stored, one per line (NDJSON), to stdout", nargs: 1, run: (*app).export, flags: filterFlagsOn},
		{name: "retry", args: "KIND ID | KIND [filters] | KIND --all", help: "retry one entry, or (after a dry run and a confirmation) every matching entry", run: (*app).retry, flags: bulkFlagsOn(false)},
		{name: "delete", args: "KIND ID [--force] | KIND [filters] | KIND --all", help: "discard one entry, or (after a dry run and a confirmation) every matching entry", run: (*app).delete, flags: bulkFlagsOn(true)},
		{name: "ops", args: "KIND", help: "bulk operations, newest first", nargs: 1, run: (*app).ops, flags: outputFlagsOn},
		{name: "op", args: "KIND OP", help: "one bulk operation", nargs: 2, run: (*app).op, flags: outputFlagsOn},
		{name: "audit", args: "KIND", help: "who changed what, newest first", nargs: 1, run: (*app).audit, flags: outputFlagsOn},
	}
}

func bulkFlagsOn(del bool) func(fs *flag.FlagSet, o *opts) {
	return func(fs *flag.FlagSet, o *opts) {
		filterFlagsOn(fs, o)
		outputFlagsOn(fs, o)
		fs.BoolVar(&o.all, "all", false, "act on every entry of the kind")
		fs.BoolVar(&o.yes, "yes", false, "do not ask for a confirmation (required when stdin is not a terminal)")
		fs.StringVar(&o.reason, "reason", "", "why, recorded in the audit log")
		if del {
			fs.BoolVar(&o.force, "force", false, "discard one entry even while a retry holds a claim on it")
		} else {
			fs.Float64Var(&o.rate, "rate", 0, "requeues per second (0: no limit)")
		}
	}
}

// run runs one command line and returns the exit code.
func (a *app) run(ctx context.Context, args []string) int {
	err := a.dispatch(ctx, args)
	var code exitCode
	var usage usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(a.stderr, "dlqctl: %s\n", usage)
		return exitUsage
	case ctx.Err() != nil:
		fmt.Fprintln(a.stderr, "dlqctl: interrupted")
		return exitError
	}
	fmt.Fprintf(a.stderr, "dlqctl: %s\n", oneLine(err.Error()))
	return exitError
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (a *app) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		a.usage(a.stdout)
		if len(args) == 0 {
			return exitCode(exitUsage)
		}
		return nil
	}
	i := 0
	for i < len(commands) && commands[i].name != args[0] {
		i++
	}
	if i == len(commands) {
		a.usage(a.stderr)
		return usageError(fmt.Sprintf("unknown command %q", args[0]))
	}
	cmd := commands[i]
	o := &opts{}
	fs := flag.NewFlagSet("dlqctl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.StringVar(&o.url, "url", a.env("DLQ_URL"), "the DLQ's base URL, as the dashboard's address (default $DLQ_URL)")
	fs.Var(&o.headers, "header", `a request header, "Name: value"; repeatable (default $DLQ_HEADERS, one per line)`)
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long one request may take")
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "usage: dlqctl %s %s\n  %s\n", cmd.name, cmd.args, cmd.help)
		fs.PrintDefaults()
	}
	// Flags may come before, between or after the arguments.
	var pos []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError(err.Error())
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if cmd.nargs > 0 && len(pos) != cmd.nargs {
		return usageError(fmt.Sprintf("usage: dlqctl %s %s", cmd.name, cmd.args))
	}
	if o.json && o.ndjson {
		return usageError("--json and --ndjson: choose one")
	}
	if len(o.headers) == 0 {
		for _, h := range strings.Split(a.env("DLQ_HEADERS"), "\n") {
			if strings.TrimSpace(h) != "" {
				o.headers = append(o.headers, h)
			}
		}
	}
	c, err := newClient(o.url, o.headers, o.timeout)
	if err != nil {
		return err
	}
	return cmd.run(a, ctx, c, o, pos)
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dlqctl COMMAND [arguments] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-44s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprint(w, `
flags of every command: --url URL (or $DLQ_URL), --header "Name: value" (or
$DLQ_HEADERS), --timeout 30s; filters: --source-id, --job-id, --error,
--signature, --failed-after, --failed-before; output: --json, --ndjson.
"dlqctl COMMAND -h" lists a command's flags.

exit codes: 0 done, 1 error, 2 usage, 3 nothing matched.
`)
}

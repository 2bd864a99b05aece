package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The commands that change the DLQ: retry and delete, of one entry or of
// every entry matching a filter.

func (a *app) retry(ctx context.Context, c *client, o *opts, args []string) error {
	return a.change(ctx, c, o, args, "retry")
}

func (a *app) delete(ctx context.Context, c *client, o *opts, args []string) error {
	return a.change(ctx, c, o, args, "delete")
}

func (a *app) change(ctx context.Context, c *client, o *opts, args []string, action string) error {
	bulk := o.all || len(o.filter.query()) > 0
	switch {
	case len(args) == 2 && !bulk:
		return a.changeOne(ctx, c, o, args[0], args[1], action)
	case len(args) == 1 && bulk:
		if o.all && len(o.filter.query()) > 0 {
			return usageError("--all acts on every entry: give it or filters, not both")
		}
		if o.force {
			return usageError("--force is for one entry")
		}
		return a.changeMatching(ctx, c, o, args[0], action)
	}
	return usageError(fmt.Sprintf("usage: dlqctl %s KIND ID, or dlqctl %s KIND with filters or --all", action, action))
}

// changeOne retries or deletes one entry, named in a JSON body.
func (a *app) changeOne(ctx context.Context, c *client, o *opts, kind, id, action string) error {
	body := map[string]any{"id": id}
	if o.force {
		body["force"] = true
	}
	if o.reason != "" {
		body["reason"] = o.reason
	}
	var raw json.RawMessage
	_, status, err := c.do(ctx, "POST", c.url(kindPath(kind)+"/"+action+"-item", nil), body, &raw)
	if err != nil {
		return err
	}
	if o.json || o.ndjson {
		if status == http.StatusNoContent {
			raw = json.RawMessage(`{"id":` + quote(id) + `,"deleted":true}`)
		}
		return a.printJSON(o, raw)
	}
	if action == "delete" {
		fmt.Fprintf(a.stdout, "deleted %s\n", id)
		return nil
	}
	fmt.Fprintf(a.stdout, "retried %s\n", id)
	return nil
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// counts is a bulk action's result.
type counts struct {
	Matched int64 `json:"matched"`
	Handled int64 `json:"handled"`
	Failed  int64 `json:"failed"`
	Skipped int64 `json:"skipped"`
}

// changeMatching runs a bulk retry or delete: a dry run that counts, a
// sample, a confirmation, then the action as an operation the server runs
// in the background, with a progress bar; Ctrl-C cancels it. A server
// without operations runs it within the request, and Ctrl-C stops it
// between entries.
func (a *app) changeMatching(ctx context.Context, c *client, o *opts, kind, action string) error {
	target := c.url(kindPath(kind)+"/"+action, nil)
	body := map[string]any{}
	for k, vs := range o.filter.query() {
		body[k] = vs[0]
	}
	if o.all {
		body["all"] = true
	}
	if o.rate > 0 {
		body["rate"] = o.rate
	}
	dry := map[string]any{"dry_run": true}
	for k, v := range body {
		dry[k] = v
	}
	var preview counts
	if _, _, err := c.do(ctx, "POST", target, dry, &preview); err != nil {
		return err
	}
	if preview.Matched == 0 {
		fmt.Fprintln(a.stderr, "nothing matched; nothing was changed")
		return exitCode(exitNoMatches)
	}
	a.sample(ctx, c, o, kind)
	if !o.yes {
		if !a.terminal(a.stdin) {
			return usageError(fmt.Sprintf("%s of about %d entries needs a confirmation: pass --yes (stdin is not a terminal)", action, preview.Matched))
		}
		fmt.Fprintf(a.stderr, "%s about %d entries of %s? [y/N] ", action, preview.Matched, kind)
		answer, _ := bufio.NewReader(a.stdin).ReadString('\n')
		if ans := strings.ToLower(strings.TrimSpace(answer)); ans != "y" && ans != "yes" {
			fmt.Fprintln(a.stderr, "not confirmed; nothing was changed")
			return exitCode(exitError)
		}
	}
	if o.reason != "" {
		body["reason"] = o.reason
	}
	async := map[string]any{"async": true}
	for k, v := range body {
		async[k] = v
	}
	res, err := c.request(ctx, "POST", target, async)
	if isStatus(err, http.StatusBadRequest) && strings.Contains(err.Error(), `"async"`) {
		// A server without operations: the action runs within the request.
		res, err = c.request(ctx, "POST", target, body)
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(a.stderr, "cancelled: the server stops between entries; what was done stays done")
			return exitCode(exitError)
		}
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusAccepted {
		loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
		if err != nil || res.Header.Get("Location") == "" {
			return fmt.Errorf("the server started an operation but gave no Location")
		}
		return a.follow(ctx, c, o, loc.String(), preview.Matched)
	}
	var done counts
	if err := json.NewDecoder(res.Body).Decode(&done); err != nil {
		return fmt.Errorf("reading the result: %w", err)
	}
	return a.result(o, operation{Kind: kind, Action: action, State: "done", Matched: done.Matched, Handled: done.Handled, Failed: done.Failed, Skipped: done.Skipped})
}

// sample prints up to 3 of the matching entries, newest first, on stderr.
func (a *app) sample(ctx context.Context, c *client, o *opts, kind string) {
	q := o.filter.query()
	q.Set("limit", "3")
	var items []item
	if _, _, err := c.do(ctx, "GET", c.url(kindPath(kind), q), nil, &items); err != nil || len(items) == 0 {
		return
	}
	fmt.Fprintln(a.stderr, "for example:")
	for _, it := range items {
		fmt.Fprintf(a.stderr, "  %s  %s  %s\n", it.ID, it.FailedAt, short(it.Error, 60))
	}
}

// follow polls an operation until it ends, drawing its progress on a
// terminal; Ctrl-C (ctx) cancels it with DELETE and waits for its end.
func (a *app) follow(ctx context.Context, c *client, o *opts, opURL string, expected int64) error {
	every := a.pollEvery
	if every == 0 {
		every = 500 * time.Millisecond
	}
	bar := a.terminal(a.stderr)
	cancelled := false
	var op operation
	for {
		// Reads go on after Ctrl-C, to see the cancellation through.
		rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, _, err := c.do(rctx, "GET", opURL, nil, &op)
		stop()
		if err != nil {
			return err
		}
		if bar {
			fmt.Fprintf(a.stderr, "\r%s", progress(op, expected))
		}
		if op.State != "running" {
			break
		}
		select {
		case <-ctx.Done():
			if !cancelled {
				cancelled = true
				dctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				_, _, err := c.do(dctx, "DELETE", opURL, nil, nil)
				stop()
				if err != nil && !isStatus(err, http.StatusConflict, http.StatusNotFound) {
					return fmt.Errorf("cancelling operation %s: %w", op.ID, err)
				}
				fmt.Fprintf(a.stderr, "\ncancelling operation %s…\n", op.ID)
			}
			time.Sleep(every)
		case <-time.After(every):
		}
	}
	if bar {
		fmt.Fprintln(a.stderr)
	}
	return a.result(o, op)
}

// progress is a one-line progress bar of an operation.
func progress(op operation, expected int64) string {
	done := op.Handled + op.Failed + op.Skipped
	total := max(expected, op.Matched, done, 1)
	const width = 30
	fill := int(done * width / total)
	return fmt.Sprintf("[%s%s] %d/%d  handled %d, failed %d, skipped %d  %s ",
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, total, op.Handled, op.Failed, op.Skipped, op.State)
}

// result prints an operation's end and returns its exit code: 0 done with
// no failed requeue, 1 otherwise.
func (a *app) result(o *opts, op operation) error {
	if o.json || o.ndjson {
		b, _ := json.Marshal(op)
		if err := a.printLine(b); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "%s %s: %d matched, %d handled, %d failed, %d skipped\n",
			op.Action, op.State, op.Matched, op.Handled, op.Failed, op.Skipped)
	}
	switch {
	case op.State != "done":
		if op.ID != "" {
			fmt.Fprintf(a.stderr, "operation %s ended %s (dlqctl op %s %s)\n", op.ID, op.State, op.Kind, op.ID)
		}
		return exitCode(exitError)
	case op.Failed > 0:
		fmt.Fprintf(a.stderr, "%d requeues failed; those entries are still in the DLQ\n", op.Failed)
		return exitCode(exitError)
	}
	return nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The read commands: stats, ls, show, groups, history, export, ops, op,
// audit.

// item is an entry as the API serves it.
type item struct {
	ID           string  `json:"id"`
	SourceID     string  `json:"source_id"`
	JobID        *string `json:"job_id"`
	Error        string  `json:"error"`
	FailedAt     string  `json:"failed_at"`
	RetryCount   int     `json:"retry_count"`
	Kind         string  `json:"dlq_type"`
	InFlight     bool    `json:"in_flight"`
	ClaimedUntil string  `json:"claimed_until"`
	Truncated    bool    `json:"truncated"`
	Size         int     `json:"size"`
}

// kindPath is the path of a kind's routes.
func kindPath(kind string) string { return "/" + url.PathEscape(kind) }

// getJSON reads a JSON answer as it came.
func getJSON(ctx context.Context, c *client, path string, q url.Values) (json.RawMessage, http.Header, error) {
	var raw json.RawMessage
	h, _, err := c.do(ctx, "GET", c.url(path, q), nil, &raw)
	return raw, h, err
}

// printJSON prints a JSON answer for --json (as it came, with a newline)
// or --ndjson (each element of an array on a line of its own).
func (a *app) printJSON(o *opts, raw json.RawMessage) error {
	if o.ndjson && len(raw) > 0 && raw[0] == '[' {
		var vs []json.RawMessage
		if err := json.Unmarshal(raw, &vs); err != nil {
			return err
		}
		for _, v := range vs {
			if err := a.printLine(v); err != nil {
				return err
			}
		}
		return nil
	}
	return a.printLine(raw)
}

func (a *app) printLine(v json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := a.stdout.Write(b.Bytes())
	return err
}

func (a *app) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

// short is s on one line, cut to n runes.
func short(s string, n int) string {
	s = oneLine(s)
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func (a *app) stats(ctx context.Context, c *client, o *opts, _ []string) error {
	raw, _, err := getJSON(ctx, c, "/stats", nil)
	if err != nil {
		return err
	}
	if o.json || o.ndjson {
		return a.printJSON(o, raw)
	}
	var counts map[string]int64
	if err := json.Unmarshal(raw, &counts); err != nil {
		return err
	}
	var rows [][]string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		rows = append(rows, []string{k, strconv.FormatInt(counts[k], 10)})
	}
	a.table("KIND\tENTRIES", rows)
	return nil
}

func (a *app) ls(ctx context.Context, c *client, o *opts, args []string) error {
	if o.limit < 1 || o.limit > 1000 {
		return usageError("--limit must be from 1 to 1000")
	}
	q := o.filter.query()
	q.Set("limit", strconv.Itoa(o.limit))
	var items []json.RawMessage
	for {
		raw, h, err := getJSON(ctx, c, kindPath(args[0]), q)
		if err != nil {
			return err
		}
		var page []json.RawMessage
		if err := json.Unmarshal(raw, &page); err != nil {
			return err
		}
		items = append(items, page...)
		next := h.Get("DLQ-Next-Cursor")
		if !o.all || next == "" {
			break
		}
		q.Set("cursor", next)
	}
	if len(items) == 0 {
		fmt.Fprintln(a.stderr, "no entries")
		return exitCode(exitNoMatches)
	}
	if o.json || o.ndjson {
		all, _ := json.Marshal(items)
		return a.printJSON(o, all)
	}
	var rows [][]string
	for _, r := range items {
		var it item
		if err := json.Unmarshal(r, &it); err != nil {
			return err
		}
		state := ""
		if it.InFlight {
			state = "retrying"
		}
		rows = append(rows, []string{it.ID, it.FailedAt, strconv.Itoa(it.RetryCount), state, short(it.Error, 70)})
	}
	a.table("ID\tFAILED AT\tRETRIES\tSTATE\tERROR", rows)
	return nil
}

func (a *app) show(ctx context.Context, c *client, o *opts, args []string) error {
	raw, _, err := getJSON(ctx, c, kindPath(args[0])+"/item", url.Values{"id": {args[1]}})
	if err != nil {
		return err
	}
	if o.json || o.ndjson {
		return a.printJSON(o, raw)
	}
	var it item
	if err := json.Unmarshal(raw, &it); err != nil {
		return err
	}
	job := "-"
	if it.JobID != nil {
		job = *it.JobID
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nkind\t%s\nsource\t%s\njob\t%s\nfailed at\t%s\nretries\t%d\n", it.ID, it.Kind, it.SourceID, job, it.FailedAt, it.RetryCount)
	if it.InFlight {
		fmt.Fprintf(tw, "claimed until\t%s (a retry is under way)\n", it.ClaimedUntil)
	}
	if it.Truncated {
		fmt.Fprintf(tw, "size\t%d bytes (shown cut)\n", it.Size)
	}
	_ = tw.Flush()
	fmt.Fprintf(a.stdout, "error:\n%s\n", it.Error)
	return nil
}

func (a *app) groups(ctx context.Context, c *client, o *opts, args []string) error {
	q := url.Values{}
	if o.scan != 0 {
		q.Set("scan", strconv.Itoa(o.scan))
	}
	raw, _, err := getJSON(ctx, c, kindPath(args[0])+"/groups", q)
	if err != nil {
		return err
	}
	if o.json || o.ndjson {
		return a.printJSON(o, raw)
	}
	var gs []struct {
		Signature string `json:"signature"`
		Count     int    `json:"count"`
		Newest    string `json:"newest"`
		Sample    string `json:"sample"`
	}
	if err := json.Unmarshal(raw, &gs); err != nil {
		return err
	}
	var rows [][]string
	for _, g := range gs {
		rows = append(rows, []string{strconv.Itoa(g.Count), g.Signature, g.Newest, short(g.Sample, 60)})
	}
	a.table("COUNT\tSIGNATURE\tNEWEST\tSAMPLE", rows)
	return nil
}

func (a *app) history(ctx context.Context, c *client, o *opts, args []string) error {
	raw, _, err := getJSON(ctx, c, kindPath(args[0])+"/history", url.Values{"window": {o.window}})
	if err != nil {
		return err
	}
	if o.json || o.ndjson {
		return a.printJSON(o, raw)
	}
	var h struct {
		Window  string `json:"window"`
		Bucket  int    `json:"bucket_seconds"`
		Buckets []struct {
			Start string `json:"start"`
			Count int64  `json:"count"`
		} `json:"buckets"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return err
	}
	counts := make([]int64, len(h.Buckets))
	var total, peak int64
	for i, b := range h.Buckets {
		counts[i] = b.Count
		total += b.Count
		peak = max(peak, b.Count)
	}
	// One character per bucket would not fit a terminal: fold the
	// buckets into at most 72 columns.
	cols := fold(counts, 72)
	first, last := "", ""
	if len(h.Buckets) > 0 {
		first, last = h.Buckets[0].Start, h.Buckets[len(h.Buckets)-1].Start
	}
	fmt.Fprintf(a.stdout, "%s, last %s: %d failures, at most %d per %s\n%s\n%s … %s\n",
		args[0], h.Window, total, peak, time.Duration(h.Bucket)*time.Second, sparkline(cols), first, last)
	return nil
}

// fold sums counts into at most n columns.
func fold(counts []int64, n int) []int64 {
	if len(counts) <= n {
		return counts
	}
	per := (len(counts) + n - 1) / n
	var out []int64
	for i := 0; i < len(counts); i += per {
		var s int64
		for _, c := range counts[i:min(i+per, len(counts))] {
			s += c
		}
		out = append(out, s)
	}
	return out
}

// sparkline draws counts with block characters: a space for none, ▁ for
// the fewest, █ for the most.
func sparkline(counts []int64) string {
	const blocks = "▁▂▃▄▅▆▇█"
	bars := []rune(blocks)
	var peak int64
	for _, c := range counts {
		peak = max(peak, c)
	}
	var b strings.Builder
	for _, c := range counts {
		switch {
		case c == 0:
			b.WriteRune(' ')
		default:
			b.WriteRune(bars[int((c*int64(len(bars)-1)+peak-1)/peak)])
		}
	}
	return b.String()
}

// export streams GET /dlq/{kind}/export to stdout as it comes, and fails
// when the answer ends without its trailers (the server cut it off).
func (a *app) export(ctx context.Context, c *client, o *opts, args []string) error {
	res, err := c.request(ctx, "GET", c.url(kindPath(args[0])+"/export", o.filter.query()), nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(a.stdout, res.Body); err != nil {
		return fmt.Errorf("export cut off: %w", err)
	}
	n := res.Trailer.Get("DLQ-Export-Count")
	if n == "" {
		return fmt.Errorf("export cut off: the answer ended without its DLQ-Export-Count trailer")
	}
	if n == "0" {
		fmt.Fprintln(a.stderr, "no entries")
		return exitCode(exitNoMatches)
	}
	return nil
}

// operation is a bulk action run by the server in the background.
type operation struct {
	ID      string          `json:"id"`
	Kind    string          `json:"kind"`
	Action  string          `json:"action"`
	State   string          `json:"state"`
	Matched int64           `json:"matched"`
	Handled int64           `json:"handled"`
	Failed  int64           `json:"failed"`
	Skipped int64           `json:"skipped"`
	Actor   string          `json:"actor"`
	Reason  string          `json:"reason"`
	Filter  json.RawMessage `json:"filter"`
}

func (op operation) row() []string {
	return []string{op.ID, op.Action, op.State, strconv.FormatInt(op.Matched, 10), strconv.FormatInt(op.Handled, 10),
		strconv.FormatInt(op.Failed, 10), strconv.FormatInt(op.Skipped, 10), dash(op.Actor), short(dash(op.Reason), 40)}
}

const opHeader = "ID\tACTION\tSTATE\tMATCHED\tHANDLED\tFAILED\tSKIPPED\tACTOR\tREASON"

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) ops(ctx context.Context, c *client, o *opts, args []string) error {
	raw, _, err := getJSON(ctx, c, kindPath(args[0])+"/ops", nil)
	if err != nil {
		return err
	}
	if o.json || o.ndjson {
		return a.printJSON(o, raw)
	}
	var list []operation
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	var rows [][]string
	for _, op := range list {
		rows = append(rows, op.row())
	}
	a.table(opHeader, rows)
	return nil
}

func (a *app) op(ctx context.Context, c *client, o *opts, args []string) error {
	raw, _, err := getJSON(ctx, c, kindPath(args[0])+"/ops/"+url.PathEscape(args[1]), nil)
	if err != nil {
		return err
	}
	if o.json || o.ndjson {
		return a.printJSON(o, raw)
	}
	var op operation
	if err := json.Unmarshal(raw, &op); err != nil {
		return err
	}
	a.table(opHeader, [][]string{op.row()})
	return nil
}

func (a *app) audit(ctx context.Context, c *client, o *opts, args []string) error {
	raw, _, err := getJSON(ctx, c, kindPath(args[0])+"/audit", nil)
	if err != nil {
		return err
	}
	if o.json || o.ndjson {
		return a.printJSON(o, raw)
	}
	var recs []struct {
		Time    string          `json:"time"`
		Action  string          `json:"action"`
		Actor   string          `json:"actor"`
		Reason  string          `json:"reason"`
		ID      string          `json:"id"`
		Op      string          `json:"op"`
		Filter  json.RawMessage `json:"filter"`
		Result  string          `json:"result"`
		Matched *int64          `json:"matched"`
		Handled *int64          `json:"handled"`
		Failed  *int64          `json:"failed"`
		Skipped *int64          `json:"skipped"`
	}
	if err := json.Unmarshal(raw, &recs); err != nil {
		return err
	}
	var rows [][]string
	for _, r := range recs {
		// An operation's records name it (its filter is in dlqctl op);
		// a bulk action run within a request shows its filter.
		what := r.ID
		switch {
		case what != "":
		case r.Op != "":
			what = "op " + r.Op
		case len(r.Filter) > 0:
			what = string(r.Filter)
		}
		counts := "-"
		if r.Matched != nil {
			counts = fmt.Sprintf("%d matched, %d handled, %d failed, %d skipped", *r.Matched, deref(r.Handled), deref(r.Failed), deref(r.Skipped))
		}
		rows = append(rows, []string{r.Time, r.Action, dash(r.Actor), short(dash(r.Reason), 40), short(dash(what), 50), dash(r.Result), counts})
	}
	a.table("TIME\tACTION\tACTOR\tREASON\tENTRY, OP OR FILTER\tRESULT\tCOUNTS", rows)
	return nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

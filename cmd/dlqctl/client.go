package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client calls the DLQ's HTTP API under base ("http://host/api/v1/dlq").
type client struct {
	base    string
	header  http.Header
	timeout time.Duration
	http    *http.Client
}

// apiError is an answer of the API that is not a success.
type apiError struct {
	method, path string
	status       int
	detail       string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, e.detail)
}

// newClient checks the base URL: absolute http(s), any trailing slash
// dropped.
func newClient(base string, headers []string, timeout time.Duration) (*client, error) {
	if base == "" {
		return nil, usageError("no DLQ URL: pass --url or set DLQ_URL (the dashboard's address, e.g. http://127.0.0.1:8080/api/v1/dlq)")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError(fmt.Sprintf("--url %q: want an http(s) URL such as http://127.0.0.1:8080/api/v1/dlq", base))
	}
	c := &client{base: strings.TrimRight(base, "/"), header: http.Header{}, timeout: timeout, http: &http.Client{}}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageError(fmt.Sprintf("header %q: want \"Name: value\"", h))
		}
		c.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return c, nil
}

// url returns the URL of a path under base ("/scrape/item") with a query.
func (c *client) url(path string, q url.Values) string {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// request sends a request and returns the answer when its status is 2xx;
// otherwise an *apiError with the answer's detail. body, when not nil, is
// sent as JSON. The caller closes the answer's body.
func (c *client) request(ctx context.Context, method, target string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/x-ndjson")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 == 2 {
		return res, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var e struct {
		Detail string `json:"detail"`
	}
	detail := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Detail != "" {
		detail = e.Detail
	}
	if len(detail) > 300 {
		detail = detail[:300] + "…"
	}
	if detail == "" {
		detail = http.StatusText(res.StatusCode)
	}
	path := req.URL.Path
	return nil, &apiError{method: method, path: path, status: res.StatusCode, detail: detail}
}

// do sends a request bounded by the client's timeout and decodes a JSON
// answer into out (when not nil). It returns the answer's header.
func (c *client) do(ctx context.Context, method, target string, body, out any) (http.Header, int, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	res, err := c.request(ctx, method, target, body)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return nil, 0, fmt.Errorf("%s %s: reading the answer: %w", method, res.Request.URL.Path, err)
		}
	}
	return res.Header, res.StatusCode, nil
}

// isStatus reports whether err is an API answer with one of these
// statuses.
func isStatus(err error, statuses ...int) bool {
	var ae *apiError
	if !errors.As(err, &ae) {
		return false
	}
	for _, s := range statuses {
		if ae.status == s {
			return true
		}
	}
	return false
}

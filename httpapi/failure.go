package httpapi

import (
	"errors"
	"html/template"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
)

// failureDetail is the detail of a 500: what failed, in words an operator
// can act on, without the addresses, keys or texts the log has.
func failureDetail(err error) string {
	const seeLog = "; the cause is in the server log"
	var netErr net.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var redisErr interface{ RedisError() } // go-redis' redis.Error: an answer of Redis
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Redis is unavailable (connection refused)" + seeLog
	case errors.As(err, &dnsErr):
		return "Redis is unavailable (its host name does not resolve)" + seeLog
	case errors.As(err, &netErr) && netErr.Timeout():
		return "Redis is unavailable (timed out)" + seeLog
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.As(err, &opErr):
		return "Redis is unavailable (connection lost)" + seeLog
	case errors.As(err, &redisErr):
		// Redis' error code (OOM, NOAUTH, READONLY, …) says what to fix;
		// the rest of the text may name keys.
		code, _, _ := strings.Cut(redisErr.(error).Error(), " ")
		return "Redis refused the command (" + code + ")" + seeLog
	}
	return "internal error" + seeLog
}

// failPage is fail for the dashboard: a browser gets a readable page that
// tries again by itself, other clients the JSON error.
func (h *handler) failPage(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := h.failure(r, err)
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		writeError(w, status, detail)
		return
	}
	var b strings.Builder
	_ = failPageTmpl.Execute(&b, detail) // a string always renders
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

var failPageTmpl = template.Must(template.New("fail").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>DLQ · unavailable</title></head>
<body><h1>The DLQ dashboard cannot load</h1>
<p role="alert"><strong>{{.}}</strong></p>
<p>This page tries again every 10 seconds.</p></body></html>
`))

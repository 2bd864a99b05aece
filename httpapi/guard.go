package httpapi

import (
	"net/http"
	"strconv"
	"strings"
)

// What guards the handler: the bound on heavy requests, the CORS answers
// for trusted origins.

// retryAfterSeconds is the Retry-After of a heavy request refused because
// the handler is busy.
const retryAfterSeconds = 1

// heavyOnly runs next only while fewer than maxHeavy heavy requests run;
// otherwise it answers 503 with Retry-After at once, without queueing.
func (h *handler) heavyOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.acquire(w) {
			return
		}
		defer h.release()
		next(w, r)
	}
}

// acquire takes a heavy slot, or answers 503 and returns false.
func (h *handler) acquire(w http.ResponseWriter) bool {
	select {
	case h.heavy <- struct{}{}:
		return true
	default:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeError(w, http.StatusServiceUnavailable, "busy: "+strconv.Itoa(h.maxHeavy)+" requests that read many entries are running; retry in a second")
		return false
	}
}

func (h *handler) release() { <-h.heavy }

// cors answers the CORS requests of trusted origins: a preflight (OPTIONS
// with Access-Control-Request-Method) gets 204 with the methods and
// headers the routes use, and every answer to a trusted origin carries
// Access-Control-Allow-Origin and -Credentials, so that an ops UI there
// can send the operator's cookies and read the JSON. Other origins get no
// CORS headers: their scripts cannot read the answers, and their changes
// are refused by CrossOriginProtection.
func (h *handler) cors(next http.Handler) http.Handler {
	if len(h.trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if !h.trusted[origin] {
			next.ServeHTTP(w, r)
			return
		}
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Credentials", "true")
		hd.Set("Access-Control-Expose-Headers", strings.Join([]string{NextCursorHeader, ScanHeader, "Retry-After"}, ", "))
		hd.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hd.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			hd.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

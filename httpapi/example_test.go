package httpapi_test

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/dlqkit/dlq"
	"github.com/dlqkit/dlq/httpapi"
)

func newService() (*dlq.Service, func()) {
	m, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	return dlq.New(rdb), func() { _ = rdb.Close(); m.Close() }
}

func get(h http.Handler, target string, header ...string) string {
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	return fmt.Sprintf("%d %s", rec.Code, body)
}

// Mount the API in an existing server under /api/v1.
func Example() {
	svc, stop := newService()
	defer stop()

	mux := http.NewServeMux() // the host's own mux
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(svc)))

	fmt.Print(get(mux, "/api/v1/dlq/stats"))
	fmt.Print(get(mux, "/api/v1/dlq/scrape?limit=0"))
	// Output:
	// 200 {"scrape":0,"extraction":0}
	// 400 {"detail":"limit must be an integer from 1 to 1000"}
}

// Register does the same without StripPrefix.
func ExampleRegister() {
	svc, stop := newService()
	defer stop()

	mux := http.NewServeMux()
	httpapi.Register(mux, "/internal/dlq-admin", svc)

	fmt.Print(get(mux, "/internal/dlq-admin/dlq/extraction"))
	// Output: 200 []
}

// The handler has no auth of its own: wrap it in the host's middleware.
func ExampleNew_auth() {
	svc, stop := newService()
	defer stop()

	const token = "s3cret" // from the host's configuration
	requireToken := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Get("Authorization")
			if subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+token)) != 1 {
				http.Error(w, `{"detail":"unauthorized"}`, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}

	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", requireToken(httpapi.New(svc))))

	fmt.Print(get(mux, "/api/v1/dlq/stats"))
	fmt.Print(get(mux, "/api/v1/dlq/stats", "Authorization", "Bearer s3cret"))
	// Output:
	// 401 {"detail":"unauthorized"}
	// 200 {"scrape":0,"extraction":0}
}

package httpapi_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/dlqkit/dlq/httpapi"
)

// The document is served as it is in the repository, under any mount;
// httpapi/openapitest checks it against the routes.
func TestOpenAPIServed(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		want, err := os.ReadFile("openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			OpenAPI string `json:"openapi"`
			Servers []struct {
				URL string `json:"url"`
			} `json:"servers"`
		}
		if err := json.Unmarshal(want, &doc); err != nil || doc.OpenAPI != "3.1.0" || len(doc.Servers) != 1 || doc.Servers[0].URL != ".." {
			t.Fatalf("openapi.json: %+v, %v", doc, err)
		}
		for name, m := range mounts(e) {
			r := do(t, m.h, "GET", m.prefix+"/dlq/openapi.json")
			if r.status != 200 || !bytes.Equal(r.body, want) {
				t.Errorf("%s: GET openapi.json: %d, %d bytes; want the file's %d", name, r.status, len(r.body), len(want))
			}
		}
		h := httpapi.New(e.svc)
		if r := do(t, h, "GET", "/dlq/openapi.json?v=1"); r.status != 400 || r.detail(t) != `unknown query parameter "v"; this route takes none` {
			t.Errorf("openapi.json?v=1: %d %s", r.status, r.body)
		}
	})
}

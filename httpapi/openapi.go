package httpapi

import (
	_ "embed"
	"net/http"
)

// The OpenAPI description: GET /dlq/openapi.json answers an OpenAPI 3.1
// document of every route, embedded in the binary. Its server URL is
// relative (".."), so a client that resolves it against the document's URL
// finds the routes under any mount. httpapi/openapitest (a module of its
// own) replays requests on every route and status code and validates them
// against it, so the document cannot drift from the code.

//go:embed openapi.json
var openapiJSON []byte

// openapi answers GET /dlq/openapi.json.
func (h *handler) openapi(w http.ResponseWriter, r *http.Request) {
	if !onlyParams(w, r) {
		return
	}
	writeRaw(w, http.StatusOK, openapiJSON)
}

package admin

import (
	_ "embed"
	"net/http"
)

// openapiDoc is the admin API's OpenAPI 3 document. Tests check it against
// real responses (openapi_test.go).
//
//go:embed openapi.json
var openapiDoc []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapiDoc)
}

package openapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/pipeline"
)

// Mock answers requests from an OpenAPI document's examples: the
// developer portal's sandbox, where a developer's calls never reach a
// real upstream. Each operation answers its first documented 2xx response
// (200 when only "default" is given) with the response's example, or one
// generated from its schema.
type Mock struct {
	ops []mockOp
}

type mockOp struct {
	method string
	segs   []string // "" stands for a {parameter}
	status int
	ctype  string
	body   []byte
}

// NewMock prepares the answers of every operation of doc.
func NewMock(doc []byte) (*Mock, error) {
	ref, err := ParseReference(doc)
	if err != nil {
		return nil, err
	}
	m := &Mock{}
	for _, op := range ref.Ops {
		mo := mockOp{method: op.Method, segs: templateSegs(op.Path), status: http.StatusOK, ctype: "application/json"}
		for _, r := range op.Responses {
			code, err := strconv.Atoi(r.Code)
			if err != nil || code < 200 || code > 299 {
				if r.Code != "default" || mo.body != nil {
					continue
				}
				code = http.StatusOK
			}
			mo.status = code
			if r.Content != nil {
				mo.ctype = r.Content.Type
				if r.Content.Value != nil {
					mo.body, _ = json.Marshal(r.Content.Value)
				}
			}
			if r.Code != "default" {
				break
			}
		}
		m.ops = append(m.ops, mo)
	}
	return m, nil
}

func templateSegs(path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = ""
		}
	}
	return segs
}

// errNoOperation answers a request the document has no operation for.
var errNoOperation = &pipeline.Error{Status: http.StatusNotFound, Code: "sandbox_no_operation",
	Message: "the API's OpenAPI document has no operation for this method and path, so the sandbox has no answer"}

// Serve answers the request whose path relative to the API is
// x.UpstreamPath. It is the end of a sandbox route's chain.
func (m *Mock) Serve(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
	x.Upstream = "sandbox"
	got := strings.Split(strings.Trim(x.UpstreamPath, "/"), "/")
	for _, op := range m.ops {
		sameMethod := op.method == r.Method || r.Method == http.MethodHead && op.method == http.MethodGet
		if !sameMethod || len(op.segs) != len(got) {
			continue
		}
		match := true
		for i, s := range op.segs {
			if s != "" && s != got[i] {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		h := w.Header()
		h.Set("X-Portico-Sandbox", "true")
		if op.body != nil {
			h.Set("Content-Type", op.ctype)
			h.Set("Content-Length", strconv.Itoa(len(op.body)))
		}
		w.WriteHeader(op.status)
		if r.Method != http.MethodHead && op.body != nil {
			_, _ = w.Write(op.body)
		}
		return nil
	}
	return errNoOperation
}

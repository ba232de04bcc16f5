package portal

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/openapi"
	"github.com/portico-gw/portico/internal/urlpath"
)

// tryResult is what the try-it console shows after a call.
type tryResult struct {
	Op          int
	Method, URL string
	Status      int
	Headers     [][2]string
	Body        string
	Truncated   bool
	Err         string
}

// maxTryBody bounds the answer shown, and the body sent.
const maxTryBody = 64 << 10

// try sends one real request to the API's sandbox on the gateway, with
// the key the developer typed (never shown back), and shows the answer
// on the reference page.
func (p *Portal) try(rq *request) {
	name := rq.r.PathValue("name")
	i := slices.IndexFunc(rq.apis(), func(a config.API) bool { return a.Name == name })
	if i < 0 {
		rq.fail(http.StatusNotFound, "There is no API of that name in the portal.")
		return
	}
	a := rq.apis()[i]
	ref, err := openapi.ParseReference([]byte(a.Portal.OpenAPIDocument))
	if err != nil || p.o.SandboxURL == "" {
		rq.fail(http.StatusNotFound, "This API has no sandbox.")
		return
	}
	f := rq.r.PostForm
	n, err := strconv.Atoi(f.Get("op"))
	if err != nil || n < 0 || n >= len(ref.Ops) {
		rq.fail(http.StatusBadRequest, "Choose an operation of the API.")
		return
	}
	op := ref.Ops[n]
	path := op.Path
	for _, prm := range op.Params {
		if prm.In == "path" {
			v := f.Get("path." + prm.Name)
			if v == "" {
				v = "1"
			}
			if v == "." || v == ".." || strings.Contains(v, "/") {
				rq.fail(http.StatusBadRequest, "Those parameter values leave the API's sandbox; choose others.")
				return
			}
			path = strings.ReplaceAll(path, "{"+prm.Name+"}", url.PathEscape(v))
		}
	}
	// Parameter values cannot walk out of the sandbox ("..", encoded
	// dots): the call would come from this node's own address.
	prefix := "/sandbox/" + url.PathEscape(a.Name)
	if norm, err := urlpath.Normalize(prefix + path); err != nil || !strings.HasPrefix(norm+"/", prefix+"/") {
		rq.fail(http.StatusBadRequest, "Those parameter values leave the API's sandbox; choose others.")
		return
	}
	target := strings.TrimSuffix(p.o.SandboxURL, "/") + prefix + path
	if q := strings.TrimPrefix(strings.TrimSpace(f.Get("query")), "?"); q != "" {
		if vals, err := url.ParseQuery(q); err == nil {
			target += "?" + vals.Encode()
		}
	}
	res := &tryResult{Op: n, Method: op.Method, URL: target}
	body := f.Get("body")
	if len(body) > maxTryBody {
		body = body[:maxTryBody]
	}
	req, err := http.NewRequestWithContext(rq.r.Context(), op.Method, target, strings.NewReader(body))
	if err == nil {
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if k := strings.TrimSpace(f.Get("key")); k != "" {
			req.Header.Set("X-API-Key", k)
		}
		var resp *http.Response
		resp, err = p.o.SandboxClient.Do(req)
		if err == nil {
			defer func() { _ = resp.Body.Close() }()
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxTryBody+1))
			res.Status, res.Truncated = resp.StatusCode, len(raw) > maxTryBody
			if res.Truncated {
				raw = raw[:maxTryBody]
			}
			res.Body = string(bytes.ToValidUTF8(raw, []byte("\uFFFD")))
			for _, h := range []string{"Content-Type", "X-Request-Id", "X-Portico-Sandbox", "RateLimit-Limit", "RateLimit-Remaining", "Retry-After"} {
				if v := resp.Header.Get(h); v != "" {
					res.Headers = append(res.Headers, [2]string{h, v})
				}
			}
		}
	}
	if err != nil {
		res.Err = "The sandbox did not answer: " + err.Error()
	}
	data := map[string]any{"API": a, "Doc": ref, "Try": res}
	rq.render(http.StatusOK, "reference", rq.view(title(&a), "apis", data))
}

// sandboxTimeout bounds a try-it call.
const sandboxTimeout = 10 * time.Second

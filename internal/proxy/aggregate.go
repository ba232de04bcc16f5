package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/transform"
	"github.com/portico-gw/portico/internal/urlpath"
)

// Call is one upstream call of an aggregate route.
type Call struct {
	// Name is the member of the merged document that holds the answer.
	Name     string
	Upstream *Upstream
	// Path is the path and query to GET, a template.
	Path *transform.Template
}

// maxCallBody caps one call's answer.
const maxCallBody = 4 << 20

// Aggregate is a route that GETs several upstreams in parallel and merges
// their JSON answers into one object, each under its call's name.
type Aggregate struct {
	calls    []Call
	timeout  time.Duration
	failAll  bool
	route    urlpath.Template
	basePath string
	client   *http.Client
}

// NewAggregate returns the aggregate of calls, each bounded by timeout.
// With failAll one failed call fails the request (502); otherwise the
// others are answered and "errors" names the failed ones.
func NewAggregate(calls []Call, timeout time.Duration, failAll bool, route urlpath.Template, basePath string, pools *Pools) *Aggregate {
	dialer := &net.Dialer{Timeout: DefaultConnectTimeout}
	if pools != nil {
		dialer.Control = pools.Control
	}
	return &Aggregate{calls: calls, timeout: timeout, failAll: failAll, route: route, basePath: basePath,
		client: &http.Client{
			Transport:     &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 32},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

var errAggregate = &pipeline.Error{Status: http.StatusBadGateway, Code: "upstream_failed", Message: "an upstream call of this route failed"}

type callResult struct {
	body json.RawMessage
	err  string
}

// Serve implements pipeline.Handler.
func (a *Aggregate) Serve(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
	params := transform.RouteParams(a.route, a.basePath, x.Path)
	results := make([]callResult, len(a.calls))
	var wg sync.WaitGroup
	for i, c := range a.calls {
		wg.Go(func() { results[i] = a.call(r, x, c, params) })
	}
	wg.Wait()
	if r.Context().Err() != nil {
		return ErrClientGone
	}
	var out bytes.Buffer
	out.WriteByte('{')
	errs := map[string]string{}
	first := true
	for i, c := range a.calls {
		res := results[i]
		if res.err != "" {
			if a.failAll {
				return errAggregate
			}
			errs[c.Name] = res.err
			continue
		}
		if !first {
			out.WriteByte(',')
		}
		first = false
		name, _ := json.Marshal(c.Name)
		out.Write(name)
		out.WriteByte(':')
		out.Write(res.body)
	}
	if len(errs) > 0 {
		if !first {
			out.WriteByte(',')
		}
		e, _ := json.Marshal(errs)
		out.WriteString(`"errors":`)
		out.Write(e)
	}
	out.WriteByte('}')
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(out.Len())}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out.Bytes()) //nolint:gosec // JSON of the upstreams' JSON answers
	return nil
}

// call GETs one upstream and returns its JSON answer, or why it failed.
func (a *Aggregate) call(r *http.Request, x *pipeline.Exchange, c Call, params map[string]string) callResult {
	t := c.Upstream.pick(r, x, nil)
	if t == nil {
		return callResult{err: "no healthy upstream"}
	}
	scheme := "http://"
	if t.https {
		scheme = "https://"
	}
	timeout := a.timeout
	if timeout == 0 {
		timeout = c.Upstream.timeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	target := scheme + t.host + t.basePath + transform.Render(c.Path, r, x, params, true)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil) //nolint:gosec // a configured target under the address policy
	if err != nil {
		return callResult{err: "bad path"}
	}
	req.Host = t.host
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Request-Id", x.RequestID)
	if x.Consumer != "" {
		req.Header.Set("X-Consumer", x.Consumer)
	}
	resp, err := a.client.Do(req) //nolint:gosec // see above
	if err != nil {
		if ctx.Err() != nil {
			return callResult{err: "timeout"}
		}
		return callResult{err: "unreachable"}
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		return callResult{err: "status " + strconv.Itoa(resp.StatusCode)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCallBody+1))
	if err != nil || len(b) > maxCallBody {
		return callResult{err: "answer too large or cut off"}
	}
	if !json.Valid(b) {
		return callResult{err: "answer is not JSON"}
	}
	return callResult{body: bytes.TrimSpace(b)}
}

package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
)

// MirrorEvents receives what mirroring did (telemetry.Metrics implements
// it): outcome is the shadow's status class (2xx … 5xx), "error",
// "dropped" (too many mirrors in flight) or "skipped" (a body too large or
// of unknown length to copy).
type MirrorEvents interface {
	Mirrored(upstream, outcome string, d time.Duration)
}

// Mirroring limits.
const (
	// MaxMirrorBody is the largest request body copied to a shadow.
	MaxMirrorBody = 64 << 10
	// maxMirrorsInFlight bounds the shadow requests of one route.
	maxMirrorsInFlight = 64
)

// Mirror copies a share of a route's requests to a shadow upstream, after
// the real request is done and on its own goroutine: the shadow's answer is
// discarded and only measured, and a shadow that hangs or fails can never
// slow or fail the real request.
type Mirror struct {
	up      *Upstream
	percent uint64
	n       atomic.Uint64
	sem     chan struct{}
	client  *http.Client
	events  MirrorEvents
}

// NewMirror returns a mirror of percent (1-100) of requests to up, dialing
// under pools' address policy.
func NewMirror(up *Upstream, percent int, pools *Pools, events MirrorEvents) *Mirror {
	dialer := &net.Dialer{Timeout: up.connectTimeout}
	if pools != nil {
		dialer.Control = pools.Control
	}
	return &Mirror{
		up: up, percent: uint64(min(max(percent, 1), 100)), events: events, //nolint:gosec // clamped to 1..100
		sem: make(chan struct{}, maxMirrorsInFlight),
		client: &http.Client{
			Timeout:       up.timeout,
			Transport:     &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 16},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// take says whether this request is mirrored: exactly percent of every
// hundred, spread evenly.
func (m *Mirror) take() bool {
	n := m.n.Add(1)
	return n*m.percent/100 != (n-1)*m.percent/100
}

// shadowCopy is what the shadow request is made of.
type shadowCopy struct {
	method, path, query string
	header              http.Header
	body                *bytes.Buffer
	tee                 *teeBody
}

// teeBody copies what the real request reads of its body.
type teeBody struct {
	io.ReadCloser
	buf *bytes.Buffer
	eof bool
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.buf.Write(p[:n])
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

// Middleware returns the middleware that mirrors; it goes last in the
// chain, right before the proxy, so only requests that passed every policy
// are mirrored, with the path the upstream receives.
func (m *Mirror) Middleware() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			if !m.take() {
				return next.Serve(w, r, x)
			}
			cp := m.copyOf(r, x)
			err := next.Serve(w, r, x)
			if cp == nil {
				m.event("skipped", 0)
				return err
			}
			if cp.tee != nil && !cp.tee.eof {
				m.event("skipped", 0) // the real request did not read its body through
				return err
			}
			select {
			case m.sem <- struct{}{}:
				go m.send(cp)
			default:
				m.event("dropped", 0)
			}
			return err
		})
	}
}

// copyOf captures r for the shadow, or returns nil when its body cannot
// be copied (unknown length, or larger than MaxMirrorBody).
func (m *Mirror) copyOf(r *http.Request, x *pipeline.Exchange) *shadowCopy {
	cp := &shadowCopy{method: r.Method, path: x.UpstreamPath, query: r.URL.RawQuery, header: r.Header.Clone()}
	for _, h := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "X-Consumer"} {
		delete(cp.header, h)
	}
	if x.CredentialHeader != "" {
		delete(cp.header, x.CredentialHeader)
	}
	if x.Consumer != "" {
		cp.header["X-Consumer"] = []string{x.Consumer}
	}
	cp.header["X-Request-Id"] = []string{x.RequestID}
	cp.header["X-Portico-Mirror"] = []string{"1"}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		if r.ContentLength < 0 || r.ContentLength > MaxMirrorBody {
			return nil
		}
		cp.body = bytes.NewBuffer(make([]byte, 0, r.ContentLength))
		cp.tee = &teeBody{ReadCloser: r.Body, buf: cp.body}
		r.Body = cp.tee
	}
	return cp
}

func (m *Mirror) send(cp *shadowCopy) {
	defer func() { <-m.sem }()
	t := m.up.pick(&http.Request{Header: cp.header}, &pipeline.Exchange{}, nil)
	if t == nil {
		m.event("error", 0)
		return
	}
	scheme := "http://"
	if t.https {
		scheme = "https://"
	}
	url := scheme + t.host + t.basePath + cp.path
	if cp.query != "" {
		url += "?" + cp.query
	}
	var body io.Reader
	if cp.body != nil {
		body = cp.body
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.up.timeout)
	defer cancel()
	// The host is a configured target, dialed under the group's address
	// policy; only the path and query come from the client, as for the
	// real upstream.
	req, err := http.NewRequestWithContext(ctx, cp.method, url, body) //nolint:gosec // see above
	if err != nil {
		m.event("error", 0)
		return
	}
	req.Header = cp.header
	req.Host = t.host
	began := time.Now()
	resp, err := m.client.Do(req) //nolint:gosec // see above
	if err != nil {
		m.event("error", time.Since(began))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	m.event(strconv.Itoa(resp.StatusCode/100)+"xx", time.Since(began))
}

func (m *Mirror) event(outcome string, d time.Duration) {
	if m.events != nil {
		m.events.Mirrored(m.up.Name, outcome, d)
	}
}

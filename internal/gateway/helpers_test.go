package gateway_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/compiler"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/gateway"
	"github.com/portico-gw/portico/internal/policy/apikey"
	"github.com/portico-gw/portico/internal/policy/jwt"
	"github.com/portico-gw/portico/internal/policy/ratelimit"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/server"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/telemetry"
	"github.com/portico-gw/portico/internal/usage"
)

// Test keys of the consumers in the configs below.
const (
	acmeKey  = "acme-key-0123456789"
	otherKey = "other-key-0123456789"
)

// env is a started gateway with its runtime.
type env struct {
	t       testing.TB
	gw      *gateway.Gateway
	rt      compiler.Runtime
	srv     *server.Server
	URL     string
	Addr    string
	log     *syncBuffer
	metrics *telemetry.Metrics
}

// syncBuffer is a bytes.Buffer safe for the access log's flusher.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start compiles yaml, in which every "UPSTREAM" is replaced by upstream,
// and serves it on a real socket with Portico's server settings, changed
// by opts before the server starts.
func start(t testing.TB, yaml, upstream string, opts ...func(*server.Server)) *env {
	t.Helper()
	metrics := telemetry.NewMetrics()
	buf := &syncBuffer{}
	alog := telemetry.NewAccessLog(buf, 10*time.Millisecond)
	e := &env{t: t, metrics: metrics, log: buf,
		rt: compiler.Runtime{Pools: proxy.NewPools(), Metrics: metrics, Tunnels: proxy.NewTunnels(), LiveKeys: &apikey.Live{}, JWKS: &jwt.Sources{}, RateLimits: ratelimit.NewTables(), Quotas: ratelimit.NewQuotas(), Health: &proxy.Health{}}}
	e.gw = gateway.New(metrics, alog)
	e.load(yaml, upstream)
	e.srv = gateway.NewProxyServer(e.gw)
	for _, o := range opts {
		o(e.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.srv.Serve(ln) }()
	e.Addr = ln.Addr().String()
	e.URL = "http://" + e.Addr
	t.Cleanup(func() {
		_ = e.srv.Close()
		e.rt.Pools.Close()
		e.rt.JWKS.Close()
		e.rt.RateLimits.Close()
		e.rt.Health.Close()
		alog.Close()
	})
	return e
}

// load compiles and activates a config, failing the test on errors.
func (e *env) load(yaml, upstream string) {
	e.t.Helper()
	c, err := e.compile(yaml, upstream)
	if err != nil {
		e.t.Fatalf("config: %v", err)
	}
	c.Activate(e.gw)
}

func (e *env) compile(yaml, upstream string) (*compiler.Compiled, error) {
	yaml = strings.ReplaceAll(yaml, "UPSTREAM", upstream)
	f, err := config.Parse("test.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	return compiler.Compile("test.yaml", f.Config, e.rt)
}

// do sends a request and returns the response with its body read.
func (e *env) do(method, path string, header http.Header, body io.Reader) (*http.Response, string) {
	e.t.Helper()
	return e.send(method, path, false, header, body)
}

// doRaw is do with the path sent exactly as written, encodings and dot
// segments included.
func (e *env) doRaw(method, path string, header http.Header, body io.Reader) (*http.Response, string) {
	e.t.Helper()
	return e.send(method, path, true, header, body)
}

func (e *env) send(method, path string, raw bool, header http.Header, body io.Reader) (*http.Response, string) {
	e.t.Helper()
	url := e.URL + path
	if raw {
		url = e.URL
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if raw {
		req.URL.Opaque = path
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, string(b)
}

// raw writes req verbatim on a new connection and returns what the
// gateway answers until it closes the connection or timeout passes.
func (e *env) raw(req string, timeout time.Duration) string {
	e.t.Helper()
	c, err := net.Dial("tcp", e.Addr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, req); err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// recorder is an upstream that records what it received.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
	srv  *httptest.Server
}

type recorded struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
	ContentLength     int64
	TransferEncoding  []string
}

func newRecorder(t testing.TB) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.RequestURI, r.Host, r.Header.Clone(), string(b), r.ContentLength, r.TransferEncoding})
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "upstream saw "+r.RequestURI)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) all() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

func (rec *recorder) last(t testing.TB) recorded {
	t.Helper()
	all := rec.all()
	if len(all) == 0 {
		t.Fatal("the upstream received no request")
	}
	return all[len(all)-1]
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// baseConfig protects /api/admin with an API key and leaves /api/public
// open, both on one upstream, with the base path stripped.
const baseConfig = `
version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
    timeout: 2s
apis:
  - name: api
    base_path: /api
    upstream: up
    auth: [api_key]
    routes:
      - name: public
        path: /public/{rest...}
        auth: [none]
      - name: admin
        path: /admin/{rest...}
      - name: order
        methods: [GET, PUT]
        path: /orders/{id}
      - name: acme-only
        methods: [GET]
        path: /acme
        allow_consumers: [acme]
      - name: upload
        methods: [POST]
        path: /upload
        max_body_bytes: 10
      - name: internal
        methods: [GET]
        path: /internal
        auth: [none]
        ip_allow: [10.0.0.0/8]
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
  - name: other
    api_keys: [other-key-0123456789]
`

// takeRecords takes the usage records of requests already answered,
// waiting for at least n: a request's record is added after its answer
// has gone to the client, so a test that reads at once can be a moment
// early. Once n are there it looks once more a little later, so that a
// record that should not exist is seen too.
func takeRecords(rec *usage.Recorder, n int) []store.UsageRecord {
	var recs []store.UsageRecord
	for deadline := time.Now().Add(5 * time.Second); len(recs) < n && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		recs = append(recs, rec.Take()...)
	}
	time.Sleep(20 * time.Millisecond)
	return append(recs, rec.Take()...)
}

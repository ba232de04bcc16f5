package gateway_test

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/compiler"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/gateway"
	"github.com/portico-gw/portico/internal/policy/ratelimit"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/server"
	"github.com/portico-gw/portico/internal/telemetry"
	"github.com/portico-gw/portico/internal/usage"
)

// rawUpstream answers every request with a fixed 100-byte JSON response,
// allocating nothing per request, so that benchmarks count the gateway's
// allocations only.
func rawUpstream(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	body := `{"id":"ord_7QX2","status":"shipped","amount":{"value":"129.90","currency":"EUR"},"items":3}` + "\n"
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(bytes.TrimRight(line, "\r\n")) == 0 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// discardWriter is a ResponseWriter that keeps nothing but its header map.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Flush()                      {}

// benchGateway compiles the benchmark's route (api_key auth, access log on)
// with routes-1 other routes beside it.
func benchGateway(b *testing.B, routes int) *gateway.Gateway {
	up := rawUpstream(b)
	var sb strings.Builder
	sb.WriteString("version: 1\nupstreams:\n  - name: orders\n    targets: [{url: \"" + up + "\"}]\napis:\n")
	sb.WriteString("  - name: orders\n    base_path: /orders\n    upstream: orders\n    auth: [api_key]\n    routes:\n      - name: get-order\n        methods: [GET]\n        path: /{id}\n")
	for i := 1; i < routes; i++ {
		if i%10 == 1 {
			sb.WriteString("  - name: api" + itoa(i) + "\n    base_path: /api" + itoa(i) + "\n    upstream: orders\n    auth: [api_key]\n    routes:\n")
		}
		sb.WriteString("      - name: r" + itoa(i) + "\n        methods: [GET]\n        path: /res" + itoa(i) + "/{id}\n")
	}
	sb.WriteString("consumers:\n  - name: bench\n    api_keys: [bench-key-0123456789abcdef]\n")
	f, err := config.Parse("bench.yaml", []byte(sb.String()), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	metrics := telemetry.NewMetrics()
	var sink bytes.Buffer
	alog := telemetry.NewAccessLog(&lockedDiscard{&sink}, 1<<40)
	rt := compiler.Runtime{Pools: proxy.NewPools(), Metrics: metrics, Tunnels: proxy.NewTunnels()}
	c, err := compiler.Compile("bench.yaml", f.Config, rt)
	if err != nil {
		b.Fatal(err)
	}
	g := gateway.New(metrics, alog)
	c.Activate(g)
	b.Cleanup(func() { rt.Pools.Close() })
	return g
}

// lockedDiscard drops what the access log writes (its own lock guards it).
type lockedDiscard struct{ b *bytes.Buffer }

func (d *lockedDiscard) Write(p []byte) (int, error) { return len(p), nil }

func benchRequest() *http.Request {
	r, _ := http.NewRequest("GET", "http://example.com/orders/7", nil)
	r.RequestURI = "/orders/7"
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-API-Key", "bench-key-0123456789abcdef")
	r.Header.Set("User-Agent", "wrk")
	r.Header.Set("Accept", "*/*")
	return r
}

// BenchmarkProxyRequest is one full request through the gateway: routing,
// API key auth, the proxy to a loopback upstream, metrics and the access
// log line. allocs/op are the gateway's own (the upstream allocates none).
func BenchmarkProxyRequest(b *testing.B) {
	for _, routes := range []int{10, 10000} {
		b.Run("routes="+itoa(routes), func(b *testing.B) {
			g := benchGateway(b, routes)
			r := benchRequest()
			w := &discardWriter{h: http.Header{}}
			g.ServeHTTP(w, r)
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				g.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkProxyServed is BenchmarkProxyRequest over a real client
// connection, through Portico's HTTP server: the allocations a proxied
// request costs in production, the server's included (its request, header
// map and context). The client writes fixed bytes and reads with a
// minimal parser, allocating nothing per request.
func BenchmarkProxyServed(b *testing.B) {
	g := benchGateway(b, 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &server.Server{Handler: g, MaxHeaderBytes: 32 << 10, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = s.Serve(ln) }()
	defer s.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET /orders/7 HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nX-API-Key: bench-key-0123456789abcdef\r\nAccept: */*\r\n\r\n")
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				n = 0
				for _, d := range bytes.TrimSpace(v) {
					n = n*10 + int(d-'0')
				}
			} else if bytes.HasPrefix(line, []byte("HTTP/1.1 ")) && !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				b.Fatalf("status line %q", line)
			}
		}
		if n < 0 {
			b.Fatal("no Content-Length")
		}
		if _, err := br.Discard(n); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip()
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
}

// BenchmarkProxyRequestUsage is BenchmarkProxyRequest with usage records
// on: what the request path pays to meter a request (the buffer is
// emptied every millisecond, as a writer would).
func BenchmarkProxyRequestUsage(b *testing.B) {
	g := benchGateway(b, 10)
	rec := usage.NewRecorder(usage.DefaultBuffer, usage.DefaultBatch, telemetry.NewMetrics())
	g.RecordUsage(rec)
	done := make(chan struct{})
	var taken atomic.Int64
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				b := rec.Take()
				taken.Add(int64(len(b)))
				rec.Recycle(b)
			}
		}
	}()
	defer close(done)
	r := benchRequest()
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		g.ServeHTTP(w, r)
	}
}

// BenchmarkProxyRequestJWT is the bench harness's jwt route in process: an
// RS256 token (verified once, then served from the token cache), a rate
// limit per consumer, the proxy and the access log.
func BenchmarkProxyRequestJWT(b *testing.B) {
	iss := newFileIssuer(b)
	g := benchConfigGateway(b, `
version: 1
upstreams:
  - name: orders
    targets: [{url: "UPSTREAM"}]
auth_policies:
  - {name: idp, type: jwt, jwks_file: "`+iss.file+`", issuer: https://id.bench, audience: orders, algorithms: [RS256]}
apis:
  - name: orders
    base_path: /orders
    upstream: orders
    auth: [idp]
    routes:
      - name: get-order
        methods: [GET]
        path: /{id}
        rate_limit: {limit: 1000000000, window: 1s}
`)
	r := benchRequest()
	r.Header.Del("X-API-Key")
	r.Header.Set("Authorization", "Bearer "+iss.sign(b, map[string]any{"sub": "bench", "iss": "https://id.bench", "aud": "orders"}))
	w := &discardWriter{h: http.Header{}}
	g.ServeHTTP(w, r)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		g.ServeHTTP(w, r)
	}
}

// benchConfigGateway compiles yaml (UPSTREAM replaced by the benchmark
// upstream) with the access log on.
func benchConfigGateway(b *testing.B, yaml string) *gateway.Gateway {
	f, err := config.Parse("bench.yaml", []byte(strings.ReplaceAll(yaml, "UPSTREAM", rawUpstream(b))), nil)
	if err != nil {
		b.Fatal(err)
	}
	metrics := telemetry.NewMetrics()
	rt := compiler.Runtime{Pools: proxy.NewPools(), Metrics: metrics, Tunnels: proxy.NewTunnels(), RateLimits: ratelimit.NewTables()}
	c, err := compiler.Compile("bench.yaml", f.Config, rt)
	if err != nil {
		b.Fatal(err)
	}
	g := gateway.New(metrics, telemetry.NewAccessLog(&lockedDiscard{}, 1<<40))
	c.Activate(g)
	b.Cleanup(func() { rt.Pools.Close(); rt.RateLimits.Close() })
	return g
}

// BenchmarkProxyRequestTransform is the benchmark route with a header
// transform (a template set, a remove, a rename) on the request and the
// response, and with a JSON body mapping of the response.
func BenchmarkProxyRequestTransform(b *testing.B) {
	const route = `
version: 1
upstreams:
  - name: orders
    targets: [{url: "UPSTREAM"}]
apis:
  - name: orders
    base_path: /orders
    upstream: orders
    auth: [api_key]
    routes:
      - name: get-order
        methods: [GET]
        path: /{id}
        transform:
          request:
            headers: {set: {X-Tenant: "{{consumer}}", X-Order: "{{path.id}}"}, remove: [X-Debug], rename: {Accept: X-Accept}}
          response:
            headers: {set: {Cache-Control: no-store}}
BODY
consumers:
  - name: bench
    api_keys: [bench-key-0123456789abcdef]
`
	for _, c := range []struct{ name, body string }{
		{"headers", ""},
		{"headers+json-body", "            body: {rename: {id: orderId, amount.value: amount.cents}, remove: [items], set: {via: gateway}}"},
	} {
		b.Run(c.name, func(b *testing.B) {
			g := benchConfigGateway(b, strings.Replace(route, "BODY", c.body, 1))
			r := benchRequest()
			w := &discardWriter{h: http.Header{}}
			g.ServeHTTP(w, r)
			if w.h.Get("Cache-Control") != "no-store" {
				b.Fatalf("the transform did not run: %v", w.h)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				r.Header.Set("Accept", "*/*")
				g.ServeHTTP(w, r)
			}
		})
	}
}

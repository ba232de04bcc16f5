package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/portico-gw/portico/internal/egress"
	"github.com/portico-gw/portico/internal/server"
)

const streamConfig = `
version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
    timeout: 1s
    connect_timeout: 1s
apis:
  - name: s
    base_path: /s
    upstream: up
    auth: [none]
    routes:
      - name: all
        path: /{rest...}
`

// TestServerSentEventsArriveOneByOne checks that each event reaches the
// client before the upstream sends the next one.
func TestServerSentEventsArriveOneByOne(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-time.After(5 * time.Second):
				return
			}
		}
	}))
	defer up.Close()
	e := start(t, streamConfig, up.URL)
	resp, err := http.Get(e.URL + "/s/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 1; i <= 3; i++ {
		got := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			_, _ = br.ReadString('\n') // the blank line ending the event
			got <- line
		}()
		select {
		case line := <-got:
			if want := fmt.Sprintf("data: event %d\n", i); line != want {
				t.Fatalf("event %d = %q, want %q", i, line, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("event %d did not arrive before the upstream sent the next one", i)
		}
		next <- struct{}{}
	}
}

func TestWebSocketEcho(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	}))
	defer up.Close()
	e := start(t, streamConfig, up.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+e.Addr+"/s/ws", nil)
	if err != nil {
		t.Fatalf("dial through the gateway: %v", err)
	}
	defer c.CloseNow()
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("the 101 response has no X-Request-Id")
	}
	for i := range 3 {
		msg := fmt.Sprintf("hello %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "echo: "+msg {
			t.Fatalf("got %q, want %q", got, "echo: "+msg)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// TestWebSocketIdleTimeout: a tunnel stays open while anything moves in
// either direction, and is closed once nothing has for the upstream's
// websocket_idle_timeout — not sooner.
func TestWebSocketIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = time.Second
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		// Push for a while without being spoken to, then fall silent.
		for i := range 6 {
			if err := c.Write(r.Context(), websocket.MessageText, []byte(fmt.Sprint("push ", i))); err != nil {
				return
			}
			time.Sleep(idle / 4)
		}
		_, _, _ = c.Read(r.Context())
	}))
	defer up.Close()
	e := start(t, strings.Replace(streamConfig, "    connect_timeout: 1s\n", "    connect_timeout: 1s\n    websocket_idle_timeout: 1s\n", 1), up.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+e.Addr+"/s/ws", nil)
	if err != nil {
		t.Fatalf("dial through the gateway: %v", err)
	}
	defer c.CloseNow()
	// Six pushes over 1.5 s, one and a half idle timeouts, each well
	// within the timeout of the last: the upstream's traffic alone keeps
	// the tunnel open.
	var last time.Time
	for i := range 6 {
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("push %d: %v (the tunnel closed while the upstream was sending)", i, err)
		}
		if want := fmt.Sprint("push ", i); string(got) != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		last = time.Now()
	}
	// Then nothing moves: the gateway closes the tunnel.
	_, _, err = c.Read(ctx)
	quiet := time.Since(last)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("read after the silence: %v (context %v), want the tunnel closed", err, ctx.Err())
	}
	// The gateway saw the last message a moment before the client did:
	// allow that moment.
	if quiet < idle-100*time.Millisecond || quiet > idle+3*time.Second {
		t.Errorf("tunnel closed %v after the last message, want about %v", quiet, idle)
	}
}

func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	// A listener that accepts and never answers: a blackholed upstream.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hole.Close() })
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	// An address nothing listens on.
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	downURL := "http://" + closed.Addr().String()
	closed.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	tests := []struct {
		desc, url string
		status    int
		code      string
		within    time.Duration
	}{
		{"blackhole", "http://" + hole.Addr().String(), 504, "upstream_timeout", 1900 * time.Millisecond},
		{"slow upstream", slow.URL, 504, "upstream_timeout", 1400 * time.Millisecond},
		{"nothing listening", downURL, 502, "upstream_failed", 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			e := start(t, streamConfig, tt.url)
			began := time.Now()
			resp, body := e.do("GET", "/s/x", nil, nil)
			took := time.Since(began)
			if resp.StatusCode != tt.status || decodeError(t, resp, body).Error.Code != tt.code {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if took > tt.within {
				t.Fatalf("answered after %v, want within %v", took, tt.within)
			}
		})
	}
}

// TestUpstreamTimeoutOnABusyConnection checks the timeout of a request on
// an upstream connection that served others just before: the deadline
// left in place by those (kept while it fits, see package deadline) must
// neither cut the stalled request short nor outlive its timeout by more
// than its slack.
func TestUpstreamTimeoutOnABusyConnection(t *testing.T) {
	t.Parallel()
	const timeout = 400 * time.Millisecond // slack: 50 ms
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stall") {
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		}
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	e := start(t, strings.Replace(strings.Replace(streamConfig, "timeout: 1s\n", "timeout: 400ms\n", 1), "/s", "/t", 1), up.URL)
	for busy := time.Now(); time.Since(busy) < 3*timeout/2; {
		if resp, body := e.do("GET", "/t/fast", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("a fast request: %d %s", resp.StatusCode, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	began := time.Now()
	resp, body := e.do("GET", "/t/stall", nil, nil)
	took := time.Since(began)
	if resp.StatusCode != 504 || decodeError(t, resp, body).Error.Code != "upstream_timeout" {
		t.Fatalf("got %d %s, want 504 upstream_timeout", resp.StatusCode, body)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("the upstream saw %d connections, want the stalled request on the one the others used", n)
	}
	if took < timeout {
		t.Fatalf("timed out after %v, before the route's %v", took, timeout)
	}
	if late := took - timeout; late > 50*time.Millisecond+400*time.Millisecond {
		t.Fatalf("timed out after %v: %v late, want at most the slack (50ms) and scheduling", took, late)
	}
}

// TestSlowReaderFreesTheUpstream: a client that asks for a large answer
// and never reads it is cut off at the send timeout, and the upstream
// connection behind it is dropped — the upstream's blocked write fails —
// instead of both being held for as long as the client keeps its socket.
func TestSlowReaderFreesTheUpstream(t *testing.T) {
	t.Parallel()
	freed := make(chan time.Time, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const n = 512 << 20
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := make([]byte, 1<<20)
		for range n / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				freed <- time.Now()
				return
			}
		}
		freed <- time.Time{}
	}))
	t.Cleanup(up.Close)
	e := start(t, streamConfig, up.URL, func(s *server.Server) { s.SendTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", e.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	began := time.Now()
	io.WriteString(c, "GET /s/big HTTP/1.1\r\nHost: x\r\n\r\n") // and nothing read
	select {
	case at := <-freed:
		if at.IsZero() {
			t.Fatal("the upstream wrote 512 MiB to a client that read nothing")
		}
		if took := at.Sub(began); took < 300*time.Millisecond {
			t.Fatalf("the upstream connection was dropped after %v, before the send timeout", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a client that reads nothing held the upstream connection for 10 s")
	}
}

// TestUpstreamCutMidResponse checks that a response the upstream breaks
// off reaches the client as an error, never as a clean, short body.
func TestUpstreamCutMidResponse(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, strings.Repeat("x", 100))
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	defer up.Close()
	chunked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100))
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	defer chunked.Close()
	for _, u := range []string{up.URL, chunked.URL} {
		e := start(t, streamConfig, u)
		resp, err := http.Get(e.URL + "/s/x")
		if err != nil {
			continue // refused outright: also an error the client sees
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("upstream %s: the client read a clean end of a truncated response", u)
		}
	}
}

// TestClientDisconnectCancelsUpstream checks that the upstream request is
// abandoned as soon as the client goes away.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	t.Parallel()
	cancelled := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(cancelled)
	}))
	defer up.Close()
	e := start(t, strings.Replace(streamConfig, "timeout: 1s", "timeout: 30s", 1), up.URL)
	c, err := net.Dial("tcp", e.Addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /s/events HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "200 OK") {
		t.Fatalf("no response head: %q %v", buf[:n], err)
	}
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("the upstream request went on 2 s after the client left")
	}
}

// TestStaleKeepAliveConnectionIsRetried closes the upstream's idle
// connections between requests; the gateway must notice and use a new
// connection instead of failing the request.
func TestStaleKeepAliveConnectionIsRetried(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "ok "+string(b))
	}))
	up.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	e := start(t, streamConfig, up.URL)
	for i := range 6 {
		method, body := "GET", io.Reader(nil)
		if i%2 == 1 {
			method, body = "POST", strings.NewReader("payload")
		}
		resp, got := e.do(method, "/s/x", nil, body)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d (%s) after the upstream closed idle connections: %d %s", i, method, resp.StatusCode, got)
		}
		up.CloseClientConnections()
		time.Sleep(20 * time.Millisecond)
	}
	if n := conns.Load(); n < 6 {
		t.Errorf("the upstream saw %d connections; it closed each after use, so want 6", n)
	}
}

func TestKeepAliveConnectionsAreReused(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	up.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	e := start(t, streamConfig, up.URL)
	for range 20 {
		if resp, _ := e.do("GET", "/s/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests used %d upstream connections, want 1", n)
	}
}

func TestHeadAndNoContent(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	}))
	defer up.Close()
	e := start(t, streamConfig, up.URL)
	for range 3 { // and the connection stays usable after each
		resp, body := e.do("HEAD", "/s/x", nil, nil)
		if resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
			t.Fatalf("HEAD: %d, %q, Content-Length %d", resp.StatusCode, body, resp.ContentLength)
		}
		resp, body = e.do("GET", "/s/empty", nil, nil)
		if resp.StatusCode != 204 || body != "" {
			t.Fatalf("204: %d %q", resp.StatusCode, body)
		}
		resp, body = e.do("GET", "/s/x", nil, nil)
		if resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("GET: %d %q", resp.StatusCode, body)
		}
	}
}

func TestRetriesIdempotentOnly(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	defer flaky.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + closed.Addr().String()
	closed.Close()
	// Two targets, the first dead, and two retries.
	cfg := strings.Replace(streamConfig, `targets: [{url: "UPSTREAM"}]`,
		`targets: [{url: "`+down+`"}, {url: "UPSTREAM"}]
    retries: {attempts: 2, base: 1ms}`, 1)
	e := start(t, cfg, flaky.URL)
	for range 4 {
		if resp, body := e.do("GET", "/s/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("GET with a dead target and retries: %d %s", resp.StatusCode, body)
		}
	}
	failed := 0
	for range 4 {
		if resp, _ := e.do("POST", "/s/x", nil, strings.NewReader("x")); resp.StatusCode == 502 {
			failed++
		}
	}
	if failed == 0 {
		t.Error("POST was retried onto the healthy target; only idempotent requests may be")
	}
}

func TestHTTPSUpstream(t *testing.T) {
	t.Parallel()
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls "+r.Host+" "+r.URL.Path)
	}))
	defer up.Close()
	// Untrusted certificate: refused.
	e := start(t, streamConfig, up.URL)
	if resp, body := e.do("GET", "/s/x", nil, nil); resp.StatusCode != 502 {
		t.Fatalf("an upstream with an unknown CA: %d %s, want 502", resp.StatusCode, body)
	}
	// Trusted: served, with the target's host as Host.
	trusting := start(t, "version: 1\n", "", func(*server.Server) {})
	trusting.rt.Pools.RootCAs = up.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	trusting.load(streamConfig, up.URL)
	for range 3 {
		resp, body := trusting.do("GET", "/s/x", nil, nil)
		if resp.StatusCode != 200 || body != "tls "+strings.TrimPrefix(up.URL, "https://")+" /x" {
			t.Fatalf("HTTPS upstream: %d %q", resp.StatusCode, body)
		}
	}
}

// TestUpstreamResetIs502 has the upstream reset the connection after
// reading the request: a POST (not retried) answers 502 at once, and a GET
// is retried on a new connection only when it was a reused one.
func TestUpstreamResetIs502(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				c.(*net.TCPConn).SetLinger(0) // close with RST
				c.Close()
			}()
		}
	}()
	e := start(t, streamConfig, "http://"+ln.Addr().String())
	for _, method := range []string{"GET", "POST"} {
		began := time.Now()
		resp, body := e.do(method, "/s/x", nil, nil)
		if resp.StatusCode != 502 || decodeError(t, resp, body).Error.Code != "upstream_failed" {
			t.Errorf("%s to a resetting upstream: %d %s, want 502 upstream_failed", method, resp.StatusCode, body)
		}
		if took := time.Since(began); took > 500*time.Millisecond {
			t.Errorf("%s took %v to fail", method, took)
		}
	}
}

// TestEgressPolicyAtDial denies the upstream's address: the request fails
// with 502 without the upstream ever being reached, whatever the URL says.
func TestEgressPolicyAtDial(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := start(t, streamConfig, strings.Replace(rec.srv.URL, "127.0.0.1", "localhost", 1))
	e.rt.Pools.SetEgress(egress.NewPolicy(egress.Settings{UpstreamDeny: []string{"127.0.0.0/8", "::1/128"}}))
	resp, body := e.do("GET", "/s/x", nil, nil)
	if resp.StatusCode != 502 || len(rec.all()) != 0 {
		t.Fatalf("denied upstream: %d %s, upstream reached %d times", resp.StatusCode, body, len(rec.all()))
	}
	e.rt.Pools.SetEgress(egress.NewPolicy(egress.Settings{}))
	if resp, _ := e.do("GET", "/s/x", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("after allowing loopback again: %d", resp.StatusCode)
	}
}

// TestLongStreamAfterRequestBody streams a response for longer than the
// route timeout after a POST body: the body deadline must not cut off a
// response that keeps flowing.
func TestLongStreamAfterRequestBody(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 8 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(200 * time.Millisecond)
		}
	}))
	defer up.Close()
	e := start(t, streamConfig, up.URL) // timeout: 1s
	resp, err := http.Post(e.URL+"/s/chat", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || strings.Count(string(body), "data:") != 8 {
		t.Fatalf("got %d events (%v), want all 8 over 1.6 s", strings.Count(string(body), "data:"), err)
	}
}

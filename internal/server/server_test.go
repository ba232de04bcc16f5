package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/server"
)

// serve starts a Server with h on a loopback port and returns its
// address.
func serve(t *testing.T, h http.Handler, opts ...func(*server.Server)) string {
	t.Helper()
	s := &server.Server{Handler: h, MaxHeaderBytes: 8 << 10, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

// exchange writes raw on a new connection and reads n responses.
func exchange(t *testing.T, addr, raw string, n int) ([]*http.Response, []string, *bufio.Reader, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var resps []*http.Response
	var bodies []string
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading response %d: %v", len(resps)+1, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading body %d: %v", len(resps)+1, err)
		}
		resps = append(resps, resp)
		bodies = append(bodies, string(b))
	}
	return resps, bodies, br, c
}

// closed reports whether the server closed c (after what was read).
func closed(br *bufio.Reader, c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := br.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || err != nil && strings.Contains(err.Error(), "reset")
}

// seen is what a handler saw of a request.
type seen struct {
	method, uri, path, host, proto, body, remote string
	header                                       http.Header
	length                                       int64
	te                                           []string
}

func recorder(got chan<- seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(499)
			return
		}
		got <- seen{r.Method, r.RequestURI, r.URL.Path, r.Host, r.Proto, string(b), r.RemoteAddr, r.Header, r.ContentLength, r.TransferEncoding}
		io.WriteString(w, "ok")
	})
}

func TestRequestParsing(t *testing.T) {
	t.Parallel()
	got := make(chan seen, 1)
	addr := serve(t, recorder(got))
	raw := "POST /a/b%2Fc?q=1 HTTP/1.1\r\nhost: example.com\r\nx-api-key: k1\r\nX-API-KEY: k2\r\nx_odd-NAME: v \r\nContent-Length: 5\r\n\r\nhello"
	resps, bodies, _, _ := exchange(t, addr, raw, 1)
	if resps[0].StatusCode != 200 || bodies[0] != "ok" {
		t.Fatalf("response %d %q", resps[0].StatusCode, bodies[0])
	}
	s := <-got
	if s.method != "POST" || s.uri != "/a/b%2Fc?q=1" || s.path != "/a/b/c" || s.host != "example.com" || s.proto != "HTTP/1.1" {
		t.Errorf("request line: %+v", s)
	}
	if v := s.header["X-Api-Key"]; len(v) != 2 || v[0] != "k1" || v[1] != "k2" {
		t.Errorf("X-Api-Key = %q, want both values in order", v)
	}
	if v := s.header.Get("X_odd-Name"); v != "v" {
		t.Errorf("X_odd-Name = %q, want v (trimmed, canonical key)", v)
	}
	if _, ok := s.header["Host"]; ok {
		t.Errorf("Host left in the header map (it is r.Host)")
	}
	if s.body != "hello" || s.length != 5 {
		t.Errorf("body %q length %d", s.body, s.length)
	}
	if !strings.HasPrefix(s.remote, "127.0.0.1:") {
		t.Errorf("RemoteAddr = %q", s.remote)
	}
}

// TestRefusals is the request-smuggling and malformed-head matrix at the
// server: each is answered with its status and the connection closes,
// and the handler never runs.
func TestRefusals(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	tests := []struct {
		desc, raw string
		status    int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE xchunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
		{"TE chunked twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
		{"TE identity, chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 501},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"conflicting Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 44\r\n\r\n", 400},
		{"Content-Length list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n", 400},
		{"signed Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", 400},
		{"negative Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400},
		{"huge Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"obs-folded TE", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400},
		{"bare LF in a field", "GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"CR in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"duplicate Host", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"bad version", "GET / HTTQ/1.1\r\nHost: x\r\n\r\n", 400},
		{"double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"control in target", "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"relative target", "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"Expect other", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417},
		{"head too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 13<<10) + "\r\n\r\n", 431},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			resps, bodies, br, c := exchange(t, addr, tt.raw+"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 1)
			if resps[0].StatusCode != tt.status {
				t.Errorf("status %d, want %d", resps[0].StatusCode, tt.status)
			}
			if ct := resps[0].Header.Get("Content-Type"); ct != "application/json" || !strings.Contains(bodies[0], `"error"`) {
				t.Errorf("refusal %q %q, want the JSON error shape", ct, bodies[0])
			}
			if !resps[0].Close || !closed(br, c) {
				t.Errorf("the connection stayed open after a refusal")
			}
		})
	}
	t.Cleanup(func() {
		if n := calls.Load(); n != 0 {
			t.Errorf("the handler ran %d times for refused requests", n)
		}
	})
}

func TestAcceptedEdgeCases(t *testing.T) {
	t.Parallel()
	got := make(chan seen, 1)
	addr := serve(t, recorder(got))
	tests := []struct {
		desc, raw string
		check     func(seen) bool
	}{
		{"repeated equal Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
			func(s seen) bool { return s.body == "ab" && s.length == 2 && len(s.header["Content-Length"]) == 1 }},
		{"chunked with extension and trailer", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
			func(s seen) bool {
				return s.body == "abcde" && s.length == -1 && len(s.te) == 1 && s.header.Get("Transfer-Encoding") == ""
			}},
		{"HTTP/1.0 without Host", "GET /x HTTP/1.0\r\n\r\n", func(s seen) bool { return s.host == "" && s.proto == "HTTP/1.0" }},
		{"absolute-form", "GET http://h.example/p HTTP/1.1\r\nHost: x\r\n\r\n", func(s seen) bool { return s.host == "h.example" && s.path == "/p" }},
		{"leading empty line", "\r\nGET /y HTTP/1.1\r\nHost: x\r\n\r\n", func(s seen) bool { return s.path == "/y" }},
		{"tab in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\tb\r\n\r\n", func(s seen) bool { return s.header.Get("X-A") == "a\tb" }},
		{"empty value", "GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n\r\n", func(s seen) bool { v, ok := s.header["X-A"]; return ok && v[0] == "" }},
	}
	for _, tt := range tests {
		resps, _, _, _ := exchange(t, addr, tt.raw, 1)
		if resps[0].StatusCode != 200 {
			t.Errorf("%s: status %d", tt.desc, resps[0].StatusCode)
			continue
		}
		if s := <-got; !tt.check(s) {
			t.Errorf("%s: the handler saw %+v", tt.desc, s)
		}
	}
}

func TestBrokenChunkedBody(t *testing.T) {
	t.Parallel()
	readErr := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		w.WriteHeader(400)
	}))
	for _, body := range []string{"5\nhello\r\n0\r\n\r\n", "FFFFFFFFFFFFFFFFF5\r\nhello\r\n0\r\n\r\n", "5\r\nhelloXX0\r\n\r\n"} {
		_, _, br, c := exchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+body+"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 1)
		if err := <-readErr; err == nil {
			t.Errorf("chunked body %q read without error", body)
		}
		if !closed(br, c) {
			t.Errorf("chunked body %q: the connection served on after a broken body", body)
		}
	}
}

func TestKeepAliveAndPipelining(t *testing.T) {
	t.Parallel()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/slow" {
			time.Sleep(80 * time.Millisecond) // long enough for the disconnect watch to run
		}
		fmt.Fprintf(w, "%s %s", r.URL.Path, b)
	}))
	raw := "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n" +
		"GET /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	resps, bodies, br, c := exchange(t, addr, raw, 4)
	want := []string{"/1 ", "/2 abc", "/slow z", "/4 "}
	for i, b := range bodies {
		if b != want[i] || resps[i].StatusCode != 200 {
			t.Errorf("response %d: %d %q, want %q", i+1, resps[i].StatusCode, b, want[i])
		}
	}
	if !resps[3].Close || !closed(br, c) {
		t.Errorf("Connection: close was not honoured")
	}
	// A request sent while the previous one is still running (the watch
	// reads its first byte) is served whole.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	br2 := bufio.NewReader(c2)
	io.WriteString(c2, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(60 * time.Millisecond)
	io.WriteString(c2, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, w := range []string{"/slow ", "/after "} {
		resp, err := http.ReadResponse(br2, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != w {
			t.Errorf("got %q, want %q", b, w)
		}
	}
}

func TestResponseFraming(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 5000)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			io.WriteString(w, "hi")
		case "/big":
			io.WriteString(w, big)
		case "/pieces":
			// Held, then too much to hold: nothing written may be lost.
			io.WriteString(w, big[:1500])
			io.WriteString(w, big[1500:3000])
			io.WriteString(w, big[3000:])
		case "/flushed":
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "b")
		case "/declared":
			w.Header().Set("Content-Length", "3")
			io.WriteString(w, "abc")
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.Header().Set("Content-Length", "3")
			w.WriteHeader(304)
		case "/split":
			w.Header().Set("X-A", "a\r\nSet-Cookie: evil=1")
			w.Header()["Bad Name"] = []string{"v"}
			w.Header().Set("Transfer-Encoding", "gzip")
		case "/two-lengths":
			w.Header()["Content-Length"] = []string{"3", "5000"}
			w.Header()["content-length"] = []string{"7"}
			w.Header()["transfer-encoding"] = []string{"identity"}
			io.WriteString(w, big)
		case "/early-hints":
			w.Header().Set("Link", "</s.css>; rel=preload")
			w.WriteHeader(103)
			w.WriteHeader(201)
			io.WriteString(w, "made")
		}
	}))
	tests := []struct {
		path, want string
		length     int64
		chunked    bool
	}{
		{"/small", "hi", 2, false},
		{"/big", big, -1, true},
		{"/pieces", big, -1, true},
		{"/flushed", "ab", -1, true},
		{"/declared", "abc", 3, false},
		{"/204", "", 0, false},
	}
	for _, tt := range tests {
		resps, bodies, _, _ := exchange(t, addr, "GET "+tt.path+" HTTP/1.1\r\nHost: x\r\n\r\n", 1)
		r := resps[0]
		if bodies[0] != tt.want || r.ContentLength != tt.length || (len(r.TransferEncoding) > 0) != tt.chunked {
			t.Errorf("%s: body %d bytes, length %d, TE %v; want %d bytes, length %d, chunked %v", tt.path, len(bodies[0]), r.ContentLength, r.TransferEncoding, len(tt.want), tt.length, tt.chunked)
		}
		if r.Header.Get("Date") == "" {
			t.Errorf("%s: no Date header", tt.path)
		}
	}
	// An informational response, then the final one.
	resps, bodies, _, _ := exchange(t, addr, "GET /early-hints HTTP/1.1\r\nHost: x\r\n\r\n", 2)
	if resps[0].StatusCode != 103 || resps[0].Header.Get("Link") == "" || resps[1].StatusCode != 201 || bodies[1] != "made" {
		t.Errorf("103 then 201: %d %v, %d %q", resps[0].StatusCode, resps[0].Header, resps[1].StatusCode, bodies[1])
	}
	// HEAD: the length of what GET would send, no body; the next response
	// follows at once.
	_, _, br0, _ := exchange(t, addr, "HEAD /declared HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n", 0)
	head, err := http.ReadResponse(br0, &http.Request{Method: "HEAD"})
	if err != nil || head.Header.Get("Content-Length") != "3" {
		t.Fatalf("HEAD: %v %v", head, err)
	}
	next, err := http.ReadResponse(br0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(next.Body); string(b) != "hi" {
		t.Errorf("after HEAD: %q", b)
	}
	// 304 keeps no body; the next response on the connection is intact.
	_, bodies, _, _ = exchange(t, addr, "GET /304 HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n", 2)
	if bodies[1] != "hi" {
		t.Errorf("after a 304: %q", bodies[1])
	}
	// A handler that writes less than it declared: the connection closes,
	// so the client cannot take what follows for the rest.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	all, err := io.ReadAll(c)
	if err != nil || !strings.HasSuffix(string(all), "abc") {
		t.Errorf("short body: %q, %v (want the connection closed after it)", all, err)
	}
	// Two lengths, or framing headers in other spellings, from a handler:
	// the client still gets exactly one framing.
	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	io.WriteString(c3, "GET /two-lengths HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	_ = c3.SetReadDeadline(time.Now().Add(3 * time.Second))
	raw, _ := io.ReadAll(c3)
	head3, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	if n := strings.Count(strings.ToLower(head3), "content-length") + strings.Count(strings.ToLower(head3), "transfer-encoding"); n != 1 {
		t.Errorf("a handler's conflicting framing reached the client:\n%s", head3)
	}
	_, bodies, _, _ = exchange(t, addr, "GET /two-lengths HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	if bodies[0] != big {
		t.Errorf("two lengths: %d bytes, want %d", len(bodies[0]), len(big))
	}
	// HTTP/1.0 without a length: the body ends with the connection.
	resps, bodies, br, c2 := exchange(t, addr, "GET /big HTTP/1.0\r\n\r\n", 1)
	if bodies[0] != big || !resps[0].Close || !closed(br, c2) {
		t.Errorf("HTTP/1.0: %d bytes, close %v", len(bodies[0]), resps[0].Close)
	}
	// No handler can split a response or override the framing.
	resps, _, _, _ = exchange(t, addr, "GET /split HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	if resps[0].Header.Get("Set-Cookie") != "" || resps[0].Header.Get("X-A") != "a  Set-Cookie: evil=1" {
		t.Errorf("CR LF in a value: %v", resps[0].Header)
	}
	if len(resps[0].TransferEncoding) != 0 || resps[0].ContentLength != 0 {
		t.Errorf("a handler's Transfer-Encoding was sent: %v %d", resps[0].TransferEncoding, resps[0].ContentLength)
	}
}

func TestExpectContinue(t *testing.T) {
	t.Parallel()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/deny" {
			w.WriteHeader(403)
			return
		}
		if r.URL.Path == "/answer-first" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("before the body: %q, want 100 Continue", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "ping")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "ping" {
		t.Errorf("echo %q", b)
	}
	// A handler that answers before it reads: the client gets the final
	// response, never a 100 Continue inside it.
	c4, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	_ = c4.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c4, "POST /answer-first HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n")
	br4 := bufio.NewReader(c4)
	if line, _ := br4.ReadString('\n'); line != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("answer first: %q", line)
	}
	io.WriteString(c4, "pong")
	rest, _ := io.ReadAll(br4)
	if strings.Contains(string(rest), "100 Continue") || !strings.HasSuffix(string(rest), "4\r\npong\r\n0\r\n\r\n") {
		t.Errorf("answer first: %q", rest)
	}
	// Refused without reading: no 100 Continue, and the connection closes
	// (the client may or may not send the body).
	resps, _, br2, c2 := exchange(t, addr, "POST /deny HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", 1)
	if resps[0].StatusCode != 403 || !closed(br2, c2) {
		t.Errorf("refused before the body: %d", resps[0].StatusCode)
	}
}

func TestUnreadBodies(t *testing.T) {
	t.Parallel()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }))
	// A small unread body is skipped and the connection serves on.
	_, bodies, _, _ := exchange(t, addr, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n", 2)
	if bodies[1] != "/b" {
		t.Errorf("after an unread body: %q", bodies[1])
	}
	// A large one is not read: the connection closes.
	_, _, br, c := exchange(t, addr, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\nxx", 1)
	if !closed(br, c) {
		t.Errorf("the connection waits for 10 MB nobody wants")
	}
}

func TestPanics(t *testing.T) {
	t.Parallel()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 3000))
		w.(http.Flusher).Flush()
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic("boom")
	}), func(s *server.Server) { s.Log = discardLog() })
	for _, p := range []string{"/abort", "/boom"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: reading the cut body: %v, want io.ErrUnexpectedEOF", p, err)
		}
		c.Close()
	}
}

func TestHijack(t *testing.T) {
	t.Parallel()
	// Short server timeouts: none of them may reach into the tunnel.
	short := func(s *server.Server) {
		s.ReadHeaderTimeout, s.IdleTimeout = 100*time.Millisecond, 100*time.Millisecond
	}
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(60 * time.Millisecond) // the watch is running when the tunnel starts
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 64)
		for {
			n, err := brw.Read(buf)
			if err != nil {
				return
			}
			nc.Write(buf[:n])
		}
	}), short)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	// "early" is sent with the head, "late" after the switch; both come
	// back.
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	time.Sleep(300 * time.Millisecond) // past every server timeout
	io.WriteString(c, "late")
	buf := make([]byte, 9)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "earlylate" {
		t.Errorf("tunnel echoed %q, %v", buf, err)
	}
}

// TestClientGoneCancels: a handler waiting on a slow upstream learns that
// its client left through the request's context, with or without a body.
func TestClientGoneCancels(t *testing.T) {
	t.Parallel()
	cancelled := make(chan time.Duration, 2)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/quick" {
			time.Sleep(5 * time.Millisecond) // the watch's timer fires during one of these
			return
		}
		_, _ = io.ReadAll(r.Body)
		start := time.Now()
		select {
		case <-r.Context().Done():
			cancelled <- time.Since(start)
		case <-time.After(5 * time.Second):
			cancelled <- -1
		}
	}))
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, raw)
		time.Sleep(50 * time.Millisecond)
		c.Close()
		if d := <-cancelled; d < 0 || d > 2*time.Second {
			t.Errorf("%q: the context was not cancelled when the client left (%v)", raw[:4], d)
		}
	}
	// The same on a connection that served quick requests just before:
	// the watch's timer, set for one of those, still starts the watch of
	// the slow one.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for began := time.Now(); time.Since(began) < 3*50*time.Millisecond; {
		io.WriteString(c, "GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		} else {
			resp.Body.Close()
		}
	}
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if d := <-cancelled; d < 0 || d > 2*time.Second {
		t.Errorf("after quick requests: the context was not cancelled when the client left (%v)", d)
	}
	// A request that ends normally is not cancelled before it ends, even
	// when its handler sets a read deadline that passes during the watch.
	ok := make(chan error, 1)
	addr2 := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(60 * time.Millisecond)
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		time.Sleep(40 * time.Millisecond)
		ok <- r.Context().Err()
	}))
	exchange(t, addr2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	if err := <-ok; err != nil {
		t.Errorf("a request whose client waited: context %v", err)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := &server.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "done")
	}), MaxHeaderBytes: 8 << 10, ReadHeaderTimeout: time.Second, IdleTimeout: time.Minute}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()
	// One idle keep-alive connection, one request in flight.
	_, _, idleBR, idle := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if !closed(idleBR, idle) {
		t.Errorf("the idle connection stayed open during shutdown")
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("a new connection was accepted during shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "done" || !resp.Close {
		t.Errorf("the in-flight request: %q, close %v", b, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	// With a deadline that passes first, Shutdown says so.
	s2 := &server.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }), ReadHeaderTimeout: time.Second, IdleTimeout: time.Second, MaxHeaderBytes: 1 << 10}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	go s2.Serve(ln2)
	c, _ := net.Dial("tcp", ln2.Addr().String())
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s2.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown past its deadline: %v", err)
	}
	s2.Close()
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.ReadAll(r.Body) }), func(s *server.Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
	})
	for _, tt := range []struct{ desc, raw string }{
		{"silent", ""},
		{"trickling head", "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "},
		{"idle keep-alive", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"trickling head pipelined behind a body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nxGET / HTTP/1.1\r\nHost: x\r\nX-Slow: "},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		io.WriteString(c, tt.raw)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = io.ReadAll(c)
		if err != nil || time.Since(start) > 2*time.Second {
			t.Errorf("%s: not closed by the server (%v after %v)", tt.desc, err, time.Since(start))
		}
		c.Close()
	}
}

// TestIdleTimeoutAfterABusySpell checks that a connection that served
// requests one after another, then falls silent, is closed its idle
// timeout after its last answer — never sooner — although the deadline
// is not set again for every request (see package deadline).
func TestIdleTimeoutAfterABusySpell(t *testing.T) {
	t.Parallel()
	const idle = 400 * time.Millisecond // slack: 50 ms
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), func(s *server.Server) {
		s.ReadHeaderTimeout = idle / 2 // the first request's wait: shorter than the busy spell
		s.IdleTimeout = idle
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var last time.Time
	for busy := time.Now(); time.Since(busy) < 3*idle/2; {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %v of requests: %v", time.Since(busy), err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		last = time.Now()
		time.Sleep(5 * time.Millisecond)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
	}
	took := time.Since(last)
	if took < idle {
		t.Fatalf("closed %v after the last answer, before the idle timeout of %v", took, idle)
	}
	if took > idle+50*time.Millisecond+400*time.Millisecond {
		t.Fatalf("closed %v after the last answer: later than the idle timeout (%v), its slack (50ms) and scheduling", took, idle)
	}
}

// TestSendTimeout: a client that stops taking the answer is cut off at
// the send timeout, and the handler's write fails; one that takes it
// slowly but steadily gets all of it, however long that takes.
func TestSendTimeout(t *testing.T) {
	t.Parallel()
	const send = 500 * time.Millisecond
	const size = 8 << 20
	failed := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, chunk := size, bytes.Repeat([]byte("x"), size) // one write: the send timeout bounds each part of it
		if r.URL.Path == "/big" {
			n, chunk = 256<<20, chunk[:1<<20] // more than the sockets' buffers take in
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		for range n / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				failed <- err
				return
			}
		}
		failed <- nil
	}), func(s *server.Server) { s.SendTimeout = send })

	// Steady: 64 KiB every 10 ms, about 6.5 MB/s, the whole answer in
	// about 1.3 s — far longer than the send timeout.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got int
	buf := make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(resp.Body, buf)
		got += n
		if err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got != size {
		t.Fatalf("a steady reader got %d bytes of %d", got, size)
	}
	if err := <-failed; err != nil {
		t.Fatalf("the handler's write to a steady reader failed: %v", err)
	}

	// Stalled: the request, then nothing read at all.
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	began := time.Now()
	io.WriteString(stalled, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-failed:
		if err == nil {
			t.Fatal("a client that read nothing took 256 MiB")
		}
		if took := time.Since(began); took < send {
			t.Fatalf("the write failed after %v, before the send timeout (%v)", took, send)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a client that stopped reading held the handler's write for 5 s")
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	cert := httptest.NewTLSServer(http.NotFoundHandler())
	cfg := cert.TLS.Clone()
	cert.Close()
	got := make(chan *tls.ConnectionState, 1)
	s := &server.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.TLS
		io.WriteString(w, "secure")
	}), MaxHeaderBytes: 8 << 10, ReadHeaderTimeout: time.Second, IdleTimeout: time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NextProtos = nil
	go s.Serve(tls.NewListener(ln, cfg))
	defer s.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the test's own certificate
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if st := <-got; st == nil || !st.HandshakeComplete || string(b) != "secure" {
		t.Errorf("TLS: state %v, body %q", st, b)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRefusalsReachSendingClients: a client still sending when the server
// gives up on its request (a head over the limit, a large body nobody
// reads) must still read the answer, not a connection reset.
func TestRefusalsReachSendingClients(t *testing.T) {
	t.Parallel()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden) // without reading the body
	}))
	for _, tt := range []struct {
		desc, head string
		body       int
		status     int
	}{
		{"head over the limit", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 200<<10) + "\r\n\r\n", 0, 431},
		{"large unread body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n", 600000, 403},
	} {
		for range 5 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			// As net/http's client does: the whole request is written
			// before the response is read.
			if _, err := io.WriteString(c, tt.head+string(make([]byte, tt.body))); err != nil {
				t.Fatalf("%s: writing the request: %v", tt.desc, err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("%s: %v", tt.desc, err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("%s: status %d, want %d", tt.desc, resp.StatusCode, tt.status)
			}
			c.Close()
		}
	}
}

// TestWritesArriveWhole drives the response writer with random scripts of
// writes and flushes — with and without a declared length, over HTTP/1.1
// and HTTP/1.0 — and checks that the client reads exactly what was
// written, however it was framed.
func TestWritesArriveWhole(t *testing.T) {
	t.Parallel()
	type step struct {
		n     int
		flush bool
	}
	scripts := make(chan []step, 1)
	declare := make(chan bool, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		steps, decl := <-scripts, <-declare
		total := 0
		for _, s := range steps {
			total += s.n
		}
		if decl {
			w.Header().Set("Content-Length", strconv.Itoa(total))
		}
		i := 0
		for _, s := range steps {
			b := make([]byte, s.n)
			for j := range b {
				b[j] = byte('a' + (i+j)%26)
			}
			i += s.n
			if _, err := w.Write(b); err != nil {
				t.Errorf("write: %v", err)
			}
			if s.flush {
				w.(http.Flusher).Flush()
			}
		}
	}))
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var steps []step
		total := 0
		for range rng.IntN(6) {
			s := step{n: rng.IntN(3000), flush: rng.IntN(3) == 0}
			steps = append(steps, s)
			total += s.n
		}
		want := make([]byte, total)
		for j := range want {
			want[j] = byte('a' + j%26)
		}
		proto := "HTTP/1.1"
		if round%4 == 3 {
			proto = "HTTP/1.0"
		}
		scripts <- steps
		declare <- round%2 == 1
		_, bodies, _, _ := exchange(t, addr, "GET / "+proto+"\r\nHost: x\r\n\r\n", 1)
		if bodies[0] != string(want) {
			t.Fatalf("round %d (%s, declared %v, steps %v): got %d bytes, want %d", round, proto, round%2 == 1, steps, len(bodies[0]), total)
		}
	}
}

// unwrapper is a middleware's writer, as the gateway's pipeline wraps the
// server's.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestAnswerLeavesBeforeHandlerReturns: a response whose declared body is
// whole, or that a handler ends with End (through a wrapping writer), is
// on the wire while the handler still runs — the client reads it whole,
// framed as usual — and nothing can be written after End. The connection
// then serves the next request.
func TestAnswerLeavesBeforeHandlerReturns(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("y", 5000)
	release := make(chan struct{})
	afterEnd := make(chan error, 8)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/declared":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "ab")
			io.WriteString(w, "cde")
		case "/held":
			io.WriteString(w, "small")
			afterEnd <- server.End(unwrapper{w})
			_, err := io.WriteString(w, "more")
			afterEnd <- err
		case "/chunked":
			io.WriteString(w, big)
			afterEnd <- server.End(unwrapper{w})
		default:
			io.WriteString(w, "next")
			return
		}
		<-release
	}))
	defer close(release)
	for _, c := range []struct{ path, body, te string }{
		{"/declared", "abcde", ""},
		{"/held", "small", ""},
		{"/chunked", big, "chunked"},
	} {
		resps, bodies, br, conn := exchange(t, addr, "GET "+c.path+" HTTP/1.1\r\nHost: x\r\n\r\n", 1)
		if bodies[0] != c.body || strings.Join(resps[0].TransferEncoding, ",") != c.te {
			t.Errorf("%s: body %q (%d bytes), transfer encoding %v", c.path, bodies[0][:min(len(bodies[0]), 20)], len(bodies[0]), resps[0].TransferEncoding)
		}
		if c.te == "" && resps[0].ContentLength != int64(len(c.body)) {
			t.Errorf("%s: Content-Length %d, want %d", c.path, resps[0].ContentLength, len(c.body))
		}
		if c.path == "/held" {
			if err := <-afterEnd; err != nil {
				t.Errorf("End: %v", err)
			}
			if err := <-afterEnd; err == nil {
				t.Error("a write after End succeeded")
			}
		}
		if c.path == "/chunked" {
			if err := <-afterEnd; err != nil {
				t.Errorf("End: %v", err)
			}
		}
		release <- struct{}{}
		io.WriteString(conn, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: the next request on the connection: %v", c.path, err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != "next" {
			t.Errorf("%s: the next request got %q", c.path, b)
		}
	}
}

// TestEndElsewhere: End on a writer that is not this server's does
// nothing.
func TestEndElsewhere(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	io.WriteString(rec, "x")
	if err := server.End(unwrapper{rec}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(rec, "y")
	if rec.Body.String() != "xy" {
		t.Fatalf("body %q", rec.Body.String())
	}
}

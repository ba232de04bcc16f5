package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer is a real HTTP server that counts the connections it
// accepted, so tests can tell a reused connection from a new one.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &conns
}

func clientOf(t *testing.T, s *httptest.Server, header time.Duration) *Client {
	t.Helper()
	ps := NewPools()
	t.Cleanup(ps.Close)
	return ps.NewClient(strings.TrimPrefix(s.URL, "http://"), time.Second, header)
}

func TestClientRoundTrip(t *testing.T) {
	t.Parallel()
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", r.Method+" "+r.URL.RequestURI()+" "+r.Host+" "+r.Header.Get("X-In")+" "+string(body))
		w.Header().Set("X-Length", r.Header.Get("Content-Length")+"/"+strings.Join(r.TransferEncoding, ","))
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "answer to "+r.Method)
	})
	cl := clientOf(t, s, time.Second)
	hc := &http.Client{Transport: cl}
	for i, c := range []struct {
		method string
		body   io.Reader
		length string
	}{
		{"GET", nil, "/"},
		{"POST", strings.NewReader(`{"a":1}`), "7/"},
		{"POST", nil, "0/"},
		// A body of unknown length goes chunked.
		{"PUT", io.MultiReader(strings.NewReader("one "), strings.NewReader("two")), "/chunked"},
	} {
		req, err := http.NewRequest(c.method, s.URL+"/p/a?q=1", c.body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-In", "v")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%d %s: %v", i, c.method, err)
		}
		got, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(got) != "answer to "+c.method {
			t.Fatalf("%d: status %d body %q err %v", i, resp.StatusCode, got, err)
		}
		var sent string
		if c.body != nil {
			sent = map[string]string{"POST": `{"a":1}`, "PUT": "one two"}[c.method]
		}
		if want := strings.TrimSpace(c.method + " /p/a?q=1 " + strings.TrimPrefix(s.URL, "http://") + " v " + sent); resp.Header.Get("X-Got") != want {
			t.Errorf("%d: the server got %q, want %q", i, resp.Header.Get("X-Got"), want)
		}
		if l := resp.Header.Get("X-Length"); l != c.length {
			t.Errorf("%d: framing %q, want %q", i, l, c.length)
		}
		if resp.ContentLength != int64(len(got)) || resp.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("%d: ContentLength %d, Content-Type %q", i, resp.ContentLength, resp.Header.Get("Content-Type"))
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for four calls read to their end, want 1", n)
	}
}

func TestClientRefuses(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	s, _ := countingServer(t, func(http.ResponseWriter, *http.Request) { calls.Add(1) })
	cl := clientOf(t, s, time.Second)
	for _, c := range []struct {
		desc, url string
		header    http.Header
	}{
		{"another host", "http://example.com/", nil},
		{"https", strings.Replace(s.URL, "http:", "https:", 1), nil},
		{"CRLF in a value", s.URL, http.Header{"X-A": {"v\r\nX-Injected: 1"}}},
		{"bad name", s.URL, http.Header{"X A": {"v"}}},
	} {
		req, _ := http.NewRequest("GET", c.url, nil)
		for k, v := range c.header {
			req.Header[k] = v
		}
		if resp, err := cl.RoundTrip(req); err == nil {
			_ = resp.Body.Close()
			t.Errorf("%s: no error", c.desc)
		}
	}
	if resp, err := cl.RoundTrip(&http.Request{Method: "GET", Header: http.Header{}}); err == nil {
		_ = resp.Body.Close()
		t.Error("a request without a URL: no error")
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the server was called %d times", n)
	}
}

// A body closed before its end closes its connection; the next call gets
// a new one and a whole answer.
func TestClientUnreadBody(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 256<<10)
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) })
	cl := clientOf(t, s, time.Second)
	req, _ := http.NewRequest("GET", s.URL, nil)
	resp, err := cl.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
		t.Error("a read after Close did not fail")
	}
	resp, err = cl.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || string(got) != big {
		t.Fatalf("second answer: %d bytes, %v", len(got), err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the first closed with its body unread)", n)
	}
}

// A streamed answer reaches the caller piece by piece, and cancelling the
// call mid-stream stops the read with the context's error and drops the
// connection.
func TestClientStreamAndCancel(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			_, _ = io.WriteString(w, "data: "+string(rune('a'+i))+"\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	})
	cl := clientOf(t, s, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL, strings.NewReader("{}"))
	resp, err := cl.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != -1 {
		t.Errorf("ContentLength %d for a chunked answer", resp.ContentLength)
	}
	buf := make([]byte, 64)
	for _, want := range []string{"data: a\n\n", "data: b\n\n"} {
		n, err := resp.Body.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
		}
		next <- struct{}{}
	}
	cancel()
	var rerr error
	for rerr == nil {
		_, rerr = resp.Body.Read(buf)
	}
	if !errors.Is(rerr, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", rerr)
	}
	_ = resp.Body.Close()
	req, _ = http.NewRequest("POST", s.URL, strings.NewReader("{}"))
	resp, err = cl.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the cancelled one is not reused)", n)
	}
}

// A server that stays silent past the response-header timeout fails the
// call with a timeout; one that closed an idle connection is not noticed
// by the caller: a request with a body goes on a connection checked open,
// a GET is sent again.
func TestClientTimeoutsAndStaleConnections(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var open []net.Conn
	release := make(chan struct{})
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok "+r.Method)
	}))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) })
	cl := clientOf(t, s, 100*time.Millisecond)

	req, _ := http.NewRequest("GET", s.URL+"/slow", nil)
	if _, err := cl.RoundTrip(req); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("silent server: %v, want a timeout", err)
	}

	call := func(method string, body io.Reader) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+"/", body)
		resp, err := cl.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		got, _ := io.ReadAll(resp.Body)
		if string(got) != "ok "+method {
			t.Fatalf("%s: %q", method, got)
		}
	}
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			_ = c.Close()
		}
		open = nil
	}
	for _, method := range []string{"POST", "GET"} {
		call(method, nil)
		closeAll() // the server drops the idle connection
		time.Sleep(20 * time.Millisecond)
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("payload")
		}
		call(method, body)
	}
}

// A URL's host without a port dials port 80.
func TestClientAddress(t *testing.T) {
	t.Parallel()
	ps := NewPools()
	defer ps.Close()
	for host, addr := range map[string]string{"example.com": "example.com:80", "example.com:8080": "example.com:8080", "[::1]": "[::1]:80"} {
		if got := ps.NewClient(host, 0, 0).Pool().addr; got != addr {
			t.Errorf("%s: dials %s, want %s", host, got, addr)
		}
	}
}

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

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/testenv"
)

func clientOf(t *testing.T, s *httptest.Server, header time.Duration) *Client {
	t.Helper()
	ps := NewPools()
	t.Cleanup(ps.Close)
	return ps.NewClient(strings.TrimPrefix(s.URL, "http://"), time.Second, header)
}

func TestClientRoundTrip(t *testing.T) {
	t.Parallel()
	s, conns := testenv.CountingServer(t, func(w http.ResponseWriter, r *http.Request) {
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
	s, _ := testenv.CountingServer(t, func(http.ResponseWriter, *http.Request) { calls.Add(1) })
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
	s, conns := testenv.CountingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) })
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
	s, conns := testenv.CountingServer(t, func(w http.ResponseWriter, r *http.Request) {
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

// readyIn says a body Read can return without the network only when
// everything that Read goes on to consume is buffered: a chunk's data with
// its CRLF, a size line whole, the trailer section to its empty line.
func TestBodyReadyIn(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		chunked bool
		left    int64
		buf     string
		want    bool
	}{
		{false, 10, "", false},
		{false, 10, "a", true},
		{true, 0, "", false},
		{true, 0, "5\r", false},
		{true, 0, "5\r\n", false},      // the size, no data yet
		{true, 0, "5\r\nab", true},     // part of the data: Read returns it
		{true, 0, "5\r\nhello", false}, // all of it, but not its CRLF
		{true, 0, "5\r\nhello\r", false},
		{true, 0, "5\r\nhello\r\n", true},
		{true, 0, "5;ext=1\r\nhello\r\n", true},
		{true, 0, "zz\r\n", true}, // malformed: Read fails at once
		{true, 0, "0\r\n", false},
		{true, 0, "0\r\nX-T: 1\r\n", false},
		{true, 0, "0\r\nX-T: 1\r\n\r\n", true},
		{true, 0, "0\r\n\r\n", true},
		{true, 3, "ab", true},
		{true, 3, "abc", false},
		{true, 3, "abc\r", false},
		{true, 3, "abc\r\n", true},
		{true, 3, "", false},
	} {
		b := &bodyReader{chunked: c.chunked, left: c.left}
		if got := b.readyIn([]byte(c.buf)); got != c.want {
			t.Errorf("chunked=%v left=%d %q: ready %v, want %v", c.chunked, c.left, c.buf, got, c.want)
		}
	}
}

// Ready on a real connection: false while what arrived cannot be returned
// whole, true once it can — and then Read does not wait.
func TestClientBodyReady(t *testing.T) {
	t.Parallel()
	steps := make(chan string, 8)
	addr := rawUpstream(t, func(c net.Conn) {
		for s := range steps {
			if _, err := io.WriteString(c, s); err != nil {
				return
			}
		}
	})
	ps := NewPools()
	t.Cleanup(ps.Close)
	cl := ps.NewClient(addr, time.Second, time.Second)
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	steps <- "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
	resp, err := cl.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, ok := resp.Body.(interface{ Ready() bool })
	if !ok {
		t.Fatal("the body has no Ready")
	}
	buf := make([]byte, 64)
	if n, err := io.ReadFull(resp.Body, buf[:5]); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	// Each step leaves the body not ready; a Read would wait.
	for _, s := range []string{"6\r\n", " world", "\r"} {
		steps <- s
		time.Sleep(20 * time.Millisecond)
		if body.Ready() {
			t.Fatalf("after %q: ready", s)
		}
	}
	steps <- "\n"
	eventually(t, body.Ready)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, err := resp.Body.Read(buf)
		if err != nil || string(buf[:n]) != " world" {
			t.Errorf("read %q, %v", buf[:n], err)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Read waited after Ready")
	}
	if body.Ready() {
		t.Fatal("ready with nothing more sent")
	}
	steps <- "0\r\n\r\n"
	close(steps)
	eventually(t, body.Ready)
	if n, err := resp.Body.Read(buf); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %d, %v", n, err)
	}
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// flushCounter counts a handler's flushes and signals each.
type flushCounter struct {
	*httptest.ResponseRecorder
	flushes atomic.Int32
	flushed chan struct{}
}

func (f *flushCounter) Flush() {
	f.flushes.Add(1)
	f.ResponseRecorder.Flush()
	select {
	case f.flushed <- struct{}{}:
	default:
	}
}

// A streamed (chunked) answer is flushed as it arrives, but the chunks
// that arrived together leave in one write: flushed once when the stream
// pauses, not once per chunk.
func TestProxyFlushesWhatArrivedTogether(t *testing.T) {
	t.Parallel()
	rest := make(chan struct{})
	addr := rawUpstream(t, func(c net.Conn) {
		// Three chunks in one write, then a pause, then two and the end.
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n9\r\ndata: 3\n\n\r\n")
		<-rest
		_, _ = io.WriteString(c, "9\r\ndata: 4\n\n\r\n9\r\ndata: 5\n\n\r\n0\r\n\r\n")
	})
	ps := NewPools()
	t.Cleanup(ps.Close)
	up, err := NewUpstream(UpstreamSpec{Name: "u", Targets: []TargetSpec{{URL: "http://" + addr, Weight: 1}}}, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(up, 5*time.Second, nil, nil)
	w := &flushCounter{ResponseRecorder: httptest.NewRecorder(), flushed: make(chan struct{}, 1)}
	go func() {
		<-w.flushed // the first three, sent without waiting for the rest
		close(rest)
	}()
	r := httptest.NewRequest("GET", "/events", nil)
	x := &pipeline.Exchange{Start: time.Now(), UpstreamPath: "/events"}
	if err := h.Serve(w, r, x); err != nil {
		t.Fatal(err)
	}
	if got := w.Body.String(); got != "data: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\ndata: 5\n\n" {
		t.Fatalf("body %q", got)
	}
	// One flush for what arrived first; the rest arrived with the end,
	// which the server sends when the handler returns.
	if n := w.flushes.Load(); n != 1 {
		t.Errorf("%d flushes, want 1", n)
	}
}

// rawUpstream accepts one connection on a loopback port, reads the
// request (one read: tests send small ones) and hands the connection to
// answer, which writes whatever bytes the test needs. It returns the
// address.
func rawUpstream(t *testing.T, answer func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		_, _ = c.Read(make([]byte, 4096))
		answer(c)
	}()
	return ln.Addr().String()
}

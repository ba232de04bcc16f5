package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBodyReadTimeout: on the admin and portal listeners a body that
// stops coming fails its request and closes the connection after the
// body timeout (not before); one that comes slowly but steadily is read
// whole; and a handler that runs longer than the timeout after reading
// its body is not cut off, its connection kept alive.
func TestBodyReadTimeout(t *testing.T) {
	t.Parallel()
	const d = 400 * time.Millisecond
	type result struct {
		body string
		err  error
		ctx  error
	}
	results := make(chan result, 10)
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if r.URL.Path == "/long" && err == nil {
			time.Sleep(3 * d) // a slow store, a big publish
		}
		results <- result{string(b), err, r.Context().Err()}
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, "ok")
	}), d)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	next := func() result {
		select {
		case res := <-results:
			return res
		case <-time.After(5 * time.Second):
			t.Fatal("the handler is still reading its body after 5 s")
			return result{}
		}
	}
	head := func(path string, n int) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", path, n)
	}

	// A body that stalls.
	c, br := dial()
	start := time.Now()
	fmt.Fprint(c, head("/stall", 100)+strings.Repeat("a", 10))
	res := next()
	if res.err == nil || time.Since(start) < d {
		t.Errorf("stalled body: err %v after %v, want a timeout after %v", res.err, time.Since(start), d)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("stalled body: %v %v", resp, err)
	}
	if _, err := br.ReadByte(); err == nil {
		// The 400's body; then the connection must close.
		if _, err := io.ReadAll(br); err != nil {
			t.Errorf("after the stalled body the connection stays open: %v", err)
		}
	}

	// A slow, steady body: 100 bytes, 10 every d/4.
	c, br = dial()
	fmt.Fprint(c, head("/steady", 100))
	for range 10 {
		time.Sleep(d / 4)
		fmt.Fprint(c, strings.Repeat("b", 10))
	}
	if res := next(); res.err != nil || len(res.body) != 100 {
		t.Errorf("steady body over %v: %d bytes, %v", 10*d/4, len(res.body), res.err)
	}
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("steady body: %v %v", resp, err)
	}

	// A handler that runs on after its body, then a second request on
	// the same connection.
	c, br = dial()
	for i := range 2 {
		fmt.Fprint(c, head("/long", 5)+"hello")
		res := next()
		if res.err != nil || res.ctx != nil {
			t.Errorf("request %d: body %v, context %v after running %v", i+1, res.err, res.ctx, 3*d)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %v %v", i+1, resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
	}
}

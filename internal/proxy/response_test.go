package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func connFor(data string) *conn {
	return &conn{br: bufio.NewReaderSize(strings.NewReader(data), 4096)}
}

func TestReadHead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc, in, method string
		status           int
		body             string
		close            bool
		header           http.Header
		err              error
	}{
		{desc: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhelloEXTRA",
			status: 200, body: "hello", header: http.Header{"Content-Length": {"5"}, "Content-Type": {"text/plain"}}},
		{desc: "chunked with extension and trailer", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n",
			status: 200, body: "hello", header: http.Header{}},
		{desc: "chunked overrides content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			status: 200, body: "hello", header: http.Header{}},
		{desc: "until close", in: "HTTP/1.1 200 OK\r\n\r\nhello", status: 200, body: "hello", close: true, header: http.Header{}},
		{desc: "HEAD has no body", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method: "HEAD",
			status: 200, header: http.Header{"Content-Length": {"5"}}},
		{desc: "204 has no body", in: "HTTP/1.1 204 No Content\r\n\r\n", status: 204, header: http.Header{}},
		{desc: "interim responses skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
			status: 201, header: http.Header{"Content-Length": {"0"}}},
		{desc: "five interim responses", in: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 5) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			status: 200, header: http.Header{"Content-Length": {"0"}}},
		{desc: "interim responses without end", in: strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 6) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			err: errTooManyInterim},
		{desc: "hop-by-hop dropped", in: "HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\nX-Request-Id: theirs\r\nContent-Length: 0\r\n\r\n",
			status: 200, close: true, header: http.Header{"Content-Length": {"0"}}},
		{desc: "repeated headers kept", in: "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 0\r\n\r\n",
			status: 200, header: http.Header{"Set-Cookie": {"a=1", "b=2"}, "Content-Length": {"0"}}},
		{desc: "HTTP/1.0 closes", in: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", status: 200, body: "hi", close: true, header: http.Header{"Content-Length": {"2"}}},
		{desc: "status without reason", in: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", status: 200, header: http.Header{"Content-Length": {"0"}}},
		{desc: "conflicting content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", err: errBadFraming},
		{desc: "unknown transfer-encoding", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", err: errBadFraming},
		{desc: "negative content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: errBadFraming},
		{desc: "obs-fold", in: "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n", err: errMalformedHeader},
		{desc: "bare LF", in: "HTTP/1.1 200 OK\nContent-Length: 0\n\n", err: errMalformedStatus},
		{desc: "bare LF in header", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", err: errMalformedHeader},
		{desc: "space before colon", in: "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", err: errMalformedHeader},
		{desc: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", err: errMalformedStatus},
		{desc: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", err: errMalformedStatus},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			c := connFor(tt.in)
			method := tt.method
			if method == "" {
				method = "GET"
			}
			dst := http.Header{}
			h, err := readHead(c, dst, method, false)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(&c.body)
			if err != nil {
				t.Fatalf("body: %v", err)
			}
			if h.status != tt.status || string(body) != tt.body || h.close != tt.close {
				t.Fatalf("got status %d body %q close %v, want %d %q %v", h.status, body, h.close, tt.status, tt.body, tt.close)
			}
			if !equalHeader(dst, tt.header) {
				t.Fatalf("headers %v, want %v", dst, tt.header)
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

func TestTruncatedBodyIsAnError(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhello",
	} {
		c := connFor(in)
		if _, err := readHead(c, http.Header{}, "GET", false); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(&c.body); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: body error %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
}

// FuzzReadHead feeds arbitrary upstream bytes to the response reader: it
// must not panic, and a body it accepts must fit in the input and, with a
// Content-Length, have exactly that length.
func FuzzReadHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nConnection: X-A, close\r\nX-A: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &conn{br: bufio.NewReaderSize(bytes.NewReader(data), 4096)}
		dst := http.Header{}
		h, err := readHead(c, dst, "GET", false)
		if err != nil {
			return
		}
		body, err := io.ReadAll(&c.body)
		if len(body) > len(data) {
			t.Fatalf("read %d body bytes from %d bytes of input", len(body), len(data))
		}
		// A 304's Content-Length is the representation's, not a body's.
		if err == nil && !c.body.chunked && !c.body.untilEOF && h.status != http.StatusNotModified {
			if cl := dst.Get("Content-Length"); cl != "" && cl != itoa(len(body)) {
				t.Fatalf("Content-Length %s but a body of %d bytes", cl, len(body))
			}
		}
		for k, vs := range dst {
			if !validHeaderName(k) {
				t.Fatalf("invalid header name %q passed", k)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("header %s value %q carries CR, LF or NUL", k, v)
				}
			}
		}
	})
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

func TestSmoothSchedule(t *testing.T) {
	t.Parallel()
	got := smoothSchedule([]int{5, 1, 1})
	want := []uint16{0, 0, 1, 0, 2, 0, 0}
	if len(got) != len(want) {
		t.Fatalf("schedule %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("schedule %v, want %v", got, want)
		}
	}
	if got := smoothSchedule([]int{200, 100}); len(got) != 3 {
		t.Errorf("weights 200,100 give a cycle of %d, want 3 (divided by their gcd)", len(got))
	}
}

// TestContentLengthPassedPlain: the client reads the length Portico read,
// in one plain spelling, and none where no body can be.
func TestContentLengthPassedPlain(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string // nil: refused
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n1234567", []string{"7"}},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", []string{"3"}},
		{"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", nil},
		{"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", []string{}},
	} {
		dst := http.Header{}
		_, err := readHead(connFor(tt.in), dst, "GET", false)
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("%q: accepted, want refused", tt.in)
		case tt.want != nil && err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case tt.want != nil && len(dst["Content-Length"]) != len(tt.want):
			t.Errorf("%q: Content-Length %q, want %q", tt.in, dst["Content-Length"], tt.want)
		case len(tt.want) == 1 && dst["Content-Length"][0] != tt.want[0]:
			t.Errorf("%q: Content-Length %q, want %q", tt.in, dst["Content-Length"], tt.want)
		}
	}
}

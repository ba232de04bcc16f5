package server

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
)

// FuzzReadRequest checks the parser against net/http's, which every Go
// server and client trusts: whatever Portico accepts, net/http must
// accept too and read the same way — same method, target, fields, the
// same body, and the next request starting at the same byte. A message
// on which the two disagreed about where a request ends would be a
// request-smuggling gap between Portico and an upstream. (Portico may
// refuse what net/http accepts: it is the stricter of the two.)
func FuzzReadRequest(f *testing.F) {
	seeds := []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\nNEXT",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
		"GET http://h/p HTTP/1.0\r\nConnection: keep-alive\r\nX-A: a\tb \r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
		"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &conn{bw: bufio.NewWriter(io.Discard)}
		c.br = bufio.NewReaderSize(bytes.NewReader(data), 4<<10)
		var scratch []byte
		var r http.Request
		h, err := readHead(c.br, &scratch, &r, 16<<10)
		if err != nil {
			return
		}
		ours, oursErr := io.ReadAll(newBody(c, h))
		oursRest, _ := io.ReadAll(c.br)

		// net/http does not skip empty lines before a request line.
		trimmed := data
		for bytes.HasPrefix(trimmed, []byte("\r\n")) {
			trimmed = trimmed[2:]
		}
		std := bufio.NewReader(bytes.NewReader(trimmed))
		sr, serr := http.ReadRequest(std)
		if serr != nil {
			t.Fatalf("accepted what net/http refuses (%v): %q", serr, data)
		}
		if sr.Method != r.Method || sr.RequestURI != r.RequestURI || sr.ProtoMinor != r.ProtoMinor {
			t.Fatalf("request line: ours %s %s %s, net/http %s %s %s", r.Method, r.RequestURI, r.Proto, sr.Method, sr.RequestURI, sr.Proto)
		}
		if sr.Method != http.MethodConnect && sr.Host != r.Host {
			t.Fatalf("Host: ours %q, net/http %q", r.Host, sr.Host)
		}
		for k, v := range r.Header {
			if !slices.Equal(sr.Header[k], v) {
				t.Fatalf("field %s: ours %q, net/http %q", k, v, sr.Header[k])
			}
		}
		if sr.ContentLength != r.ContentLength || !slices.Equal(sr.TransferEncoding, r.TransferEncoding) {
			t.Fatalf("framing: ours %d %v, net/http %d %v", r.ContentLength, r.TransferEncoding, sr.ContentLength, sr.TransferEncoding)
		}
		if oursErr != nil {
			return // a body Portico refuses ends the connection
		}
		theirs, terr := io.ReadAll(sr.Body)
		if terr != nil {
			t.Fatalf("a body we read whole (%q) net/http refuses: %v", ours, terr)
		}
		if !bytes.Equal(ours, theirs) {
			t.Fatalf("body: ours %q, net/http %q", ours, theirs)
		}
		theirRest, _ := io.ReadAll(std)
		if !bytes.Equal(oursRest, theirRest) {
			t.Fatalf("the next request starts at %q for us, %q for net/http", oursRest, theirRest)
		}
	})
}

// FuzzParseTarget checks parseTarget's short way against
// url.ParseRequestURI: the same URL, or the same refusal.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"/", "/a/b?c=d", "/a?", "/a?b?c", "/a!b", "/%41", "//x/y", "/a;b=c@d", "*", "http://h/p", "/é", "/a#b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		got, err := parseTarget(target)
		want, werr := url.ParseRequestURI(target)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, url's %v", target, err, werr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %#v, url's %#v", target, got, want)
		}
	})
}

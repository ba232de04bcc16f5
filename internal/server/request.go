package server

import (
	"bufio"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// A badRequest is a request the server refuses before any handler sees
// it, with the status and the message it answers.
type badRequest struct {
	status int
	msg    string
}

func (e *badRequest) Error() string { return e.msg }

func refuse(status int, msg string) error { return &badRequest{status, msg} }

var errHeaderTooLarge = refuse(http.StatusRequestHeaderFieldsTooLarge, "request header too large")

// head is what readHead parsed: the request and how its body is framed.
type head struct {
	req     *http.Request
	chunked bool
	length  int64 // the body's length when not chunked
	expect  bool  // Expect: 100-continue
}

// readHead reads one request head from br, at most max bytes of it. It
// is strict where leniency lets two parsers disagree on where a request
// ends (RFC 9112 §11.2): obsolete line folding, a bare LF, whitespace
// before a colon, a control character in a value, Content-Length with
// Transfer-Encoding, any transfer coding but chunked, duplicate Host.
// Every header's bytes are copied into one string that the header map's
// keys and values slice, so the whole head costs a handful of allocations.
// A value kept beyond its request keeps that whole string alive: code that
// stores one for long clones it (the rate-limit tables do).
func readHead(br *bufio.Reader, scratch *[]byte, r *http.Request, max int) (head, error) {
	raw, err := readLines(br, scratch, max)
	if err != nil {
		return head{}, err
	}
	// One string holds the head; every key and value below is a piece of
	// it, or an interned constant.
	s := string(raw)
	line, rest, _ := strings.Cut(s, "\n")
	line = strings.TrimSuffix(line, "\r")
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	if !ok1 || !ok2 || !validMethod(method) || target == "" {
		return head{}, refuse(http.StatusBadRequest, "malformed request line")
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		return head{}, refuse(http.StatusBadRequest, "malformed HTTP version")
	}
	if major != 1 {
		return head{}, refuse(http.StatusHTTPVersionNotSupported, "unsupported HTTP version")
	}
	if strings.IndexFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return head{}, refuse(http.StatusBadRequest, "malformed request target")
	}
	*r = http.Request{
		Method:     method,
		Proto:      proto,
		ProtoMajor: major,
		ProtoMinor: minor,
		RequestURI: target,
	}
	// CONNECT takes the authority form (host:port), read as net/http
	// reads it; Portico routes no CONNECT, but answers it properly.
	authority := method == http.MethodConnect && !strings.HasPrefix(target, "/")
	uri := target
	if authority {
		uri = "http://" + target
	}
	if r.URL, err = parseTarget(uri); err != nil {
		return head{}, refuse(http.StatusBadRequest, "malformed request target")
	}
	if authority {
		r.URL.Scheme = ""
	}
	h := head{req: r}
	hdr, err := parseFields(rest)
	if err != nil {
		return head{}, err
	}
	r.Header = hdr
	// Host: exactly one on HTTP/1.1, well formed.
	hosts := hdr["Host"]
	switch {
	case len(hosts) > 1:
		return head{}, refuse(http.StatusBadRequest, "too many Host headers")
	case len(hosts) == 0 && minor >= 1:
		return head{}, refuse(http.StatusBadRequest, "missing required Host header")
	case len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]):
		return head{}, refuse(http.StatusBadRequest, "malformed Host header")
	}
	if len(hosts) == 1 {
		r.Host = hosts[0]
	}
	delete(hdr, "Host")
	if r.URL.Host != "" {
		r.Host = r.URL.Host // absolute-form wins (RFC 9112 §3.2.2)
	}
	if err := framing(&h, minor); err != nil {
		return head{}, err
	}
	r.Close = shouldClose(minor, hdr)
	if e, ok := hdr["Expect"]; ok {
		if len(e) != 1 || !strings.EqualFold(e[0], "100-continue") {
			return head{}, refuse(http.StatusExpectationFailed, "unsupported Expect header")
		}
		h.expect = minor >= 1 && (h.chunked || h.length > 0)
		delete(hdr, "Expect")
	}
	return h, nil
}

// readLines reads the head up to and including its empty line, and
// returns it (request line included, final empty line excluded). A line
// that ends without CR before its LF is refused.
func readLines(br *bufio.Reader, scratch *[]byte, max int) ([]byte, error) {
	buf := (*scratch)[:0]
	defer func() { *scratch = buf[:0] }()
	first := true
	skipped := 0 // empty lines before the request line count too
	for {
		line, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(buf)+len(line) > max {
				return nil, errHeaderTooLarge
			}
			buf = append(buf, line...)
			line, err = br.ReadSlice('\n')
		}
		if skipped+len(buf)+len(line) > max {
			return nil, errHeaderTooLarge
		}
		if err != nil {
			if len(buf)+len(line) == 0 || first && len(line) == 0 {
				return nil, err
			}
			return nil, errPartialHead{err}
		}
		start := len(buf)
		buf = append(buf, line...)
		l := buf[start:]
		if len(l) < 2 || l[len(l)-2] != '\r' {
			return nil, refuse(http.StatusBadRequest, "line not ended by CRLF")
		}
		if first && len(l) == 2 {
			// RFC 9112 §2.2: empty lines before a request line may be
			// ignored.
			buf = buf[:start]
			if skipped += 2; skipped > max {
				return nil, errHeaderTooLarge
			}
			continue
		}
		if len(l) == 2 && !first {
			return buf[:start], nil
		}
		first = false
	}
}

// errPartialHead is a connection that failed (or timed out) in the middle
// of a request head.
type errPartialHead struct{ err error }

func (e errPartialHead) Error() string { return "reading request head: " + e.err.Error() }
func (e errPartialHead) Unwrap() error { return e.err }

// parseFields parses the header lines in s (each ended by CRLF) into a
// header map with canonical keys.
func parseFields(s string) (http.Header, error) {
	n := strings.Count(s, "\n")
	hdr := make(http.Header, n)
	// One backing array for every value slice, as net/textproto does.
	vals := make([]string, 0, n)
	for len(s) > 0 {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		line = line[:len(line)-1] // the CR, checked by readLines
		if line[0] == ' ' || line[0] == '\t' {
			return nil, refuse(http.StatusBadRequest, "obsolete line folding")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !httpguts.ValidHeaderFieldName(name) {
			return nil, refuse(http.StatusBadRequest, "malformed header line")
		}
		value = strings.Trim(value, " \t")
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, refuse(http.StatusBadRequest, "invalid character in header value")
		}
		key := canonicalKey(name)
		if prev, ok := hdr[key]; ok {
			hdr[key] = append(prev, value)
			continue
		}
		vals = append(vals, value)
		hdr[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	return hdr, nil
}

// framing sets how the request's body is delimited, refusing every
// ambiguous case.
func framing(h *head, minor int) error {
	hdr := h.req.Header
	te, hasTE := hdr["Transfer-Encoding"]
	cl, hasCL := hdr["Content-Length"]
	switch {
	case hasTE && hasCL:
		return refuse(http.StatusBadRequest, "both Transfer-Encoding and Content-Length")
	case hasTE && minor == 0:
		return refuse(http.StatusBadRequest, "Transfer-Encoding in an HTTP/1.0 request")
	case hasTE:
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return refuse(http.StatusNotImplemented, "unsupported transfer encoding")
		}
		delete(hdr, "Transfer-Encoding")
		h.chunked = true
		h.req.TransferEncoding = chunkedTE
		h.req.ContentLength = -1
	case hasCL:
		n, err := parseLength(cl[0])
		for _, v := range cl[1:] {
			if v != cl[0] {
				err = errors.New("conflicting values")
			}
		}
		if err != nil {
			return refuse(http.StatusBadRequest, "invalid Content-Length")
		}
		if len(cl) > 1 {
			hdr["Content-Length"] = cl[:1]
		}
		h.length = n
		h.req.ContentLength = n
	}
	return nil
}

var chunkedTE = []string{"chunked"}

// parseLength parses a Content-Length value: digits only, no sign, no
// overflow.
func parseLength(v string) (int64, error) {
	if v == "" || len(v) > 18 {
		return 0, errors.New("bad length")
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, errors.New("bad length")
		}
	}
	return strconv.ParseInt(v, 10, 64)
}

// shouldClose reports whether the client asked for the connection to
// close after this request: Connection: close, or HTTP/1.0 without
// keep-alive.
func shouldClose(minor int, hdr http.Header) bool {
	conn := hdr["Connection"]
	if minor == 0 {
		for _, v := range conn {
			if httpguts.HeaderValuesContainsToken([]string{v}, "keep-alive") {
				return false
			}
		}
		return true
	}
	return len(conn) > 0 && httpguts.HeaderValuesContainsToken(conn, "close")
}

func validMethod(m string) bool {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS":
		return true
	}
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return m != ""
}

// canonicalKey returns name in canonical form (Content-Type), without
// allocating when name is already canonical (it is then a piece of the
// head's string) or is one of the common header names.
func canonicalKey(name string) string {
	if c, ok := common[name]; ok {
		return c
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			var b [64]byte
			if len(name) <= len(b) {
				k := canonicalBytes(append(b[:0], name...))
				if c, ok := common[string(k)]; ok {
					return c
				}
				return string(k)
			}
			return string(canonicalBytes([]byte(name)))
		}
		upper = c == '-'
	}
	return name
}

func canonicalBytes(k []byte) []byte {
	upper := true
	for i, c := range k {
		switch {
		case upper && 'a' <= c && c <= 'z':
			k[i] = c - 'a' + 'A'
		case !upper && 'A' <= c && c <= 'Z':
			k[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return k
}

// common interns the header names clients send most, in the spellings
// they send them, so that their keys cost nothing.
var common = func() map[string]string {
	names := []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Content-Length", "Content-Type", "Cookie", "Expect", "Host",
		"If-Modified-Since", "If-None-Match", "Keep-Alive", "Origin", "Referer", "Te",
		"Transfer-Encoding", "Upgrade", "User-Agent", "X-Api-Key", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id", "X-Real-Ip", "Forwarded",
		"X-Consumer", "Anthropic-Version", "X-Goog-Api-Key", "Sec-Websocket-Key",
		"Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions",
		"Access-Control-Request-Method", "Access-Control-Request-Headers", "Range", "Pragma",
	}
	m := make(map[string]string, 3*len(names))
	for _, n := range names {
		m[n] = n
		m[strings.ToLower(n)] = n
		m[strings.ToUpper(n)] = n
	}
	return m
}()

// parseTarget is url.ParseRequestURI, with a short way for the usual
// target: a path of characters that need no escaping, then a query or
// none. Anything else — percent-escapes, other characters, an empty
// query after "?", another form — goes the long way.
func parseTarget(target string) (*url.URL, error) {
	path, query, hasQuery := strings.Cut(target, "?")
	if path == "" || path[0] != '/' || (hasQuery && query == "") {
		return url.ParseRequestURI(target)
	}
	for i := 0; i < len(path); i++ {
		if !plainPathByte[path[i]] {
			return url.ParseRequestURI(target)
		}
	}
	for i := 0; i < len(query); i++ {
		if query[i] < ' ' || query[i] == 0x7f { // refused by url
			return url.ParseRequestURI(target)
		}
	}
	return &url.URL{Path: path, RawQuery: query}, nil
}

// plainPathByte marks the bytes that a URL path holds as they are: the
// ones url's path escaping leaves alone.
var plainPathByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

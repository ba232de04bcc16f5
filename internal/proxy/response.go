package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The response reader. http.ReadResponse allocates a Response, a header
// map, a string per header line and a body reader for every response —
// half of a proxied request's allocations. This reader parses the head in
// place (one string for all header values, one slice for their []string
// wrappers), writes end-to-end headers straight into the client's header
// map, and frames the body with a reader that lives in the connection.
//
// It is strict where leniency has caused response splitting and desync:
// obsolete line folding, bare LF, a Transfer-Encoding other than chunked,
// and conflicting Content-Length values are protocol errors (502).

// MaxResponseHeaderBytes bounds an upstream's response head.
const MaxResponseHeaderBytes = 64 << 10

var (
	errMalformedStatus = errors.New("malformed status line")
	errMalformedHeader = errors.New("malformed header line")
	errHeaderTooLarge  = errors.New("response header too large")
	errBadFraming      = errors.New("conflicting or unsupported response framing")
	errTooManyInterim  = errors.New("too many interim (1xx) responses")
	errMalformedChunk  = errors.New("malformed chunked encoding")
)

// head is what the proxy needs to know of a response besides its headers.
type head struct {
	status int
	// close: the connection cannot be reused after this response.
	close bool
	// upgrade is the Upgrade header of a 101 response.
	upgrade string
}

// readHead reads a response head from c into dst (end-to-end headers only)
// and prepares c.body to read its body. Interim 1xx responses other than
// 101 are skipped, up to maxInterim of them (as net/http's client: an
// upstream that sends them without end would hold the exchange until its
// timeout). method is the request's method (HEAD has no body).
// With ownCORS (the API has a CORS policy, which the gateway applies) the
// upstream's Access-Control-* headers are dropped.
func readHead(c *conn, dst http.Header, method string, ownCORS bool) (head, error) {
	for range maxInterim + 1 {
		h, err := readOneHead(c, dst, method, ownCORS)
		if err != nil || h.status >= 200 || h.status == http.StatusSwitchingProtocols {
			return h, err
		}
		clear(dst) // 100 Continue, 103 Early Hints: the final response follows
	}
	return head{}, errTooManyInterim
}

// maxInterim is how many interim responses may come before the final one.
const maxInterim = 5

func readOneHead(c *conn, dst http.Header, method string, ownCORS bool) (head, error) {
	var h head
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return h, errMalformedStatus
		}
		return h, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 14 || string(line[:7]) != "HTTP/1." || (line[7] != '1' && line[7] != '0') ||
		line[8] != ' ' || line[12] != ' ' && line[12] != '\r' || line[len(line)-2] != '\r' {
		return h, errMalformedStatus
	}
	http10 := line[7] == '0'
	h.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return h, errMalformedStatus
		}
	}
	if h.status < 100 {
		return h, errMalformedStatus
	}

	// Copy the header lines into the connection's scratch buffer, then make
	// one string of them all and slice names and values out of it.
	c.scratch = c.scratch[:0]
	lines := 0
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return h, errHeaderTooLarge
			}
			return h, err
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return h, errMalformedHeader // bare LF
		}
		if len(line) == 2 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return h, errMalformedHeader // obsolete line folding
		}
		if len(c.scratch)+len(line) > MaxResponseHeaderBytes {
			return h, errHeaderTooLarge
		}
		c.scratch = append(c.scratch, line...)
		lines++
	}
	block := string(c.scratch)
	values := make([]string, lines)
	var (
		contentLength  int64 = -1
		chunked, hasTE bool
		connTokens     string
	)
	for i := 0; block != ""; i++ {
		end := strings.IndexByte(block, '\n')
		line := block[:end-1] // without CRLF
		block = block[end+1:]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !validHeaderName(line[:colon]) {
			return h, errMalformedHeader
		}
		name := canonicalName(line[:colon])
		value := strings.Trim(line[colon+1:], " \t")
		if strings.ContainsAny(value, "\r\x00") {
			return h, errMalformedHeader
		}
		switch name {
		case "Content-Length":
			// Digits only (ParseInt alone would take a sign), one value
			// passed on in its plain form: the client must read the same
			// length Portico read.
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || value[0] < '0' || value[0] > '9' || contentLength >= 0 && n != contentLength {
				return h, errBadFraming
			}
			if contentLength >= 0 {
				continue // the same length again
			}
			contentLength = n
			if len(value) > 1 && value[0] == '0' {
				value = strconv.FormatInt(n, 10)
			}
		case "Transfer-Encoding":
			if hasTE || !strings.EqualFold(value, "chunked") {
				return h, errBadFraming
			}
			hasTE, chunked = true, true
			continue
		case "Connection":
			connTokens += "," + value
			if hasToken(value, "close") {
				h.close = true
			}
			if http10 && hasToken(value, "keep-alive") {
				http10 = false
			}
			continue
		case "Upgrade":
			h.upgrade = value
			continue
		case "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "X-Request-Id":
			continue
		case "Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset":
			if dst[name] != nil {
				continue // the gateway's own limit speaks for the route
			}
		case "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers",
			"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age":
			if ownCORS {
				continue // the API's CORS policy is the gateway's to apply
			}
		}
		values[i] = value
		if prev := dst[name]; prev == nil {
			dst[name] = values[i : i+1 : i+1] // shares one allocation with the others
		} else {
			dst[name] = append(prev, value)
		}
	}
	if http10 {
		h.close = true
	}
	// Headers the upstream named in Connection are hop-by-hop too.
	for t := range strings.SplitSeq(connTokens, ",") {
		if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, "X-Request-Id") {
			delete(dst, http.CanonicalHeaderKey(t))
		}
	}

	b := &c.body
	*b = bodyReader{c: c}
	switch {
	case method == http.MethodHead || h.status < 200 || h.status == 204 || h.status == 304:
		b.done = true
		if h.status < 200 || h.status == 204 {
			delete(dst, "Content-Length") // these never have a body (RFC 9110 §8.6)
		}
	case chunked:
		b.chunked = true
		delete(dst, "Content-Length") // Transfer-Encoding overrides it
	case contentLength >= 0:
		b.left = contentLength
		b.done = contentLength == 0
	default:
		b.untilEOF = true // delimited by closing the connection
		h.close = true
	}
	return h, nil
}

// bodyReader reads one response body off a connection, honouring its
// framing, and stops exactly at its end so the connection can be reused.
type bodyReader struct {
	c        *conn
	left     int64 // bytes left in the body or the current chunk
	chunked  bool
	untilEOF bool
	done     bool
}

// Read implements io.Reader. It returns io.EOF only at the real end of the
// body; a connection that ends early yields io.ErrUnexpectedEOF.
func (b *bodyReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.untilEOF {
		n, err := b.c.br.Read(p)
		if errors.Is(err, io.EOF) {
			b.done = true
		}
		return n, err
	}
	if b.chunked && b.left == 0 {
		if err := b.nextChunk(); err != nil {
			return 0, err
		}
		if b.done {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.c.br.Read(p)
	b.left -= int64(n)
	if b.left == 0 {
		if b.chunked {
			if err := b.chunkEnd(); err != nil {
				return n, err
			}
		} else {
			b.done = true
		}
		return n, nil
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// nextChunk reads a chunk-size line; a zero size ends the body, after its
// trailer section, which is read and dropped.
func (b *bodyReader) nextChunk() error {
	line, err := b.c.br.ReadSlice('\n')
	if err != nil {
		return unexpected(err)
	}
	size, err := chunkSize(line)
	if err != nil {
		return err
	}
	if size > 0 {
		b.left = size
		return nil
	}
	for { // trailers, up to the empty line
		line, err := b.c.br.ReadSlice('\n')
		if err != nil {
			return unexpected(err)
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return errMalformedChunk
		}
		if len(line) == 2 {
			b.done = true
			return nil
		}
	}
}

// chunkSize parses a chunk-size line, CRLF included.
func chunkSize(line []byte) (int64, error) {
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, errMalformedChunk
	}
	line = line[:len(line)-2]
	if i := indexByte(line, ';'); i >= 0 {
		line = line[:i] // chunk extensions
	}
	var size int64
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, errMalformedChunk
		}
		if size > (1<<62)>>4 {
			return 0, errMalformedChunk
		}
		size = size<<4 | int64(d)
	}
	return size, nil
}

// ready reports whether the next Read returns without waiting for the
// network: it has bytes (or the end, or an error) to return at once.
// What the connection's buffer holds decides; when that is not enough, one
// read of what the socket already holds — which does not wait — adds to
// it. Streams use it to send together the events that arrived together.
func (b *bodyReader) ready() bool {
	if b.done {
		return true
	}
	br := b.c.br
	buf, _ := br.Peek(br.Buffered())
	if b.readyIn(buf) {
		return true
	}
	if br.Buffered() == br.Size() || !readable(b.c) {
		return false
	}
	if _, err := br.Peek(br.Buffered() + 1); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		return true // the end or an error, which Read returns at once
	}
	buf, _ = br.Peek(br.Buffered())
	return b.readyIn(buf)
}

// readyIn reports whether Read can return from buf, the bytes buffered,
// without reading more. A Read that takes a chunk's last data byte goes on
// to read the CRLF after it, so the chunk's end is ready only with its
// CRLF at hand; a chunk not yet begun needs its whole size line and a
// first data byte.
func (b *bodyReader) readyIn(buf []byte) bool {
	if !b.chunked {
		return len(buf) > 0
	}
	left := b.left
	if left == 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return false
		}
		size, err := chunkSize(buf[:i+1])
		if err != nil {
			return true // Read fails at once
		}
		buf = buf[i+1:]
		if size == 0 { // the trailer section, up to its empty line
			for {
				j := bytes.IndexByte(buf, '\n')
				if j < 0 {
					return false
				}
				if j < 1 || buf[j-1] != '\r' || j == 1 {
					return true // malformed, or the end
				}
				buf = buf[j+1:]
			}
		}
		left = size
	}
	n := int64(len(buf))
	return n > 0 && (n < left || n >= left+2)
}

// chunkEnd reads the CRLF after a chunk's data.
func (b *bodyReader) chunkEnd() error {
	cr, err1 := b.c.br.ReadByte()
	lf, err2 := b.c.br.ReadByte()
	if err := errors.Join(err1, err2); err != nil {
		return unexpected(err)
	}
	if cr != '\r' || lf != '\n' {
		return errMalformedChunk
	}
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func hasToken(list, token string) bool {
	for t := range strings.SplitSeq(list, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// commonNames are returned without allocating when an upstream sends them
// in any letter case.
var commonNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"Accept-Ranges", "Access-Control-Allow-Origin", "Age", "Cache-Control", "Connection",
		"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Type", "Date", "Etag", "Expires", "Keep-Alive", "Last-Modified", "Location",
		"Server", "Set-Cookie", "Strict-Transport-Security", "Trailer", "Transfer-Encoding",
		"Upgrade", "Vary", "Www-Authenticate", "X-Content-Type-Options", "X-Request-Id",
		"Proxy-Connection", "Te", "Retry-After", "Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset",
	} {
		m[n] = n
	}
	return m
}()

// canonicalName returns the canonical form of a header name, allocating
// only for uncommon names that are not already canonical.
func canonicalName(s string) string {
	if c, ok := commonNames[s]; ok {
		return c
	}
	var buf [64]byte
	if len(s) <= len(buf) {
		b := buf[:len(s)]
		upper := true
		for i := 0; i < len(s); i++ {
			c := s[i]
			if upper && c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b[i] = c
			upper = c == '-'
		}
		if c, ok := commonNames[string(b)]; ok {
			return c
		}
		if string(b) == s {
			return s
		}
	}
	return http.CanonicalHeaderKey(s)
}

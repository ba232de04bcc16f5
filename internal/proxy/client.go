package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Client is an http.RoundTripper for one plain-HTTP/1.1 server, on the
// proxy's pools, request framing and response reader. It serves the
// gateway's own calls to servers next to it — an LLM provider on http://,
// such as Ollama or vLLM — where net/http's Transport would hand every
// call between three goroutines (see docs/adr/0001-http-engine.md). It
// does not decompress, follow redirects or speak HTTP/2.
type Client struct {
	pool *Pool
	host string
	// connect bounds a dial; timeout the wait from the request's last
	// byte to the response head, and each wait for more of the response
	// body (a server that stops sending). Zero: no bound.
	connect, timeout time.Duration
}

// NewClient returns a client of the server at host (a URL's host, port
// 80 when it names none), on its pool in ps.
func (ps *Pools) NewClient(host string, connectTimeout, timeout time.Duration) *Client {
	addr := host
	if _, port, err := net.SplitHostPort(host); err != nil || port == "" {
		addr = net.JoinHostPort(strings.Trim(host, "[]"), "80")
	}
	return &Client{pool: ps.Get(addr, "", false), host: host, connect: connectTimeout, timeout: timeout}
}

// Pool is the pool the client's connections come from.
func (cl *Client) Pool() *Pool { return cl.pool }

// RoundTrip implements http.RoundTripper. A request with a body is sent
// only on a connection found open; one that fails on a reused connection
// before its last byte was written — or, for GET and HEAD, before any byte
// of the answer came back — is sent again on a new connection, once, when
// its body can be made again (req.GetBody), as net/http does.
func (cl *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	body := req.Body
	if body == http.NoBody {
		body = nil
	}
	closeBody := func() {
		if body != nil {
			_ = body.Close()
		}
	}
	if req.URL == nil {
		closeBody()
		return nil, errors.New("a request without a URL")
	}
	if req.URL.Scheme != "http" || req.URL.Host != cl.host {
		closeBody()
		return nil, fmt.Errorf("proxy.Client of http://%s cannot carry a request to %s", cl.host, req.URL.Redacted())
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			closeBody()
			return nil, fmt.Errorf("invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				closeBody()
				return nil, fmt.Errorf("invalid header field value for %q", k)
			}
		}
	}
	pool := cl.pool
	ctx := req.Context()
	for retried := false; ; retried = true {
		c, reused, err := pool.get(ctx, time.Now(), cl.connect)
		for err == nil && reused && body != nil && !alive(c) {
			c.close()
			c, reused, err = pool.get(ctx, time.Now(), cl.connect)
		}
		if err != nil {
			closeBody()
			return nil, err
		}
		stop := interruptOnCancel(ctx, c)
		resp, reached, err := cl.exchange(c, req, body)
		if err == nil {
			resp.Body = &clientBody{c: c, ctx: ctx, stop: stop, close: resp.Close, timeout: cl.timeout}
			return resp, nil
		}
		stop()
		c.close()
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		again := reached == stageWriting || reached == stageWaiting && (req.Method == http.MethodGet || req.Method == http.MethodHead)
		if !reused || retried || !again || ctx.Err() != nil || body != nil && req.GetBody == nil {
			closeBody()
			return nil, err
		}
		if body != nil {
			closeBody()
			if body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// How far an exchange got before it failed.
const (
	stageWriting  = iota // the request was not written whole
	stageWaiting         // written, and no byte of the answer came back
	stageAnswered        // the answer had begun
)

// exchange writes req on c and reads the response head.
func (cl *Client) exchange(c *conn, req *http.Request, body io.Reader) (*http.Response, int, error) {
	if err := req.Context().Err(); err != nil {
		return nil, stageWriting, err
	}
	c.within(cl.timeout)
	bw := c.bw
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(req.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(cmp.Or(req.Host, req.URL.Host))
	bw.WriteString("\r\n")
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Te", "Trailer", "Upgrade", "Keep-Alive", "Proxy-Connection":
			continue // the client's own to write, or hop-by-hop
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	n := req.ContentLength
	switch {
	case body == nil && methodHasBody(req.Method):
		bw.WriteString("Content-Length: 0\r\n")
	case body != nil && n > 0:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(n, 10))
		bw.WriteString("\r\n")
	case body != nil:
		n = -1 // unknown (ContentLength 0 with a body means unknown too)
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
	if body != nil {
		if _, _, err := writeBody(bw, body, n); err != nil {
			return nil, stageWriting, err
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, stageWriting, err
	}
	c.within(cl.timeout) // from the request's last byte
	if err := req.Context().Err(); err != nil {
		return nil, stageWaiting, err // see Handler.exchange: a new deadline may undo the hook's
	}
	if _, err := c.br.Peek(1); err != nil {
		return nil, stageWaiting, err
	}
	h := http.Header{}
	hd, err := readHead(c, h, req.Method, false)
	if err == nil && hd.status == http.StatusSwitchingProtocols {
		err = errors.New("server switched protocols without being asked")
	}
	if err != nil {
		return nil, stageAnswered, err
	}
	resp := &http.Response{
		Status: strconv.Itoa(hd.status) + " " + http.StatusText(hd.status), StatusCode: hd.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: -1, Close: hd.close || c.body.untilEOF, Request: req,
	}
	if b := &c.body; !b.chunked && !b.untilEOF {
		resp.ContentLength = b.left
	}
	return resp, stageAnswered, nil
}

// clientBody is a response's body. Its connection returns to the pool as
// soon as the body has been read to its end, and is closed otherwise.
type clientBody struct {
	c       *conn
	ctx     context.Context
	stop    func() bool
	close   bool
	done    bool
	err     error         // what Read returns once done
	timeout time.Duration // bounds each wait for more (0: none)
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, b.err
	}
	// Each wait for more is bounded by the client's timeout (coarsely:
	// the deadline moves only when it no longer fits, see package
	// deadline).
	b.c.within(b.timeout)
	if err := b.ctx.Err(); err != nil { // see Handler.exchange
		b.finish(err, false)
		return 0, err
	}
	n, err := b.c.body.Read(p)
	switch {
	case err != nil:
		if cerr := b.ctx.Err(); cerr != nil && !errors.Is(err, io.EOF) {
			err = cerr // the call was cancelled, which interrupted the read
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("nothing more of the answer within %v: %w", b.timeout, err)
		}
		b.finish(err, errors.Is(err, io.EOF))
	case b.c.body.done:
		b.finish(io.EOF, true)
	}
	return n, err
}

// Ready reports whether the next Read returns without waiting for the
// provider — what has arrived, the end, or an error. A stream's relay asks
// it before flushing, so that the events that arrived together leave in
// one write.
func (b *clientBody) Ready() bool {
	return b.done || b.c.body.ready()
}

func (b *clientBody) finish(err error, clean bool) {
	b.done, b.err = true, err
	if !b.stop() || !clean || b.close {
		b.c.close()
		return
	}
	b.c.pool.put(b.c, time.Now())
}

// Close implements io.Closer. A body not read to its end closes its
// connection: its remaining bytes would be read as the next answer.
func (b *clientBody) Close() error {
	if !b.done {
		b.finish(errReadAfterClose, b.c.body.done)
	}
	return nil
}

var errReadAfterClose = errors.New("read on closed response body")

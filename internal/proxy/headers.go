package proxy

import (
	"bufio"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/pipeline"
)

// Request headers are forwarded except:
//   - hop-by-hop headers (RFC 9110 §7.6.1) and every header the client names
//     in Connection, which can therefore never remove a header Portico adds,
//     since those are written after the client's;
//   - framing (Content-Length, Transfer-Encoding), which Portico writes;
//   - the headers Portico sets itself: X-Forwarded-For/-Proto/-Host,
//     X-Request-Id and X-Consumer, so a client cannot forge them;
//   - the credential header the gateway consumed;
//   - from a peer that is not a trusted proxy, every other header that
//     claims to describe the client or the original request (Forwarded,
//     X-Real-IP, X-Forwarded-*, X-Original-URL …);
//   - any header whose name has an underscore: servers that map headers to
//     CGI-style variables read X_Consumer as X-Consumer, so such a header
//     could smuggle past the checks above (nginx drops them too).
func skipRequestHeader(k string, trusted bool) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Content-Length", "Host", "Expect", "Http2-Settings",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id", "X-Consumer":
		return true
	}
	if strings.IndexByte(k, '_') >= 0 {
		return true
	}
	if trusted {
		return false
	}
	switch k {
	case "Forwarded", "X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "X-Original-Url",
		"X-Rewrite-Url", "X-Original-Forwarded-For", "X-Cluster-Client-Ip":
		return true
	}
	return strings.HasPrefix(k, "X-Forwarded-")
}

// connectionTokens returns the header names listed in Connection.
func connectionTokens(h http.Header) []string {
	vs := h["Connection"]
	if len(vs) == 0 {
		return nil
	}
	var out []string
	for _, v := range vs {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, http.CanonicalHeaderKey(t))
			}
		}
	}
	return out
}

func listed(tokens []string, k string) bool {
	for _, t := range tokens {
		if t == k {
			return true
		}
	}
	return false
}

// writeRequestHead writes the request line and headers for r to bw.
// upgrade adds "Connection: Upgrade" and "Upgrade: websocket".
func writeRequestHead(bw *bufio.Writer, r *http.Request, x *pipeline.Exchange, t *Target, bodyLen int64, upgrade bool) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(t.basePath)
	bw.WriteString(x.UpstreamPath)
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		bw.WriteByte('?')
		if x.CredentialQuery == "" {
			bw.WriteString(r.URL.RawQuery)
		} else {
			writeQueryWithout(bw, r.URL.RawQuery, x.CredentialQuery)
		}
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(t.host)
	bw.WriteString("\r\n")

	tokens := connectionTokens(r.Header)
	for k, vs := range r.Header {
		if skipRequestHeader(k, x.PeerTrusted) || k == x.CredentialHeader || listed(tokens, k) || listed(x.Protected, k) {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}

	// The client address chain: a trusted proxy's chain is extended with the
	// proxy itself; anyone else's is replaced by the peer address.
	bw.WriteString("X-Forwarded-For: ")
	if xff := r.Header["X-Forwarded-For"]; x.PeerTrusted && len(xff) > 0 {
		for _, v := range xff {
			bw.WriteString(v)
			bw.WriteString(", ")
		}
	}
	bw.WriteString(peerHost(r.RemoteAddr))
	bw.WriteString("\r\nX-Forwarded-Proto: ")
	if v := r.Header.Get("X-Forwarded-Proto"); x.PeerTrusted && v != "" {
		bw.WriteString(v)
	} else if r.TLS != nil {
		bw.WriteString("https")
	} else {
		bw.WriteString("http")
	}
	bw.WriteString("\r\nX-Forwarded-Host: ")
	if v := r.Header.Get("X-Forwarded-Host"); x.PeerTrusted && v != "" {
		bw.WriteString(v)
	} else {
		bw.WriteString(r.Host)
	}
	bw.WriteString("\r\nX-Request-Id: ")
	bw.WriteString(x.RequestID)
	if x.Consumer != "" {
		bw.WriteString("\r\nX-Consumer: ")
		bw.WriteString(x.Consumer)
	}
	for i := 0; i+1 < len(x.Inject); i += 2 {
		bw.WriteString("\r\n")
		bw.WriteString(x.Inject[i])
		bw.WriteString(": ")
		bw.WriteString(x.Inject[i+1])
	}
	switch {
	case bodyLen > 0 || bodyLen == 0 && methodHasBody(r.Method):
		bw.WriteString("\r\nContent-Length: ")
		var buf [20]byte
		bw.Write(strconv.AppendInt(buf[:0], bodyLen, 10))
	case bodyLen < 0:
		bw.WriteString("\r\nTransfer-Encoding: chunked")
	}
	if upgrade {
		bw.WriteString("\r\nConnection: Upgrade\r\nUpgrade: websocket")
	}
	bw.WriteString("\r\n\r\n")
}

func methodHasBody(m string) bool { return m == "POST" || m == "PUT" || m == "PATCH" }

// peerHost returns the IP part of a RemoteAddr, without allocating and
// without an IPv6 zone: "[fe80::1%eth0]:5000" is "fe80::1", the form
// upstreams and log parsers expect in X-Forwarded-For.
func peerHost(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		addr = addr[:i]
	}
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	if i := strings.IndexByte(addr, '%'); i >= 0 {
		addr = addr[:i]
	}
	return addr
}

// writeQueryWithout writes a raw query less every parameter named name
// (the consumed credential), keeping the others exactly as sent.
func writeQueryWithout(bw *bufio.Writer, raw, name string) {
	first := true
	for part := range strings.SplitSeq(raw, "&") {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil && k == name {
			continue
		}
		if !first {
			bw.WriteByte('&')
		}
		bw.WriteString(part)
		first = false
	}
}

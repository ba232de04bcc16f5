package pipeline

import (
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Exchange is the state of one request as it passes the chain. It is pooled:
// never keep a pointer to it after the request is done.
type Exchange struct {
	// Start is when the gateway began serving the request.
	Start time.Time
	// RequestID is the client's sane X-Request-Id, or one Portico made.
	RequestID string
	// ClientIP is the client's address: the peer, or, when the peer is a
	// trusted proxy, the address it reported in X-Forwarded-For.
	ClientIP netip.Addr
	// PeerTrusted says the peer is one of the config's trusted proxies.
	PeerTrusted bool
	// Path is the normalised request path that routing and policies saw.
	Path string
	// UpstreamPath is the path the upstream receives: the matched path,
	// less the base path when it is stripped, under the target's own path.
	// Computed from Path only; nothing else may set it.
	UpstreamPath string
	// API and Route name the matched route ("" when none matched).
	API, Route string
	// Consumer is the authenticated consumer ("" when anonymous).
	Consumer string
	// Groups and Scopes are what the consumer's credential grants: groups
	// from the config (API keys) or a token's groups claim, scopes from a
	// token's scope or scp claim. Read-only: they may be shared.
	Groups, Scopes []string
	// Claims are a verified token's claims (nil for other credentials).
	// Read-only: they are shared with the token cache.
	Claims map[string]any
	// CredentialHeader is the request header that carried the credential
	// the gateway consumed; it is not forwarded. CredentialQuery is the
	// query parameter that did, for legacy clients.
	CredentialHeader, CredentialQuery string
	// Inject are name, value pairs Portico sends upstream on the
	// consumer's behalf; Protected are the header names (canonical) that
	// the route may inject, never taken from the client.
	Inject, Protected []string
	// GatewayCORS says the API has a CORS policy, applied by the gateway:
	// the upstream's Access-Control-* response headers are dropped.
	GatewayCORS bool
	// Filter names the request filter that matched in log-only mode.
	Filter string
	// Response, when set, changes the upstream's response before the
	// client gets it (the route's response transform).
	Response ResponseTransformer
	// Upstream names the upstream the request was sent to.
	Upstream string
	// Plan names the consumer's plan, once the route's limits looked it up.
	Plan string
	// BytesIn counts the request body bytes sent upstream.
	BytesIn int64
	// LLM is what an LLM call used, when the route is an LLM endpoint.
	LLM LLMUsage
	// ErrorCode is the code of the gateway error answered, if any.
	ErrorCode string
	// Writer records what was written to the client.
	Writer ResponseWriter
}

var exchangePool = sync.Pool{New: func() any { return new(Exchange) }}

// NewExchange returns a zeroed Exchange from the pool.
func NewExchange() *Exchange { return exchangePool.Get().(*Exchange) }

// Release returns x to the pool.
func (x *Exchange) Release() {
	*x = Exchange{}
	exchangePool.Put(x)
}

// ResponseWriter wraps the server's http.ResponseWriter to record the
// status and the bytes written, for logs and metrics. It is the only
// wrapper: Unwrap gives http.ResponseController access to Flush, Hijack
// and deadlines of the connection underneath.
type ResponseWriter struct {
	http.ResponseWriter
	Status int
	Bytes  int64
}

// WriteHeader records the status.
func (w *ResponseWriter) WriteHeader(code int) {
	if w.Status == 0 && code >= 200 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records the bytes written.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.Bytes += int64(n)
	return n, err
}

// Flush sends buffered data to the client.
func (w *ResponseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the server's writer, for http.ResponseController.
func (w *ResponseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ResponseTransformer changes an upstream's response on its way to the
// client.
type ResponseTransformer interface {
	// Header changes the response head, before it is written, and returns
	// the status to send.
	Header(h http.Header, status int) int
	// MaxBody is how much of the body Body must see whole (0: the body
	// streams through untouched). A longer body is a 502.
	MaxBody(h http.Header) int64
	// Body returns the body to send, and may set Content-Length.
	Body(h http.Header, body []byte) ([]byte, *Error)
}

// Identity is who a credential names.
type Identity struct {
	Consumer       string
	Groups, Scopes []string
	// Claims are a verified token's claims (read-only).
	Claims map[string]any
	// QueryParam names the query parameter that carried the credential,
	// when it came in the query; it is not forwarded.
	QueryParam string
	// Headers are name, value pairs to send upstream (forwarded claims).
	Headers []string
}

// LLMUsage is what one LLM call used, as the provider reported it.
type LLMUsage struct {
	// Model is the provider's model, as "provider/model".
	Model string
	// TokensIn counts the prompt's tokens, cached ones included;
	// TokensCached the cached ones; TokensOut the completion's, reasoning
	// ones included; TokensReasoning the reasoning ones.
	TokensIn, TokensOut, TokensCached, TokensReasoning int64
	// CostPico is the call's cost in 10⁻¹² of the price table's currency.
	CostPico int64
	// Unpriced says the price table has no price for the model: the cost
	// is unknown, not zero.
	Unpriced bool
	// Estimated says the tokens were estimated: the provider reported
	// none (a stream the client left).
	Estimated bool
}

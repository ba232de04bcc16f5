// Package gateway is the request path: the edge handler that every client
// request enters, the router, and the immutable snapshot of a compiled
// config that is swapped in atomically on reload.
//
// A request is served in this order (Gateway.ServeHTTP):
//
//  1. take a pooled Exchange, pick or make the request ID;
//  2. reject what no route may see: absolute-form targets, too many
//     headers, paths that fail normalisation (internal/urlpath);
//  3. compute the client address (trusted proxies only may report it);
//  4. load the current snapshot (one atomic load) and match host, path and
//     method to a route — 404 or 405 with Allow otherwise;
//  5. run the route's compiled chain: policies, then the proxy;
//  6. render any error as JSON, record metrics and the usage record, write
//     the access log line.
//
// Nothing here takes a lock, writes a shared map or reads the store.
package gateway

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/policy/cors"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/telemetry"
	"github.com/portico-gw/portico/internal/urlpath"
	"github.com/portico-gw/portico/internal/usage"
)

// MaxHeaders is the most request header fields accepted (431 above it).
const MaxHeaders = 100

// Snapshot is a compiled config: everything the request path needs, never
// modified after it is built.
type Snapshot struct {
	Router *Router
	// TrustedProxies may report the client address in X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Close releases what the snapshot holds once it no longer serves
	// (nil when there is nothing to release).
	Close func()
}

// Gateway is the edge handler of the proxy listener.
type Gateway struct {
	snap    atomic.Pointer[Snapshot]
	metrics *telemetry.Metrics
	log     *telemetry.AccessLog
	usage   *usage.Recorder
	ids     requestIDs
}

// New returns a gateway serving an empty snapshot until Swap is called.
func New(metrics *telemetry.Metrics, log *telemetry.AccessLog) *Gateway {
	g := &Gateway{metrics: metrics, log: log, ids: newRequestIDs()}
	g.snap.Store(&Snapshot{Router: NewRouter()})
	return g
}

// RecordUsage makes every request that matched a route add a usage
// record to rec. Call it before serving.
func (g *Gateway) RecordUsage(rec *usage.Recorder) { g.usage = rec }

// Swap makes s the snapshot that new requests use and returns the previous
// one. Requests already running finish on the snapshot they started with.
func (g *Gateway) Swap(s *Snapshot) *Snapshot { return g.snap.Swap(s) }

// Snapshot returns the snapshot serving now.
func (g *Gateway) Snapshot() *Snapshot { return g.snap.Load() }

// ServeHTTP serves one client request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := pipeline.NewExchange()
	x.Start = time.Now()
	x.Writer.ResponseWriter = w
	x.RequestID = g.ids.forRequest(r.Header["X-Request-Id"])
	w.Header()["X-Request-Id"] = []string{x.RequestID}
	g.metrics.InFlight().Inc()
	var route *Route
	defer func() {
		if p := recover(); p != nil {
			// The proxy aborts the connection when an upstream breaks off
			// mid-response; the request is still logged and counted.
			x.ErrorCode = "upstream_aborted"
			g.finish(r, x, route)
			panic(p)
		}
		g.finish(r, x, route)
	}()
	route, err := g.serve(r, x)
	if err != nil {
		if errors.Is(err, proxy.ErrClientGone) {
			x.ErrorCode = "client_closed"
			x.Writer.Status = 499 // nginx's code for it; never sent
			return
		}
		e := pipeline.WriteError(&x.Writer, x.RequestID, err)
		x.ErrorCode = e.Code
	}
}

func (g *Gateway) serve(r *http.Request, x *pipeline.Exchange) (*Route, error) {
	raw := r.RequestURI
	if raw == "" || raw[0] != '/' {
		return nil, pipeline.BadRequest("the request target must be a path (origin-form)")
	}
	if len(r.Header) > MaxHeaders {
		return nil, &pipeline.Error{Status: http.StatusRequestHeaderFieldsTooLarge, Code: "headers_too_large", Message: "too many request header fields"}
	}
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	p, err := urlpath.Normalize(raw)
	if err != nil {
		if errors.Is(err, urlpath.ErrTooLong) {
			return nil, &pipeline.Error{Status: http.StatusRequestURITooLong, Code: "uri_too_long", Message: err.Error()}
		}
		return nil, pipeline.BadRequest(err.Error())
	}
	x.Path = p
	s := g.snap.Load()
	if err := clientIP(r, x, s.TrustedProxies); err != nil {
		return nil, err
	}
	if cors.IsPreflight(r) {
		if c := s.Router.CORS(r.Host, p); c != nil {
			return nil, c.Preflight(&x.Writer, r)
		}
	}
	route, allow := s.Router.Match(r.Host, p, r.Method)
	if route == nil {
		if len(allow) > 0 {
			return nil, pipeline.MethodNotAllowed(strings.Join(allow, ", "))
		}
		return nil, pipeline.ErrNotFound
	}
	x.API, x.Route = route.API, route.Name
	x.UpstreamPath = route.UpstreamPath(p)
	return route, route.Handler.Serve(&x.Writer, r, x)
}

func (g *Gateway) finish(r *http.Request, x *pipeline.Exchange, route *Route) {
	d := time.Since(x.Start)
	status := x.Writer.Status
	if status == 0 {
		status = http.StatusOK
	}
	m := g.metrics.Unmatched()
	if route != nil {
		m = route.Metrics
	}
	m.Observe(status, d)
	g.metrics.InFlight().Dec()
	if route != nil && g.usage != nil {
		g.usage.Add(&store.UsageRecord{Time: x.Start, API: x.API, Route: x.Route, Consumer: x.Consumer, Plan: x.Plan,
			Upstream: x.Upstream, RequestID: x.RequestID, Status: status, Latency: d, BytesIn: x.BytesIn, BytesOut: x.Writer.Bytes,
			LLMModel: x.LLM.Model, TokensIn: x.LLM.TokensIn, TokensOut: x.LLM.TokensOut, TokensCached: x.LLM.TokensCached,
			TokensReasoning: x.LLM.TokensReasoning, CostPico: x.LLM.CostPico, Unpriced: x.LLM.Unpriced,
			Estimated: x.LLM.Estimated})
	}
	if g.log != nil {
		raw := r.RequestURI
		if i := strings.IndexByte(raw, '?'); i >= 0 {
			raw = raw[:i]
		}
		g.log.Log(&telemetry.Entry{
			Time: x.Start, RequestID: x.RequestID, ClientIP: x.ClientIP,
			Method: r.Method, Host: r.Host, Path: x.Path, RawPath: raw,
			Status: status, Duration: d, BytesOut: x.Writer.Bytes,
			API: x.API, Route: x.Route, Consumer: x.Consumer, Upstream: x.Upstream,
			Error: x.ErrorCode, Filter: x.Filter,
		})
	}
	x.Release()
}

var errBadForwardedFor = pipeline.BadRequest("X-Forwarded-For from a trusted proxy is not a list of IP addresses")

// clientIP sets the client address: the peer's, or, when the peer is a
// trusted proxy, the right-most address in X-Forwarded-For that is not
// itself a trusted proxy. A trusted proxy's unparsable chain is rejected
// rather than guessed at, so it can never pass an IP rule by accident.
//
// An IPv6 zone ("fe80::1%eth0", a link-local peer's interface) is
// dropped: it names an interface, not a client, and no prefix contains a
// zoned address, so with it a deny rule for fe80::/10 would let a client
// on the local link through.
func clientIP(r *http.Request, x *pipeline.Exchange, trusted []netip.Prefix) error {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return pipeline.BadRequest("unknown client address")
	}
	peer := plainAddr(ap.Addr())
	x.ClientIP = peer
	if !inPrefixes(trusted, peer) {
		return nil
	}
	x.PeerTrusted = true
	xff := r.Header["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		list := xff[i]
		for list != "" {
			j := strings.LastIndexByte(list, ',')
			item := strings.TrimSpace(list[j+1:])
			list = list[:max(j, 0)]
			if j < 0 {
				list = ""
			}
			a, err := netip.ParseAddr(item)
			if err != nil {
				return errBadForwardedFor
			}
			x.ClientIP = plainAddr(a)
			if !inPrefixes(trusted, x.ClientIP) {
				return nil
			}
		}
	}
	return nil
}

// plainAddr is a in the form prefixes are matched against: without a
// zone, and an IPv4-mapped IPv6 address as IPv4.
func plainAddr(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

func inPrefixes(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

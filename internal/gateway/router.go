package gateway

import (
	"slices"
	"strings"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/policy/cors"
	"github.com/portico-gw/portico/internal/telemetry"
	"github.com/portico-gw/portico/internal/urlpath"
)

// Route is a compiled route: its names, how its upstream path is derived,
// and its chain. Immutable once built.
type Route struct {
	API, Name string
	// BasePath is the API's base path ("" for a catch-all mapping).
	BasePath string
	// StripBasePath removes BasePath from the forwarded path.
	StripBasePath bool
	// Handler is the route's compiled chain, ending in the proxy.
	Handler pipeline.Handler
	// Metrics are the route's series, created on first use.
	Metrics *telemetry.RouteMetrics
	// CORS is the API's CORS policy (nil: none); the gateway answers its
	// preflight requests.
	CORS *cors.Policy
}

// UpstreamPath is the path the upstream receives for the normalised request
// path p, which routed to r. It is computed from p alone, so the upstream
// always receives the path the route's policies were applied to.
func (r *Route) UpstreamPath(p string) string {
	if !r.StripBasePath || r.BasePath == "" {
		return p
	}
	rest := p[len(r.BasePath):]
	if rest == "" {
		return "/"
	}
	return rest
}

// Router maps (host, normalised path, method) to a Route. It is built once
// per config and only read afterwards, so lookups need no locks.
type Router struct {
	exact    map[string]*mappings // "api.example.com"
	wildcard map[string]*mappings // "example.com" for "*.example.com"
	anyHost  *mappings            // APIs without a host
}

// mappings are the API mappings of one host, by base path.
type mappings struct {
	byBase map[string]*apiTree
	// maxDepth is the most segments of any base path, which bounds the
	// prefixes tried for a request path whatever its length.
	maxDepth int
}

type apiTree struct {
	basePath string
	root     node
	cors     *cors.Policy
}

type node struct {
	static map[string]*node
	param  *node
	rest   *leaf // "{name...}": matches the rest of the path, even empty
	leaf   *leaf // a route ends here
}

type leaf struct {
	methods map[string]*Route
	any     *Route // a route with no methods
}

func (l *leaf) get(method string) *Route {
	if r := l.methods[method]; r != nil {
		return r
	}
	return l.any
}

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{exact: map[string]*mappings{}, wildcard: map[string]*mappings{}, anyHost: newMappings()}
}

func newMappings() *mappings { return &mappings{byBase: map[string]*apiTree{}} }

// Add registers route r for host, template and methods. Config validation
// has already ruled out conflicts; Add keeps the first route on a conflict.
func (rt *Router) Add(host string, t urlpath.Template, methods []string, r *Route) {
	m := rt.anyHost
	switch {
	case strings.HasPrefix(host, "*."):
		m = rt.wildcard[host[2:]]
		if m == nil {
			m = newMappings()
			rt.wildcard[host[2:]] = m
		}
	case host != "":
		m = rt.exact[host]
		if m == nil {
			m = newMappings()
			rt.exact[host] = m
		}
	}
	api := m.byBase[r.BasePath]
	if api == nil {
		api = &apiTree{basePath: r.BasePath, cors: r.CORS}
		m.byBase[r.BasePath] = api
		if d := strings.Count(r.BasePath, "/"); d > m.maxDepth {
			m.maxDepth = d
		}
	}
	n := &api.root
	l := &n.leaf
	for _, s := range t.Segments {
		switch {
		case s.Rest:
			l = &n.rest
		case s.Param != "":
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
			l = &n.leaf
		default:
			if n.static == nil {
				n.static = map[string]*node{}
			}
			c := n.static[s.Literal]
			if c == nil {
				c = &node{}
				n.static[s.Literal] = c
			}
			n = c
			l = &n.leaf
		}
	}
	if *l == nil {
		*l = &leaf{methods: map[string]*Route{}}
	}
	if len(methods) == 0 {
		if (*l).any == nil {
			(*l).any = r
		}
		return
	}
	for _, method := range methods {
		if (*l).methods[method] == nil {
			(*l).methods[method] = r
		}
	}
	// GET also answers HEAD, unless HEAD is claimed explicitly.
	if slices.Contains(methods, "GET") && (*l).methods["HEAD"] == nil {
		(*l).methods["HEAD"] = r
	}
}

// Match finds the route for a request. host is the request's Host header
// (any port is ignored); path is normalised. When a route matches the path
// but not the method, Match returns nil and the allowed methods.
func (rt *Router) Match(host, path, method string) (r *Route, allow []string) {
	api, rest := rt.mapping(host, path)
	if api == nil {
		return nil, nil
	}
	if r := api.root.lookup(rest, method); r != nil {
		return r, nil
	}
	var set []string
	api.root.allowed(rest, &set)
	slices.Sort(set)
	return nil, slices.Compact(set)
}

// CORS returns the CORS policy of the API that host and path map to.
func (rt *Router) CORS(host, path string) *cors.Policy {
	if api, _ := rt.mapping(host, path); api != nil {
		return api.cors
	}
	return nil
}

// mapping returns the API tree for host and path and the path below its
// base: the exact host first, then a wildcard host, then host-less APIs;
// within one host the longest base path wins.
func (rt *Router) mapping(host, path string) (*apiTree, string) {
	host = hostOnly(host)
	if len(rt.exact) > 0 {
		if m := rt.exact[host]; m != nil {
			if api, rest := m.longest(path); api != nil {
				return api, rest
			}
		}
	}
	if len(rt.wildcard) > 0 {
		if i := strings.IndexByte(host, '.'); i > 0 {
			if m := rt.wildcard[host[i+1:]]; m != nil {
				if api, rest := m.longest(path); api != nil {
					return api, rest
				}
			}
		}
	}
	return rt.anyHost.longest(path)
}

func (m *mappings) longest(path string) (*apiTree, string) {
	best := m.byBase[""]
	end := 0
	// Try the prefixes of path that end at a segment boundary, shortest
	// first, up to the deepest base path.
	for depth, i := 0, 1; depth < m.maxDepth && i <= len(path); depth++ {
		j := strings.IndexByte(path[i:], '/')
		if j < 0 {
			j = len(path)
		} else {
			j += i
		}
		if api := m.byBase[path[:j]]; api != nil {
			best, end = api, j
		}
		i = j + 1
	}
	if best == nil {
		return nil, ""
	}
	return best, path[end:]
}

// lookup matches path ("" or starting with "/") below n: static segments
// before parameters before a rest parameter, backtracking when a branch has
// no route for the method.
func (n *node) lookup(path, method string) *Route {
	if path == "" || path == "/" {
		if n.leaf != nil {
			if r := n.leaf.get(method); r != nil {
				return r
			}
		}
		if n.rest != nil {
			return n.rest.get(method)
		}
		return nil
	}
	seg, next := cutSegment(path)
	if c := n.static[seg]; c != nil {
		if r := c.lookup(next, method); r != nil {
			return r
		}
	}
	if n.param != nil {
		if r := n.param.lookup(next, method); r != nil {
			return r
		}
	}
	if n.rest != nil {
		return n.rest.get(method)
	}
	return nil
}

// allowed adds to set the methods of every route whose template matches path.
func (n *node) allowed(path string, set *[]string) {
	add := func(l *leaf) {
		if l == nil {
			return
		}
		for m := range l.methods {
			*set = append(*set, m)
		}
	}
	if n.rest != nil {
		add(n.rest)
	}
	if path == "" || path == "/" {
		add(n.leaf)
		return
	}
	seg, next := cutSegment(path)
	if c := n.static[seg]; c != nil {
		c.allowed(next, set)
	}
	if n.param != nil {
		n.param.allowed(next, set)
	}
}

// cutSegment splits "/seg/rest" into "seg" and "/rest".
func cutSegment(path string) (seg, next string) {
	path = path[1:]
	if i := strings.IndexByte(path, '/'); i >= 0 {
		return path[:i], path[i:]
	}
	return path, ""
}

// hostOnly strips the port and a trailing dot from a Host header value
// ("API.example.com.:8080" names the same host as "api.example.com", as
// in DNS and nginx) and lower-cases it, allocating only when the host has
// upper-case letters.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

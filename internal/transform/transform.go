// Package transform rewrites requests on their way to the upstream and
// responses on their way back, as a route's config says: headers (set,
// add, remove, rename, with templates), the query, the path, JSON bodies
// (rename/move, set, defaults, remove, with the path syntax of Path), and
// status codes. Everything is compiled when the config is; bodies are
// buffered only when a body mapping is configured, and never beyond a cap.
package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/urlpath"
)

// DefaultMaxBody caps a body that a mapping must read whole.
const DefaultMaxBody = 1 << 20

// HeaderOps change headers, in this order: remove, rename, set, add.
type HeaderOps struct {
	Remove []string
	Rename [][2]string // from, to
	Set    []NamedTemplate
	Add    []NamedTemplate
}

// NamedTemplate is a header or query name and its value's template.
type NamedTemplate struct {
	Name  string
	Value *Template
}

// BodyMapping changes a JSON body, in this order: rename (move), remove,
// set, defaults (set where absent).
type BodyMapping struct {
	Rename   [][2]Path
	Remove   []Path
	Set      []PathValue
	Defaults []PathValue
}

// PathValue is a place in a JSON body and the string to put there.
type PathValue struct {
	Path  Path
	Value *Template
}

// Request is a compiled request transform.
type Request struct {
	Headers HeaderOps
	Query   HeaderOps // names are query parameters
	Path    *Template
	Body    *BodyMapping
}

// Response is a compiled response transform. It implements
// pipeline.ResponseTransformer.
type Response struct {
	Headers HeaderOps
	Body    *BodyMapping
	// Status maps upstream statuses to the ones the client gets.
	Status    map[int]int
	Modifiers []Modifier
}

// Conversions between the client's and the upstream's body formats.
const (
	// ClientJSON: the client speaks JSON, the upstream XML.
	ClientJSON = "json_to_xml"
	// ClientXML: the client speaks XML, the upstream JSON.
	ClientXML = "xml_to_json"
)

// noRequest is the request transform of a route that only changes
// responses (or converts bodies).
var noRequest = &Request{}

// Transform is a route's compiled transform.
type Transform struct {
	Request  *Request
	Response *Response
	MaxBody  int64
	// Convert is "", ClientJSON or ClientXML; XMLRoot names the root
	// element of XML made from JSON.
	Convert, XMLRoot string
	// template of the route's path below the API's base path, for
	// {{path.<param>}}; params are extracted only when a template uses one.
	route      urlpath.Template
	basePath   string
	needParams bool
}

// WithConversion sets the body format conversion (ClientJSON or
// ClientXML) and the root element name of XML made from JSON.
func (t *Transform) WithConversion(convert, root string) *Transform {
	t.Convert, t.XMLRoot = convert, root
	if t.XMLRoot == "" {
		t.XMLRoot = "root"
	}
	return t
}

// New compiles the parts. route and basePath locate path parameters.
func New(req *Request, resp *Response, maxBody int64, route urlpath.Template, basePath string) *Transform {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	t := &Transform{Request: req, Response: resp, MaxBody: maxBody, route: route, basePath: basePath}
	t.needParams = req.usesParams() || resp.usesParams()
	return t
}

// usesParams reports whether a template of q reads a path parameter.
func (q *Request) usesParams() bool {
	if q == nil {
		return false
	}
	return q.Headers.usesParams() || q.Query.usesParams() || q.Path.usesParams() || q.Body.usesParams()
}

func (s *Response) usesParams() bool {
	return s != nil && (s.Headers.usesParams() || s.Body.usesParams())
}

func (h HeaderOps) usesParams() bool {
	for _, list := range [][]NamedTemplate{h.Set, h.Add} {
		for _, nt := range list {
			if nt.Value.usesParams() {
				return true
			}
		}
	}
	return false
}

func (m *BodyMapping) usesParams() bool {
	if m == nil {
		return false
	}
	for _, list := range [][]PathValue{m.Set, m.Defaults} {
		for _, pv := range list {
			if pv.Value.usesParams() {
				return true
			}
		}
	}
	return false
}

// Params returns the names of a route template's parameters.
func Params(t urlpath.Template) []string {
	var out []string
	for _, s := range t.Segments {
		if s.Param != "" {
			out = append(out, s.Param)
		}
	}
	return out
}

func (t *Transform) params(x *pipeline.Exchange) map[string]string {
	if !t.needParams {
		return nil
	}
	return RouteParams(t.route, t.basePath, x.Path)
}

// RouteParams extracts the parameters of route (a template below
// basePath) from the normalised request path.
func RouteParams(route urlpath.Template, basePath, path string) map[string]string {
	rest := strings.TrimPrefix(path, basePath)
	rest = strings.TrimPrefix(rest, "/")
	segs := strings.Split(rest, "/")
	out := map[string]string{}
	for i, s := range route.Segments {
		if i >= len(segs) {
			break
		}
		switch {
		case s.Rest:
			out[s.Param] = strings.Join(segs[i:], "/")
		case s.Param != "":
			out[s.Param] = segs[i]
		}
	}
	return out
}

var (
	errBadJSON    = pipeline.BadRequest("the request body is not valid JSON")
	errBadPath    = pipeline.BadRequest("the rewritten path is not valid")
	errUpstream   = &pipeline.Error{Status: http.StatusBadGateway, Code: "upstream_failed", Message: "the upstream's response could not be transformed"}
	errRespTooBig = &pipeline.Error{Status: http.StatusBadGateway, Code: "upstream_failed", Message: "the upstream's response is larger than the transform's limit"}
)

// Middleware returns the middleware applying the request transform and
// arming the response transform; it runs right before the proxy.
func (t *Transform) Middleware() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			e := &env{r: r, x: x, params: t.params(x)}
			q := t.Request
			if q == nil {
				q = noRequest
			}
			if err := t.request(q, e); err != nil {
				return err
			}
			if t.Response != nil || t.Convert != "" {
				x.Response = &boundResponse{t: t, e: e}
			}
			return next.Serve(w, r, x)
		})
	}
}

func (t *Transform) request(q *Request, e *env) error {
	r, x := e.r, e.x
	applyHeaders(r.Header, q.Headers, e)
	if len(q.Query.Remove)+len(q.Query.Rename)+len(q.Query.Set)+len(q.Query.Add) > 0 {
		vals, _ := url.ParseQuery(r.URL.RawQuery)
		for _, n := range q.Query.Remove {
			delete(vals, n)
		}
		for _, rn := range q.Query.Rename {
			if v, ok := vals[rn[0]]; ok {
				delete(vals, rn[0])
				vals[rn[1]] = v
			}
		}
		for _, s := range q.Query.Set {
			vals.Set(s.Name, e.render(s.Value))
		}
		for _, a := range q.Query.Add {
			vals.Add(a.Name, e.render(a.Value))
		}
		r.URL.RawQuery = vals.Encode()
		e.query = nil
	}
	if q.Path != nil {
		p, err := urlpath.Normalize(e.renderPath(q.Path))
		if err != nil || p == "" || p[0] != '/' {
			return errBadPath
		}
		x.UpstreamPath = p
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	convert := t.Convert == ClientJSON && isJSON(r.Header) || t.Convert == ClientXML && isXML(r.Header)
	if !convert && (q.Body == nil || !isJSON(r.Header)) {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, t.MaxBody+1))
	if err != nil {
		var pe *pipeline.Error
		if errors.As(err, &pe) {
			return pe // the route's own body limit (413)
		}
		return pipeline.BadRequest("the request body could not be read")
	}
	if int64(len(b)) > t.MaxBody {
		return pipeline.ErrBodyTooLarge
	}
	if convert && t.Convert == ClientXML {
		if b, err = XMLToJSON(b); err != nil {
			return pipeline.BadRequest("the request body is not valid XML: " + err.Error())
		}
		r.Header["Content-Type"] = []string{"application/json"}
	}
	if q.Body != nil {
		if b, err = mapJSON(b, q.Body, e); err != nil {
			return errBadJSON
		}
	}
	if convert && t.Convert == ClientJSON {
		if b, err = JSONToXML(b, t.XMLRoot); err != nil {
			return pipeline.BadRequest("the request body cannot be converted to XML: " + err.Error())
		}
		r.Header["Content-Type"] = []string{"application/xml; charset=utf-8"}
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Del("Transfer-Encoding")
	return nil
}

func isXML(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && (mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"))
}

// renderPath renders a path template, escaping what does not come from
// the path itself, so that a query or header value cannot add segments.
func (e *env) renderPath(t *Template) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case "", "param", "path":
			b.WriteString(e.render(&Template{parts: []part{p}}))
		default:
			b.WriteString(url.PathEscape(e.render(&Template{parts: []part{p}})))
		}
	}
	return b.String()
}

func applyHeaders(h http.Header, ops HeaderOps, e *env) {
	for _, n := range ops.Remove {
		delete(h, n)
	}
	for _, rn := range ops.Rename {
		if v, ok := h[rn[0]]; ok {
			delete(h, rn[0])
			h[rn[1]] = v
		}
	}
	for _, s := range ops.Set {
		h[s.Name] = []string{headerSafe(e.render(s.Value))}
	}
	for _, a := range ops.Add {
		h[a.Name] = append(h[a.Name], headerSafe(e.render(a.Value)))
	}
}

func isJSON(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// mapJSON applies m to the JSON document b. Numbers keep their text;
// object members come out sorted by name.
func mapJSON(b []byte, m *BodyMapping, e *env) ([]byte, error) {
	doc, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	for _, rn := range m.Rename {
		move(doc, rn[0], rn[1])
	}
	for _, p := range m.Remove {
		p.remove(doc)
	}
	for _, s := range m.Set {
		s.Path.set(doc, e.render(s.Value), false)
	}
	for _, d := range m.Defaults {
		d.Path.set(doc, e.render(d.Value), true)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// decodeJSON decodes exactly one JSON document, numbers kept as their text.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON document")
	}
	return doc, nil
}

// boundResponse is a route's response transform bound to one request.
type boundResponse struct {
	t *Transform
	e *env
}

// Header implements pipeline.ResponseTransformer.
func (b *boundResponse) Header(h http.Header, status int) int {
	resp := b.t.Response
	if resp == nil {
		return status
	}
	applyHeaders(h, resp.Headers, b.e)
	if to, ok := resp.Status[status]; ok {
		status = to
	}
	for _, m := range resp.Modifiers {
		status = m.Header(h, status, b.e.r)
	}
	return status
}

// converts says whether the upstream's body is to be converted.
func (b *boundResponse) converts(h http.Header) bool {
	return b.t.Convert == ClientJSON && isXML(h) || b.t.Convert == ClientXML && isJSON(h)
}

// MaxBody implements pipeline.ResponseTransformer: 0 when the body passes
// untouched (nothing to convert or map, or not in identity encoding).
func (b *boundResponse) MaxBody(h http.Header) int64 {
	if ce := h.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return 0
	}
	mapping := b.t.Response != nil && b.t.Response.Body != nil
	if b.converts(h) || mapping && isJSON(h) {
		return b.t.MaxBody
	}
	return 0
}

// Body implements pipeline.ResponseTransformer.
func (b *boundResponse) Body(h http.Header, body []byte) ([]byte, *pipeline.Error) {
	if int64(len(body)) > b.t.MaxBody {
		return nil, errRespTooBig
	}
	if len(body) == 0 {
		return body, nil
	}
	convert := b.converts(h)
	var err error
	if convert && b.t.Convert == ClientJSON { // the upstream's XML, for a JSON client
		if body, err = XMLToJSON(body); err != nil {
			return nil, errUpstream
		}
		h["Content-Type"] = []string{"application/json"}
	}
	if resp := b.t.Response; resp != nil && resp.Body != nil {
		if body, err = mapJSON(body, resp.Body, b.e); err != nil {
			return nil, errUpstream
		}
	}
	if convert && b.t.Convert == ClientXML { // the upstream's JSON, for an XML client
		if body, err = JSONToXML(body, b.t.XMLRoot); err != nil {
			return nil, errUpstream
		}
		h["Content-Type"] = []string{"application/xml; charset=utf-8"}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	return body, nil
}

// Modifier is a named response modifier registered in Go, for what the
// config cannot say (the seed's system.MODIFY).
type Modifier interface {
	// Header may change the response head; it returns the status to send.
	Header(h http.Header, status int, r *http.Request) int
}

var modifiers = map[string]Modifier{}

// Register makes m available to configs as name. Call it from an init
// function of a package built into the binary.
func Register(name string, m Modifier) {
	if _, dup := modifiers[name]; dup {
		panic(fmt.Sprintf("transform: modifier %q registered twice", name))
	}
	modifiers[name] = m
}

// LookupModifier returns the modifier registered as name.
func LookupModifier(name string) (Modifier, bool) {
	m, ok := modifiers[name]
	return m, ok
}

// ModifierNames lists the registered modifiers. names.
func ModifierNames() []string {
	out := make([]string, 0, len(modifiers))
	for n := range modifiers {
		out = append(out, n)
	}
	return out
}

func init() {
	// no-store: a modifier every gateway ships, and an example of one.
	Register("no_store", modifierFunc(func(h http.Header, status int, _ *http.Request) int {
		h["Cache-Control"] = []string{"no-store"}
		return status
	}))
}

type modifierFunc func(h http.Header, status int, r *http.Request) int

func (f modifierFunc) Header(h http.Header, status int, r *http.Request) int { return f(h, status, r) }

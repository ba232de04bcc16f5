package config

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/transform"
	"github.com/portico-gw/portico/internal/urlpath"
)

// Headers a transform may not touch: framing, hop-by-hop, and what Portico
// itself sets.
var (
	managedRequestHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Te", "Trailer",
		"Keep-Alive", "Proxy-Connection", "X-Request-Id", "X-Consumer", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"}
	managedResponseHeaders = []string{"Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Trailer", "Keep-Alive", "X-Request-Id"}
)

// SortedKeys returns m's keys in order: maps in the config apply in this
// order, so that a config means one thing.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (v *validator) transform(rp string, r Route) {
	t := r.Transform
	if t == nil {
		return
	}
	tp := rp + ".transform"
	var params []string
	if tmpl, err := urlpath.ParseTemplate(r.Path); err == nil {
		params = transform.Params(tmpl)
	}
	switch t.Convert {
	case "", transform.ClientJSON, transform.ClientXML:
	default:
		v.errorf(tp+".convert", "%q is not json_to_xml or xml_to_json", t.Convert)
	}
	if t.XMLRoot != "" && !transform.ValidXMLName(t.XMLRoot) {
		v.errorf(tp+".xml_root", "%q is not an XML element name", t.XMLRoot)
	}
	if t.MaxBodyBytes < 0 || t.MaxBodyBytes > 64<<20 {
		v.errorf(tp+".max_body_bytes", "must be between 0 (1 MiB) and 67108864")
	}
	if q := t.Request; q != nil {
		v.headerTransform(tp+".request.headers", q.Headers, params, managedRequestHeaders, true)
		v.headerTransform(tp+".request.query", q.Query, params, nil, false)
		if q.Path != "" {
			if _, err := transform.ParseTemplate(q.Path, params); err != nil {
				v.errorf(tp+".request.path", "%v", err)
			} else if q.Path[0] != '/' {
				v.errorf(tp+".request.path", "a path starts with /")
			}
		}
		v.bodyTransform(tp+".request.body", q.Body, params)
	}
	if s := t.Response; s != nil {
		v.headerTransform(tp+".response.headers", s.Headers, params, managedResponseHeaders, true)
		v.bodyTransform(tp+".response.body", s.Body, params)
		for from, to := range s.Status {
			if n, err := strconv.Atoi(from); err != nil || n < 100 || n > 599 {
				v.errorf(tp+".response.status", "%q is not a status code", from)
			}
			if to < 100 || to > 599 {
				v.errorf(tp+".response.status."+from, "%d is not a status code", to)
			}
		}
		for i, m := range s.Modifiers {
			if _, ok := transform.LookupModifier(m); !ok {
				names := transform.ModifierNames()
				slices.Sort(names)
				v.errorf(fmt.Sprintf("%s.response.modifiers[%d]", tp, i), "no response modifier is registered as %q (this build has %v)", m, names)
			}
		}
	}
}

func (v *validator) headerTransform(p string, h *HeaderTransform, params, managed []string, headers bool) {
	if h == nil {
		return
	}
	check := func(at, name string) {
		switch {
		case headers && !tokenRE.MatchString(name):
			v.errorf(at, "%q is not a header name", name)
		case !headers && name == "":
			v.errorf(at, "a query parameter needs a name")
		case headers && slices.Contains(managed, http.CanonicalHeaderKey(name)):
			v.errorf(at, "%s is managed by Portico; a transform cannot change it", http.CanonicalHeaderKey(name))
		}
	}
	for i, n := range h.Remove {
		check(fmt.Sprintf("%s.remove[%d]", p, i), n)
	}
	for _, from := range SortedKeys(h.Rename) {
		check(p+".rename."+from, from)
		check(p+".rename."+from, h.Rename[from])
	}
	for _, m := range []struct {
		key  string
		vals map[string]string
	}{{"set", h.Set}, {"add", h.Add}} {
		for _, name := range SortedKeys(m.vals) {
			check(p+"."+m.key+"."+name, name)
			if _, err := transform.ParseTemplate(m.vals[name], params); err != nil {
				v.errorf(p+"."+m.key+"."+name, "%v", err)
			}
		}
	}
}

func (v *validator) bodyTransform(p string, b *BodyTransform, params []string) {
	if b == nil {
		return
	}
	path := func(at, s string) {
		if _, err := transform.ParsePath(s); err != nil {
			v.errorf(at, "%v", err)
		}
	}
	for _, from := range SortedKeys(b.Rename) {
		path(p+".rename."+from, from)
		path(p+".rename."+from, b.Rename[from])
	}
	for i, s := range b.Remove {
		path(fmt.Sprintf("%s.remove[%d]", p, i), s)
	}
	for _, m := range []struct {
		key  string
		vals map[string]string
	}{{"set", b.Set}, {"defaults", b.Defaults}} {
		for _, k := range SortedKeys(m.vals) {
			path(p+"."+m.key+"."+k, k)
			if _, err := transform.ParseTemplate(m.vals[k], params); err != nil {
				v.errorf(p+"."+m.key+"."+k, "%v", err)
			}
		}
	}
}

func (v *validator) aggregate(rp string, r Route, upstreams map[string]bool) {
	ag := r.Aggregate
	if ag == nil {
		return
	}
	ap := rp + ".aggregate"
	if len(r.Upstreams) > 0 || r.Mirror != nil || r.Transform != nil {
		v.errorf(ap, "an aggregate route has no upstreams split, mirror or transform")
	}
	var params []string
	if tmpl, err := urlpath.ParseTemplate(r.Path); err == nil {
		params = transform.Params(tmpl)
	}
	if len(ag.Calls) == 0 {
		v.errorf(ap+".calls", "list the calls")
	}
	names := map[string]bool{}
	for i, c := range ag.Calls {
		cp := fmt.Sprintf("%s.calls[%d]", ap, i)
		switch {
		case c.Name == "" || c.Name == "errors":
			v.errorf(cp+".name", "a call needs a name other than \"errors\"")
		case names[c.Name]:
			v.errorf(cp+".name", "call %q is listed twice", c.Name)
		}
		names[c.Name] = true
		if !upstreams[c.Upstream] {
			v.errorf(cp+".upstream", "no upstream is named %q", c.Upstream)
		}
		if c.Path == "" || c.Path[0] != '/' {
			v.errorf(cp+".path", "a path starts with /")
		} else if _, err := transform.ParseTemplate(c.Path, params); err != nil {
			v.errorf(cp+".path", "%v", err)
		}
	}
	if ag.OnError != "" && ag.OnError != "omit" && ag.OnError != "fail" {
		v.errorf(ap+".on_error", "%q is not omit or fail", ag.OnError)
	}
	if ag.Timeout.D() > 5*time.Minute {
		v.errorf(ap+".timeout", "at most 5m")
	}
}

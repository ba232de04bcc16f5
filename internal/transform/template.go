package transform

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/portico-gw/portico/internal/pipeline"
)

// A Template is a string with {{variables}}, compiled once:
//
//	{{consumer}} {{request_id}} {{client_ip}} {{method}} {{api}} {{route}}
//	{{path}}                  the path the upstream receives
//	{{path.id}}               a parameter of the route's path template
//	{{query.page}}            a query parameter (its first value)
//	{{header.X-Tenant}}       a request header (its first value)
//	{{claim.email}}           a claim of the verified token (lists of
//	                          strings comma-separated, numbers as JSON)
//
// A variable with no value is empty. Values are inserted as they are;
// where a template becomes a header, control characters are removed.
type Template struct {
	parts []part
}

type part struct {
	literal string
	kind    string // "" for a literal
	name    string
}

var templateVars = []string{"consumer", "request_id", "client_ip", "method", "api", "route", "path"}

// ParseTemplate compiles s; params are the route's path parameters.
func ParseTemplate(s string, params []string) (*Template, error) {
	t := &Template{}
	for s != "" {
		i := strings.Index(s, "{{")
		if i < 0 {
			t.parts = append(t.parts, part{literal: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{literal: s[:i]})
		}
		end := strings.Index(s[i:], "}}")
		if end < 0 {
			return nil, fmt.Errorf("%q: {{ without }}", s)
		}
		v := strings.TrimSpace(s[i+2 : i+end])
		kind, name, hasName := strings.Cut(v, ".")
		switch {
		case !hasName && contains(templateVars, v):
			t.parts = append(t.parts, part{kind: v})
		case hasName && kind == "path" && contains(params, name):
			t.parts = append(t.parts, part{kind: "param", name: name})
		case hasName && kind == "path":
			return nil, fmt.Errorf("{{%s}}: the route's path has no parameter %q", v, name)
		case hasName && kind == "query" && name != "":
			t.parts = append(t.parts, part{kind: "query", name: name})
		case hasName && kind == "header" && name != "":
			t.parts = append(t.parts, part{kind: "header", name: http.CanonicalHeaderKey(name)})
		case hasName && kind == "claim" && name != "":
			t.parts = append(t.parts, part{kind: "claim", name: name})
		default:
			return nil, fmt.Errorf("{{%s}} is not a variable (%s, path.<param>, query.<name>, header.<Name>, claim.<name>)", v, strings.Join(templateVars, ", "))
		}
		s = s[i+end+2:]
	}
	return t, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// usesParams reports whether t reads a path parameter.
func (t *Template) usesParams() bool {
	if t == nil {
		return false
	}
	for _, p := range t.parts {
		if p.kind == "param" {
			return true
		}
	}
	return false
}

// env is what a template reads from one request.
type env struct {
	r      *http.Request
	x      *pipeline.Exchange
	params map[string]string
	query  url.Values
}

func (e *env) render(t *Template) string {
	if len(t.parts) == 1 && t.parts[0].kind == "" {
		return t.parts[0].literal
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case "":
			b.WriteString(p.literal)
		case "consumer":
			b.WriteString(e.x.Consumer)
		case "request_id":
			b.WriteString(e.x.RequestID)
		case "client_ip":
			if e.x.ClientIP.IsValid() {
				b.WriteString(e.x.ClientIP.String())
			}
		case "method":
			b.WriteString(e.r.Method)
		case "api":
			b.WriteString(e.x.API)
		case "route":
			b.WriteString(e.x.Route)
		case "path":
			b.WriteString(e.x.UpstreamPath)
		case "param":
			b.WriteString(e.params[p.name])
		case "query":
			if e.query == nil {
				e.query, _ = url.ParseQuery(e.r.URL.RawQuery)
			}
			b.WriteString(e.query.Get(p.name))
		case "header":
			if vs := e.r.Header[p.name]; len(vs) > 0 {
				b.WriteString(vs[0])
			}
		case "claim":
			b.WriteString(claimText(e.x.Claims[p.name]))
		}
	}
	return b.String()
}

// claimText renders a claim: strings as they are, lists of strings
// comma-separated, other values as JSON.
func claimText(v any) string {
	switch c := v.(type) {
	case nil:
		return ""
	case string:
		return c
	case []any:
		parts := make([]string, 0, len(c))
		for _, item := range c {
			parts = append(parts, claimText(item))
		}
		return strings.Join(parts, ",")
	default:
		b, _ := json.Marshal(c)
		return string(b)
	}
}

// headerSafe drops control characters, so no template can split a header.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// Render renders t for request r: params are the route's path parameters
// (RouteParams). With escape (a path and query to call), values that do
// not come from the request path are query-escaped, so that they cannot
// add segments or parameters.
func Render(t *Template, r *http.Request, x *pipeline.Exchange, params map[string]string, escape bool) string {
	e := &env{r: r, x: x, params: params}
	if !escape {
		return e.render(t)
	}
	var b strings.Builder
	for _, p := range t.parts {
		one := e.render(&Template{parts: []part{p}})
		switch p.kind {
		case "", "param", "path":
			b.WriteString(one)
		default:
			b.WriteString(url.QueryEscape(one))
		}
	}
	return b.String()
}

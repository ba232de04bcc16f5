// Package openapi turns an OpenAPI 3 document into Portico configuration:
// one API with a route per operation, an upstream from the document's
// first server, and the authentication its security schemes map to. What
// cannot be mapped is reported as a warning, never guessed.
package openapi

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/urlpath"
)

// Options steer an import.
type Options struct {
	// Name of the API; default: from info.title.
	Name string
	// BasePath of the API mapping; default "/" + Name.
	BasePath string
	// Upstream names an existing upstream to use; default: a new upstream
	// "<name>-upstream" targeting the document's first server.
	Upstream string
}

// Result is what an import adds to a configuration.
type Result struct {
	API          config.API
	Upstream     *config.Upstream // nil when Options.Upstream was given
	AuthPolicies []config.AuthPolicy
	Warnings     []string
}

type document struct {
	OpenAPI string `yaml:"openapi"`
	Info    struct {
		Title string `yaml:"title"`
	} `yaml:"info"`
	Servers []struct {
		URL string `yaml:"url"`
	} `yaml:"servers"`
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Security   *[]map[string][]string          `yaml:"security"`
	Components struct {
		SecuritySchemes map[string]scheme `yaml:"securitySchemes"`
	} `yaml:"components"`
}

type operation struct {
	OperationID string                 `yaml:"operationId"`
	Security    *[]map[string][]string `yaml:"security"`
}

type scheme struct {
	Type   string `yaml:"type"`
	In     string `yaml:"in"`
	Name   string `yaml:"name"`
	Scheme string `yaml:"scheme"`
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch"}

// Import converts an OpenAPI 3 document (JSON or YAML).
func Import(data []byte, o Options) (*Result, error) {
	var doc document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("openapi: not a JSON or YAML document: %w", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		return nil, fmt.Errorf("openapi: %q is not an OpenAPI 3 document (swagger 2 documents must be converted first)", doc.OpenAPI)
	}
	if len(doc.Paths) == 0 {
		return nil, fmt.Errorf("openapi: the document has no paths")
	}
	res := &Result{}
	name := o.Name
	if name == "" {
		name = slug(doc.Info.Title)
	}
	if name == "" {
		return nil, fmt.Errorf("openapi: the document has no info.title; give the API a name")
	}
	base := o.BasePath
	if base == "" {
		base = "/" + name
	}
	upstream := o.Upstream
	if upstream == "" {
		upstream = name + "-upstream"
		if len(doc.Servers) == 0 {
			return nil, fmt.Errorf("openapi: the document lists no servers; name an existing upstream")
		}
		u, err := url.Parse(doc.Servers[0].URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("openapi: the first server %q is not an absolute http(s) URL; name an existing upstream", doc.Servers[0].URL)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		res.Upstream = &config.Upstream{Name: upstream, Targets: []config.Target{{URL: u.String()}}}
	}
	res.API = config.API{Name: name, BasePath: base, Upstream: upstream}

	// Top-level security is the API's auth; an operation's own overrides it.
	mapped := map[string]string{} // scheme name -> auth method
	authFor := func(reqs *[]map[string][]string, where string) []string {
		if reqs == nil {
			return nil
		}
		if len(*reqs) == 0 {
			return []string{config.AuthNone}
		}
		var out []string
		for _, req := range *reqs {
			if len(req) == 0 {
				out = append(out, config.AuthNone)
				continue
			}
			if len(req) > 1 {
				res.Warnings = append(res.Warnings, where+": a requirement combining several schemes is mapped to its first; Portico accepts any one listed method")
			}
			keys := make([]string, 0, len(req))
			for k := range req {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if m := res.mapScheme(keys[0], doc.Components.SecuritySchemes, mapped); m != "" {
				out = append(out, m)
			}
		}
		if slices.Contains(out, config.AuthNone) && len(out) > 1 {
			res.Warnings = append(res.Warnings, where+": anonymous access is listed beside other methods; the route is kept authenticated")
			out = removeNone(out)
		}
		return dedupe(out)
	}
	res.API.Auth = authFor(doc.Security, "security")
	if len(res.API.Auth) == 0 {
		res.API.Auth = []string{config.AuthAPIKey}
		res.Warnings = append(res.Warnings, "the document states no usable security; the API requires an API key (change auth in the draft)")
	}

	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	names := map[string]bool{}
	for _, p := range paths {
		tmpl := strings.TrimSuffix(p, "/")
		if _, err := urlpath.ParseTemplate(tmpl); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("path %s is skipped: %v", p, err))
			continue
		}
		for _, m := range methods {
			node, ok := doc.Paths[p][m]
			if !ok {
				continue
			}
			var op operation
			if err := node.Decode(&op); err != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s %s is skipped: %v", strings.ToUpper(m), p, err))
				continue
			}
			rname := slug(op.OperationID)
			if rname == "" {
				rname = slug(m + "-" + p)
			}
			for base, i := rname, 2; names[rname]; i++ {
				rname = fmt.Sprintf("%s-%d", base, i)
			}
			names[rname] = true
			route := config.Route{Name: rname, Methods: []string{strings.ToUpper(m)}, Path: tmpl}
			if auth := authFor(op.Security, strings.ToUpper(m)+" "+p); auth != nil {
				route.Auth = auth
			}
			res.API.Routes = append(res.API.Routes, route)
		}
	}
	if len(res.API.Routes) == 0 {
		return nil, fmt.Errorf("openapi: no operation could be imported: %s", strings.Join(res.Warnings, "; "))
	}
	return res, nil
}

// mapScheme returns the auth method for a security scheme, adding an auth
// policy when the scheme is an API key in another header.
func (res *Result) mapScheme(name string, schemes map[string]scheme, mapped map[string]string) string {
	if m, ok := mapped[name]; ok {
		return m
	}
	s, ok := schemes[name]
	var m string
	switch {
	case !ok:
		res.Warnings = append(res.Warnings, fmt.Sprintf("security scheme %q is not defined", name))
	case s.Type == "apiKey" && s.In == "header" && strings.EqualFold(s.Name, "X-API-Key"):
		m = config.AuthAPIKey
	case s.Type == "apiKey" && s.In == "header":
		m = slug(res.API.Name + "-" + name)
		res.AuthPolicies = append(res.AuthPolicies, config.AuthPolicy{Name: m, Type: "api_key", Header: s.Name})
	default:
		res.Warnings = append(res.Warnings, fmt.Sprintf("security scheme %q (%s %s%s) has no Portico equivalent yet; routes that use it keep the API's auth",
			name, s.Type, s.In, s.Scheme))
	}
	mapped[name] = m
	return m
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slug makes a Portico name out of free text.
func slug(s string) string {
	s = strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 64 {
		s = strings.TrimRight(s[:64], "-")
	}
	return s
}

func removeNone(list []string) []string {
	out := list[:0]
	for _, v := range list {
		if v != config.AuthNone {
			out = append(out, v)
		}
	}
	return out
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0]
	for _, v := range list {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

package gateway

import (
	"fmt"
	"slices"
	"testing"

	"github.com/portico-gw/portico/internal/urlpath"
)

func mustTemplate(t testing.TB, s string) urlpath.Template {
	t.Helper()
	tp, err := urlpath.ParseTemplate(s)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestRouterMatch(t *testing.T) {
	t.Parallel()
	rt := NewRouter()
	add := func(host, base, tmpl string, methods []string, name string) {
		rt.Add(host, mustTemplate(t, tmpl), methods, &Route{API: base, Name: name, BasePath: base})
	}
	add("", "/orders", "", []string{"GET"}, "list")
	add("", "/orders", "/{id}", []string{"GET", "PUT"}, "get")
	add("", "/orders", "/new", []string{"POST"}, "new")
	add("", "/orders", "/{id}/files/{path...}", nil, "files")
	add("", "/orders/admin", "/stats", []string{"GET"}, "admin-stats")
	add("", "", "/{path...}", []string{"GET"}, "catch-all")
	add("api.example.com", "/orders", "/{id}", []string{"GET"}, "host-get")
	add("*.tenants.example.com", "", "/{path...}", []string{"GET"}, "tenant")

	tests := []struct {
		desc, host, path, method string
		want                     string
		allow                    []string
	}{
		{desc: "base path itself", path: "/orders", method: "GET", want: "list"},
		{desc: "base path with trailing slash", path: "/orders/", method: "GET", want: "list"},
		{desc: "param", path: "/orders/7", method: "GET", want: "get"},
		{desc: "param trailing slash", path: "/orders/7/", method: "GET", want: "get"},
		{desc: "static beats param", path: "/orders/new", method: "POST", want: "new"},
		{desc: "static without method falls back to param", path: "/orders/new", method: "GET", want: "get"},
		{desc: "GET implies HEAD", path: "/orders/7", method: "HEAD", want: "get"},
		{desc: "rest param", path: "/orders/7/files/a/b/c", method: "DELETE", want: "files"},
		{desc: "rest param may be empty", path: "/orders/7/files", method: "GET", want: "files"},
		{desc: "405 lists methods", path: "/orders/7", method: "DELETE", allow: []string{"GET", "HEAD", "PUT"}},
		{desc: "405 on static path lists every matching route", path: "/orders/new", method: "DELETE", allow: []string{"GET", "HEAD", "POST", "PUT"}},
		{desc: "longest base path wins", path: "/orders/admin/stats", method: "GET", want: "admin-stats"},
		{desc: "no fallthrough after a base path matched", path: "/orders/admin/other", method: "GET"},
		{desc: "base path matches whole segments only", path: "/ordersx", method: "GET", want: "catch-all"},
		{desc: "catch-all mapping", path: "/anything/else", method: "GET", want: "catch-all"},
		{desc: "host mapping wins", host: "api.example.com", path: "/orders/7", method: "GET", want: "host-get"},
		{desc: "host is case-insensitive, port ignored", host: "API.Example.COM:8080", path: "/orders/7", method: "GET", want: "host-get"},
		{desc: "trailing dot names the same host", host: "api.example.com.", path: "/orders/7", method: "GET", want: "host-get"},
		{desc: "trailing dot and port", host: "Api.Example.com.:443", path: "/orders/7", method: "GET", want: "host-get"},
		{desc: "wildcard with trailing dot", host: "acme.tenants.example.com.", path: "/x", method: "GET", want: "tenant"},
		{desc: "host without match falls to host-less", host: "api.example.com", path: "/x", method: "GET", want: "catch-all"},
		{desc: "wildcard host", host: "acme.tenants.example.com", path: "/x", method: "GET", want: "tenant"},
		{desc: "wildcard is one label", host: "a.b.tenants.example.com", path: "/x", method: "GET", want: "catch-all"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			r, allow := rt.Match(tt.host, tt.path, tt.method)
			got := ""
			if r != nil {
				got = r.Name
			}
			if got != tt.want || !slices.Equal(allow, tt.allow) {
				t.Fatalf("Match(%q, %q, %s) = %q, allow %v; want %q, allow %v", tt.host, tt.path, tt.method, got, allow, tt.want, tt.allow)
			}
		})
	}
}

func TestUpstreamPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base  string
		strip bool
		in    string
		want  string
	}{
		{"/orders", true, "/orders/7", "/7"},
		{"/orders", true, "/orders", "/"},
		{"/orders", true, "/orders/", "/"},
		{"/orders", false, "/orders/7", "/orders/7"},
		{"", true, "/x/y", "/x/y"},
	}
	for _, tt := range tests {
		r := &Route{BasePath: tt.base, StripBasePath: tt.strip}
		if got := r.UpstreamPath(tt.in); got != tt.want {
			t.Errorf("UpstreamPath(%q) with base %q strip %v = %q, want %q", tt.in, tt.base, tt.strip, got, tt.want)
		}
	}
}

func TestRouterMatchDoesNotAllocate(t *testing.T) {
	rt := NewRouter()
	rt.Add("", mustTemplate(t, "/{id}/items/{item}"), []string{"GET"}, &Route{BasePath: "/orders"})
	if n := testing.AllocsPerRun(100, func() { rt.Match("example.com:8080", "/orders/7/items/9", "GET") }); n != 0 {
		t.Fatalf("Match allocates %v times, want 0", n)
	}
}

// routerWith builds a router of n routes spread over n/10 APIs, like a
// real catalogue: ten operations per API.
func routerWith(b *testing.B, n int) *Router {
	rt := NewRouter()
	for i := range n {
		api := fmt.Sprintf("/api%d", i/10)
		tmpl := fmt.Sprintf("/resource%d/{id}", i%10)
		rt.Add("", mustTemplate(b, tmpl), []string{"GET"}, &Route{BasePath: api, Name: fmt.Sprint(i)})
	}
	return rt
}

func BenchmarkRouter(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			rt := routerWith(b, n)
			// The path of a route in the last API, so no shortcut helps.
			path := fmt.Sprintf("/api%d/resource%d/42", (n-1)/10, (n-1)%10)
			if r, _ := rt.Match("", path, "GET"); r == nil {
				b.Fatalf("no match for %s", path)
			}
			b.ReportAllocs()
			for b.Loop() {
				rt.Match("", path, "GET")
			}
		})
	}
}

package gateway_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/urlpath"
)

// FuzzPathReachesUpstreamAsMatched sends arbitrary request targets through
// the real gateway. Property: whenever a request reaches the upstream, the
// upstream receives exactly the normalised path the router matched and the
// policies saw (less the stripped base path), and the route that matched is
// the one that route's template selects for that path.
func FuzzPathReachesUpstreamAsMatched(f *testing.F) {
	for _, s := range []string{
		"/api/public/x", "/api/admin/x", "/api/public/../admin/x", "/api/public/%2e%2e/admin",
		"/api//admin", "/api/public/..;/admin", "/api/orders/7?x=1", "/api/public/a%3Fb",
		"/api/public/%252e", "/api/./orders/../admin/", "/API/admin", "/api/public/caf\xc3\xa9",
	} {
		f.Add(s)
	}
	rec := newRecorder(f)
	e := start(f, baseConfig, rec.srv.URL)
	f.Fuzz(func(t *testing.T, target string) {
		if target == "" || strings.ContainsAny(target, " \r\n") || len(target) > 2048 {
			return // not a request line the client could send
		}
		before := len(rec.all())
		c, err := net.Dial("tcp", e.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("GET " + target + " HTTP/1.1\r\nHost: x\r\nX-API-Key: " + acmeKey + "\r\nConnection: close\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return // the server refused to parse it at all
		}
		resp.Body.Close()
		after := rec.all()
		if len(after) == before {
			return // refused before the upstream
		}
		if len(after) != before+1 {
			t.Fatalf("one request produced %d upstream requests", len(after)-before)
		}
		got := after[len(after)-1].URI
		raw, query, _ := strings.Cut(target, "?")
		norm, err := urlpath.Normalize(raw)
		if err != nil {
			t.Fatalf("%q reached the upstream as %q although its path is invalid: %v", target, got, err)
		}
		if !strings.HasPrefix(norm, "/api") {
			t.Fatalf("%q reached the upstream as %q outside the API's base path", target, got)
		}
		want := strings.TrimPrefix(norm, "/api")
		if want == "" {
			want = "/"
		}
		if strings.Contains(target, "?") {
			want += "?" + query
		}
		if got != want {
			t.Fatalf("target %q: the upstream received %q, want %q (the matched path)", target, got, want)
		}
		if strings.HasPrefix(want, "/admin") && after[len(after)-1].Header.Get("X-Consumer") != "acme" {
			t.Fatalf("%q reached the admin route's upstream without its auth", target)
		}
	})
}

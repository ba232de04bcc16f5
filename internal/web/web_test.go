package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store/sqlite"
)

// TestSessionExpires: a session is gone once its time is up, and a
// session of another kind (the portal's, say) does not open this one's
// pages.
func TestSessionExpires(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &Sessions{Store: st, Kind: "console", Cookie: "c", Path: "/", TTL: 300 * time.Millisecond}
	rec := httptest.NewRecorder()
	if _, err := s.Start(rec, httptest.NewRequest("POST", "/", nil), "subject"); err != nil {
		t.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure {
		t.Fatalf("cookie flags %+v (plain HTTP: not Secure)", cookie)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(cookie)
	if sess, err := s.Get(req); err != nil || sess.Subject != "subject" || sess.CSRF == "" {
		t.Fatalf("fresh session: %+v %v", sess, err)
	}
	other := &Sessions{Store: st, Kind: "portal", Cookie: "c", Path: "/", TTL: time.Hour}
	if _, err := other.Get(req); !errors.Is(err, ErrNoSession) {
		t.Fatalf("a console session opened a portal page: %v", err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := s.Get(req); !errors.Is(err, ErrNoSession) {
		t.Fatalf("an expired session: %v", err)
	}
	// On TLS the cookie is Secure.
	rec = httptest.NewRecorder()
	tlsReq := httptest.NewRequest("POST", "https://example.com/", nil)
	if _, err := s.Start(rec, tlsReq, "subject"); err != nil {
		t.Fatal(err)
	}
	if c := rec.Result().Cookies()[0]; !c.Secure {
		t.Fatal("a session started over TLS has a cookie without Secure")
	}
}

func TestChartEscapes(t *testing.T) {
	now := time.Now()
	svg := string(LineChart(`<script>x</script>`, []time.Time{now, now.Add(time.Minute)}, "", Series{Name: `"><img src=x>`, Values: []float64{1, 2}}))
	if strings.Contains(svg, "<script>") || strings.Contains(svg, "<img") || !strings.Contains(svg, "&lt;script&gt;") || !strings.Contains(svg, "<polyline") {
		t.Fatalf("chart: %s", svg)
	}
	if empty := string(LineChart("t", nil, "")); !strings.HasPrefix(empty, "<svg") || strings.Contains(empty, "polyline") {
		t.Fatalf("empty chart: %s", empty)
	}
}

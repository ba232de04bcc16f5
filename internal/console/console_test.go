package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/console"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/telemetry"
)

const rootToken = "ptk_console-root-token-0123456789"

type site struct {
	t   *testing.T
	st  store.Store
	url string
	c   *http.Client
}

func newSite(t *testing.T) *site {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.EnsureGroup(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []store.Token{{Name: "root", Role: admin.RoleAdmin, Hash: admin.TokenHash(rootToken)},
		{Name: "viewer", Role: admin.RoleViewer, Hash: admin.TokenHash("ptk_viewer-token-0123456789")}} {
		if err := st.CreateToken(ctx, tok, store.AuditEntry{Actor: "test", Action: "token.create"}); err != nil {
			t.Fatal(err)
		}
	}
	api := &admin.API{Store: st, Notify: func() {}}
	ui := console.New(api, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(admin.Handler(telemetry.NewMetrics(), &ready, api, ui.Mount))
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &site{t: t, st: st, url: srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *site) do(method, path string, form url.Values, header ...string) (int, http.Header, string) {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, s.url+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (s *site) login(token string) {
	s.t.Helper()
	if code, h, _ := s.do("POST", "/ui/login", url.Values{"token": {token}}); code != 303 || h.Get("Location") != "/ui/" {
		s.t.Fatalf("sign-in: %d %v", code, h)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (s *site) csrf() string {
	s.t.Helper()
	_, _, body := s.do("GET", "/ui/groups/default/draft", nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		s.t.Fatalf("no CSRF token on the draft page")
	}
	return m[1]
}

// TestHeadersOnEveryPage: a CSP that forbids framing and scripts, and
// X-Frame-Options, on every console response, signed in or not.
func TestHeadersOnEveryPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	check := func(path string) {
		t.Helper()
		_, h, _ := s.do("GET", path, nil)
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: CSP %q, X-Frame-Options %q", path, csp, h.Get("X-Frame-Options"))
		}
	}
	pages := []string{"/ui/", "/ui/login", "/ui/groups/default", "/ui/groups/default/draft", "/ui/groups/default/revisions",
		"/ui/groups/default/revisions/1", "/ui/analytics", "/ui/audit", "/ui/consumers", "/ui/alerts", "/ui/subscriptions", "/ui/nowhere", "/ui/static/portico.css"}
	for _, p := range pages {
		check(p) // signed out: the sign-in page or a redirect to it
	}
	s.login(rootToken)
	for _, p := range pages {
		check(p)
	}
	if code, _, body := s.do("GET", "/ui/nowhere", nil); code != 404 || strings.Contains(body, "goroutine") || !strings.Contains(body, "no such page") {
		t.Errorf("unknown page: %d %q", code, body)
	}
}

// TestCSRF: every form refuses a request without the session's token or
// from another origin, and changes nothing.
func TestCSRF(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.login(rootToken)
	token := s.csrf()
	const doc = "version: 1\nupstreams:\n  - name: u\n    targets: [{url: \"http://127.0.0.1:9001\"}]\n"
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/ui/groups/default/draft", url.Values{"yaml": {doc}}},
		{"/ui/groups/default/publish", url.Values{"message": {"m"}}},
		{"/ui/groups/default/import", url.Values{"openapi": {"openapi: 3.0.0"}}},
		{"/ui/groups/default/revisions/1/rollback", url.Values{}},
		{"/ui/logout", url.Values{}},
	} {
		if code, _, _ := s.do("POST", c.path, c.form); code != 403 {
			t.Errorf("%s without a CSRF token: %d, want 403", c.path, code)
		}
		c.form.Set("csrf", "forged-"+token)
		if code, _, _ := s.do("POST", c.path, c.form); code != 403 {
			t.Errorf("%s with a wrong CSRF token: %d, want 403", c.path, code)
		}
		c.form.Set("csrf", token)
		if code, _, _ := s.do("POST", c.path, c.form, "Origin", "https://evil.example"); code != 403 {
			t.Errorf("%s from another origin: %d, want 403", c.path, code)
		}
	}
	revs, _ := s.st.Revisions(context.Background(), "default", 0, 10)
	d, _ := s.st.Draft(context.Background(), "default")
	if len(revs) != 0 || strings.Contains(string(d.Content), "upstreams") {
		t.Fatalf("refused forms changed something: %d revisions, draft %s", len(revs), d.Content)
	}
	// With the token, from this origin, the same form works.
	if code, h, _ := s.do("POST", "/ui/groups/default/draft", url.Values{"yaml": {doc}, "csrf": {token}}, "Origin", s.url); code != 303 || !strings.Contains(h.Get("Location"), "done=saved") {
		t.Fatalf("a proper form: %d %v", code, h)
	}
}

// TestSessions: sign-out revokes the session (its cookie opens nothing
// any more), revoking the token ends its sessions, and a consumer's token
// cannot sign in. The token never appears in a page.
func TestSessions(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	if code, _, body := s.do("POST", "/ui/login", url.Values{"token": {"ptk_wrong-secret-value"}}); code != 401 || strings.Contains(body, "ptk_wrong-secret-value") {
		t.Fatalf("a wrong token: %d, echoed: %v", code, strings.Contains(body, "ptk_wrong"))
	}
	s.login(rootToken)
	u, _ := url.Parse(s.url + "/ui/")
	cookies := s.c.Jar.Cookies(u)
	if len(cookies) != 1 || cookies[0].Value == "" || strings.Contains(cookies[0].Value, rootToken) {
		t.Fatalf("session cookie %v", cookies)
	}
	if _, _, body := s.do("GET", "/ui/", nil); strings.Contains(body, rootToken) {
		t.Fatal("the admin token appears in a page")
	}
	token := s.csrf()
	if code, h, _ := s.do("POST", "/ui/logout", url.Values{"csrf": {token}}); code != 303 || h.Get("Location") != "/ui/login" {
		t.Fatalf("sign-out: %d %v", code, h)
	}
	// The old cookie, replayed: signed out for good.
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, cookies)
	s.c.Jar = jar
	if code, h, _ := s.do("GET", "/ui/audit", nil); code != 303 || !strings.HasPrefix(h.Get("Location"), "/ui/login") {
		t.Fatalf("a signed-out session's cookie: %d %v", code, h)
	}

	// Revoking the token ends the session that used it.
	s.login("ptk_viewer-token-0123456789")
	if code, _, _ := s.do("GET", "/ui/audit", nil); code != 403 {
		t.Errorf("the audit log as a viewer: %d, want 403 (the API's own rule)", code)
	}
	if err := s.st.RevokeToken(context.Background(), "viewer", time.Now(), store.AuditEntry{Actor: "test", Action: "token.revoke"}); err != nil {
		t.Fatal(err)
	}
	if code, h, _ := s.do("GET", "/ui/", nil); code != 303 || !strings.HasPrefix(h.Get("Location"), "/ui/login") {
		t.Fatalf("a revoked token's session: %d %v", code, h)
	}
	// An open redirect is not offered.
	for _, next := range []string{"//evil.example/x", "https://evil.example", "/ui//evil.example", "/admin/v1/tokens"} {
		code, h, _ := s.do("POST", "/ui/login", url.Values{"token": {rootToken}, "next": {next}})
		if code != 303 || h.Get("Location") != "/ui/" {
			t.Errorf("next=%s: sent to %q", next, h.Get("Location"))
		}
	}
}

// TestEscapingAndBadInput: hostile text (a publish message, an audited
// request path, a draft with markup) is shown escaped; an invalid draft
// is shown again with line:column errors and nothing is stored.
func TestEscapingAndBadInput(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.login(rootToken)
	token := s.csrf()
	const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	doc := "version: 1\nupstreams:\n  - name: u\n    targets: [{url: \"http://127.0.0.1:9001\"}]\n# " + hostile + "\n"
	if code, _, _ := s.do("POST", "/ui/groups/default/draft", url.Values{"yaml": {doc}, "csrf": {token}}); code != 303 {
		t.Fatalf("save: %d", code)
	}
	if code, _, body := s.do("POST", "/ui/groups/default/publish", url.Values{"message": {hostile}, "csrf": {token}}); code != 303 {
		t.Fatalf("publish: %d %s", code, body)
	}
	// A refused admin API call whose path carries markup lands in the audit log.
	req, _ := http.NewRequest("GET", s.url+"/admin/v1/groups/"+url.PathEscape(hostile), nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	for _, p := range []string{"/ui/groups/default/revisions", "/ui/groups/default/revisions/1", "/ui/groups/default/draft", "/ui/audit"} {
		_, _, body := s.do("GET", p, nil)
		if strings.Contains(body, "<script>") || strings.Contains(body, "<img") {
			t.Errorf("%s renders markup from data", p)
		}
	}
	_, _, body := s.do("GET", "/ui/groups/default/revisions", nil)
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the message is not shown (escaped) in the history")
	}

	// Bad input: an invalid draft comes back with its errors, unsaved.
	before, _ := s.st.Draft(context.Background(), "default")
	bad := "version: 1\napis:\n  - name: x\n    base_path: nope\n    upstream: missing\n"
	code, _, body := s.do("POST", "/ui/groups/default/draft", url.Values{"yaml": {bad}, "csrf": {token}})
	if code != 422 || !strings.Contains(body, "line 4, column") || !strings.Contains(body, "base_path: nope") {
		t.Fatalf("an invalid draft: %d %s", code, body)
	}
	after, _ := s.st.Draft(context.Background(), "default")
	if after.Version != before.Version {
		t.Fatal("an invalid draft changed the stored one")
	}
	// A malformed OpenAPI document: an inline message, the draft unchanged.
	code, _, body = s.do("POST", "/ui/groups/default/import", url.Values{"openapi": {"not: [openapi"}, "csrf": {token}})
	if code/100 != 4 || !strings.Contains(body, "Import:") || !strings.Contains(body, "not: [openapi") {
		t.Fatalf("a malformed OpenAPI document: %d %s", code, body)
	}
	if d, _ := s.st.Draft(context.Background(), "default"); d.Version != before.Version {
		t.Fatal("a failed import changed the draft")
	}
	// A rollback to a revision that does not exist: a message, nothing new.
	if code, _, _ := s.do("POST", "/ui/groups/default/revisions/99/rollback", url.Values{"csrf": {token}}); code != 404 {
		t.Errorf("rollback to 99: %d", code)
	}
}

var keyRE = regexp.MustCompile(`<code id="new-key">(pk_[0-9a-f]+)</code>`)

// TestConsumersAndKeys: a consumer is created from the form, a key's
// secret appears on the answer to its creation and never again (not in a
// listing, not in the log), it works as a key, and revoking it from the
// page ends it. Bad input gets an inline message.
func TestConsumersAndKeys(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.login(rootToken)
	token := s.csrf()
	if code, h, _ := s.do("POST", "/ui/consumers", url.Values{"name": {"acme"}, "groups": {"partners, beta"}, "csrf": {token}}); code != 303 || !strings.Contains(h.Get("Location"), "done=consumer") {
		t.Fatalf("create consumer: %d %v", code, h)
	}
	code, _, body := s.do("POST", "/ui/consumers", url.Values{"name": {"bad name!"}, "csrf": {token}})
	if code != 422 || !strings.Contains(body, "class=\"error\"") || !strings.Contains(body, "bad name!") {
		t.Fatalf("an invalid name: %d %s", code, body)
	}
	code, h, body := s.do("POST", "/ui/consumers/acme/keys", url.Values{"csrf": {token}})
	m := keyRE.FindStringSubmatch(body)
	if code != 201 || m == nil || !strings.Contains(h.Get("Cache-Control"), "no-store") {
		t.Fatalf("new key: %d %s", code, body)
	}
	secret := m[1]
	keys, _, err := s.st.ActiveKeys(context.Background(), time.Now())
	if err != nil || len(keys) != 1 || keys[0].Hash != admin.TokenHash(secret) {
		t.Fatalf("the stored key does not match the one shown: %v %v", keys, err)
	}
	_, _, body = s.do("GET", "/ui/consumers", nil)
	if strings.Contains(body, secret) || !strings.Contains(body, keys[0].ID) || !strings.Contains(body, "partners, beta") {
		t.Fatalf("the listing shows the secret, or lacks the key's id or the groups")
	}
	if code, h, _ := s.do("POST", "/ui/consumers/acme/keys/"+keys[0].ID+"/revoke", url.Values{"csrf": {token}}); code != 303 || !strings.Contains(h.Get("Location"), "done=revoked") {
		t.Fatalf("revoke: %d %v", code, h)
	}
	if keys, _, _ := s.st.ActiveKeys(context.Background(), time.Now()); len(keys) != 0 {
		t.Fatalf("the revoked key is still active")
	}
	if code, _, _ := s.do("POST", "/ui/consumers/nobody/keys", url.Values{"csrf": {token}}); code != 404 {
		t.Errorf("a key for an unknown consumer: %d", code)
	}
}

// TestAlertsPage shows the rules of the live revision and their history.
func TestAlertsPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.login(rootToken)
	token := s.csrf()
	doc := `version: 1
upstreams:
  - name: u
    targets: [{url: "http://127.0.0.1:9001"}]
apis:
  - name: shop
    base_path: /shop
    upstream: u
    auth: [none]
    routes: [{name: all, path: "/{rest...}"}]
alerts:
  - name: shop-errors
    api: shop
    when: {metric: error_rate, above: 0.2, for: 30s}
    notify: [{webhook: "https://hooks.example.com/x", secret: s}]
`
	s.do("POST", "/ui/groups/default/draft", url.Values{"yaml": {doc}, "csrf": {token}})
	if code, _, body := s.do("POST", "/ui/groups/default/publish", url.Values{"message": {"alerts"}, "csrf": {token}}); code != 303 {
		t.Fatalf("publish: %d %s", code, body)
	}
	if _, _, err := s.st.AlertTransition(context.Background(), store.AlertOK, store.AlertEvent{Group: "default", Rule: "shop-errors",
		State: store.AlertFiring, Metric: "error_rate", Value: 0.5, Threshold: 0.2, At: time.Now(), Node: "n1", Delivery: "delivered"}); err != nil {
		t.Fatal(err)
	}
	_, _, body := s.do("GET", "/ui/alerts", nil)
	if !strings.Contains(body, "shop-errors") || !strings.Contains(body, "error_rate above 0.2") || strings.Count(body, ">firing<") != 2 || !strings.Contains(body, "delivered") {
		t.Fatalf("alerts page: %s", body)
	}
}

// TestSubscriptionsPage: a pending subscription is listed and approved
// from the page; the application's consumer gets the plan.
func TestSubscriptionsPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := s.st.CreateDeveloper(ctx, store.Developer{ID: "dev_1", Email: "ada@example.com", Name: "Ada", PasswordHash: "x", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.st.CreateApp(ctx, store.App{ID: "app_1", DeveloperID: "dev_1", Name: "<b>Shop</b>", CreatedAt: now},
		store.Consumer{Name: "app_1", CreatedBy: "developer:ada@example.com"}, store.AuditEntry{Actor: "developer:ada@example.com", Action: "app.create"}); err != nil {
		t.Fatal(err)
	}
	if err := s.st.Subscribe(ctx, store.Subscription{AppID: "app_1", Group: "default", API: "orders", Plan: "gold", State: store.SubscriptionPending, CreatedAt: now},
		store.AuditEntry{Actor: "developer:ada@example.com", Action: "subscription.pending"}); err != nil {
		t.Fatal(err)
	}
	s.login(rootToken)
	_, _, body := s.do("GET", "/ui/subscriptions", nil)
	if !strings.Contains(body, "ada@example.com") || !strings.Contains(body, "&lt;b&gt;Shop&lt;/b&gt;") || !strings.Contains(body, ">pending<") {
		t.Fatalf("subscriptions page: %s", body)
	}
	if code, h, _ := s.do("POST", "/ui/subscriptions/app_1/orders/approve", url.Values{"csrf": {s.csrf()}}); code != 303 || !strings.Contains(h.Get("Location"), "done=approved") {
		t.Fatalf("approve: %d %v", code, h)
	}
	cs, _ := s.st.Consumers(ctx)
	if len(cs) != 1 || cs[0].Plan != "gold" {
		t.Fatalf("after approval: %+v", cs)
	}
}

// TestEntityAndGovernancePages: one entity of the draft is edited as YAML
// (an invalid one comes back with its errors and nothing changes; one the
// draft needs cannot be deleted), and the group's governance settings are
// shown and saved.
func TestEntityAndGovernancePages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.login(rootToken)
	token := s.csrf()
	doc := "version: 1\nupstreams:\n  - name: u\n    targets: [{url: \"http://127.0.0.1:9001\"}]\napis:\n  - name: shop\n    base_path: /shop\n    upstream: u\n    auth: [none]\n    routes: [{name: all, path: \"/{rest...}\"}]\n"
	if code, _, _ := s.do("POST", "/ui/groups/default/draft", url.Values{"yaml": {doc}, "csrf": {token}}); code != 303 {
		t.Fatalf("save: %d", code)
	}
	_, _, body := s.do("GET", "/ui/groups/default/draft/upstreams/u", nil)
	if !strings.Contains(body, "name: u") || !strings.Contains(body, "http://127.0.0.1:9001") {
		t.Fatalf("upstream page: %s", body)
	}
	before, _ := s.st.Draft(context.Background(), "default")
	code, _, body := s.do("POST", "/ui/groups/default/draft/upstreams/u", url.Values{"yaml": {"name: u\ntargets: []\n"}, "csrf": {token}})
	if code != 422 || !strings.Contains(body, "targets") {
		t.Fatalf("an invalid upstream: %d %s", code, body)
	}
	code, _, body = s.do("POST", "/ui/groups/default/draft/upstreams/u", url.Values{"yaml": {"name: u\n"}, "delete": {"yes"}, "csrf": {token}})
	if code != 422 || !strings.Contains(body, "no upstream is named") {
		t.Fatalf("deleting an upstream the API uses: %d %s", code, body)
	}
	if after, _ := s.st.Draft(context.Background(), "default"); after.Version != before.Version {
		t.Fatal("refused entity changes changed the draft")
	}
	if code, h, _ := s.do("POST", "/ui/groups/default/draft/upstreams/u", url.Values{"yaml": {"name: u\ntargets: [{url: \"http://127.0.0.1:9002\"}]\n"}, "csrf": {token}}); code != 303 || !strings.Contains(h.Get("Location"), "done=saved") {
		t.Fatalf("a valid upstream: %d %v", code, h)
	}
	if d, _ := s.st.Draft(context.Background(), "default"); !strings.Contains(string(d.Content), "9002") {
		t.Fatal("the change is not in the draft")
	}

	settings := `{"governance":{"rules":{"upstream_https":{"allow_http":["localhost"]}},"exceptions":[{"rule":"upstream_https","api":"shop","reason":"local tests","expires":"2099-01-01T00:00:00Z"}]}}`
	if code, h, body := s.do("POST", "/ui/groups/default/governance", url.Values{"settings": {settings}, "csrf": {token}}); code != 303 {
		t.Fatalf("save settings: %d %v %s", code, h, body)
	}
	_, _, body = s.do("GET", "/ui/groups/default/governance", nil)
	if !strings.Contains(body, "upstream_https") || !strings.Contains(body, "local tests") || !strings.Contains(body, "in force") {
		t.Fatalf("governance page: %s", body)
	}
	if code, _, body := s.do("POST", "/ui/groups/default/governance", url.Values{"settings": {`{"governance":{"exceptions":[{"rule":"upstream_https"}]}}`}, "csrf": {token}}); code/100 != 4 || !strings.Contains(body, `class="error"`) {
		t.Fatalf("an exception without a reason or expiry: %d", code)
	}
}

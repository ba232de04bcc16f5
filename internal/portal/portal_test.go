package portal_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/portal"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/usage"
)

const portalYAML = `version: 1
upstreams:
  - name: u
    targets: [{url: "http://127.0.0.1:9001"}]
plans:
  - name: free
    quota: {limit: 100, period: month}
    pricing: {currency: USD, included: 2, tiers: [{price: 0.5}]}
apis:
  - name: orders
    base_path: /orders
    upstream: u
    auth: [api_key]
    portal:
      visibility: public
      title: Orders <script>alert(1)</script> API
      description: "Track **orders**. <script>alert(2)</script> [x](javascript:alert(3))"
      plans: [free]
      openapi_document: |
        openapi: 3.0.3
        info: {title: Orders, version: "1"}
        paths:
          /orders/{id}:
            get:
              operationId: get-order
              summary: One order
              parameters: [{name: id, in: path, required: true, schema: {type: string}}]
              responses:
                "200":
                  description: The order
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [id]
                        properties:
                          id: {type: string, example: ord_42}
                          total: {type: number}
    routes: [{name: get-order, methods: [GET], path: "/{id}"}]
  - name: internal
    base_path: /internal
    upstream: u
    auth: [api_key]
    portal: {visibility: signed_in, title: Internal}
    routes: [{name: all, path: "/{rest...}"}]
  - name: secret
    base_path: /secret
    upstream: u
    auth: [api_key]
    routes: [{name: all, path: "/{rest...}"}]
`

// mails keeps the portal's emails.
type mails struct {
	mu   sync.Mutex
	sent []string
}

func (m *mails) Send(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, to+"\n"+body)
	return nil
}

var linkRE = regexp.MustCompile(`/verify\?token=[A-Za-z0-9%_-]+`)

func (m *mails) link(t *testing.T, to string) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.sent) - 1; i >= 0; i-- {
		if strings.HasPrefix(m.sent[i], to+"\n") {
			return linkRE.FindString(m.sent[i])
		}
	}
	t.Fatalf("no email to %s", to)
	return ""
}

type site struct {
	t    *testing.T
	st   store.Store
	url  string
	mail *mails
	logs *strings.Builder
}

func newSite(t *testing.T) *site {
	t.Helper()
	return newSiteWith(t, "")
}

// newSiteWith is newSite with the gateway's address for try-it calls.
func newSiteWith(t *testing.T, sandboxURL string) *site {
	t.Helper()
	return newSiteFrom(t, portalYAML, sandboxURL)
}

// newSiteFrom is newSiteWith with a config of its own.
func newSiteFrom(t *testing.T, yaml, sandboxURL string) *site {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, err := config.Parse("portal.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	m := &mails{}
	p := portal.New(portal.Options{Store: st, Group: "default", Config: func() *config.Config { return f.Config }, Mailer: m, SandboxURL: sandboxURL,
		Log: slog.New(slog.NewJSONHandler(&syncWriter{b: logs}, nil))})
	t.Cleanup(p.Close)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return &site{t: t, st: st, url: srv.URL, mail: m, logs: logs}
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// browser is one visitor with its cookies.
type browser struct {
	s *site
	c *http.Client
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (int, http.Header, string) {
	b.s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.s.url+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) csrf() string {
	b.s.t.Helper()
	_, _, body := b.do("GET", "/apps", nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.s.t.Fatalf("no CSRF token on /apps: %s", body)
	}
	return m[1]
}

// signUp signs a developer up, verifies and signs in.
func (b *browser) signUp(email, password string) {
	t := b.s.t
	t.Helper()
	if code, h, _ := b.do("POST", "/signup", url.Values{"email": {email}, "name": {"Dev " + email}, "password": {password}}); code != 303 || !strings.Contains(h.Get("Location"), "signedup") {
		t.Fatalf("sign-up: %d %v", code, h)
	}
	if code, _, body := b.do("POST", "/signin", url.Values{"email": {email}, "password": {password}}); code != 403 || !strings.Contains(body, "Verify your email") {
		t.Fatalf("sign-in before verifying: %d", code)
	}
	b.verify(email, password, b.s.mail.link(t, email))
	if code, h, _ := b.s.browser().do("POST", "/signin", url.Values{"email": {email}, "password": {password}}); code != 303 || h.Get("Location") != "/apps" {
		t.Fatalf("sign-in: %d %v", code, h)
	}
}

// verify opens a verification link — a sign-in form that carries its
// token — and signs in there with password.
func (b *browser) verify(email, password, link string) {
	t := b.s.t
	t.Helper()
	if code, h, body := b.do("GET", link, nil); code != 200 || !strings.Contains(body, `name="token"`) {
		t.Fatalf("open the verification link: %d %v", code, h)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	token := u.Query().Get("token")
	if code, h, _ := b.do("POST", "/signin", url.Values{"email": {email}, "password": {password}, "token": {token}}); code != 303 || h.Get("Location") != "/apps?done=verified" {
		t.Fatalf("verify: %d %v", code, h)
	}
}

var keyRE = regexp.MustCompile(`<code id="new-key">(pk_[0-9a-f]+)</code>`)
var appRE = regexp.MustCompile(`action="/apps/(app_[0-9a-f]+)/keys"`)

// TestDeveloperJourney: sign up, verify, sign in, create an application
// and a key (shown once), subscribe under a plan, and see the
// application's usage, quota and statement.
func TestDeveloperJourney(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := s.browser()
	const password = "correct horse battery staple"
	b.signUp("ada@example.com", password)
	token := b.csrf()
	if code, _, _ := b.do("POST", "/apps", url.Values{"name": {"Shop"}, "csrf": {token}}); code != 303 {
		t.Fatalf("create app: %d", code)
	}
	_, _, body := b.do("GET", "/apps", nil)
	app := appRE.FindStringSubmatch(body)
	if app == nil {
		t.Fatalf("no application on /apps: %s", body)
	}
	code, h, body := b.do("POST", "/apps/"+app[1]+"/keys", url.Values{"csrf": {token}})
	key := keyRE.FindStringSubmatch(body)
	if code != 201 || key == nil || !strings.Contains(h.Get("Cache-Control"), "no-store") {
		t.Fatalf("create key: %d %s", code, body)
	}
	keys, _, _ := s.st.ActiveKeys(context.Background(), time.Now())
	if len(keys) != 1 || keys[0].Consumer != app[1] {
		t.Fatalf("active keys %+v", keys)
	}
	if _, _, body := b.do("GET", "/apps", nil); strings.Contains(body, key[1]) {
		t.Fatal("the key's secret appears again after its creation")
	}
	if code, h, _ := b.do("POST", "/apps/"+app[1]+"/subscriptions", url.Values{"api": {"orders"}, "csrf": {token}}); code != 303 || !strings.Contains(h.Get("Location"), "subscribed") {
		t.Fatalf("subscribe: %d %v", code, h)
	}
	cs, _ := s.st.Consumers(context.Background())
	if len(cs) != 1 || cs[0].Plan != "free" {
		t.Fatalf("the subscription did not set the plan: %+v", cs)
	}
	// Five calls recorded for the app's consumer, one for someone else.
	now := time.Now().UTC()
	var recs []store.UsageRecord
	for i := range 6 {
		c := app[1]
		if i == 5 {
			c = "someone-else"
		}
		recs = append(recs, store.UsageRecord{Time: now, API: "orders", Route: "get-order", Consumer: c, Status: 200, Latency: time.Millisecond})
	}
	if _, err := s.st.WriteUsage(context.Background(), store.UsageBatch{ID: "b1", Group: "default", Node: "n", Records: recs, Rollups: usage.Rollups(recs)}); err != nil {
		t.Fatal(err)
	}
	_, _, body = b.do("GET", "/usage", nil)
	// 5 requests, 2 included, 3 × 0.5 = 1.50 USD; 95 of 100 left this month.
	for _, want := range []string{`<div class="value">5</div><div class="label">requests, last 24 hours`, "1.50 USD", `<div class="value">95</div>`} {
		if !strings.Contains(body, want) {
			t.Errorf("usage page lacks %q", want)
		}
	}
	if strings.Contains(s.logs.String(), password) || strings.Contains(s.logs.String(), key[1]) {
		t.Error("a password or key reached the log")
	}
}

// TestDevelopersAreIsolated: one developer can neither see nor touch
// another's applications, keys or usage.
func TestDevelopersAreIsolated(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ada, bob := s.browser(), s.browser()
	ada.signUp("ada@example.com", "ada's long password")
	bob.signUp("bob@example.com", "bob's long password")
	ta, tb := ada.csrf(), bob.csrf()
	ada.do("POST", "/apps", url.Values{"name": {"Ada's app"}, "csrf": {ta}})
	_, _, body := ada.do("GET", "/apps", nil)
	app := appRE.FindStringSubmatch(body)[1]
	ada.do("POST", "/apps/"+app+"/keys", url.Values{"csrf": {ta}})
	keys, _, _ := s.st.ActiveKeys(context.Background(), time.Now())
	for _, c := range []struct{ method, path string }{
		{"POST", "/apps/" + app + "/keys"},
		{"POST", "/apps/" + app + "/keys/" + keys[0].ID + "/revoke"},
		{"POST", "/apps/" + app + "/subscriptions"},
	} {
		if code, _, _ := bob.do(c.method, c.path, url.Values{"csrf": {tb}, "api": {"orders"}}); code != 404 {
			t.Errorf("bob %s %s: %d, want 404", c.method, c.path, code)
		}
	}
	if keys2, _, _ := s.st.ActiveKeys(context.Background(), time.Now()); len(keys2) != 1 {
		t.Fatalf("bob changed ada's keys: %d active", len(keys2))
	}
	for _, p := range []string{"/apps", "/usage"} {
		if _, _, body := bob.do("GET", p, nil); strings.Contains(body, app) || strings.Contains(body, "Ada's app") {
			t.Errorf("bob's %s shows ada's application", p)
		}
	}
	// CSRF: ada's own form without her token, or with bob's, is refused.
	for _, tok := range []string{"", tb} {
		if code, _, _ := ada.do("POST", "/apps", url.Values{"name": {"x"}, "csrf": {tok}}); code != 403 {
			t.Errorf("a form with CSRF token %q: %d", tok, code)
		}
	}
	// Signing out ends the session.
	if code, _, _ := ada.do("POST", "/signout", url.Values{"csrf": {ta}}); code != 303 {
		t.Fatalf("sign-out: %d", code)
	}
	if code, h, _ := ada.do("GET", "/apps", nil); code != 303 || h.Get("Location") != "/signin" {
		t.Fatalf("after sign-out: %d %v", code, h)
	}
}

// TestCatalogAndReference: visibility, escaping of hostile titles and
// descriptions, the reference's operations and generated examples, and
// the security headers on every page.
func TestCatalogAndReference(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	anon := s.browser()
	_, h, body := anon.do("GET", "/apis", nil)
	if !strings.Contains(body, "/apis/orders") || strings.Contains(body, "/apis/internal") || strings.Contains(body, "/apis/secret") {
		t.Fatalf("anonymous catalog: %s", body)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "javascript:") || !strings.Contains(body, "<strong>orders</strong>") {
		t.Fatalf("the catalog renders hostile markup, or not the Markdown: %s", body)
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers: %v", h)
	}
	code, _, body := anon.do("GET", "/apis/orders", nil)
	if code != 200 || !strings.Contains(body, "/orders/{id}") || !strings.Contains(body, "One order") || !strings.Contains(body, `&#34;id&#34;: &#34;ord_42&#34;`) {
		t.Fatalf("reference: %d %s", code, body)
	}
	for _, p := range []string{"/apis/internal", "/apis/secret", "/apis/nope"} {
		if code, _, _ := anon.do("GET", p, nil); code != 404 {
			t.Errorf("%s for an anonymous visitor: %d", p, code)
		}
	}
	dev := s.browser()
	dev.signUp("cy@example.com", "cy's long password!")
	if _, _, body := dev.do("GET", "/apis", nil); !strings.Contains(body, "/apis/internal") || strings.Contains(body, "/apis/secret") {
		t.Errorf("signed-in catalog: %s", body)
	}
	for _, p := range []string{"/", "/apis", "/apis/orders", "/signin", "/signup", "/apps", "/usage", "/nope", "/static/portico.css"} {
		_, h, _ := dev.do("GET", p, nil)
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
}

// TestBadInput: every form answers bad input with a message and changes
// nothing; failed sign-ins are limited; a sign-up for a taken address
// looks the same as a new one.
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := s.browser()
	for _, f := range []url.Values{
		{"email": {"not-an-email"}, "name": {"x"}, "password": {"long enough password"}},
		{"email": {"a@example.com"}, "name": {""}, "password": {"long enough password"}},
		{"email": {"a@example.com"}, "name": {"x"}, "password": {"short"}},
	} {
		if code, _, body := b.do("POST", "/signup", f); code != 422 || !strings.Contains(body, `class="error"`) {
			t.Errorf("sign-up %v: %d", f, code)
		}
	}
	if _, err := s.st.DeveloperByEmail(context.Background(), "a@example.com"); err == nil {
		t.Fatal("an invalid sign-up created a developer")
	}
	b.signUp("dup@example.com", "first long password")
	c := s.browser()
	if code, h, _ := c.do("POST", "/signup", url.Values{"email": {"dup@example.com"}, "name": {"x"}, "password": {"another long password"}}); code != 303 || !strings.Contains(h.Get("Location"), "signedup") {
		t.Errorf("a taken address: %d %v", code, h)
	}
	if code, _, _ := c.do("POST", "/signin", url.Values{"email": {"dup@example.com"}, "password": {"another long password"}}); code != 401 {
		t.Errorf("the second sign-up took over the account: %d", code)
	}
	token := b.csrf()
	if code, _, body := b.do("POST", "/apps", url.Values{"name": {""}, "csrf": {token}}); code != 422 || !strings.Contains(body, "Give the application a name") {
		t.Errorf("an app without a name: %d", code)
	}
	limited := false
	for range 12 {
		code, _, _ := c.do("POST", "/signin", url.Values{"email": {"dup@example.com"}, "password": {"wrong password here"}})
		if code == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("failed sign-ins were never limited")
	}
	if code, _, _ := c.do("GET", "/verify", nil); code != 400 {
		t.Errorf("a verification link without its token: %d", code)
	}
}

// TestEveryFormWantsCSRF: each state-changing form of a signed-in
// developer refuses a request without the session's token, or from
// another origin, and changes nothing.
func TestEveryFormWantsCSRF(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := s.browser()
	b.signUp("ada@example.com", "ada's long password")
	token := b.csrf()
	b.do("POST", "/apps", url.Values{"name": {"App"}, "csrf": {token}})
	_, _, body := b.do("GET", "/apps", nil)
	app := appRE.FindStringSubmatch(body)[1]
	b.do("POST", "/apps/"+app+"/keys", url.Values{"csrf": {token}})
	keys, _, _ := s.st.ActiveKeys(context.Background(), time.Now())
	forms := []struct {
		path string
		form url.Values
	}{
		{"/apps", url.Values{"name": {"Another"}}},
		{"/apps/" + app + "/keys", url.Values{}},
		{"/apps/" + app + "/keys/" + keys[0].ID + "/revoke", url.Values{}},
		{"/apps/" + app + "/subscriptions", url.Values{"api": {"orders"}}},
		{"/apis/orders/try", url.Values{"op": {"0"}}},
		{"/signout", url.Values{}},
	}
	for _, f := range forms {
		if code, _, _ := b.do("POST", f.path, f.form); code != 403 {
			t.Errorf("%s without a CSRF token: %d", f.path, code)
		}
		f.form.Set("csrf", token)
		req, _ := http.NewRequest("POST", s.url+f.path, strings.NewReader(f.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("%s from another origin: %d", f.path, resp.StatusCode)
		}
	}
	dev, _ := s.st.DeveloperByEmail(context.Background(), "ada@example.com")
	apps, _ := s.st.Apps(context.Background(), dev.ID)
	keys2, _, _ := s.st.ActiveKeys(context.Background(), time.Now())
	subs, _ := s.st.Subscriptions(context.Background(), "default", "")
	if len(keys2) != 1 || len(subs) != 0 || len(apps) != 1 {
		t.Fatalf("refused forms changed something: %d apps, %d keys, %d subscriptions", len(apps), len(keys2), len(subs))
	}
	// Sign-in and sign-up forms from another origin are refused too.
	for _, p := range []string{"/signin", "/signup"} {
		req, _ := http.NewRequest("POST", s.url+p, strings.NewReader("email=x%40example.com&password=whatever+long+enough"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := s.browser().c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("%s from another origin: %d", p, resp.StatusCode)
		}
	}
}

// TestTryItStaysInTheSandbox: parameter values cannot make the try-it
// console call anything but the API's sandbox: a dot segment is refused,
// and anything else reaches the sandbox escaped.
func TestTryItStaysInTheSandbox(t *testing.T) {
	t.Parallel()
	var paths []string
	var mu sync.Mutex
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		mu.Unlock()
	}))
	defer gw.Close()
	s := newSiteWith(t, gw.URL)
	b := s.browser()
	b.signUp("ada@example.com", "ada's long password")
	token := b.csrf()
	for _, v := range []string{"..", ".", "a/b", "../../admin"} {
		if code, _, body := b.do("POST", "/apis/orders/try", url.Values{"op": {"0"}, "path.id": {v}, "csrf": {token}}); code != 400 || !strings.Contains(body, "leave the API") {
			t.Errorf("id=%q: %d", v, code)
		}
	}
	// Encoded tricks are either refused or sent escaped, inside the sandbox.
	for _, v := range []string{"%2e%2e", "%2F..", "%2e"} {
		if code, _, _ := b.do("POST", "/apis/orders/try", url.Values{"op": {"0"}, "path.id": {v}, "csrf": {token}}); code != 200 && code != 400 {
			t.Errorf("id=%q: %d", v, code)
		}
	}
	if code, _, _ := b.do("POST", "/apis/orders/try", url.Values{"op": {"0"}, "path.id": {"7"}, "csrf": {token}}); code != 200 {
		t.Errorf("id=7: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[len(paths)-1] != "/sandbox/orders/orders/7" {
		t.Fatalf("calls %v", paths)
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/sandbox/orders/orders/") || strings.Count(p, "/") != 4 {
			t.Errorf("the console called %q", p)
		}
	}
}

// TestGuessingStopsAtTheLimit: past ten failed sign-ins from an address,
// no password is checked — the right one included — so guessing cannot
// go on and tell a right guess by its answer.
func TestGuessingStopsAtTheLimit(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	const password = "the right password here"
	s.browser().signUp("victim@example.com", password)
	// Signing in with the right password does not use the budget up.
	for range 15 {
		if code, _, _ := s.browser().do("POST", "/signin", url.Values{"email": {"victim@example.com"}, "password": {password}}); code != 303 {
			t.Fatalf("right passwords were limited: %d", code)
		}
	}
	c := s.browser()
	for i := range 10 {
		if code, _, _ := c.do("POST", "/signin", url.Values{"email": {"victim@example.com"}, "password": {fmt.Sprintf("guess number %d", i)}}); code != 401 {
			t.Fatalf("guess %d: %d, want 401", i, code)
		}
	}
	if code, h, _ := c.do("POST", "/signin", url.Values{"email": {"victim@example.com"}, "password": {password}}); code != 429 {
		t.Fatalf("the right password after ten wrong ones: %d %v, want 429", code, h)
	}
}

// TestSelfServiceIsBounded: sign-ups per address, applications per
// developer and keys per application have limits, and what they refuse
// creates nothing.
func TestSelfServiceIsBounded(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := s.browser()
	b.signUp("dev0@example.com", "long enough password")
	// Ten sign-ups in a burst from one address, the helper's included.
	for i := 1; i < 10; i++ {
		if code, _, _ := s.browser().do("POST", "/signup", url.Values{"email": {fmt.Sprintf("dev%d@example.com", i)}, "name": {"x"}, "password": {"long enough password"}}); code != 303 {
			t.Fatalf("sign-up %d: %d", i, code)
		}
	}
	if code, _, body := s.browser().do("POST", "/signup", url.Values{"email": {"dev10@example.com"}, "name": {"x"}, "password": {"long enough password"}}); code != 429 || !strings.Contains(body, "Too many sign-ups") {
		t.Fatalf("the eleventh sign-up: %d", code)
	}
	if _, err := s.st.DeveloperByEmail(context.Background(), "dev10@example.com"); err == nil {
		t.Fatal("a refused sign-up created a developer")
	}

	token := b.csrf()
	for i := range portal.MaxApps {
		if code, _, _ := b.do("POST", "/apps", url.Values{"name": {fmt.Sprintf("app %d", i)}, "csrf": {token}}); code != 303 {
			t.Fatalf("application %d: %d", i, code)
		}
	}
	if code, _, body := b.do("POST", "/apps", url.Values{"name": {"one too many"}, "csrf": {token}}); code != 422 || !strings.Contains(body, "the most a developer may have") {
		t.Fatalf("application %d: %d", portal.MaxApps+1, code)
	}
	d, _ := s.st.DeveloperByEmail(context.Background(), "dev0@example.com")
	if apps, _ := s.st.Apps(context.Background(), d.ID); len(apps) != portal.MaxApps {
		t.Fatalf("%d applications stored, want %d", len(apps), portal.MaxApps)
	}

	_, _, body := b.do("GET", "/apps", nil)
	app := appRE.FindStringSubmatch(body)[1]
	for i := range portal.MaxKeys {
		if code, _, _ := b.do("POST", "/apps/"+app+"/keys", url.Values{"csrf": {token}}); code != 201 {
			t.Fatalf("key %d: %d", i, code)
		}
	}
	if code, _, body := b.do("POST", "/apps/"+app+"/keys", url.Values{"csrf": {token}}); code != 422 || !strings.Contains(body, "revoke one first") {
		t.Fatalf("key %d: %d", portal.MaxKeys+1, code)
	}
	keys, _ := s.st.Keys(context.Background(), app)
	if len(keys) != portal.MaxKeys {
		t.Fatalf("%d keys stored, want %d", len(keys), portal.MaxKeys)
	}
	if code, _, _ := b.do("POST", "/apps/"+app+"/keys/"+keys[0].ID+"/revoke", url.Values{"csrf": {token}}); code != 303 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _, _ := b.do("POST", "/apps/"+app+"/keys", url.Values{"csrf": {token}}); code != 201 {
		t.Fatalf("a key after revoking one: %d", code)
	}
}

// TestLatestSignupCounts: an unverified sign-up cannot hold an address —
// the owner's later sign-up replaces it — and a link verifies nothing
// without the password of the sign-up that sent it, so whoever signs up
// last cannot get the account through the owner's click.
func TestLatestSignupCounts(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	signup := func(email, pw string) string {
		t.Helper()
		if code, h, _ := s.browser().do("POST", "/signup", url.Values{"email": {email}, "name": {"x"}, "password": {pw}}); code != 303 || !strings.Contains(h.Get("Location"), "signedup") {
			t.Fatalf("sign-up: %d %v", code, h)
		}
		return s.mail.link(t, email)
	}
	signin := func(email, pw, link string) int {
		t.Helper()
		f := url.Values{"email": {email}, "password": {pw}}
		if link != "" {
			u, _ := url.Parse(link)
			f.Set("token", u.Query().Get("token"))
		}
		code, _, _ := s.browser().do("POST", "/signin", f)
		return code
	}
	verified := func(email string) bool {
		d, err := s.st.DeveloperByEmail(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		return !d.VerifiedAt.IsZero()
	}

	// Someone signs the owner's address up first; the owner's own sign-up
	// later replaces it, and the first link no longer verifies.
	squat := signup("owner@example.com", "the squatter's password")
	own := signup("owner@example.com", "the owner's own password")
	if code := signin("owner@example.com", "the owner's own password", squat); code != 404 {
		t.Fatalf("the replaced sign-up's link: %d, want 404", code)
	}
	if code := signin("owner@example.com", "the squatter's password", own); code != 401 {
		t.Fatalf("the replaced password: %d, want 401", code)
	}
	if code := signin("owner@example.com", "the owner's own password", own); code != 303 || !verified("owner@example.com") {
		t.Fatalf("the owner's link and password: %d", code)
	}
	if code := signin("owner@example.com", "the squatter's password", ""); code != 401 {
		t.Fatalf("the squatter after the owner verified: %d", code)
	}

	// The other way round: someone signs up after the owner, before the
	// owner clicks. Opening the newest link verifies nothing; signing in
	// there with the owner's password fails, and the owner signs up again.
	signup("second@example.com", "the owner's own password")
	late := signup("second@example.com", "the late password")
	if code, _, _ := s.browser().do("GET", late, nil); code != 200 || verified("second@example.com") {
		t.Fatalf("opening a link: %d, verified %v", code, verified("second@example.com"))
	}
	if code := signin("second@example.com", "the owner's own password", late); code != 401 || verified("second@example.com") {
		t.Fatalf("the owner's password on the late sign-up's link: %d", code)
	}
	again := signup("second@example.com", "the owner's own password")
	if code := signin("second@example.com", "the owner's own password", again); code != 303 || !verified("second@example.com") {
		t.Fatalf("the owner signing up again: %d", code)
	}
	if code := signin("second@example.com", "the late password", ""); code != 401 {
		t.Fatalf("the late password: %d", code)
	}
	// A made-up token verifies nothing.
	signup("third@example.com", "a password for three")
	if code := signin("third@example.com", "a password for three", "/verify?token=forged"); code != 404 || verified("third@example.com") {
		t.Fatalf("a forged token: %d", code)
	}
}

// TestOnePlanPerApplication: an application's subscriptions share its
// consumer's one plan, so a subscription to an open API under a more
// generous plan cannot replace the plan an administrator approved on
// another; another application can take it.
func TestOnePlanPerApplication(t *testing.T) {
	t.Parallel()
	yaml := strings.Replace(portalYAML, "apis:\n", `  - name: strict
    quota: {limit: 10, period: day}
  - name: generous
    quota: {limit: 1000000, period: day}
apis:
  - name: gated
    base_path: /gated
    upstream: u
    auth: [api_key]
    portal: {visibility: public, title: Gated, plans: [strict], subscription: approval}
    routes: [{name: all, path: "/{rest...}"}]
  - name: open
    base_path: /open
    upstream: u
    auth: [api_key]
    portal: {visibility: public, title: Open, plans: [generous, strict]}
    routes: [{name: all, path: "/{rest...}"}]
`, 1)
	s := newSiteFrom(t, yaml, "")
	b := s.browser()
	b.signUp("dev@example.com", "long enough password")
	token := b.csrf()
	for _, name := range []string{"first", "second"} {
		if code, _, _ := b.do("POST", "/apps", url.Values{"name": {name}, "csrf": {token}}); code != 303 {
			t.Fatalf("create app: %d", code)
		}
	}
	_, _, body := b.do("GET", "/apps", nil)
	apps := appRE.FindAllStringSubmatch(body, -1)
	if len(apps) != 2 {
		t.Fatalf("%d applications on /apps", len(apps))
	}
	first, second := apps[0][1], apps[1][1]
	subscribe := func(app, api, plan string) (int, string) {
		code, _, body := b.do("POST", "/apps/"+app+"/subscriptions", url.Values{"api": {api}, "plan": {plan}, "csrf": {token}})
		return code, body
	}
	if code, _ := subscribe(first, "gated", "strict"); code != 303 {
		t.Fatalf("subscribe to the gated API: %d", code)
	}
	// An administrator approves it: the consumer is on plan strict.
	if err := s.st.Subscribe(context.Background(), store.Subscription{AppID: first, Group: "default", API: "gated", Plan: "strict",
		State: store.SubscriptionActive, DecidedBy: "admin"}, store.AuditEntry{Actor: "admin", Action: "subscription.approve"}); err != nil {
		t.Fatal(err)
	}
	plan := func(app string) string {
		cs, _ := s.st.Consumers(context.Background())
		for _, c := range cs {
			if c.Name == app {
				return c.Plan
			}
		}
		return "?"
	}
	if code, body := subscribe(first, "open", "generous"); code != 422 || !strings.Contains(body, "is on plan strict") || plan(first) != "strict" {
		t.Fatalf("the open API under another plan: %d, plan %q", code, plan(first))
	}
	if code, _ := subscribe(first, "open", "strict"); code != 303 || plan(first) != "strict" {
		t.Fatalf("the open API under the application's plan: %d, plan %q", code, plan(first))
	}
	if code, _ := subscribe(second, "open", "generous"); code != 303 || plan(second) != "generous" {
		t.Fatalf("another application under the other plan: %d, plan %q", code, plan(second))
	}
	// The other way round too: the second application, on generous,
	// cannot ask for the gated API under strict.
	if code, _ := subscribe(second, "gated", "strict"); code != 422 {
		t.Fatalf("the gated API under another plan than the application's: %d", code)
	}
}

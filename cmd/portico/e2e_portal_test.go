package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portico-gw/portico/internal/testenv"
)

const portalSpec = `openapi: 3.0.3
info: {title: Orders, version: "1.0", description: "Orders of the **shop**."}
paths:
  /orders/{id}:
    get:
      operationId: get-order
      summary: Read one order
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200":
          description: The order
          content:
            application/json:
              example: {id: ord_42, status: shipped, total: 129.9}
`

// TestPortalInBrowser is a developer's first visit in a real headless
// Chromium: sign up, open the verification link the node logged, sign
// in, create an application and a key, subscribe to the API under its
// plan, call the sandbox from the try-it console with that key, and find
// the call in their usage — with the real upstream never reached.
func TestPortalInBrowser(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer up.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "orders.yaml"), []byte(portalSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `version: 1
upstreams:
  - name: orders
    targets: [{url: "` + up.URL + `"}]
plans:
  - name: free
    quota: {limit: 1000, period: month}
apis:
  - name: orders
    base_path: /orders
    upstream: orders
    auth: [api_key]
    portal:
      visibility: public
      title: Orders API
      description: Create and track orders.
      openapi: orders.yaml
      subscription: auto
      plans: [free]
    routes:
      - {name: get-order, methods: [GET], path: "/orders/{id}"}
`
	file := filepath.Join(dir, "portico.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, nil, "--config", file)
	b := &tab{t: t, ctx: browser(t), dir: testenv.ScreenshotDir(t)}
	base := "http://" + n.portal
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	page := func(name string) chromedp.CSS { return css(`body[data-page="` + name + `"]`) }

	b.do("home", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(`a[href="/apis/orders"]`)), b.shot("portal-home"))
	b.do("sign up",
		chromedp.Navigate(base+"/signup"),
		chromedp.WaitVisible(css("#email")),
		chromedp.SendKeys(css("#name"), "Ada Lovelace"),
		chromedp.SendKeys(css("#email"), "ada@example.com"),
		chromedp.SendKeys(css("#password"), "analytical engine 1843"),
		chromedp.Submit(css("#email")),
		chromedp.WaitVisible(page("signin")),
	)
	if msg := b.text(".notice"); !strings.Contains(msg, "verify your email") {
		t.Fatalf("after sign-up: %q", msg)
	}
	// The development mailer logs the message; a real one would send it.
	var link string
	deadline := time.Now().Add(5 * time.Second)
	for link == "" && time.Now().Before(deadline) {
		link = regexp.MustCompile(`http://[^ "\\]+/verify\?token=[A-Za-z0-9%]+`).FindString(n.out.String())
		time.Sleep(50 * time.Millisecond)
	}
	if link == "" {
		t.Fatalf("no verification link in the log:\n%s", n.out.String())
	}
	if strings.Contains(n.out.String(), "analytical engine 1843") {
		t.Fatal("the password reached the log")
	}
	b.do("verify and sign in",
		chromedp.Navigate(link),
		chromedp.WaitVisible(page("signin")),
		chromedp.SendKeys(css("#email"), "ada@example.com"),
		chromedp.SendKeys(css("#password"), "analytical engine 1843"),
		chromedp.Submit(css("#email")),
		chromedp.WaitVisible(page("apps")),
		chromedp.SendKeys(css("#app-name"), "Ada's shop"),
		chromedp.Submit(css("#app-name")),
		chromedp.WaitVisible(css(`body[data-page="apps"] .notice`)),
		chromedp.Click(css(`button[aria-label="Create a key for Ada's shop"]`)),
		chromedp.WaitVisible(css("#new-key")),
		b.shot("portal-apps-new-key"),
	)
	key := b.text("#new-key")
	if !strings.HasPrefix(key, "pk_") {
		t.Fatalf("new key %q", key)
	}
	// The key authenticates at once, but the real API wants a subscription.
	waitStatus := func(want int, code string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			status, body := n.get("/orders/orders/1", "X-API-Key", key)
			if status == want && strings.Contains(body, code) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the real API with the new key: %d %s, want %d %s", status, body, want, code)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitStatus(403, "subscription_required")
	b.do("subscribe",
		chromedp.Navigate(base+"/apps"),
		chromedp.WaitVisible(css(`form[action$="/subscriptions"] button`)),
		chromedp.Click(css(`form[action$="/subscriptions"] button`)),
		chromedp.WaitVisible(css(`body[data-page="apps"] .notice`)),
	)
	if msg, subs := b.text(".notice"), b.text("main section ul"); !strings.Contains(msg, "Subscribed") || !strings.Contains(subs, "free") || !strings.Contains(subs, "active") {
		t.Fatalf("subscribe: %q / %q", msg, subs)
	}
	if body := b.text("main"); strings.Contains(body, key) {
		t.Fatal("the key's secret is shown again")
	}
	waitStatus(200, "") // subscribed: the real API answers (from the real upstream)
	realCalls := reached.Load()
	b.do("reference and try it",
		chromedp.Navigate(base+"/apis/orders"),
		chromedp.WaitVisible(css("main section details summary")),
		b.shot("portal-reference"),
		chromedp.Click(css("main section details summary")),
		chromedp.WaitVisible(css("#p-0-id")),
		chromedp.SetValue(css("#p-0-id"), "42"),
		chromedp.SendKeys(css("#k-0"), key),
		chromedp.Submit(css("#k-0")),
		chromedp.WaitVisible(css("#try-status")),
		b.shot("portal-try-it"),
	)
	if status, body := b.text("#try-status"), b.text("#try-body"); status != "200" || !strings.Contains(body, `"ord_42"`) {
		t.Fatalf("try it: %s %s", status, body)
	}
	if html := b.text("main"); strings.Contains(html, key) {
		t.Fatal("the key typed into the try-it console is shown back")
	}
	if reached.Load() != realCalls {
		t.Fatalf("the sandbox reached the real upstream %d times", reached.Load()-realCalls)
	}
	time.Sleep(1500 * time.Millisecond) // a usage flush
	b.do("usage", chromedp.Navigate(base+"/usage"), chromedp.WaitVisible(css("figure.chart svg")), b.shot("portal-usage"))
	// The refused and the real calls, and the sandbox call, are all the
	// application's: every one of them shows.
	calls, _ := strconv.Atoi(strings.SplitN(b.text("main .grid"), "\n", 2)[0])
	if calls < 3 {
		t.Fatalf("usage: %q, want at least the 403, the 200 and the sandbox call", b.text("main .grid"))
	}
	b.do("phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/apis/orders"),
		chromedp.WaitVisible(css("main section")), b.shot("portal-reference-phone"), chromedp.EmulateViewport(1280, 900))
}

package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portico-gw/portico/internal/testenv"
)

// browser starts a headless Chromium for one test and returns its
// context (a tab).
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := testenv.Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser; no timeout on this first call
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx
}

// tab drives one browser tab within a test, each step bounded in time.
type tab struct {
	t   *testing.T
	ctx context.Context
	dir string // screenshots
}

// do runs steps, failing the test with the page's main content when one fails.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		pctx, pcancel := context.WithTimeout(b.ctx, 5*time.Second)
		page, _ := chromedp.Run(pctx, chromedp.OuterHTML(chromedp.CSS("main")))
		pcancel()
		b.t.Fatalf("%s: %v\npage: %s", what, err, page)
	}
}

// text returns the text of the first element sel matches.
func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// count returns how many elements sel matches.
func (b *tab) count(sel string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll("+strconv.Quote(sel)+").length"))
	if err != nil {
		b.t.Fatalf("counting %s: %v", sel, err)
	}
	return n
}

// shot saves a full-page PNG of the current page as name.png.
func (b *tab) shot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.dir, name+".png"), buf, 0o644)
	})
}

const consoleOpenAPI = `openapi: 3.0.3
info: {title: Orders, version: "1.0"}
servers: [{url: "UPSTREAM"}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-API-Key}
security: [{key: []}]
paths:
  /orders/{id}:
    get: {operationId: get-order, parameters: [{name: id, in: path, required: true, schema: {type: string}}], responses: {"200": {description: ok}}}
  /orders:
    post: {operationId: create-order, responses: {"201": {description: created}}}
`

// TestConsoleInBrowser is an administrator's session in a real headless
// Chromium: sign in with the admin token, import an OpenAPI document
// into the draft, publish it with a message, import a second API and
// publish again, find both in the history, roll back to the first, and
// see the gateway serve the first API only. Screenshots of the main pages
// go to build/screenshots (PORTICO_SCREENSHOTS to change it).
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) }))
	defer up.Close()
	const token = "ptk_console-browser-token-0123"
	n := startNode(t, []string{"PORTICO_ADMIN_TOKEN=" + token})
	b := &tab{t: t, ctx: browser(t), dir: testenv.ScreenshotDir(t)}
	base := "http://" + n.admin
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	b.do("sign-in page",
		chromedp.Navigate(base+"/ui/analytics"),
		chromedp.WaitVisible(css("#token")),
		b.shot("console-sign-in"),
		chromedp.SendKeys(css("#token"), "ptk_wrong"),
		chromedp.Submit(css("#token")),
		chromedp.WaitVisible(css(`body[data-page="login"] .error`)),
	)
	if msg := b.text(".error"); !strings.Contains(msg, "not valid") {
		t.Fatalf("a wrong token: %q", msg)
	}
	b.do("sign in",
		chromedp.SendKeys(css("#token"), token),
		chromedp.Submit(css("#token")),
		chromedp.WaitVisible(css("figure.chart svg")),
	)
	if h1 := b.text("h1"); h1 != "Analytics" {
		t.Fatalf("after sign-in the browser is on %q, want the page it asked for (Analytics)", h1)
	}

	importAndPublish := func(doc, basePath, message string, first bool) {
		t.Helper()
		b.do("import "+basePath,
			chromedp.Navigate(base+"/ui/groups/default/draft"),
			chromedp.WaitVisible(css("#openapi")),
			chromedp.SetValue(css("#openapi"), strings.ReplaceAll(doc, "UPSTREAM", up.URL)),
			chromedp.SetValue(css("#base_path"), basePath),
			chromedp.Submit(css("#openapi")),
			chromedp.WaitVisible(css(`body[data-page="draft"] .notice`)),
		)
		if msg := b.text(".notice"); !strings.Contains(msg, "imported") {
			t.Fatalf("import: %q", msg)
		}
		// The readable diff from the live revision, before publishing
		// (the first publish has nothing to diff against and says so).
		if first {
			if p := b.text("#publish-h + p"); !strings.Contains(p, "revision 1") {
				t.Fatalf("first draft: %q", p)
			}
		} else if d := b.text("main section table"); !strings.Contains(d, "added") || !strings.Contains(d, "api") {
			t.Fatalf("the draft's diff: %q", d)
		}
		b.do("publish "+basePath,
			b.shot("console-draft-"+strings.Trim(basePath, "/")),
			chromedp.SendKeys(css("#message"), message),
			chromedp.Submit(css("#message")),
			chromedp.WaitVisible(css(`body[data-page="revisions"] .notice`)),
		)
		if msg := b.text(".notice"); !strings.Contains(msg, "Published") {
			t.Fatalf("publish: %q", msg)
		}
	}
	importAndPublish(consoleOpenAPI, "/shop", "first: the orders API", true)
	importAndPublish(strings.Replace(consoleOpenAPI, "title: Orders", "title: Billing", 1), "/billing", "second: <b>billing</b> too", false)

	// Both revisions in the history; the message is shown as text.
	b.do("history", chromedp.Navigate(base+"/ui/groups/default/revisions"), chromedp.WaitVisible(css("main table")), b.shot("console-history"))
	if rows, body := b.count("main tbody tr"), b.text("main tbody"); rows != 2 || !strings.Contains(body, "second: <b>billing</b> too") {
		t.Fatalf("history: %d rows, %q", rows, body)
	}
	if status, _ := n.get("/billing/orders/7", "X-API-Key", "no-such-key"); status != 401 {
		t.Fatalf("the billing API is not live after its publish: %d", status)
	}
	b.do("revision page", chromedp.Navigate(base+"/ui/groups/default/revisions/2"), chromedp.WaitVisible(css("pre")), b.shot("console-revision"))
	if body := b.text("main"); !strings.Contains(body, "Changes from revision 1") || !strings.Contains(body, "applied") {
		t.Fatalf("revision 2 page: %q", body)
	}
	b.do("roll back",
		chromedp.Navigate(base+"/ui/groups/default/revisions"),
		chromedp.WaitVisible(css(`button[aria-label="Roll back to revision 1"]`)),
		chromedp.Click(css(`button[aria-label="Roll back to revision 1"]`)),
		chromedp.WaitVisible(css(`body[data-page="revisions"] .notice`)),
	)
	if msg, row := b.text(".notice"), b.text("main tbody tr"); !strings.Contains(msg, "Rolled back") || !strings.Contains(row, "rollback to 1") {
		t.Fatalf("rollback: %q / first row %q", msg, row)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := n.get("/billing/orders/7", "X-API-Key", "no-such-key")
		if status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the rollback the billing API still answers %d", status)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Some traffic, then the dashboard, analytics and audit pages.
	for range 20 {
		n.get("/shop/orders/1", "X-API-Key", "no-such-key")
	}
	time.Sleep(1500 * time.Millisecond) // a usage flush
	b.do("dashboard", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(css("figure.chart svg polyline")), b.shot("console-dashboard"))
	b.do("analytics", chromedp.Navigate(base+"/ui/analytics"), chromedp.WaitVisible(css("figure.chart svg")), b.shot("console-analytics"))
	// 20 on /shop and the one on /billing while it was live (the rollback's
	// 404s matched no route).
	if stats := b.text(".grid"); !strings.HasPrefix(stats, "21\nrequests") {
		t.Errorf("analytics after 21 routed requests: %q", stats)
	}
	b.do("audit", chromedp.Navigate(base+"/ui/audit?action=revision.rollback"), chromedp.WaitVisible(css("main table")), b.shot("console-audit"))
	if rows := b.count("main tbody tr"); rows != 1 {
		t.Errorf("audit filtered on revision.rollback: %d rows", rows)
	}
	b.do("phone width",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/ui/groups/default"),
		chromedp.WaitVisible(css("main table")),
		b.shot("console-group-phone"),
		chromedp.EmulateViewport(1280, 900),
	)
	// Sign out: the old session no longer opens a page.
	b.do("sign out",
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(css("header form button")),
		chromedp.Click(css("header form button")),
		chromedp.WaitVisible(css(`body[data-page="login"] #token`)),
		chromedp.Navigate(base+"/ui/audit"),
		chromedp.WaitVisible(css("#token")),
	)
	dir := b.dir
	t.Logf("screenshots in %s", dir)
}

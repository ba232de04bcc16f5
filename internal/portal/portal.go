// Package portal is the developer portal, served on the portal address
// (--portal-addr): a catalog of the APIs the config marks public (or for
// signed-in developers), each API's reference rendered from its OpenAPI
// document, sign-up with email verification, applications with their API
// keys, subscriptions, and each developer's own usage and statement.
//
// Pages are rendered on the server without script, with the console's
// security headers and store-kept sessions (internal/web). A developer
// reaches only their own applications: every page that names an
// application checks that it is theirs, and answers 404 otherwise.
package portal

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yuin/goldmark"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/policy/ratelimit"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/web"
)

//go:embed templates/*.html
var templates embed.FS

// SessionTTL is how long a developer's session lasts.
const SessionTTL = 24 * time.Hour

// Mailer sends the portal's emails (verification links).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// LogMailer "sends" an email by writing it to the log: for development,
// and until an SMTP mailer is configured.
type LogMailer struct{ Log *slog.Logger }

// Send logs the message.
func (m LogMailer) Send(_ context.Context, to, subject, body string) error {
	m.Log.Info("portal email (not sent: no mailer is configured; this is its text)", "to", to, "subject", subject, "body", body)
	return nil
}

// Options configure a Portal.
type Options struct {
	Store store.Store
	Group string
	// Config returns the configuration the node runs now.
	Config func() *config.Config
	Mailer Mailer
	Log    *slog.Logger
	// SandboxURL is the gateway's own address ("http://127.0.0.1:8080"),
	// where the try-it console sends its calls; "" turns it off.
	SandboxURL string
	// SandboxClient sends them (it must trust the gateway's certificate
	// when it serves TLS). Default: a client with a 10 s timeout.
	SandboxClient *http.Client
}

// Portal serves the developer portal.
type Portal struct {
	o        Options
	sessions *web.Sessions
	pages    map[string]*template.Template
	// attempts limits failed sign-ins per client address; signups,
	// sign-ups.
	attempts, signups *ratelimit.Limiter
	// hashing bounds concurrent password hashes (each takes 19 MiB).
	hashing chan struct{}
	// creating makes checking a developer's applications (an
	// application's keys, its subscriptions' plan) and adding one a
	// single step on this node.
	creating sync.Mutex
}

// Limits of the portal's self-service, per client address (for IPv6,
// per /64) and per developer.
const (
	// Failed sign-ins: 10 a minute.
	signinAttempts = 10
	// Sign-ups: 10 at once, then one a minute.
	signupBurst  = 10
	signupWindow = 10 * time.Minute
	// MaxApps is how many applications a developer may create.
	MaxApps = 25
	// MaxKeys is how many keys an application may hold at once (not
	// revoked, not expired).
	MaxKeys = 10
)

// New returns a portal; Close releases it.
func New(o Options) *Portal {
	if o.Mailer == nil {
		o.Mailer = LogMailer{Log: o.Log}
	}
	if o.SandboxClient == nil {
		o.SandboxClient = &http.Client{Timeout: sandboxTimeout}
	}
	return &Portal{o: o, pages: pages, attempts: ratelimit.NewLimiter(signinAttempts, time.Minute),
		signups: ratelimit.NewLimiter(signupBurst, signupWindow), hashing: make(chan struct{}, 2),
		sessions: &web.Sessions{Store: o.Store, Kind: "portal", Cookie: "portico_portal", Path: "/", TTL: SessionTTL}}
}

// Close stops the portal's background work.
func (p *Portal) Close() {
	p.attempts.Close()
	p.signups.Close()
}

var pages = web.Pages(templates, funcs)

var markdown = goldmark.New() // raw HTML in Markdown is dropped, dangerous links are not rendered

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"markdown": func(s string) template.HTML {
		var b bytes.Buffer
		if err := markdown.Convert([]byte(s), &b); err != nil {
			return template.HTML(template.HTMLEscapeString(s)) //nolint:gosec // escaped
		}
		return template.HTML(b.String()) //nolint:gosec // goldmark without WithUnsafe: raw HTML omitted, unsafe links dropped
	},
	"upper": strings.ToUpper,
	"num": func(v any) string {
		switch n := v.(type) {
		case float64:
			if n == float64(int64(n)) {
				return strconv.FormatInt(int64(n), 10)
			}
			return strconv.FormatFloat(n, 'f', 2, 64)
		case int64:
			return strconv.FormatInt(n, 10)
		}
		return ""
	},
}

// Handler returns the portal's routes.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, web.Secure(f)) }
	mux.Handle("GET /static/", web.Secure(web.Static("/static/")))
	h("GET /{$}", p.page(p.home))
	h("GET /apis", p.page(p.catalog))
	h("GET /apis/{name}", p.page(p.reference))
	h("POST /apis/{name}/try", p.page(p.developer(p.try)))
	h("GET /signup", p.page(p.signupForm))
	h("POST /signup", p.page(p.signup))
	h("GET /verify", p.page(p.verify))
	h("GET /signin", p.page(p.signinForm))
	h("POST /signin", p.page(p.signin))
	h("POST /signout", p.page(p.developer(p.signout)))
	h("GET /apps", p.page(p.developer(p.apps)))
	h("POST /apps", p.page(p.developer(p.createApp)))
	h("POST /apps/{id}/keys", p.page(p.developer(p.createKey)))
	h("POST /apps/{id}/keys/{key}/revoke", p.page(p.developer(p.revokeKey)))
	h("POST /apps/{id}/subscriptions", p.page(p.developer(p.subscribe)))
	h("GET /usage", p.page(p.developer(p.usage)))
	h("/", p.page(func(rq *request) { rq.fail(http.StatusNotFound, "There is no such page.") }))
	return mux
}

// request is one portal request, with the developer when signed in.
type request struct {
	p    *Portal
	w    http.ResponseWriter
	r    *http.Request
	sess web.Session
	dev  *store.Developer
}

// view is what every page's template gets.
type view struct {
	Page   string
	Title  string
	Nav    string
	Dev    *store.Developer
	CSRF   string
	Notice string
	Errors []string
	Data   any
}

// page runs f with the request's developer, if signed in. A POST from a
// signed-in developer must carry the session's CSRF token; the sign-in and
// sign-up forms, which have no session yet, must come from this origin.
func (p *Portal) page(f func(*request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rq := &request{p: p, w: w, r: r}
		sess, err := p.sessions.Get(r)
		switch {
		case err == nil:
			d, derr := p.o.Store.Developer(r.Context(), sess.Subject)
			if derr == nil {
				rq.sess, rq.dev = sess, &d
			}
		case !errors.Is(err, web.ErrNoSession):
			p.o.Log.Error("reading a portal session failed", "error", err.Error())
			rq.fail(http.StatusInternalServerError, "The portal cannot reach its store; try again shortly.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			ok := false
			if rq.dev != nil {
				ok = rq.sess.CheckForm(r)
			} else {
				ok = web.SameOrigin(r) && r.ParseForm() == nil
			}
			if !ok {
				rq.fail(http.StatusForbidden, "This form has expired or did not come from this portal. Reload the page and try again.")
				return
			}
		}
		f(rq)
	}
}

// developer runs f only for a signed-in developer; others go to sign-in.
func (p *Portal) developer(f func(*request)) func(*request) {
	return func(rq *request) {
		if rq.dev == nil {
			if rq.r.Method != http.MethodGet {
				rq.fail(http.StatusForbidden, "Your session has ended; sign in again.")
				return
			}
			http.Redirect(rq.w, rq.r, "/signin", http.StatusSeeOther)
			return
		}
		f(rq)
	}
}

func (rq *request) view(title, nav string, data any) view {
	v := view{Title: title, Nav: nav, Dev: rq.dev, Data: data, Notice: notices[rq.r.URL.Query().Get("done")]}
	if rq.dev != nil {
		v.CSRF = rq.sess.CSRF
	}
	return v
}

func (rq *request) render(status int, page string, v view) {
	t := rq.p.pages[page]
	if t == nil {
		t, page = rq.p.pages["error"], "error"
	}
	v.Page = page
	web.Render(rq.w, rq.p.o.Log, t, status, "layout", v)
}

func (rq *request) fail(status int, msg string) {
	v := rq.view(http.StatusText(status), "", nil)
	v.Errors = []string{msg}
	rq.render(status, "error", v)
}

func (rq *request) internal(err error) {
	rq.p.o.Log.Error("a portal page failed", "path", rq.r.URL.Path, "error", err.Error())
	rq.fail(http.StatusInternalServerError, "Something went wrong on our side; the portal's log says what.")
}

func (rq *request) redirect(path, done string) {
	if done != "" {
		path += "?done=" + done
	}
	http.Redirect(rq.w, rq.r, path, http.StatusSeeOther)
}

// notices are the fixed messages a redirect may ask for (?done=…).
var notices = map[string]string{
	"signedup":   "Almost there: we sent you a link to verify your email address.",
	"verified":   "Your email address is verified. Create an application to get a key.",
	"app":        "The application was created. Create a key for it below.",
	"revoked":    "The key was revoked; it stops working at once.",
	"subscribed": "Subscribed: your application may call the API now.",
	"pending":    "Subscription requested: an administrator approves it.",
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// apis returns the config's APIs in the portal for this visitor.
func (rq *request) apis() []config.API {
	var out []config.API
	for _, a := range rq.p.o.Config().APIs {
		if a.Portal.Visible(rq.dev != nil) {
			out = append(out, a)
		}
	}
	return out
}

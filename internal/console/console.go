// Package console is the admin web console, served under /ui/ on the
// admin address. Pages are rendered on the server from html/template;
// there is no script. Every read and change goes through the admin API
// in process (admin.API.Call) as the signed-in token, so the console has
// exactly the API's validation, roles and audit log — it adds no
// permission of its own.
//
// Sign-in takes an admin token and starts a session (internal/web): an
// HttpOnly, SameSite=Strict cookie (Secure on TLS) whose hash is kept in
// the store, with a CSRF token every form must carry. Sessions last 12
// hours, end at sign-out, and end as soon as their token is revoked.
package console

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/web"
)

//go:embed templates/*.html
var templates embed.FS

// SessionTTL is how long a console session lasts.
const SessionTTL = 12 * time.Hour

// Console serves the admin web console.
type Console struct {
	api      *admin.API
	st       store.Store
	sessions *web.Sessions
	log      *slog.Logger
	pages    map[string]*template.Template
}

// pages are the console's templates, each with the layout, parsed once:
// they are part of the binary, so a broken one fails every test.
var pages = web.Pages(templates, funcs)

var funcs = template.FuncMap{
	"time": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case string:
			if p, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return p.UTC().Format("2006-01-02 15:04:05 UTC")
			}
			return v
		}
		return ""
	},
	"num": func(v any) string {
		switch n := v.(type) {
		case float64:
			if n == float64(int64(n)) {
				return strconv.FormatInt(int64(n), 10)
			}
			return strconv.FormatFloat(n, 'f', 2, 64)
		case int, int64:
			return strconv.FormatInt(toInt64(n), 10)
		}
		return ""
	},
	"pct": func(v any) string {
		f, _ := v.(float64)
		return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
	},
	"list": func(xs ...string) []string { return xs },
}

// New returns the console of api.
func New(api *admin.API, st store.Store, log *slog.Logger) *Console {
	return &Console{api: api, st: st, log: log, pages: pages,
		sessions: &web.Sessions{Store: st, Kind: "console", Cookie: "portico_console", Path: "/ui/", TTL: SessionTTL}}
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	}
	return 0
}

// Mount adds the console's routes to mux.
func (c *Console) Mount(mux *http.ServeMux) {
	h := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, web.Secure(f)) }
	mux.Handle("GET /ui/static/", web.Secure(web.Static("/ui/static/")))
	h("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusSeeOther) })
	h("GET /ui/login", c.loginForm)
	h("POST /ui/login", c.login)
	h("POST /ui/logout", c.signedIn(c.logout))
	h("GET /ui/{$}", c.signedIn(c.dashboard))
	h("GET /ui/groups/{group}", c.signedIn(c.group))
	h("GET /ui/groups/{group}/draft", c.signedIn(c.draft))
	h("POST /ui/groups/{group}/draft", c.signedIn(c.saveDraft))
	h("POST /ui/groups/{group}/import", c.signedIn(c.importOpenAPI))
	h("POST /ui/groups/{group}/publish", c.signedIn(c.publish))
	h("GET /ui/groups/{group}/draft/{kind}/{name}", c.signedIn(c.entity))
	h("POST /ui/groups/{group}/draft/{kind}/{name}", c.signedIn(c.saveEntity))
	h("GET /ui/groups/{group}/governance", c.signedIn(c.governance))
	h("POST /ui/groups/{group}/governance", c.signedIn(c.saveSettings))
	h("GET /ui/groups/{group}/revisions", c.signedIn(c.revisions))
	h("GET /ui/groups/{group}/revisions/{n}", c.signedIn(c.revision))
	h("POST /ui/groups/{group}/revisions/{n}/rollback", c.signedIn(c.rollback))
	h("GET /ui/consumers", c.signedIn(c.consumers))
	h("POST /ui/consumers", c.signedIn(c.createConsumer))
	h("POST /ui/consumers/{name}/keys", c.signedIn(c.createKey))
	h("POST /ui/consumers/{name}/keys/{id}/revoke", c.signedIn(c.revokeKey))
	h("GET /ui/alerts", c.signedIn(c.alerts))
	h("GET /ui/subscriptions", c.signedIn(c.subscriptions))
	h("POST /ui/subscriptions/{app}/{api}/{verb}", c.signedIn(c.decide))
	h("GET /ui/analytics", c.signedIn(c.analytics))
	h("GET /ui/audit", c.signedIn(c.audit))
	h("/ui/", c.signedIn(func(rq *request) { rq.fail(http.StatusNotFound, "There is no such page.") }))
}

// request is one signed-in request.
type request struct {
	c     *Console
	w     http.ResponseWriter
	r     *http.Request
	sess  web.Session
	token store.Token
}

// view is what every page's template gets.
type view struct {
	// Page names the template (on <body data-page>, for tests and styles).
	Page   string
	Title  string
	Nav    string
	User   string
	Role   string
	CSRF   string
	Notice string
	Errors []string
	Data   any
}

// signedIn runs f for a request with a live session whose token is still
// valid; others are sent to the sign-in page. A form (POST) must carry
// the session's CSRF token.
func (c *Console) signedIn(f func(*request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := c.sessions.Get(r)
		if err != nil && !errors.Is(err, web.ErrNoSession) {
			c.log.Error("reading a console session failed", "error", err.Error())
			c.render(w, http.StatusInternalServerError, "error", view{Title: "Unavailable", Errors: []string{"The store is not answering; try again shortly."}})
			return
		}
		var tok store.Token
		if err == nil {
			tok, err = c.st.TokenByHash(r.Context(), sess.Subject)
			if errors.Is(err, store.ErrNotFound) {
				_ = c.sessions.End(w, r) // the token was revoked: so is the session
			}
		}
		if err != nil {
			if r.Method != http.MethodGet {
				c.render(w, http.StatusForbidden, "error", view{Title: "Signed out", Errors: []string{"Your session has ended; sign in again."}})
				return
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		rq := &request{c: c, w: w, r: r, sess: sess, token: tok}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
			if !sess.CheckForm(r) {
				rq.fail(http.StatusForbidden, "This form has expired or did not come from this console. Reload the page and try again.")
				return
			}
		}
		f(rq)
	}
}

func (c *Console) render(w http.ResponseWriter, status int, page string, v view) {
	t := c.pages[page]
	if t == nil {
		t, page = c.pages["error"], "error"
	}
	v.Page = page
	web.Render(w, c.log, t, status, "layout", v)
}

func (rq *request) view(title, nav string, data any) view {
	return view{Title: title, Nav: nav, User: rq.token.Name, Role: rq.token.Role, CSRF: rq.sess.CSRF, Data: data,
		Notice: notices[rq.r.URL.Query().Get("done")]}
}

func (rq *request) render(status int, page string, v view) { rq.c.render(rq.w, status, page, v) }

// fail renders an error page; msg is the user's, never an internal error.
func (rq *request) fail(status int, msg string) {
	v := rq.view(http.StatusText(status), "", nil)
	v.Errors = []string{msg}
	rq.render(status, "error", v)
}

// notices are the fixed messages a redirect may ask for (?done=…): never
// text taken from the request.
var notices = map[string]string{
	"saved":      "The draft was saved.",
	"imported":   "The OpenAPI document was imported into the draft.",
	"published":  "Published. Nodes apply the new revision in the background.",
	"rolledback": "Rolled back: a new revision with the chosen revision's content was published.",
	"consumer":   "The consumer was created. Give it a key below.",
	"revoked":    "The key was revoked; it stops working at once.",
	"approved":   "Approved: the application may call the API under its plan.",
	"deleted":    "Deleted from the draft.",
	"settings":   "The group's settings were saved.",
	"rejected":   "Rejected: the application may not call the API.",
}

// call runs an admin API request as the signed-in token and decodes its
// JSON answer into out (when not nil). A non-2xx answer is returned as
// an *apiError with the API's message and details.
func (rq *request) call(method, target, contentType string, body []byte, out any) error {
	return rq.do(admin.CallRequest{Method: method, Target: target, ContentType: contentType, Body: body}, out)
}

// yaml reads a document (a draft or a revision) as YAML.
func (rq *request) yaml(target string) (string, error) {
	var s string
	err := rq.do(admin.CallRequest{Method: http.MethodGet, Target: target, Accept: "application/yaml"}, &s)
	return s, err
}

func (rq *request) do(cr admin.CallRequest, out any) error {
	cr.RemoteAddr = rq.r.RemoteAddr
	status, _, raw := rq.c.api.Call(rq.r.Context(), rq.sess.Subject, cr)
	if status/100 != 2 {
		e := &apiError{Status: status}
		var env struct {
			Error struct {
				Code, Message string
				Details       []struct {
					Line, Column int
					Message      string
				}
			} `json:"error"`
		}
		if json.Unmarshal(raw, &env) == nil {
			e.Code, e.Message = env.Error.Code, env.Error.Message
			for _, d := range env.Error.Details {
				msg := d.Message
				if d.Line > 0 {
					msg = "line " + strconv.Itoa(d.Line) + ", column " + strconv.Itoa(d.Column) + ": " + msg
				}
				e.Details = append(e.Details, msg)
			}
		}
		return e
	}
	if out == nil {
		return nil
	}
	if s, ok := out.(*string); ok {
		*s = string(raw)
		return nil
	}
	return json.Unmarshal(raw, out)
}

// apiError is an admin API refusal, shown to the user as it is.
type apiError struct {
	Status  int
	Code    string
	Message string
	Details []string
}

func (e *apiError) Error() string { return e.Message }

// asAPIError returns err as an admin API refusal, or nil.
func asAPIError(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// failAPI renders an admin API refusal (or an internal failure) as a page.
func (rq *request) failAPI(err error) {
	var e *apiError
	if errors.As(err, &e) {
		v := rq.view("Not possible", "", nil)
		v.Errors = append([]string{e.Message}, e.Details...)
		rq.render(e.Status, "error", v)
		return
	}
	rq.c.log.Error("a console page failed", "path", rq.r.URL.Path, "error", err.Error())
	v := rq.view("Something went wrong", "", nil)
	v.Errors = []string{"The page could not be built; the node's log says why."}
	rq.render(http.StatusInternalServerError, "error", v)
}

func (rq *request) redirect(path, done string) {
	if done != "" {
		path += "?done=" + done
	}
	http.Redirect(rq.w, rq.r, path, http.StatusSeeOther)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func nowRFC3339() string { return time.Now().UTC().Format(time.RFC3339) }

// Package web holds what Portico's web pages share: security headers,
// cookie sessions kept in the store, CSRF tokens, HTML rendering, a
// stylesheet, and charts drawn as SVG on the server (readable without
// JavaScript). The console (internal/console) and the developer portal
// are built on it. Pages are server-rendered html/template; there is no
// JavaScript build and no script on the pages at all.
package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

//go:embed static
var static embed.FS

// Static serves the shared assets (the stylesheet) from prefix.
func Static(prefix string) http.Handler {
	sub, _ := fs.Sub(static, "static")
	fsrv := http.StripPrefix(prefix, http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// CSP is the Content-Security-Policy of every page: nothing but the
// page's own origin, no script at all, no framing, forms only to itself.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Secure sets the security headers of every response of h.
func Secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// Render executes the template name of t with data into a buffer, then
// writes it with status: a template error never leaves half a page.
func Render(w http.ResponseWriter, log *slog.Logger, t *template.Template, status int, name string, data any) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		log.Error("rendering a page failed", "template", name, "error", err.Error())
		http.Error(w, "The page could not be rendered; the node's log says why.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// Sessions are cookie sessions kept in the store: the cookie holds a
// random secret, the store its hash, so a copy of the database opens no
// session; signing out revokes it everywhere.
type Sessions struct {
	Store store.SessionStore
	// Kind tells the console's sessions from the portal's.
	Kind string
	// Cookie is the cookie's name and Path its path.
	Cookie, Path string
	// TTL is how long a session lasts after sign-in.
	TTL time.Duration
}

// Session is a signed-in browser.
type Session struct {
	store.WebSession
}

func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Start signs subject in: a new session and its cookie (HttpOnly,
// SameSite=Strict, Secure on TLS).
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request, subject string) (Session, error) {
	secret := random()
	now := time.Now().UTC()
	ws := store.WebSession{IDHash: hash(secret), Kind: s.Kind, Subject: subject, CSRF: random(), CreatedAt: now, ExpiresAt: now.Add(s.TTL)}
	if err := s.Store.CreateSession(r.Context(), ws); err != nil {
		return Session{}, err
	}
	http.SetCookie(w, &http.Cookie{Name: s.Cookie, Value: secret, Path: s.Path, HttpOnly: true, Secure: r.TLS != nil, //nolint:gosec // Secure on TLS; a plain-HTTP console on loopback must still sign in
		SameSite: http.SameSiteStrictMode, Expires: ws.ExpiresAt})
	return Session{ws}, nil
}

// ErrNoSession is returned when the request has no live session.
var ErrNoSession = errors.New("not signed in")

// Get returns the request's live session, or ErrNoSession.
func (s *Sessions) Get(r *http.Request) (Session, error) {
	c, err := r.Cookie(s.Cookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return Session{}, ErrNoSession
	}
	ws, err := s.Store.Session(r.Context(), hash(c.Value), time.Now())
	if errors.Is(err, store.ErrNotFound) || err == nil && ws.Kind != s.Kind {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, err
	}
	return Session{ws}, nil
}

// End revokes the request's session and clears its cookie.
func (s *Sessions) End(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: s.Cookie, Value: "", Path: s.Path, HttpOnly: true, Secure: r.TLS != nil, //nolint:gosec // clears the cookie set above
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	c, err := r.Cookie(s.Cookie)
	if err != nil || c.Value == "" {
		return nil
	}
	return s.Store.RevokeSession(r.Context(), hash(c.Value), time.Now())
}

// SameOrigin reports whether a form comes from a page of this host: its
// Origin, when the browser sends one, names this host.
func SameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// CheckForm reports whether a state-changing request may proceed: a POST
// from a page of this origin carrying the session's CSRF token.
func (s Session) CheckForm(r *http.Request) bool {
	if r.Method != http.MethodPost || !SameOrigin(r) {
		return false
	}
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// Pages parses templates/*.html of fsys: each page with
// templates/layout.html, as its own template set (so that every page may
// define "content"), with funcs. A broken template panics: templates are
// part of the binary, and every test would fail.
func Pages(fsys fs.FS, funcs template.FuncMap) map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(fsys, "templates/layout.html"))
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base != "layout" {
			out[base] = template.Must(template.Must(layout.Clone()).ParseFS(fsys, n))
		}
	}
	return out
}

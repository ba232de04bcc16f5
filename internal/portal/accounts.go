package portal

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/portico-gw/portico/internal/policy/basic"
	"github.com/portico-gw/portico/internal/policy/ratelimit"
	"github.com/portico-gw/portico/internal/store"
)

// Password hashing: argon2id with OWASP's minimum for it (19 MiB, two
// passes, one lane), in PHC form.
const (
	argonMemory = 19 * 1024
	argonTime   = 2
	minPassword = 12
	maxPassword = 256
)

// hashPassword returns pw's argon2id hash, at most two at a time.
func (p *Portal) hashPassword(pw string) string {
	p.hashing <- struct{}{}
	defer func() { <-p.hashing }()
	var salt [16]byte
	_, _ = rand.Read(salt[:])
	key := argon2.IDKey([]byte(pw), salt[:], argonTime, argonMemory, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=1$%s$%s", argonMemory, argonTime,
		base64.RawStdEncoding.EncodeToString(salt[:]), base64.RawStdEncoding.EncodeToString(key))
}

// checkPassword tells whether pw matches hash, at most two at a time.
func (p *Portal) checkPassword(hash, pw string) bool {
	check, err := basic.Checker(hash)
	if err != nil {
		return false
	}
	p.hashing <- struct{}{}
	defer func() { <-p.hashing }()
	return check([]byte(pw))
}

// dummyHash is checked for unknown emails, so that an answer takes as
// long whether or not the address has an account. It is made on first
// use, not when the program starts.
var dummyHash = sync.OnceValue(func() string {
	return (&Portal{hashing: make(chan struct{}, 1)}).hashPassword("portico-dummy-password")
})

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (p *Portal) signupForm(rq *request) {
	rq.render(http.StatusOK, "signup", rq.view("Sign up", "signup", map[string]string{}))
}

// signup creates an unverified developer and mails the verification link.
// Whether or not the address already has an account, the answer is the
// same, so the form does not tell who has signed up.
func (p *Portal) signup(rq *request) {
	f := rq.r.PostForm
	email := strings.ToLower(strings.TrimSpace(f.Get("email")))
	name := strings.TrimSpace(f.Get("name"))
	pw := f.Get("password")
	var errs []string
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		errs = append(errs, "Enter an email address such as ada@example.com.")
	}
	if name == "" || utf8.RuneCountInString(name) > 100 {
		errs = append(errs, "Enter your name (at most 100 characters).")
	}
	if n := utf8.RuneCountInString(pw); n < minPassword || n > maxPassword {
		errs = append(errs, "Choose a password of "+strconv.Itoa(minPassword)+" to "+strconv.Itoa(maxPassword)+" characters.")
	}
	status := http.StatusUnprocessableEntity
	if len(errs) == 0 {
		// Each sign-up hashes a password (19 MiB, tens of milliseconds)
		// and sends an email: limited per client address.
		if ok, _ := p.signups.Allow(ratelimit.PeerKey(rq.r.RemoteAddr), time.Now()); !ok {
			status = http.StatusTooManyRequests
			errs = append(errs, "Too many sign-ups from your address; try again in a few minutes.")
		}
	}
	if len(errs) > 0 {
		v := rq.view("Sign up", "signup", map[string]string{"Email": email, "Name": name})
		v.Errors = errs
		rq.render(status, "signup", v)
		return
	}
	token := newID("") + newID("")
	now := time.Now().UTC()
	d := store.Developer{ID: newID("dev_"), Email: email, Name: name, PasswordHash: p.hashPassword(pw), VerifyHash: sha(token),
		VerifyExpires: now.Add(24 * time.Hour), CreatedAt: now}
	err := p.o.Store.CreateDeveloper(rq.r.Context(), d)
	if errors.Is(err, store.ErrConflict) {
		// Until an address is verified its latest sign-up counts: an
		// earlier one — someone else's, made to hold the address, or the
		// owner's own whose link expired — cannot keep the owner out.
		// Verifying takes the link and this sign-up's password, so the
		// one who reads the mail and chose the password is the one who
		// gets the account.
		err = p.o.Store.RestartSignup(rq.r.Context(), d)
	}
	switch {
	case errors.Is(err, store.ErrConflict):
		// A verified account: say nothing different.
	case err != nil:
		rq.internal(err)
		return
	default:
		link := "http://" + rq.r.Host + "/verify?token=" + url.QueryEscape(token)
		if rq.r.TLS != nil {
			link = "https" + strings.TrimPrefix(link, "http")
		}
		if err := p.o.Mailer.Send(rq.r.Context(), email, "Verify your email for the API portal",
			"Open this link within 24 hours to verify your email address: "+link); err != nil {
			rq.internal(err)
			return
		}
	}
	rq.redirect("/signin", "signedup")
}

// verify shows the sign-in form for a verification link: the address is
// verified when its developer signs in with the link's token and the
// password of the sign-up that sent it. The link alone verifies nothing —
// else whoever signed up last, with a password of their choosing, would
// have the account once the address's owner clicked.
func (p *Portal) verify(rq *request) {
	token := rq.r.URL.Query().Get("token")
	if token == "" || len(token) > 100 {
		rq.fail(http.StatusBadRequest, "This verification link is incomplete.")
		return
	}
	v := rq.view("Sign in", "signin", map[string]string{"Token": token})
	v.Notice = "Sign in with the password you chose to finish verifying your email address."
	rq.render(http.StatusOK, "signin", v)
}

func (p *Portal) signinForm(rq *request) {
	if rq.dev != nil {
		http.Redirect(rq.w, rq.r, "/apps", http.StatusSeeOther)
		return
	}
	rq.render(http.StatusOK, "signin", rq.view("Sign in", "signin", map[string]string{}))
}

// signin checks the email and password; failed attempts are limited per
// client address (an IPv6 client's /64: ratelimit.PeerKey).
func (p *Portal) signin(rq *request) {
	email := strings.ToLower(strings.TrimSpace(rq.r.PostFormValue("email")))
	pw := rq.r.PostFormValue("password")
	token := rq.r.PostFormValue("token") // from a verification link
	if len(token) > 100 {
		token = ""
	}
	fail := func(status int, msg string) {
		v := rq.view("Sign in", "signin", map[string]string{"Email": email, "Token": token})
		v.Errors = []string{msg}
		rq.render(status, "signin", v)
	}
	// Every attempt takes from the address's budget before its password
	// is checked, and one with the right password gives it back: past
	// the limit no password is checked at all, so a right guess cannot
	// be told from a wrong one and guessing stops.
	peer := ratelimit.PeerKey(rq.r.RemoteAddr)
	if ok, _ := p.attempts.Allow(peer, time.Now()); !ok {
		fail(http.StatusTooManyRequests, "Too many failed attempts from your address; wait a minute.")
		return
	}
	d, err := p.o.Store.DeveloperByEmail(rq.r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		rq.internal(err)
		return
	}
	hash := d.PasswordHash
	if err != nil {
		hash = dummyHash()
	}
	if !p.checkPassword(hash, pw) || err != nil {
		fail(http.StatusUnauthorized, "That email and password do not match an account.")
		return
	}
	p.attempts.Refund(peer)
	done := ""
	if d.VerifiedAt.IsZero() {
		now := time.Now()
		switch {
		case token == "":
			fail(http.StatusForbidden, "Verify your email address first: open the link we sent you.")
			return
		case d.VerifyHash == "" || subtle.ConstantTimeCompare([]byte(d.VerifyHash), []byte(sha(token))) != 1 || !now.Before(d.VerifyExpires):
			fail(http.StatusNotFound, staleLink)
			return
		}
		if _, err := p.o.Store.VerifyDeveloper(rq.r.Context(), d.VerifyHash, now); err != nil {
			if errors.Is(err, store.ErrNotFound) { // replaced or used meanwhile
				fail(http.StatusNotFound, staleLink)
				return
			}
			rq.internal(err)
			return
		}
		done = "verified"
	}
	if _, err := p.sessions.Start(rq.w, rq.r, d.ID); err != nil {
		rq.internal(err)
		return
	}
	rq.redirect("/apps", done)
}

// staleLink answers a verification link that no longer verifies.
const staleLink = "This verification link has expired, or a later sign-up replaced it. Use the newest link we sent, or sign up again."

func (p *Portal) signout(rq *request) {
	if err := p.sessions.End(rq.w, rq.r); err != nil {
		rq.internal(err)
		return
	}
	http.Redirect(rq.w, rq.r, "/", http.StatusSeeOther)
}

// newKey returns a new API key's secret and public id, in the admin
// API's format.
func newKey() (secret, id string) {
	var b, i [24]byte
	_, _ = rand.Read(b[:])
	_, _ = rand.Read(i[:6])
	return "pk_" + hex.EncodeToString(b[:]), "key_" + hex.EncodeToString(i[:6])
}

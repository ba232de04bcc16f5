package basic

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/policy/ratelimit"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func bcryptHash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func argonHash(pw string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	m, err := New("", []User{
		{Username: "acme", PasswordHash: bcryptHash(t, "s3cret:with:colons"), Consumer: "acme", Groups: []string{"partners"}},
		{Username: "globex", PasswordHash: argonHash("pässwörd"), Consumer: "globex"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, header string
		consumer     string
		found        bool
	}{
		{"bcrypt", "Basic " + b64("acme:s3cret:with:colons"), "acme", true},
		{"scheme is case-insensitive", "basic " + b64("acme:s3cret:with:colons"), "acme", true},
		{"argon2id, UTF-8", "Basic " + b64("globex:pässwörd"), "globex", true},
		{"wrong password", "Basic " + b64("acme:s3cret"), "", true},
		{"empty password", "Basic " + b64("acme:"), "", true},
		{"unknown user", "Basic " + b64("nobody:s3cret:with:colons"), "", true},
		{"user name case matters", "Basic " + b64("ACME:s3cret:with:colons"), "", true},
		{"no colon", "Basic " + b64("acme"), "", true},
		{"not base64", "Basic !!!", "", true},
		{"bearer is not ours", "Bearer abc", "", false},
		{"nothing", "", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		id, header, found := m.Authenticate(r)
		if id.Consumer != c.consumer || found != c.found || header != "Authorization" {
			t.Errorf("%s: consumer %q found %v header %q, want %q %v Authorization", c.name, id.Consumer, found, header, c.consumer, c.found)
		}
		if c.consumer == "acme" && (len(id.Groups) != 1 || id.Groups[0] != "partners") {
			t.Errorf("%s: groups %v", c.name, id.Groups)
		}
	}
	// Two Authorization headers are ambiguous: no one.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Add("Authorization", "Basic "+b64("acme:s3cret:with:colons"))
	r.Header.Add("Authorization", "Basic "+b64("globex:pässwörd"))
	if id, _, _ := m.Authenticate(r); id.Consumer != "" {
		t.Errorf("two credentials authenticated %q", id.Consumer)
	}
	if got := m.Challenge(); got != `Basic realm="portico", charset="UTF-8"` {
		t.Errorf("challenge %q", got)
	}
}

// TestCacheServesOnlyTheSameCredential: a verified credential is cached,
// and the cache never vouches for another password or a changed hash.
func TestCacheServesOnlyTheSameCredential(t *testing.T) {
	t.Parallel()
	hash := bcryptHash(t, "right")
	m, err := New("r", []User{{Username: "u", PasswordHash: hash, Consumer: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	req := func(m *Method, pw string) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Basic "+b64("u:"+pw))
		id, _, _ := m.Authenticate(r)
		return id.Consumer
	}
	if req(m, "right") != "c" || len(m.cache.m) != 1 {
		t.Fatalf("first check: not cached (%d entries)", len(m.cache.m))
	}
	if req(m, "right") != "c" || req(m, "wrong") != "" || len(m.cache.m) != 1 {
		t.Fatalf("the cache answered for a wrong password, or cached a failure (%d entries)", len(m.cache.m))
	}
	// The same password under a new hash (a config change) is checked again.
	m2, _ := New("r", []User{{Username: "u", PasswordHash: bcryptHash(t, "other"), Consumer: "c"}})
	m2.cache = m.cache
	if req(m2, "right") != "" {
		t.Fatal("a cached credential outlived its hash")
	}
}

func TestCheckerRefusesBadHashes(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"plaintext",
		"$2a$10$short",
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ",                          // no hash
		"$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",    // argon2i
		"$argon2id$v=19$m=4194304,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // 4 GiB
		"$argon2id$v=19$m=65536,t=100,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // 100 passes
		"$argon2id$v=16$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",   // old version
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA",  // padded
	} {
		if _, err := Checker(h); err == nil {
			t.Errorf("%q was accepted", h)
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func FuzzAuthenticate(f *testing.F) {
	m, err := New("", []User{{Username: "acme", PasswordHash: "$2a$04$" + "abcdefghijklmnopqrstuu" + "abcdefghijklmnopqrstuvwxyz01234", Consumer: "acme"}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"Basic " + b64("acme:x"), "Basic ", "basic =", "Basic " + b64(":"), "Basic YWNtZTo\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{h}
		if id, _, _ := m.Authenticate(r); id.Consumer != "" {
			t.Fatalf("%q authenticated as %q", h, id.Consumer)
		}
	})
}

// TestGuessingStopsAtTheLimit: past Guesses failed checks a minute, no
// password of that client is checked — the right one included — while
// other clients, and a credential verified before, still pass.
func TestGuessingStopsAtTheLimit(t *testing.T) {
	t.Parallel()
	ts := ratelimit.NewTables()
	t.Cleanup(ts.Close)
	m, err := New("r", []User{{Username: "u", PasswordHash: bcryptHash(t, "right"), Consumer: "c"},
		{Username: "v", PasswordHash: bcryptHash(t, "known"), Consumer: "d"}})
	if err != nil {
		t.Fatal(err)
	}
	m.LimitGuesses(ts.Limiter("guesses", Guesses, time.Minute))
	try := func(client, user, pw string) (string, time.Duration) {
		t.Helper()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Basic "+b64(user+":"+pw))
		id, _, found, retry := m.AuthenticateFrom(r, netip.MustParseAddr(client))
		if !found {
			t.Fatal("the credential was not found")
		}
		return id.Consumer, retry
	}
	// Right passwords do not use the budget up.
	for range 2 * Guesses {
		if c, retry := try("2001:db8::1", "u", "right"); c != "c" || retry != 0 {
			t.Fatalf("a right password: %q, retry %v", c, retry)
		}
		m.cache = &cache{m: map[[32]byte]cacheEntry{}} // each one checked again
	}
	if c, _ := try("2001:db8::3", "v", "known"); c != "d" {
		t.Fatal("a right password was refused")
	}
	for i := range Guesses {
		if c, retry := try("2001:db8::1", "u", fmt.Sprintf("guess %d", i)); c != "" || retry != 0 {
			t.Fatalf("guess %d: %q, retry %v", i, c, retry)
		}
	}
	// The same /64 from another address: past the budget, even the right
	// password is not checked.
	if c, retry := try("2001:db8::2", "u", "right"); c != "" || retry < time.Second {
		t.Fatalf("the right password after %d guesses: %q, retry %v", Guesses, c, retry)
	}
	if c, retry := try("2001:db8::2", "v", "known"); c != "d" || retry != 0 {
		t.Fatalf("a credential verified before the guesses: %q, retry %v", c, retry)
	}
	if c, retry := try("2001:db8:0:1::1", "u", "right"); c != "c" || retry != 0 {
		t.Fatalf("another client was limited: %q, retry %v", c, retry)
	}
}

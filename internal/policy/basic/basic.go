// Package basic authenticates requests by HTTP Basic credentials
// (RFC 7617) against password hashes in the config: bcrypt, or argon2id
// in PHC form.
//
// Password hashes are slow on purpose (a bcrypt check at cost 10 is tens of
// milliseconds of CPU), which makes them a denial-of-service lever on a
// gateway. Two things keep that lever short: a verified credential is
// cached (by the SHA-256 of user, password and hash) for five minutes, so
// a client that sends the same credential again costs a hash; and at most
// as many slow checks run at once as there are CPUs, so a flood of wrong
// passwords waits for its turn instead of starving other traffic.
// Failures are never cached. And a client (by the address Portico
// computed; an IPv6 client by its /64) gets at most Guesses failed checks
// a minute: past them nothing is checked for it — the right password
// included, so guessing stops rather than going on with a right guess
// told apart by its answer — until its budget refills. A credential
// verified earlier (in the cache) still passes.
package basic

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/policy/ratelimit"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// User is one basic credential of a consumer.
type User struct {
	Username, PasswordHash, Consumer string
	Groups                           []string
}

type entry struct {
	consumer string
	groups   []string
	check    func(password []byte) bool
	hash     string
}

// Method is a basic auth policy.
type Method struct {
	challenge string
	users     map[string]*entry
	dummy     func([]byte) bool
	slow      chan struct{}
	cache     *cache
	guesses   *ratelimit.Limiter // nil: not limited
}

// Guesses is how many failed password checks a client may have a minute.
const Guesses = 10

// LimitGuesses makes m count each client's failed checks in l, a limit
// of Guesses a minute (ratelimit.Tables.Limiter), and returns m.
func (m *Method) LimitGuesses(l *ratelimit.Limiter) *Method {
	m.guesses = l
	return m
}

// cacheTTL bounds how long a verified credential is trusted without a new
// hash check; a changed hash or removed user takes effect with the config.
const cacheTTL = 5 * time.Minute

// New compiles users into a method announcing realm in WWW-Authenticate.
func New(realm string, users []User) (*Method, error) {
	if realm == "" {
		realm = "portico"
	}
	m := &Method{
		challenge: `Basic realm="` + realm + `", charset="UTF-8"`,
		users:     map[string]*entry{},
		slow:      make(chan struct{}, runtime.GOMAXPROCS(0)),
		cache:     &cache{m: map[[sha256.Size]byte]cacheEntry{}},
	}
	for _, u := range users {
		check, err := Checker(u.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", u.Username, err)
		}
		m.users[u.Username] = &entry{consumer: u.Consumer, groups: u.Groups, check: check, hash: u.PasswordHash}
	}
	m.dummy = dummy()
	return m, nil
}

// dummy checks passwords of unknown users against a hash too, so that the
// time of an answer does not tell which user names exist.
var dummy = sync.OnceValue(func() func([]byte) bool {
	h, err := bcrypt.GenerateFromPassword([]byte("portico-no-such-user"), bcrypt.DefaultCost)
	if err != nil {
		panic(err)
	}
	return func(p []byte) bool { return bcrypt.CompareHashAndPassword(h, p) == nil }
})

// Authenticate implements auth.Method, for a client with no address
// (all such count as one).
func (m *Method) Authenticate(r *http.Request) (id pipeline.Identity, header string, found bool) {
	id, header, found, _ = m.AuthenticateFrom(r, netip.Addr{})
	return id, header, found
}

// AuthenticateFrom implements auth.Guarded.
func (m *Method) AuthenticateFrom(r *http.Request, client netip.Addr) (id pipeline.Identity, header string, found bool, retry time.Duration) {
	vs := r.Header["Authorization"]
	if len(vs) != 1 || len(vs[0]) < 6 || !strings.EqualFold(vs[0][:6], "Basic ") {
		return id, "Authorization", false, 0
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(vs[0][6:]))
	if err != nil {
		return id, "Authorization", true, 0
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return id, "Authorization", true, 0
	}
	e := m.users[user]
	key := cacheKey(user, pass, e)
	if m.cache.get(key, time.Now()) {
		id.Consumer, id.Groups = e.consumer, e.groups
		return id, "Authorization", true, 0
	}
	// Every check takes from the client's budget first; a right password
	// gives it back.
	var peer string
	if m.guesses != nil {
		peer = ratelimit.ClientKey(client).String()
		if ok, wait := m.guesses.Allow(peer, time.Now()); !ok {
			return id, "Authorization", true, max(wait, time.Second)
		}
	}
	// Wait for a slow-check slot, or give up with the client (nothing
	// was checked: the budget is given back).
	select {
	case m.slow <- struct{}{}:
	case <-r.Context().Done():
		if m.guesses != nil {
			m.guesses.Refund(peer)
		}
		return id, "Authorization", true, 0
	}
	var good bool
	if e == nil {
		m.dummy([]byte(pass))
	} else {
		good = e.check([]byte(pass))
	}
	<-m.slow
	if good {
		m.cache.put(key, time.Now().Add(cacheTTL))
		id.Consumer, id.Groups = e.consumer, e.groups
		if m.guesses != nil {
			m.guesses.Refund(peer)
		}
	}
	return id, "Authorization", true, 0
}

// Challenge is the WWW-Authenticate value of a 401.
func (m *Method) Challenge() string { return m.challenge }

func cacheKey(user, pass string, e *entry) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range []string{user, pass} {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	if e != nil {
		h.Write([]byte(e.hash))
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

type cacheEntry struct{ until time.Time }

type cache struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]cacheEntry
}

func (c *cache) get(k [sha256.Size]byte, now time.Time) bool {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	return ok && now.Before(e.until)
}

func (c *cache) put(k [sha256.Size]byte, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 10_000 {
		now := time.Now()
		for k, e := range c.m {
			if !now.Before(e.until) || len(c.m) >= 10_000 {
				delete(c.m, k)
			}
		}
	}
	c.m[k] = cacheEntry{until: until}
}

// Checker returns a function telling whether a password matches hash
// (bcrypt, or argon2id in PHC form), or why hash is not usable.
func Checker(hash string) (func([]byte) bool, error) {
	switch {
	case strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("bcrypt hash: %w", err)
		}
		h := []byte(hash)
		return func(p []byte) bool { return bcrypt.CompareHashAndPassword(h, p) == nil }, nil
	case strings.HasPrefix(hash, "$argon2id$"):
		a, err := parseArgon2id(hash)
		if err != nil {
			return nil, err
		}
		return func(p []byte) bool {
			got := argon2.IDKey(p, a.salt, a.time, a.memory, a.threads, a.keyLen)
			return subtle.ConstantTimeCompare(got, a.key) == 1
		}, nil
	}
	return nil, errors.New("not a bcrypt or argon2id hash")
}

type argon2Params struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
	keyLen       uint32
}

// parseArgon2id reads "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<key>", with
// salt and key in unpadded standard base64, and refuses parameters that
// would let a config make every check cost too much (memory above 256 MiB,
// more than 10 passes).
func parseArgon2id(s string) (argon2Params, error) {
	var a argon2Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[2] != "v=19" {
		return a, errors.New(`argon2id hash: want "$argon2id$v=19$m=…,t=…,p=…$salt$hash"`)
	}
	var m, t, p uint64
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return a, fmt.Errorf("argon2id parameters %q: %w", parts[3], err)
	}
	if m < 8 || m > 256*1024 || t < 1 || t > 10 || p < 1 || p > 16 {
		return a, fmt.Errorf("argon2id parameters %q are out of bounds (m 8–262144 KiB, t 1–10, p 1–16)", parts[3])
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 1024 {
		return a, errors.New("argon2id hash: salt and hash must be unpadded base64, at least 8 and 16 bytes (hash at most 1024)")
	}
	keyLen := uint32(len(key)) //nolint:gosec // at most 1024, checked above
	return argon2Params{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key, keyLen: keyLen}, nil
}

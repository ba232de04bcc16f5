// Package apikey authenticates requests by an API key in a header.
//
// Keys are held only as SHA-256 digests. A presented key is hashed, the
// candidates sharing the digest's first 8 bytes are found in a map, and
// each is compared with crypto/subtle in constant time, so neither the
// lookup nor the comparison works on the secret itself.
package apikey

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
)

// DefaultHeader carries API keys unless a policy names another header.
const DefaultHeader = "X-Api-Key" // canonical form of X-API-Key

// Keyring finds the consumer of a key. Built once per config and then
// only read.
type Keyring struct {
	// byPrefix indexes digests by their first 8 bytes; the full digest is
	// then compared in constant time.
	byPrefix map[[8]byte][]entry
	// groups are the groups of the live keyring's consumers.
	groups map[string][]string
}

type entry struct {
	digest   [sha256.Size]byte
	consumer string
	// expires is when the key stops working (Unix nanoseconds), 0: never.
	expires int64
}

// Digest is the SHA-256 of an API key, the only form a Keyring holds.
type Digest = [sha256.Size]byte

// NewKeyring returns a keyring of consumer name -> key digests.
func NewKeyring(keys map[string][]Digest) *Keyring {
	k := &Keyring{byPrefix: map[[8]byte][]entry{}}
	for consumer, list := range keys {
		for _, d := range list {
			p := [8]byte(d[:8])
			k.byPrefix[p] = append(k.byPrefix[p], entry{digest: d, consumer: consumer})
		}
	}
	return k
}

// LiveKey is a key managed through the admin API, which may expire.
type LiveKey struct {
	Consumer  string
	Digest    Digest
	ExpiresAt time.Time // zero: never
}

// NewLiveKeyring returns a keyring of live keys, whose consumers have the
// given groups (read-only; may be nil).
func NewLiveKeyring(keys []LiveKey, groups map[string][]string) *Keyring {
	k := &Keyring{byPrefix: map[[8]byte][]entry{}, groups: groups}
	for _, lk := range keys {
		e := entry{digest: lk.Digest, consumer: lk.Consumer}
		if !lk.ExpiresAt.IsZero() {
			e.expires = lk.ExpiresAt.UnixNano()
		}
		p := [8]byte(lk.Digest[:8])
		k.byPrefix[p] = append(k.byPrefix[p], e)
	}
	return k
}

// Lookup returns the consumer owning key, or "".
func (k *Keyring) Lookup(key string) string {
	return k.lookup(digest(key))
}

func (k *Keyring) lookup(d Digest) string {
	for _, e := range k.byPrefix[[8]byte(d[:8])] {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
			if e.expires != 0 && time.Now().UnixNano() >= e.expires {
				return ""
			}
			return e.consumer
		}
	}
	return ""
}

// Live holds the keyring of keys managed through the admin API. It outlives
// configs: compiled routes share it, and a key change swaps its keyring
// without recompiling anything.
type Live struct {
	p atomic.Pointer[Keyring]
}

// Set makes k the live keyring.
func (l *Live) Set(k *Keyring) { l.p.Store(k) }

// KeyDigest returns the digest of a key.
func KeyDigest(key string) Digest { return digest(key) }

// digest hashes key through a stack buffer: []byte(key) would allocate for
// keys longer than 32 bytes, which real keys are.
func digest(key string) [sha256.Size]byte {
	var buf [256]byte
	if len(key) > len(buf) {
		return sha256.Sum256([]byte(key))
	}
	n := copy(buf[:], key)
	return sha256.Sum256(buf[:n])
}

// Method authenticates by a key in one header.
type Method struct {
	header string
	// query, when set, is a query parameter that may carry the key instead
	// (for legacy clients); the header wins when both are sent.
	query string
	// bearer reads the key from "Authorization: Bearer <key>" (what the
	// OpenAI SDKs send).
	bearer bool
	keys   *Keyring
	live   *Live
	groups map[string][]string
}

// WithQueryParam returns m also reading the key from query parameter name.
func (m *Method) WithQueryParam(name string) *Method {
	c := *m
	c.query = name
	return &c
}

// Bearer returns the API key method reading the key from
// "Authorization: Bearer <key>", with m's keys.
func (m *Method) Bearer() *Method {
	c := *m
	c.header, c.bearer, c.query = "Authorization", true, ""
	return &c
}

// New returns the API key method reading header (canonical form), with the
// keys of the config and, when live is not nil, the live keys. groups maps
// consumers to their groups (read-only).
func New(header string, keys *Keyring, live *Live, groups map[string][]string) *Method {
	if header == "" {
		header = DefaultHeader
	}
	return &Method{header: http.CanonicalHeaderKey(header), keys: keys, live: live, groups: groups}
}

// Authenticate implements auth.Method.
func (m *Method) Authenticate(r *http.Request) (id pipeline.Identity, header string, found bool) {
	vs := r.Header[m.header]
	if m.bearer {
		if len(vs) != 1 || len(vs[0]) < 7 || !strings.EqualFold(vs[0][:7], "bearer ") {
			return id, m.header, false // another scheme: not this method's credential
		}
		vs = []string{strings.TrimSpace(vs[0][7:])}
	}
	if len(vs) == 0 && m.query != "" && r.URL.RawQuery != "" {
		if q := r.URL.Query()[m.query]; len(q) > 0 {
			vs = q
			id.QueryParam = m.query
		}
	}
	if len(vs) != 1 || vs[0] == "" {
		// Two keys are ambiguous; treat them as no valid key.
		return id, m.header, len(vs) > 0
	}
	d := digest(vs[0])
	id.Consumer = m.keys.lookup(d)
	id.Groups = m.groups[id.Consumer]
	if id.Consumer == "" && m.live != nil {
		if lk := m.live.p.Load(); lk != nil {
			id.Consumer = lk.lookup(d)
			// A consumer of the file keeps the file's groups.
			if id.Groups = m.groups[id.Consumer]; id.Groups == nil {
				id.Groups = lk.groups[id.Consumer]
			}
		}
	}
	return id, m.header, true
}

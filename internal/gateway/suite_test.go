package gateway_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/portico-gw/portico/internal/policy/apikey"
)

// suiteConfig guards one upstream every way Portico can: a jwt policy fed
// by a JWKS URL, API keys (file and live), basic auth, a consumer
// allow-list, an IP allow-list, an IP rate limit, a body limit, a request
// filter and CORS. 127.0.0.1 (the test client) is not a trusted proxy.
const suiteConfig = `
version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
trusted_proxies: [10.9.9.9]
auth_policies:
  - {name: idp, type: jwt, jwks_url: "JWKS", issuer: https://id.example.com, audience: shop, algorithms: [RS256], required_scopes: [orders:read]}
  - {name: partners, type: basic}
apis:
  - name: shop
    base_path: /shop
    upstream: up
    auth: [idp]
    cors: {origins: [https://app.example.com], methods: [GET]}
    request_filters: [{block_path: '(?i)/\.env$'}]
    routes:
      - {name: orders, path: "/orders/{rest...}"}
  - name: api
    base_path: /api
    upstream: up
    auth: [api_key, partners]
    routes:
      - {name: public, path: "/public/{rest...}", auth: [none], rate_limit: {limit: 3, window: 1h}}
      - {name: admin, path: "/admin/{rest...}"}
      - {name: acme-only, path: /acme, allow_consumers: [acme]}
      - {name: internal, path: /internal, auth: [none], ip_allow: [10.0.0.0/8]}
      - {name: upload, methods: [POST], path: /upload, max_body_bytes: 1024}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
    basic: [{username: acme, password_hash: "HASH"}]
  - name: other
    api_keys: [other-key-0123456789]
`

// attack is one hostile request and the answer it must get.
type attack struct {
	name         string
	method, path string
	header       http.Header
	body         io.Reader
	status       int
	code         string
}

// TestSecuritySuite sends the security checklist's attacks through a live
// gateway. Each gets its documented status and JSON error code, no error
// echoes a token, and the upstream sees none of them.
func TestSecuritySuite(t *testing.T) {
	t.Parallel()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	var jwksHits atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jwksHits.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Use: "sig", Algorithm: "RS256"}}})
	}))
	defer jwks.Close()
	hash, _ := bcrypt.GenerateFromPassword([]byte("open sesame"), bcrypt.MinCost)
	rec := newRecorder(t)
	cfg := strings.NewReplacer("JWKS", jwks.URL, "HASH", string(hash)).Replace(suiteConfig)
	e := start(t, cfg, rec.srv.URL)

	now := time.Now()
	claims := func(mut func(map[string]any)) map[string]any {
		c := map[string]any{"sub": "acme", "iss": "https://id.example.com", "aud": "shop", "scope": "orders:read",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		if mut != nil {
			mut(c)
		}
		return c
	}
	sign := func(k *rsa.PrivateKey, kid string, c map[string]any) string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", kid))
		payload, _ := json.Marshal(c)
		obj, _ := s.Sign(payload)
		tok, _ := obj.CompactSerialize()
		return tok
	}
	hs := func(header string, secret []byte) string {
		enc := base64.RawURLEncoding.EncodeToString
		payload, _ := json.Marshal(claims(nil))
		in := enc([]byte(header)) + "." + enc(payload)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + enc(m.Sum(nil))
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	// What is allowed passes, so every refusal below is the policy's doing.
	// The key set arrives in the background: wait for a good token.
	good := sign(key, "k1", claims(nil))
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := e.do("GET", "/shop/orders/1", hdr("Authorization", "Bearer "+good), nil)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a valid token is still refused: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := rec.last(t); got.Header.Get("X-Consumer") != "acme" || got.Header.Get("Authorization") != "" {
		t.Fatalf("upstream saw consumer %q and Authorization %q", got.Header.Get("X-Consumer"), got.Header.Get("Authorization"))
	}
	const liveKey = "live-key-0123456789"
	e.rt.LiveKeys.Set(apikey.NewLiveKeyring([]apikey.LiveKey{{Consumer: "acme", Digest: apikey.KeyDigest(liveKey)}}, nil))
	for _, ok := range []struct {
		path string
		h    http.Header
	}{
		{"/api/admin/x", hdr("X-API-Key", liveKey)},
		{"/api/acme", hdr("X-API-Key", "acme-key-0123456789")},
		{"/api/admin/x", hdr("Authorization", basicAuth("acme", "open sesame"))},
	} {
		if resp, body := e.do("GET", ok.path, ok.h, nil); resp.StatusCode != 200 {
			t.Fatalf("allowed request %s: %d %s", ok.path, resp.StatusCode, body)
		}
	}
	// Spend the IP limit of the public route (3 per hour).
	for i := range 3 {
		if resp, _ := e.do("GET", "/api/public/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("public request %d: %d", i, resp.StatusCode)
		}
	}
	// Revoke the live key, as the node does when the admin API revokes it.
	e.rt.LiveKeys.Set(apikey.NewLiveKeyring(nil, nil))
	seen := len(rec.all())

	bearer := func(tok string) http.Header { return hdr("Authorization", "Bearer "+tok) }
	attacks := []attack{
		// Tokens.
		{name: "missing token", path: "/shop/orders/1"},
		{name: "garbage token", path: "/shop/orders/1", header: bearer("not-a-token")},
		{name: "token without Bearer", path: "/shop/orders/1", header: hdr("Authorization", "Basic "+good)},
		{name: "expired token", path: "/shop/orders/1", header: bearer(sign(key, "k1", claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })))},
		{name: "not yet valid", path: "/shop/orders/1", header: bearer(sign(key, "k1", claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })))},
		{name: "alg none", path: "/shop/orders/1", header: bearer(strings.Join(strings.Split(hs(`{"alg":"none","kid":"k1"}`, nil), ".")[:2], ".") + ".")},
		{name: "RS256 public key as HS256 secret", path: "/shop/orders/1", header: bearer(hs(`{"alg":"HS256","kid":"k1"}`, pubPEM))},
		{name: "unknown signer", path: "/shop/orders/1", header: bearer(sign(other, "k1", claims(nil)))},
		{name: "wrong iss", path: "/shop/orders/1", header: bearer(sign(key, "k1", claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" })))},
		{name: "wrong aud", path: "/shop/orders/1", header: bearer(sign(key, "k1", claims(func(c map[string]any) { c["aud"] = "elsewhere" })))},
		{name: "missing scope", path: "/shop/orders/1", header: bearer(sign(key, "k1", claims(func(c map[string]any) { c["scope"] = "orders:write" })))},
		{name: "embedded jwk", path: "/shop/orders/1", header: bearer(hs(`{"alg":"RS256","jwk":{"kty":"RSA"}}`, nil))},
		{name: "20k dots", path: "/shop/orders/1", header: bearer(strings.Repeat(".", 20_000))},
		{name: "100k dots (header limit)", path: "/shop/orders/1", header: bearer(strings.Repeat(".", 100_000)), status: 431, code: "-"},
		// Keys and consumers.
		{name: "revoked API key", path: "/api/admin/x", header: hdr("X-API-Key", liveKey)},
		{name: "two API keys", path: "/api/admin/x", header: http.Header{"X-Api-Key": {"acme-key-0123456789", "other-key-0123456789"}}},
		{name: "wrong basic password", path: "/api/admin/x", header: hdr("Authorization", basicAuth("acme", "open sesam"))},
		{name: "another consumer's key on an allow-listed route", path: "/api/acme", header: hdr("X-API-Key", "other-key-0123456789"), status: 403, code: "forbidden"},
		{name: "forged X-Consumer", path: "/api/admin/x", header: hdr("X-Consumer", "acme")},
		// Client addresses.
		{name: "spoofed X-Forwarded-For against ip_allow", path: "/api/internal", header: hdr("X-Forwarded-For", "10.1.2.3"), status: 403, code: "forbidden"},
		{name: "spoofed X-Real-IP against ip_allow", path: "/api/internal", header: hdr("X-Real-IP", "10.1.2.3"), status: 403, code: "forbidden"},
		{name: "spoofed X-Forwarded-For against an IP limit", path: "/api/public/x", header: hdr("X-Forwarded-For", "203.0.113.7"), status: 429, code: "rate_limited"},
		// Paths.
		{name: "dot segments to a protected route", path: "/api/public/../admin/x"},
		{name: "encoded dot segments", path: "/api/public/%2e%2e/admin/x"},
		{name: "encoded slash", path: "/api/public%2F..%2Fadmin/x", status: 400, code: "bad_request"},
		{name: "double slash", path: "/api//admin/x"},
		{name: "encoded letter", path: "/api/%61dmin/x"},
		{name: "filtered path, encoded", path: "/shop/orders/%2Eenv", status: 403, code: "request_blocked"},
		// Bodies.
		{name: "body just over the limit, chunked", method: "POST", path: "/api/upload", header: hdr("X-API-Key", "acme-key-0123456789"),
			body: struct{ io.Reader }{strings.NewReader(strings.Repeat("x", 1025))}, status: 413, code: "body_too_large"},
		{name: "body just over the limit, with Content-Length", method: "POST", path: "/api/upload", header: hdr("X-API-Key", "acme-key-0123456789"),
			body: strings.NewReader(strings.Repeat("x", 1025)), status: 413, code: "body_too_large"},
		// Browsers.
		{name: "CORS preflight from another origin", method: "OPTIONS", path: "/shop/orders/1",
			header: hdr("Origin", "https://evil.example", "Access-Control-Request-Method", "GET"), status: 403, code: "cors_refused"},
	}
	for _, a := range attacks {
		if a.method == "" {
			a.method = "GET"
		}
		if a.status == 0 {
			a.status, a.code = 401, "unauthorized"
		}
		resp, body := e.doRaw(a.method, a.path, a.header, a.body)
		if resp.StatusCode != a.status {
			t.Errorf("%s: %d %s, want %d %s", a.name, resp.StatusCode, body, a.status, a.code)
			continue
		}
		if a.code != "-" {
			if got := decodeError(t, resp, body).Error.Code; got != a.code {
				t.Errorf("%s: code %q, want %q", a.name, got, a.code)
			}
		}
		if strings.Contains(body, "eyJ") {
			t.Errorf("%s: the error echoes the token: %s", a.name, body)
		}
	}

	// A kid flood: every token names a new kid; the issuer is asked at
	// most once more.
	before := jwksHits.Load()
	for i := range 100 {
		tok := sign(other, "flood-"+string(rune('a'+i%26))+string(rune('a'+i/26)), claims(nil))
		if resp, _ := e.do("GET", "/shop/orders/1", bearer(tok), nil); resp.StatusCode != 401 {
			t.Fatalf("kid flood token %d: %d", i, resp.StatusCode)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := jwksHits.Load() - before; n > 1 {
		t.Errorf("100 unknown kids made the gateway fetch the key set %d times, want at most 1", n)
	}
	if n := len(rec.all()); n != seen {
		for _, r := range rec.all()[seen:] {
			t.Errorf("the upstream received %s %s", r.Method, r.URI)
		}
	}
}

package gateway_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-gw/portico/internal/testenv"
)

// TestWycheproofThroughGateway sends every Wycheproof JWS vector through a
// live gateway, each group's key as the route's key set. The vectors'
// payloads are not JWT claims, so even the validly signed ones are not a
// login: every request must be answered 401, never 5xx, and none may reach
// the upstream. (The signature verdicts are checked in internal/policy/jwt.)
func TestWycheproofThroughGateway(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(testenv.SharedFile(t, "wycheproof/json_web_signature_test.json"))
	if err != nil {
		t.Fatalf("the Wycheproof vectors are missing: %v", err)
	}
	var doc struct {
		TestGroups []struct {
			Public  json.RawMessage `json:"public"`
			Private json.RawMessage `json:"private"`
			Tests   []struct {
				TcID int    `json:"tcId"`
				JWS  string `json:"jws"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t)
	dir := t.TempDir()
	sent := 0
	for i, g := range doc.TestGroups {
		key := g.Public
		if key == nil {
			key = g.Private
		}
		file := filepath.Join(dir, fmt.Sprintf("group-%d.json", i))
		if err := os.WriteFile(file, key, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := `
version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
auth_policies:
  - name: idp
    type: jwt
    jwks_file: "` + file + `"
    algorithms: [HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512]
apis:
  - name: a
    upstream: up
    auth: [idp]
    routes:
      - name: all
        path: /{rest...}
`
		e := start(t, cfg, rec.srv.URL)
		for _, tc := range g.Tests {
			sent++
			resp, body := e.do("GET", "/x", hdr("Authorization", "Bearer "+tc.JWS), nil)
			if resp.StatusCode != 401 {
				t.Errorf("tc %d: %d %s, want 401", tc.TcID, resp.StatusCode, body)
			}
		}
	}
	if sent != 401 {
		t.Fatalf("sent %d vectors, want 401", sent)
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d vectors reached the upstream", n)
	}
}

// TestRequireGroupsAndScopes checks routes that require a group or
// scopes, for an API key consumer (groups from the config) and a token
// holder (groups and scopes from the token).
func TestRequireGroupsAndScopes(t *testing.T) {
	t.Parallel()
	iss := newFileIssuer(t)
	file := iss.file
	rec := newRecorder(t)
	cfg := `
version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
auth_policies:
  - name: idp
    type: jwt
    jwks_file: "` + file + `"
apis:
  - name: a
    base_path: /a
    upstream: up
    auth: [api_key, idp]
    routes:
      - name: partners
        path: /partners
        require_groups: [partners, staff]
      - name: write
        path: /write
        require_scopes: [orders:write]
consumers:
  - name: acme
    groups: [partners]
    api_keys: [acme-key-0123456789]
  - name: other
    api_keys: [other-key-0123456789]
`
	e := start(t, cfg, rec.srv.URL)
	token := func(c map[string]any) string { return "Bearer " + iss.sign(t, c) }
	tests := []struct {
		desc, path string
		h          http.Header
		want       int
	}{
		{"key of a partner", "/a/partners", hdr("X-API-Key", acmeKey), 200},
		{"key of a consumer in no group", "/a/partners", hdr("X-API-Key", otherKey), 403},
		{"token in staff", "/a/partners", hdr("Authorization", token(map[string]any{"sub": "u1", "groups": []string{"staff"}})), 200},
		{"token in no listed group", "/a/partners", hdr("Authorization", token(map[string]any{"sub": "u2", "groups": []string{"guests"}})), 403},
		{"token with the scope", "/a/write", hdr("Authorization", token(map[string]any{"sub": "u3", "scope": "orders:read orders:write"})), 200},
		{"token without the scope", "/a/write", hdr("Authorization", token(map[string]any{"sub": "u4", "scope": "orders:read"})), 403},
		{"API keys grant no scopes", "/a/write", hdr("X-API-Key", acmeKey), 403},
		{"anonymous", "/a/partners", nil, 401},
	}
	for _, tt := range tests {
		resp, body := e.do("GET", tt.path, tt.h, nil)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.desc, resp.StatusCode, body, tt.want)
		}
	}
	for _, r := range rec.all() {
		if r.URI == "/write" && r.Header.Get("X-Consumer") != "u3" || r.URI == "/partners" && r.Header.Get("X-Consumer") != "acme" && r.Header.Get("X-Consumer") != "u1" {
			t.Errorf("the upstream served %s to %q", r.URI, r.Header.Get("X-Consumer"))
		}
	}
}

func TestForwardClaims(t *testing.T) {
	t.Parallel()
	iss := newFileIssuer(t)
	file := iss.file
	rec := newRecorder(t)
	cfg := `
version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
auth_policies:
  - name: idp
    type: jwt
    jwks_file: "` + file + `"
    forward_claims:
      - {claim: email, header: X-User-Email}
      - {claim: roles, header: X-User-Roles}
      - {claim: note, header: X-User-Note}
apis:
  - name: a
    upstream: up
    auth: [api_key, idp]
    routes:
      - name: all
        path: /{rest...}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
`
	e := start(t, cfg, rec.srv.URL)
	tok := iss.sign(t, map[string]any{"sub": "u1", "email": "u1@example.com", "roles": []string{"admin", "ops"},
		"note": "line\r\nX-Evil: 1"})

	resp, _ := e.do("GET", "/x", hdr("Authorization", "Bearer "+tok, "X-User-Email", "forged@example.com"), nil)
	got := rec.last(t).Header
	if resp.StatusCode != 200 || strings.Join(got.Values("X-User-Email"), "|") != "u1@example.com" || got.Get("X-User-Roles") != "admin,ops" {
		t.Fatalf("with a token: %d, email %v, roles %q", resp.StatusCode, got.Values("X-User-Email"), got.Get("X-User-Roles"))
	}
	if got.Get("X-User-Note") != "" || got.Get("X-Evil") != "" {
		t.Fatalf("a claim with CR/LF was forwarded: note %q, evil %q", got.Get("X-User-Note"), got.Get("X-Evil"))
	}
	// Authenticated by API key instead: the forged header still never passes.
	e.do("GET", "/x", hdr("X-API-Key", acmeKey, "X-User-Email", "forged@example.com", "X-User-Roles", "admin"), nil)
	got = rec.last(t).Header
	if got.Get("X-Consumer") != "acme" || got.Get("X-User-Email") != "" || got.Get("X-User-Roles") != "" {
		t.Fatalf("with an API key: consumer %q, email %q, roles %q", got.Get("X-Consumer"), got.Get("X-User-Email"), got.Get("X-User-Roles"))
	}
}

// fileIssuer is a test token issuer whose key set is a file on disk, for
// policies with jwks_file.
type fileIssuer struct {
	key  *rsa.PrivateKey
	file string
}

func newFileIssuer(t testing.TB) *fileIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(map[string]any{"keys": []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Use: "sig"}}})
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, set, 0o600); err != nil {
		t.Fatal(err)
	}
	return &fileIssuer{key: key, file: file}
}

// sign returns an RS256 token of claims, valid for an hour unless claims
// set exp.
func (i *fileIssuer) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: i.key}, (&jose.SignerOptions{}).WithHeader("kid", "k"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := obj.CompactSerialize()
	return tok
}

package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var (
	rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _  = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now       = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
)

func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
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

// raw builds a token from a header and payload, signed with HMAC-SHA256.
func raw(header, payload string, secret []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	in := enc([]byte(header)) + "." + enc([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(in))
	return in + "." + enc(mac.Sum(nil))
}

func good() map[string]any {
	return map[string]any{"sub": "acme", "iss": "https://id.example.com", "aud": []any{"shop", "other"},
		"exp": float64(now.Add(time.Hour).Unix()), "iat": float64(now.Unix()), "scope": "orders:read orders:write"}
}

func verifier(t *testing.T, algs ...string) *Verifier {
	t.Helper()
	keys := []Key{{ID: "rsa-1", Key: &rsaKey.PublicKey}, {ID: "ec-1", Key: &ecKey.PublicKey}}
	v, err := NewVerifier(Policy{Algorithms: algs, Issuer: "https://id.example.com", Audience: "shop",
		Leeway: 30 * time.Second, RequiredScopes: []string{"orders:read"}}, keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	t.Parallel()
	v := verifier(t, "RS256", "ES256")
	with := func(mut func(map[string]any)) map[string]any { c := good(); mut(c); return c }
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))})
	tests := []struct {
		desc  string
		token string
		want  error
	}{
		{"RS256", sign(t, jose.RS256, rsaKey, "rsa-1", good()), nil},
		{"ES256 without kid", sign(t, jose.ES256, ecKey, "", good()), nil},
		{"expired", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { c["exp"] = float64(now.Add(-time.Minute).Unix()) })), ErrExpired},
		{"expired within leeway", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { c["exp"] = float64(now.Add(-10 * time.Second).Unix()) })), nil},
		{"not yet valid", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { c["nbf"] = float64(now.Add(time.Minute).Unix()) })), ErrNotYetValid},
		{"issued in the future", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { c["iat"] = float64(now.Add(time.Hour).Unix()) })), ErrNotYetValid},
		{"exp not a number", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { c["exp"] = "tomorrow" })), ErrMalformed},
		{"wrong issuer", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { c["iss"] = "https://evil.example.com" })), ErrIssuer},
		{"wrong audience", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { c["aud"] = "other" })), ErrAudience},
		{"audience as a string", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { c["aud"] = "shop" })), nil},
		{"missing scope", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { c["scope"] = "orders:write" })), ErrScope},
		{"scope as scp list", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { delete(c, "scope"); c["scp"] = []any{"orders:read"} })), nil},
		{"no subject", sign(t, jose.RS256, rsaKey, "rsa-1", with(func(c map[string]any) { delete(c, "sub") })), ErrNoConsumerID},
		{"algorithm not allowed", sign(t, jose.PS256, rsaKey, "rsa-1", good()), ErrAlgorithm},
		{"alg none", raw(`{"alg":"none"}`, `{"sub":"acme"}`, nil)[:len(raw(`{"alg":"none"}`, `{"sub":"acme"}`, nil))-43], ErrAlgorithm},
		{"alg None", raw(`{"alg":"None"}`, `{"sub":"acme"}`, nil), ErrAlgorithm},
		{"RSA public key as HMAC secret", raw(`{"alg":"HS256","kid":"rsa-1"}`, `{"sub":"acme"}`, pubPEM), ErrAlgorithm},
		{"embedded jwk", raw(`{"alg":"RS256","jwk":{"kty":"oct","k":"AAAA"}}`, `{"sub":"acme"}`, nil), ErrHeader},
		{"crit header", raw(`{"alg":"RS256","crit":["exp"]}`, `{"sub":"acme"}`, nil), ErrHeader},
		{"unknown signing key", sign(t, jose.RS256, must(rsa.GenerateKey(rand.Reader, 2048)), "rsa-1", good()), ErrSignature},
		{"kid names another key", sign(t, jose.RS256, rsaKey, "ec-1", good()), ErrSignature},
		{"100k dots", strings.Repeat(".", 100_000), ErrMalformed},
		{"two parts", "a.b", ErrMalformed},
		{"garbage", "not a token", ErrMalformed},
		{"non-canonical base64 (unused bit set)", nonCanonical(sign(t, jose.RS256, rsaKey, "rsa-1", good())), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			_, consumer, err := v.Verify(tt.token, now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err == nil && consumer != "acme" {
				t.Fatalf("consumer %q, want acme", consumer)
			}
		})
	}
}

func TestNewVerifierRefusesNone(t *testing.T) {
	t.Parallel()
	for _, algs := range [][]string{nil, {"none"}, {"RS256", "none"}, {"HS1"}} {
		if _, err := NewVerifier(Policy{Algorithms: algs}, nil); err == nil {
			t.Errorf("algorithms %v were accepted", algs)
		}
	}
}

func TestParseJWKSSkipsEncryptionKeys(t *testing.T) {
	t.Parallel()
	jwk := func(use string) string {
		b, _ := json.Marshal(jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: use, Use: use})
		return string(b)
	}
	keys, err := ParseJWKS([]byte(`{"keys":[` + jwk("sig") + `,` + jwk("enc") + `]}`))
	if err != nil || len(keys) != 1 || keys[0].ID != "sig" {
		t.Fatalf("keys %+v, %v: want only the signing key", keys, err)
	}
}

// nonCanonical sets an unused low bit in the token's last character: a
// lenient decoder yields the same signature, a strict one refuses it.
func nonCanonical(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[i|1])
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkVerify is a token seen before: served from the cache.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		key  any
	}{{"RS256", jose.RS256, rsaKey}, {"ES256", jose.ES256, ecKey}} {
		b.Run(tc.name, func(b *testing.B) {
			keys := []Key{{ID: "rsa-1", Key: &rsaKey.PublicKey}, {ID: "ec-1", Key: &ecKey.PublicKey}}
			v, _ := NewVerifier(Policy{Algorithms: []string{string(tc.alg)}, Issuer: "https://id.example.com", Audience: "shop"}, keys)
			tok := sign(b, tc.alg, tc.key, "", good())
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := v.Verify(tok, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzVerify feeds arbitrary tokens to the verifier: it must never panic
// and never accept one (no fuzzer can sign with the test keys).
func FuzzVerify(f *testing.F) {
	f.Add(sign(f, jose.RS256, rsaKey, "rsa-1", good()))
	f.Add(raw(`{"alg":"HS256"}`, `{"sub":"x"}`, []byte("k")))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add(strings.Repeat("a.", 3))
	keys := []Key{{ID: "rsa-1", Key: &rsaKey.PublicKey}, {ID: "ec-1", Key: &ecKey.PublicKey}, {Key: []byte("fuzz-secret")}}
	v, err := NewVerifier(Policy{Algorithms: []string{"RS256", "ES256", "PS256", "EdDSA"}}, keys)
	if err != nil {
		f.Fatal(err)
	}
	valid := sign(f, jose.RS256, rsaKey, "rsa-1", good())
	f.Fuzz(func(t *testing.T, tok string) {
		if _, _, err := v.Verify(tok, now); err == nil && tok != valid {
			t.Fatalf("accepted a token nobody signed: %q", tok)
		}
	})
}

// TestCacheHonoursExpiry verifies a token, then asks again after its exp:
// the cached verdict must not outlive the token.
func TestCacheHonoursExpiry(t *testing.T) {
	t.Parallel()
	v, _ := NewVerifier(Policy{Algorithms: []string{"RS256"}}, []Key{{Key: &rsaKey.PublicKey}})
	c := good()
	c["exp"] = float64(now.Add(10 * time.Second).Unix())
	tok := sign(t, jose.RS256, rsaKey, "", c)
	if _, _, err := v.Verify(tok, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Verify(tok, now.Add(5*time.Second)); err != nil {
		t.Fatalf("a cached token within its exp: %v", err)
	}
	if _, _, err := v.Verify(tok, now.Add(11*time.Second)); !errors.Is(err, ErrExpired) {
		t.Fatalf("a cached token after its exp = %v, want ErrExpired", err)
	}
	// A forged token (a bit flipped in the signature) is never served from
	// the cache of the good one.
	if _, _, err := v.Verify(nonCanonical(tok), now); err == nil {
		t.Fatal("a modified token was accepted")
	}
}

// BenchmarkVerifyCold is a first sight of each token: the signature and
// claims are checked (the cache is bypassed).
func BenchmarkVerifyCold(b *testing.B) {
	for _, tc := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		key  any
	}{{"RS256", jose.RS256, rsaKey}, {"ES256", jose.ES256, ecKey}} {
		b.Run(tc.name, func(b *testing.B) {
			v, _ := NewVerifier(Policy{Algorithms: []string{string(tc.alg)}}, []Key{{Key: &rsaKey.PublicKey}, {Key: &ecKey.PublicKey}})
			tok := sign(b, tc.alg, tc.key, "", good())
			b.ReportAllocs()
			for b.Loop() {
				payload, err := v.verifySignature(tok)
				if err != nil {
					b.Fatal(err)
				}
				var c Claims
				if err := json.Unmarshal(payload, &c); err != nil || v.checkClaims(c, now) != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Package jwt verifies JSON Web Tokens for the jwt auth policy: the
// signature with a key of the policy's key set, under the policy's
// algorithms only, then the registered claims.
//
// JWK decoding is go-jose's; signatures are checked here with the standard
// library, strictly (go-jose accepts any PSS salt length; RFC 7518 fixes
// it to the hash size). A token is refused when:
//   - it is not a compact JWS of three parts, or is larger than MaxTokenLen;
//   - its "alg" is not one the policy allows ("none" never is);
//   - it carries "crit", or tries to bring its own key ("jwk", "jku",
//     "x5u", "x5c"): keys come only from the policy;
//   - no key of the set both fits the algorithm (an RSA public key is never
//     an HMAC secret) and verifies it, or the key is marked for encryption;
//   - its claims are expired, not yet valid, issued in the future, or name
//     another issuer or audience (each with the policy's leeway).
package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-gw/portico/internal/pipeline"
)

// MaxTokenLen bounds the tokens considered at all. A token of 100k dots
// once exhausted a popular library (CVE-2025-30204); this one is refused
// before any parsing.
const MaxTokenLen = 16 << 10

// Algorithms Portico verifies.
var supported = []jose.SignatureAlgorithm{
	jose.HS256, jose.HS384, jose.HS512,
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// Key is one verification key of a policy.
type Key struct {
	ID  string
	Alg string // the key's own "alg", if it states one
	// Key is an *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or
	// []byte (an HMAC secret).
	Key any
}

// ParseJWKS reads a JSON Web Key Set, or a single JWK. Keys marked for
// encryption ("use": "enc", or "key_ops" without "verify") are left out;
// private keys contribute only their public part.
func ParseJWKS(data []byte) ([]Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwt: key set: %w", err)
	}
	raws := set.Keys
	if raws == nil {
		raws = []json.RawMessage{data} // a single JWK
	}
	var keys []Key
	for i, raw := range raws {
		var meta struct {
			Use    string   `json:"use"`
			KeyOps []string `json:"key_ops"`
		}
		_ = json.Unmarshal(raw, &meta)
		if meta.Use == "enc" || meta.KeyOps != nil && !slices.Contains(meta.KeyOps, "verify") {
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("jwt: key %d: %w", i, err)
		}
		k := jwk.Key
		switch pk := k.(type) {
		case *rsa.PrivateKey:
			k = &pk.PublicKey
		case *ecdsa.PrivateKey:
			k = &pk.PublicKey
		case ed25519.PrivateKey:
			k = pk.Public()
		}
		keys = append(keys, Key{ID: jwk.KeyID, Alg: jwk.Algorithm, Key: k})
	}
	return keys, nil
}

// fits reports whether key may verify alg: the key type must match the
// algorithm family, an EC key's curve the algorithm's, and a key that
// names its algorithm must name this one.
func fits(k Key, alg jose.SignatureAlgorithm) bool {
	// A key's "alg" names the one algorithm it is for (RFC 7517 §4.4); a
	// value that is no registered algorithm (RFC 7520's "ES521") binds
	// nothing.
	if slices.Contains(supported, jose.SignatureAlgorithm(k.Alg)) && k.Alg != string(alg) {
		return false
	}
	switch key := k.Key.(type) {
	case []byte:
		return alg == jose.HS256 || alg == jose.HS384 || alg == jose.HS512
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case *ecdsa.PublicKey:
		want := map[jose.SignatureAlgorithm]elliptic.Curve{jose.ES256: elliptic.P256(), jose.ES384: elliptic.P384(), jose.ES512: elliptic.P521()}[alg]
		return want != nil && key.Curve == want
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// family is the algorithm family of an "alg" value: HS, RS, PS, ES or
// EdDSA, or "" for anything else.
func family(alg string) string {
	if alg == string(jose.EdDSA) {
		return alg
	}
	if len(alg) > 2 {
		switch f := alg[:2]; f {
		case "HS", "RS", "PS", "ES":
			return f
		}
	}
	return ""
}

// b64 decodes base64url strictly: no padding, no other characters, and no
// bits set past the data, so one token has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()

// Policy is what a token must satisfy.
type Policy struct {
	// Algorithms allowed; never empty (NewVerifier refuses that).
	Algorithms []string
	Issuer     string
	Audience   string
	// Leeway tolerates clock skew on exp, nbf and iat.
	Leeway time.Duration
	// RequiredClaims must be present (any value).
	RequiredClaims []string
	// RequiredScopes must all appear in "scope" (space-separated) or "scp".
	RequiredScopes []string
	// ConsumerClaim names the consumer; default "sub".
	ConsumerClaim string
}

// KeySet supplies verification keys.
type KeySet interface {
	Keys() []Key
	// Miss reports a token naming a kid the set lacks.
	Miss()
}

// StaticKeys is a fixed key set.
type StaticKeys []Key

// Keys implements KeySet.
func (k StaticKeys) Keys() []Key { return k }

// Miss implements KeySet.
func (StaticKeys) Miss() {}

// Verifier checks tokens against a policy and a key set.
type Verifier struct {
	p     Policy
	algs  []jose.SignatureAlgorithm
	keys  KeySet
	cache *tokenCache
}

// Asymmetric is the default algorithm list: every asymmetric algorithm,
// never an HMAC, whose secret could be a published key.
var Asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// NewVerifier returns a verifier of static keys.
func NewVerifier(p Policy, keys []Key) (*Verifier, error) {
	return NewVerifierWith(p, StaticKeys(keys))
}

// NewVerifierWith returns a verifier, refusing algorithms Portico does not
// verify ("none" included).
func NewVerifierWith(p Policy, keys KeySet) (*Verifier, error) {
	if len(p.Algorithms) == 0 {
		return nil, errors.New("jwt: a policy must list its algorithms")
	}
	v := &Verifier{p: p, keys: keys, cache: newTokenCache()}
	for _, a := range p.Algorithms {
		alg := jose.SignatureAlgorithm(a)
		if !slices.Contains(supported, alg) {
			return nil, fmt.Errorf("jwt: algorithm %q is not supported", a)
		}
		v.algs = append(v.algs, alg)
	}
	if v.p.ConsumerClaim == "" {
		v.p.ConsumerClaim = "sub"
	}
	return v, nil
}

// Errors a token can get; none of them echoes the token.
var (
	ErrMalformed    = errors.New("malformed token")
	ErrAlgorithm    = errors.New("token algorithm not allowed")
	ErrHeader       = errors.New("token header not accepted")
	ErrSignature    = errors.New("token signature not valid")
	ErrExpired      = errors.New("token expired")
	ErrNotYetValid  = errors.New("token not valid yet")
	ErrIssuer       = errors.New("token issuer not accepted")
	ErrAudience     = errors.New("token audience not accepted")
	ErrClaims       = errors.New("token claims incomplete")
	ErrScope        = errors.New("token scope insufficient")
	ErrNoConsumerID = errors.New("token names no consumer")
)

// Claims are a verified token's claims.
type Claims map[string]any

// Verify checks token at now and returns its claims and consumer. The
// claims are shared with later calls for the same token: read them only.
func (v *Verifier) Verify(token string, now time.Time) (Claims, string, error) {
	if len(token) > MaxTokenLen {
		return nil, "", ErrMalformed
	}
	if e, ok := v.cache.get(token, now.UnixNano()); ok {
		return e.claims, e.consumer, nil
	}
	payload, err := v.verifySignature(token)
	if err != nil {
		return nil, "", err
	}
	var claims Claims
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return nil, "", ErrMalformed
	}
	if err := v.checkClaims(claims, now); err != nil {
		return nil, "", err
	}
	consumer, _ := claims[v.p.ConsumerClaim].(string)
	if consumer == "" {
		return nil, "", ErrNoConsumerID
	}
	until := now.Add(cacheTTL).UnixNano()
	if exp, ok, _ := numeric(claims, "exp"); ok {
		until = min(until, int64((exp+v.p.Leeway.Seconds())*1e9))
	}
	v.cache.put(token, cached{claims: claims, consumer: consumer, until: until})
	return claims, consumer, nil
}

// verifySignature checks the token's form, header and signature, and
// returns its payload.
func (v *Verifier) verifySignature(token string) ([]byte, error) {
	if len(token) > MaxTokenLen || strings.Count(token, ".") != 2 {
		return nil, ErrMalformed
	}
	dot1 := strings.IndexByte(token, '.')
	dot2 := dot1 + 1 + strings.IndexByte(token[dot1+1:], '.')
	rawHeader, err1 := b64.DecodeString(token[:dot1])
	payload, err2 := b64.DecodeString(token[dot1+1 : dot2])
	sig, err3 := b64.DecodeString(token[dot2+1:])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, ErrMalformed
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(rawHeader, &header); err != nil {
		return nil, ErrMalformed
	}
	// Keys come only from the policy, and no extension is understood.
	for _, name := range []string{"jwk", "jku", "x5u", "x5c", "crit"} {
		if _, ok := header[name]; ok {
			return nil, ErrHeader
		}
	}
	var algName, kid string
	if json.Unmarshal(header["alg"], &algName) != nil {
		return nil, ErrMalformed
	}
	if raw, ok := header["kid"]; ok && json.Unmarshal(raw, &kid) != nil {
		return nil, ErrMalformed
	}
	alg := jose.SignatureAlgorithm(algName)
	if !slices.Contains(v.algs, alg) {
		return nil, ErrAlgorithm
	}
	signed := []byte(token[:dot2])
	kidKnown := false
	for _, k := range v.keys.Keys() {
		if kid != "" && k.ID != "" && k.ID != kid {
			continue
		}
		kidKnown = true
		if fits(k, alg) && verifyWith(k.Key, alg, signed, sig) {
			return payload, nil
		}
	}
	if kid != "" && !kidKnown {
		v.keys.Miss() // perhaps the issuer rotated its keys
	}
	return nil, ErrSignature
}

// verifyWith checks one signature. It is strict where RFC 7518 is: PSS
// salts are exactly the hash's size, ECDSA signatures are exactly r||s of
// the curve's size, HMACs are compared in constant time.
func verifyWith(key any, alg jose.SignatureAlgorithm, signed, sig []byte) bool {
	var h crypto.Hash
	switch alg[2:] {
	case "256", "SA":
		h = crypto.SHA256
	case "384":
		h = crypto.SHA384
	case "512":
		h = crypto.SHA512
	}
	if alg == jose.EdDSA {
		pk, ok := key.(ed25519.PublicKey)
		return ok && ed25519.Verify(pk, signed, sig)
	}
	hasher := h.New()
	hasher.Write(signed)
	digest := hasher.Sum(nil)
	switch alg[:2] {
	case "HS":
		secret, ok := key.([]byte)
		if !ok {
			return false
		}
		mac := hmac.New(h.New, secret)
		mac.Write(signed)
		return hmac.Equal(mac.Sum(nil), sig)
	case "RS":
		pk, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPKCS1v15(pk, h, digest, sig) == nil
	case "PS":
		pk, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPSS(pk, h, digest, sig, &rsa.PSSOptions{SaltLength: h.Size(), Hash: h}) == nil
	case "ES":
		pk, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		size := (pk.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pk, digest, r, s)
	}
	return false
}

func numeric(c Claims, name string) (float64, bool, error) {
	v, ok := c[name]
	if !ok {
		return 0, false, nil
	}
	f, isNum := v.(float64)
	if !isNum {
		return 0, true, ErrMalformed
	}
	return f, true, nil
}

func (v *Verifier) checkClaims(c Claims, now time.Time) error {
	t := float64(now.Unix())
	leeway := v.p.Leeway.Seconds()
	if exp, ok, err := numeric(c, "exp"); err != nil {
		return err
	} else if ok && t >= exp+leeway {
		return ErrExpired
	}
	if nbf, ok, err := numeric(c, "nbf"); err != nil {
		return err
	} else if ok && t+leeway < nbf {
		return ErrNotYetValid
	}
	if iat, ok, err := numeric(c, "iat"); err != nil {
		return err
	} else if ok && t+leeway < iat {
		return ErrNotYetValid
	}
	if v.p.Issuer != "" {
		if iss, _ := c["iss"].(string); iss != v.p.Issuer {
			return ErrIssuer
		}
	}
	if v.p.Audience != "" && !audienceHas(c["aud"], v.p.Audience) {
		return ErrAudience
	}
	for _, name := range v.p.RequiredClaims {
		if _, ok := c[name]; !ok {
			return ErrClaims
		}
	}
	if len(v.p.RequiredScopes) > 0 {
		have := scopes(c)
		for _, s := range v.p.RequiredScopes {
			if !slices.Contains(have, s) {
				return ErrScope
			}
		}
	}
	return nil
}

func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if s, _ := v.(string); s == want {
				return true
			}
		}
	}
	return false
}

func scopes(c Claims) []string {
	var out []string
	if s, ok := c["scope"].(string); ok {
		out = append(out, strings.Fields(s)...)
	}
	if list, ok := c["scp"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// Method authenticates by a bearer token in Authorization.
type Method struct {
	v *Verifier
	// forward maps claims to the headers that carry them upstream.
	forward []Forward
	names   []string
}

// Forward sends a claim upstream in a header.
type Forward struct{ Claim, Header string }

// NewMethod returns the jwt auth method of a verifier, forwarding claims.
func NewMethod(v *Verifier, forward ...Forward) *Method {
	m := &Method{v: v, forward: forward}
	for _, f := range forward {
		m.names = append(m.names, http.CanonicalHeaderKey(f.Header))
	}
	return m
}

// InjectedHeaders implements auth.Injector.
func (m *Method) InjectedHeaders() []string { return m.names }

// Authenticate implements auth.Method: the consumer from the token, its
// groups from the "groups" claim and its scopes from "scope" or "scp". The
// header is not forwarded once the token was accepted.
func (m *Method) Authenticate(r *http.Request) (id pipeline.Identity, header string, found bool) {
	h := r.Header["Authorization"]
	if len(h) == 0 {
		return id, "", false
	}
	token, ok := strings.CutPrefix(h[0], "Bearer ")
	if !ok || len(h) != 1 {
		return id, "Authorization", true
	}
	claims, consumer, err := m.v.Verify(token, time.Now())
	if err != nil {
		return id, "Authorization", true
	}
	id.Consumer, id.Scopes, id.Claims = consumer, scopes(claims), claims
	for i, f := range m.forward {
		if v, ok := claimString(claims[f.Claim]); ok {
			id.Headers = append(id.Headers, m.names[i], v)
		}
	}
	if list, ok := claims["groups"].([]any); ok {
		for _, g := range list {
			if s, ok := g.(string); ok {
				id.Groups = append(id.Groups, s)
			}
		}
	}
	return id, "Authorization", true
}

// claimString renders a claim for a header: strings as they are, numbers
// and booleans in JSON, lists of strings comma-separated. Values with
// control characters are not forwarded.
func claimString(v any) (string, bool) {
	var s string
	switch c := v.(type) {
	case string:
		s = c
	case float64, bool:
		b, _ := json.Marshal(c)
		s = string(b)
	case []any:
		parts := make([]string, 0, len(c))
		for _, e := range c {
			if es, ok := e.(string); ok {
				parts = append(parts, es)
			}
		}
		s = strings.Join(parts, ",")
	default:
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return "", false
		}
	}
	return s, s != ""
}

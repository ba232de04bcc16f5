package jwt

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func jwksOf(t testing.TB, kid string, key any) []byte {
	b, err := json.Marshal(map[string]any{"keys": []jose.JSONWebKey{{Key: key, KeyID: kid, Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func waitKeys(t *testing.T, s *Source, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Keys()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("the source has %d keys, want %d", len(s.Keys()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSourceRefreshAndOutage(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	var down atomic.Bool
	var doc atomic.Pointer[[]byte]
	first := jwksOf(t, "k1", &rsaKey.PublicKey)
	doc.Store(&first)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(*doc.Load())
	}))
	defer srv.Close()
	ss := &Sources{}
	defer ss.Close()
	s := ss.Get(srv.URL, false)
	waitKeys(t, s, 1)
	if ss.Get(srv.URL, false) != s {
		t.Fatal("a second Get started another source for the same URL")
	}
	v, _ := NewVerifierWith(Policy{Algorithms: []string{"RS256", "ES256"}}, s)
	if _, _, err := v.Verify(sign(t, jose.RS256, rsaKey, "k1", good()), now); err != nil {
		t.Fatalf("a token of the fetched key: %v", err)
	}
	// The issuer rotates to an EC key: the first token with the new kid
	// triggers one refresh; a flood of unknown kids triggers no more.
	second := jwksOf(t, "k2", &ecKey.PublicKey)
	doc.Store(&second)
	before := hits.Load()
	for i := range 200 {
		_, _, _ = v.Verify(sign(t, jose.ES256, ecKey, "made-up-"+string(rune('a'+i%26)), good()), now)
	}
	waitKeys(t, s, 1)
	deadline := time.Now().Add(5 * time.Second)
	for s.Keys()[0].ID != "k2" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := hits.Load() - before; got != 1 {
		t.Fatalf("200 unknown kids caused %d fetches, want 1", got)
	}
	if _, _, err := v.Verify(sign(t, jose.ES256, ecKey, "k2", good()), now); err != nil {
		t.Fatalf("a token of the rotated key: %v", err)
	}
	// The issuer goes down: the last good set stays.
	down.Store(true)
	s.lastMiss.Store(0)
	s.Miss()
	time.Sleep(200 * time.Millisecond)
	if len(s.Keys()) != 1 || s.Keys()[0].ID != "k2" {
		t.Fatalf("after a failed refresh the keys are %+v, want the last good set", s.Keys())
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) { w.Write(jwksOf(t, "d1", &rsaKey.PublicKey)) })
	ss := &Sources{}
	defer ss.Close()
	waitKeys(t, ss.Get(srv.URL, true), 1)
}

func TestCacheLifetime(t *testing.T) {
	t.Parallel()
	for cc, want := range map[string]time.Duration{
		"":                       DefaultRefresh,
		"public, max-age=7200":   2 * time.Hour,
		"max-age=5":              MinRefresh,
		"max-age=9999999":        MaxRefresh,
		"no-store":               MinRefresh,
		"max-age=oops, no-cache": MinRefresh,
	} {
		if got := cacheLifetime(cc); got != want {
			t.Errorf("cacheLifetime(%q) = %v, want %v", cc, got, want)
		}
	}
}

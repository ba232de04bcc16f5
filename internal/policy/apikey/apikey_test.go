package apikey_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/policy/access"
	"github.com/portico-gw/portico/internal/policy/apikey"
	"github.com/portico-gw/portico/internal/policy/auth"
)

const longKey = "acme-key-0123456789abcdef0123456789abcdef0123456789"

func keys() *apikey.Keyring {
	d := apikey.KeyDigest
	return apikey.NewKeyring(map[string][]apikey.Digest{
		"acme":  {d(longKey), d("acme-second-key-012345")},
		"other": {d("other-key-0123456789")},
	})
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	k := keys()
	tests := map[string]string{
		longKey:                  "acme",
		"acme-second-key-012345": "acme",
		"other-key-0123456789":   "other",
		"other-key-012345678":    "",
		"":                       "",
		longKey + "x":            "",
	}
	for key, want := range tests {
		if got := k.Lookup(key); got != want {
			t.Errorf("Lookup(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestCustomHeader(t *testing.T) {
	t.Parallel()
	m := apikey.New("x-partner-key", keys(), nil, nil)
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", longKey)
	if id, _, found := m.Authenticate(r); found || id.Consumer != "" {
		t.Fatalf("a key in X-API-Key authenticated a policy reading X-Partner-Key: %q", id.Consumer)
	}
	r.Header.Set("X-Partner-Key", longKey)
	id, h, found := m.Authenticate(r)
	c := id.Consumer
	if !found || c != "acme" || h != "X-Partner-Key" {
		t.Fatalf("got %q %q %v, want acme X-Partner-Key true", c, h, found)
	}
}

// TestChainDoesNotAllocate holds the compiled policy chain of an
// authenticated, allow-listed route to zero allocations per request.
func TestChainDoesNotAllocate(t *testing.T) {
	terminal := pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request, *pipeline.Exchange) error { return nil })
	h := pipeline.Chain(terminal,
		auth.New([]auth.Method{apikey.New("", keys(), &apikey.Live{}, map[string][]string{"acme": {"partners"}})}, false),
		access.RequireGroups([]string{"partners"}),
		access.Consumers([]string{"acme"}),
	)
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", longKey)
	x := &pipeline.Exchange{}
	if err := h.Serve(nil, r, x); err != nil || x.Consumer != "acme" {
		t.Fatalf("chain: %v, consumer %q", err, x.Consumer)
	}
	if n := testing.AllocsPerRun(200, func() { _ = h.Serve(nil, r, x) }); n != 0 {
		t.Fatalf("the policy chain allocates %v times per request, want 0", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	k := keys()
	b.ReportAllocs()
	for b.Loop() {
		k.Lookup(longKey)
	}
}

func TestLiveKeys(t *testing.T) {
	t.Parallel()
	live := &apikey.Live{}
	m := apikey.New("", keys(), live, nil)
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", "live-key-0123456789")
	if id, _, _ := m.Authenticate(r); id.Consumer != "" {
		t.Fatalf("an unknown key authenticated as %q", id.Consumer)
	}
	live.Set(apikey.NewLiveKeyring([]apikey.LiveKey{
		{Consumer: "portal-user", Digest: apikey.KeyDigest("live-key-0123456789")},
		{Consumer: "old", Digest: apikey.KeyDigest("expired-key-0123456789"), ExpiresAt: time.Now().Add(-time.Second)},
	}, map[string][]string{"portal-user": {"beta"}}))
	if id, _, _ := m.Authenticate(r); id.Consumer != "portal-user" || len(id.Groups) != 1 || id.Groups[0] != "beta" {
		t.Fatalf("a live key authenticated as %q in %v, want portal-user in [beta]", id.Consumer, id.Groups)
	}
	r.Header.Set("X-API-Key", "expired-key-0123456789")
	if id, _, _ := m.Authenticate(r); id.Consumer != "" {
		t.Fatalf("an expired key authenticated as %q", id.Consumer)
	}
	r.Header.Set("X-API-Key", longKey) // config keys still work
	if id, _, _ := m.Authenticate(r); id.Consumer != "acme" {
		t.Fatalf("a config key authenticated as %q", id.Consumer)
	}
}

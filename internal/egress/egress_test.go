package egress

import (
	"net/netip"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	def := NewPolicy(Settings{}, "127.0.0.1:9080", "0.0.0.0:9090")
	tests := []struct {
		p    *Policy
		addr string
		ok   bool
	}{
		{def, "169.254.169.254:80", false},
		{def, "[fe80::1]:80", false},
		{def, "[::ffff:169.254.169.254]:80", false},
		{def, "[fe80::1%eth0]:80", false}, // a zone does not take an address out of a prefix
		{def, "[fe80::a9fe:a9fe%25eth0]:80", false},
		{def, "[::ffff:169.254.169.254%eth0]:80", false},
		{def, "[::1%lo]:9080", false},
		{def, "127.0.0.1:8081", true}, // sidecars on loopback stay allowed
		{def, "10.1.2.3:443", true},
		{def, "127.0.0.1:9080", false}, // the admin listener
		{def, "127.0.0.2:9080", false}, // any loopback address reaches it
		{def, "127.0.0.1:9090", false}, // the portal, bound to all addresses
		{def, "10.9.9.9:9080", true},   // another host's 9080
		{NewPolicy(Settings{UpstreamAllow: []string{"169.254.169.254"}}), "169.254.169.254:80", true},
		{NewPolicy(Settings{UpstreamDeny: []string{"10.0.0.0/8"}}), "10.1.2.3:80", false},
		{NewPolicy(Settings{UpstreamDeny: []string{"10.0.0.0/8"}}), "169.254.169.254:80", true}, // the deny-list was replaced
	}
	for _, tt := range tests {
		err := tt.p.Check(netip.MustParseAddrPort(tt.addr))
		if (err == nil) != tt.ok {
			t.Errorf("Check(%s) = %v, want allowed %v", tt.addr, err, tt.ok)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	c := &config.Config{Upstreams: []config.Upstream{{Name: "u", Targets: []config.Target{
		{URL: "http://169.254.169.254/latest"}, {URL: "http://localhost:9080"}, {URL: "https://orders.internal"}, {URL: "http://[fe80::1]:8080"},
		{URL: "http://[fe80::1%25eth0]:8080/"},
	}}}}
	got := NewPolicy(Settings{}, "127.0.0.1:9080").CheckConfig(c)
	for _, path := range []string{"upstreams[0].targets[0].url", "upstreams[0].targets[1].url", "upstreams[0].targets[3].url", "upstreams[0].targets[4].url"} {
		if got[path] == nil {
			t.Errorf("%s was not refused", path)
		}
	}
	if len(got) != 4 {
		t.Errorf("refused %v; a host name is checked at dial time, not here", got)
	}
}

// TestControl is the check at dial time, on the address a name resolved
// to: a link-local address with its interface is refused like one without.
func TestControl(t *testing.T) {
	t.Parallel()
	p := NewPolicy(Settings{})
	for _, addr := range []string{"169.254.169.254:80", "[fe80::1]:80", "[fe80::1%eth0]:80"} {
		if err := p.Control("tcp", addr, nil); err == nil {
			t.Errorf("dial to %s was allowed", addr)
		}
	}
	if err := p.Control("tcp", "10.1.2.3:80", nil); err != nil {
		t.Errorf("dial to 10.1.2.3:80: %v", err)
	}
}

func TestParseSettings(t *testing.T) {
	t.Parallel()
	if _, err := ParseSettings([]byte(`{"upstream_allow":["nonsense"]}`)); err == nil {
		t.Error("an invalid prefix was accepted")
	}

	s, err := ParseSettings([]byte(`{}`))
	if err != nil || s.UpstreamDeny != nil {
		t.Errorf("{} = %+v, %v", s, err)
	}
}

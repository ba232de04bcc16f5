package gateway

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/policy/access"
)

var testTrusted = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.1/32"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("fd00::/8"),
}

// TestClientIP covers the address IP rules, rate limits and logs see. A
// link-local IPv6 peer's address carries the interface it came in on
// ("fe80::1%eth0"); a prefix never contains a zoned address, so a deny
// rule for fe80::/10 would let such a client through unless the zone is
// dropped. The zone names an interface, not a client.
func TestClientIP(t *testing.T) {
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
		err        bool
	}{
		{name: "untrusted peer", peer: "203.0.113.7:5000", xff: []string{"10.1.2.3"}, want: "203.0.113.7"},
		{name: "mapped peer", peer: "[::ffff:203.0.113.7]:5000", want: "203.0.113.7"},
		{name: "link-local peer", peer: "[fe80::1%eth0]:5000", want: "fe80::1"},
		{name: "link-local mapped", peer: "[::ffff:10.0.0.1%eth0]:5000", want: "10.0.0.1"},
		{name: "trusted, no chain", peer: "127.0.0.1:5000", want: "127.0.0.1"},
		{name: "trusted chain", peer: "127.0.0.1:5000", xff: []string{"198.51.100.2, 10.0.0.9"}, want: "198.51.100.2"},
		{name: "right-most untrusted", peer: "127.0.0.1:5000", xff: []string{"10.9.9.9, 203.0.113.7, 10.0.0.1"}, want: "203.0.113.7"},
		{name: "two fields", peer: "127.0.0.1:5000", xff: []string{"203.0.113.1", "10.0.0.2"}, want: "203.0.113.1"},
		{name: "all trusted", peer: "127.0.0.1:5000", xff: []string{"10.0.0.3, 10.0.0.2"}, want: "10.0.0.3"},
		{name: "zoned in chain", peer: "127.0.0.1:5000", xff: []string{"fe80::2%eth1"}, want: "fe80::2"},
		{name: "zone cannot make trusted untrusted", peer: "127.0.0.1:5000", xff: []string{"198.51.100.2, fd00::1%x"}, want: "198.51.100.2"},
		{name: "mapped in chain", peer: "127.0.0.1:5000", xff: []string{"::ffff:198.51.100.3"}, want: "198.51.100.3"},
		{name: "garbage", peer: "127.0.0.1:5000", xff: []string{"nope"}, err: true},
		{name: "empty item", peer: "127.0.0.1:5000", xff: []string{"198.51.100.2,,10.0.0.1"}, err: true},
		{name: "port in chain", peer: "127.0.0.1:5000", xff: []string{"198.51.100.2:80"}, err: true},
		{name: "no peer", peer: "", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			var x pipeline.Exchange
			err := clientIP(r, &x, testTrusted)
			if tc.err {
				if err == nil {
					t.Fatalf("client %v, want an error", x.ClientIP)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := x.ClientIP.String(); got != tc.want {
				t.Errorf("client %s, want %s", got, tc.want)
			}
		})
	}
}

// TestLinkLocalPeerMeetsIPRules: a route's IP rules apply to a client on
// the local link as to any other.
func TestLinkLocalPeerMeetsIPRules(t *testing.T) {
	link := []netip.Prefix{netip.MustParsePrefix("fe80::/10")}
	ok := pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request, *pipeline.Exchange) error { return nil })
	for _, tc := range []struct {
		name        string
		allow, deny []netip.Prefix
		want        error
	}{
		{"denied", nil, link, pipeline.ErrForbidden},
		{"allowed", link, nil, nil},
	} {
		r := &http.Request{RemoteAddr: "[fe80::1%eth0]:5000", Header: http.Header{}}
		var x pipeline.Exchange
		if err := clientIP(r, &x, nil); err != nil {
			t.Fatal(err)
		}
		if err := pipeline.Chain(ok, access.IPs(tc.allow, tc.deny)).Serve(nil, r, &x); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzClientIP: whatever the peer and the chain, the client address is
// a plain one (no zone, no IPv4-mapped form, which prefixes would not
// contain), and an address other than the peer's is taken only from a
// trusted peer's chain, and only past addresses that are all trusted.
func FuzzClientIP(f *testing.F) {
	f.Add("127.0.0.1:1", "198.51.100.2, 10.0.0.1")
	f.Add("[fe80::1%eth0]:1", "10.0.0.1")
	f.Add("127.0.0.1:1", "fd00::1%x, ::ffff:10.0.0.2")
	f.Add("203.0.113.7:1", "10.0.0.1")
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{"X-Forwarded-For": {xff}}}
		var x pipeline.Exchange
		if err := clientIP(r, &x, testTrusted); err != nil {
			return
		}
		got := x.ClientIP
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("client address %v (peer %q, chain %q)", got, peer, xff)
		}
		ap := netip.MustParseAddrPort(peer)
		p := ap.Addr().WithZone("").Unmap()
		if got == p {
			return
		}
		if !inPrefixes(testTrusted, p) {
			t.Fatalf("untrusted peer %v, but the client is %v from %q", p, got, xff)
		}
		// Walk the chain from the right: every address passed before
		// the client's must be trusted.
		items := strings.Split(xff, ",")
		for i := len(items) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(items[i]))
			if err != nil {
				t.Fatalf("accepted an unparsable chain %q", xff)
			}
			a = a.WithZone("").Unmap()
			if a == got {
				return
			}
			if !inPrefixes(testTrusted, a) {
				t.Fatalf("client %v, but %v right of it is untrusted (%q)", got, a, xff)
			}
		}
		t.Fatalf("client %v is neither the peer nor in the chain %q", got, xff)
	})
}

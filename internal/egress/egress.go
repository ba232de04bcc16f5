// Package egress decides which addresses the gateway may connect to as
// upstreams. An admin API is a classic SSRF vector: whoever may edit a draft
// could point an upstream at the cloud metadata service (169.254.169.254)
// or at Portico's own admin listener. The policy is checked twice: on
// publish, for target URLs that name an address (a clear error early), and
// at every dial, on the address the name resolved to (so DNS tricks and
// rebinding cannot get around it).
package egress

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/portico-gw/portico/internal/config"
)

// DefaultDeny is the deny-list of a group that sets none: link-local
// addresses, where cloud metadata services live. Loopback stays allowed:
// sidecar deployments need it.
var DefaultDeny = []string{"169.254.0.0/16", "fe80::/10"}

// Settings are a gateway group's egress settings, as stored (JSON).
type Settings struct {
	// UpstreamDeny replaces DefaultDeny when set.
	UpstreamDeny []string `json:"upstream_deny,omitempty"`
	// UpstreamAllow exempts addresses from the deny-list and from the ban
	// on Portico's own listeners.
	UpstreamAllow []string `json:"upstream_allow,omitempty"`
}

// ParseSettings reads the egress part of a group's settings document; "{}"
// is the default. The document has other sections (governance), which are
// left to their owners; the admin API checks the whole document strictly.
func ParseSettings(doc []byte) (Settings, error) {
	var s Settings
	if len(doc) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(doc, &s); err != nil {
		return s, fmt.Errorf("settings: %w", err)
	}
	for _, list := range [][]string{s.UpstreamDeny, s.UpstreamAllow} {
		for _, p := range list {
			if _, err := config.ParsePrefix(p); err != nil {
				return s, fmt.Errorf("settings: %w", err)
			}
		}
	}
	return s, nil
}

// Policy is a compiled egress policy.
type Policy struct {
	deny, allow []netip.Prefix
	// own are Portico's own listeners; local are this host's addresses,
	// which reach a listener bound to an unspecified address.
	own   []netip.AddrPort
	local []netip.Addr
}

// NewPolicy compiles settings, with the node's own listener addresses
// (host:port strings) that upstreams may never reach unless allowed.
func NewPolicy(s Settings, own ...string) *Policy {
	p := &Policy{}
	deny := s.UpstreamDeny
	if deny == nil {
		deny = DefaultDeny
	}
	for _, d := range deny {
		if pr, err := config.ParsePrefix(d); err == nil {
			p.deny = append(p.deny, pr)
		}
	}
	for _, a := range s.UpstreamAllow {
		if pr, err := config.ParsePrefix(a); err == nil {
			p.allow = append(p.allow, pr)
		}
	}
	for _, o := range own {
		if ap, err := netip.ParseAddrPort(o); err == nil {
			p.own = append(p.own, netip.AddrPortFrom(ap.Addr().WithZone("").Unmap(), ap.Port()))
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if pr, err := netip.ParsePrefix(a.String()); err == nil {
				p.local = append(p.local, pr.Addr().Unmap())
			}
		}
	}
	return p
}

// Check reports why the gateway may not connect to addr, or nil. An IPv6
// zone ("fe80::1%eth0") is dropped first: it picks the interface, not the
// host, and no prefix contains a zoned address, so with it the default
// deny-list would not hold for link-local IPv6.
func (p *Policy) Check(addr netip.AddrPort) error {
	ip := addr.Addr().WithZone("").Unmap()
	for _, a := range p.allow {
		if a.Contains(ip) {
			return nil
		}
	}
	for _, d := range p.deny {
		if d.Contains(ip) {
			return fmt.Errorf("upstream address %s is in the group's deny-list (%s); an admin can allow it in the group's settings", ip, d)
		}
	}
	for _, o := range p.own {
		if o.Port() == addr.Port() && (o.Addr() == ip || ip.IsLoopback() || o.Addr().IsUnspecified() && p.isLocal(ip)) {
			return fmt.Errorf("upstream address %s is Portico's own listener %s", addr, o)
		}
	}
	return nil
}

func (p *Policy) isLocal(ip netip.Addr) bool {
	for _, l := range p.local {
		if l == ip {
			return true
		}
	}
	return false
}

// Control is a net.Dialer.Control function that refuses denied addresses
// after name resolution, just before connecting.
func (p *Policy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: %q: %w", address, err)
	}
	return p.Check(ap)
}

// CheckConfig returns the config paths of target URLs that name a denied
// address literally (host names are checked when they are dialled), each
// with the reason.
func (p *Policy) CheckConfig(c *config.Config) map[string]error {
	out := map[string]error{}
	for i, u := range c.Upstreams {
		for j, t := range u.Targets {
			host, port, ok := hostPort(t.URL)
			if !ok {
				continue
			}
			if host == "localhost" {
				host = "127.0.0.1"
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				continue
			}
			if err := p.Check(netip.AddrPortFrom(ip, port)); err != nil {
				out[fmt.Sprintf("upstreams[%d].targets[%d].url", i, j)] = err
			}
		}
	}
	return out
}

func hostPort(raw string) (string, uint16, bool) {
	rest, ok := strings.CutPrefix(raw, "http://")
	port := uint16(80)
	if !ok {
		if rest, ok = strings.CutPrefix(raw, "https://"); !ok {
			return "", 0, false
		}
		port = 443
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if h, p, err := net.SplitHostPort(rest); err == nil {
		var n uint16
		if _, err := fmt.Sscan(p, &n); err != nil {
			return "", 0, false
		}
		return strings.Trim(h, "[]"), n, true
	}
	return strings.Trim(rest, "[]"), port, true
}

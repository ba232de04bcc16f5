package governance

import (
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

func sample() *config.Config {
	return &config.Config{
		Version: 1,
		Upstreams: []config.Upstream{
			{Name: "legacy", Targets: []config.Target{{URL: "http://vendor.example.com"}}},
			{Name: "local", Targets: []config.Target{{URL: "http://127.0.0.1:9000"}}},
			{Name: "secure", Targets: []config.Target{{URL: "https://orders.internal"}}},
		},
		APIs: []config.API{
			{Name: "orders", Upstream: "secure", Auth: []string{"api_key"}, Routes: []config.Route{
				{Name: "get-order", Path: "/{id}", Auth: []string{"api_key"}},
				{Name: "ListOrders", Path: "/"},
			}},
			{Name: "vendor", Upstream: "legacy", Auth: []string{"none"}, Routes: []config.Route{{Name: "feed", Path: "/"}}},
			{Name: "sidecar", Upstream: "local", Auth: []string{"api_key"}, Routes: []config.Route{{Name: "ping", Path: "/", Auth: []string{"api_key"}}}},
		},
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	p := Policy{Rules: Rules{
		RouteAuthExplicit: true, NoAnonymousWithoutRateLimit: true, RouteNamePattern: "^[a-z][a-z0-9-]*$",
		UpstreamHTTPS: &HTTPSRule{AllowHTTP: []string{"127.0.0.1"}},
	}}
	var got []string
	for _, v := range p.Check(sample(), now) {
		got = append(got, v.Rule+" "+v.API)
	}
	want := "route_auth_explicit orders,route_name_pattern orders,route_auth_explicit vendor,no_anonymous_without_rate_limit vendor,upstream_https vendor"
	if strings.Join(got, ",") != want {
		t.Fatalf("violations:\n got %s\nwant %s", strings.Join(got, ","), want)
	}
	p.Exceptions = []Exception{
		{Rule: UpstreamHTTPS, API: "vendor", Reason: "the vendor has no TLS", Expires: now.Add(24 * time.Hour)},
		{Rule: RouteAuthExplicit, API: "vendor", Reason: "expired", Expires: now.Add(-time.Hour)},
	}
	got = nil
	for _, v := range p.Check(sample(), now) {
		got = append(got, v.Rule+" "+v.API)
	}
	if strings.Join(got, ",") != "route_auth_explicit orders,route_name_pattern orders,route_auth_explicit vendor,no_anonymous_without_rate_limit vendor" {
		t.Fatalf("with exceptions: %v (an expired exception must not apply)", got)
	}
	if vs := p.Check(sample(), now.Add(48*time.Hour)); len(vs) != 5 {
		t.Fatalf("after the exception expired: %d violations, want 5", len(vs))
	}
	if vs := (Policy{}).Check(sample(), now); len(vs) != 0 {
		t.Fatalf("no rules, %d violations", len(vs))
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, bad := range []Policy{
		{Rules: Rules{RouteNamePattern: "("}},
		{Exceptions: []Exception{{Rule: "nope", API: "a", Reason: "r", Expires: exp}}},
		{Exceptions: []Exception{{Rule: UpstreamHTTPS, Reason: "r", Expires: exp}}},
		{Exceptions: []Exception{{Rule: UpstreamHTTPS, API: "a", Expires: exp}}},
		{Exceptions: []Exception{{Rule: UpstreamHTTPS, API: "a", Reason: "r"}}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
	if err := (Policy{Exceptions: []Exception{{Rule: UpstreamHTTPS, API: "a", Reason: "r", Expires: exp}}}).Validate(); err != nil {
		t.Error(err)
	}
}

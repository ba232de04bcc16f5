package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file validates what analytics and billing read: plans' pricing and
// the analytics settings.

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

func (v *validator) pricing(p string, pr *Pricing, hasQuota bool) {
	if !currencyRE.MatchString(pr.Currency) {
		v.errorf(p+".currency", "%q is not an ISO 4217 currency code such as USD or EUR", pr.Currency)
	}
	if pr.Included < 0 {
		v.errorf(p+".included", "must be 0 or more")
	}
	if len(pr.Tiers) == 0 && pr.MonthlyFee == "" {
		v.errorf(p, "a pricing needs tiers (prices per request) or a monthly_fee")
	}
	var last int64
	for i, t := range pr.Tiers {
		tp := fmt.Sprintf("%s.tiers[%d]", p, i)
		if t.Price == "" {
			v.errorf(tp+".price", "is required (write 0 for a free tier)")
		}
		switch {
		case t.UpTo < 0:
			v.errorf(tp+".up_to", "must be 1 or more, or null for the last tier")
		case t.UpTo == 0 && i != len(pr.Tiers)-1:
			v.errorf(tp+".up_to", "only the last tier may be open-ended (up_to: null)")
		case t.UpTo > 0 && t.UpTo <= last:
			v.errorf(tp+".up_to", "must be above the previous tier's up_to (%d): tiers count up from the month's first request", last)
		case t.UpTo > 0 && i == len(pr.Tiers)-1:
			v.errorf(tp+".up_to", "the last tier must have up_to: null, so that every request has a price")
		}
		last = max(last, t.UpTo)
	}
	switch pr.Overage {
	case "", "block":
	case "bill":
		if !hasQuota {
			v.errorf(p+".overage", "overage: bill needs the plan's quota, past which requests are billed instead of refused")
		}
	default:
		v.errorf(p+".overage", "%q is not block or bill", pr.Overage)
	}
}

func (v *validator) analytics(a *Analytics) {
	if a == nil || a.RetentionDays == nil {
		return
	}
	r := a.RetentionDays
	for _, f := range []struct {
		key string
		v   int64
	}{{"records", r.Records}, {"minute", r.Minute}, {"hour", r.Hour}, {"day", r.Day}} {
		if f.v < 0 || f.v > 36600 {
			v.errorf("analytics.retention_days."+f.key, "must be between 1 and 36600 days (0 or absent: the default)")
		}
	}
	if r.Hour > 0 && r.Hour < 62 {
		v.errorf("analytics.retention_days.hour", "must be at least 62: monthly statements are computed from hour rollups")
	}
}

// AlertMetrics are the metrics an alert may watch.
var AlertMetrics = []string{"error_rate", "p95_ms", "p99_ms", "requests", "quota_used", "circuit_open"}

func (v *validator) alerts(c *Config) {
	ups := map[string]bool{}
	for _, u := range c.Upstreams {
		ups[u.Name] = true
	}
	routes := map[string]map[string]bool{}
	for _, a := range c.APIs {
		routes[a.Name] = map[string]bool{}
		for _, r := range a.Routes {
			routes[a.Name][r.Name] = true
		}
	}
	names := map[string]bool{}
	for i, al := range c.Alerts {
		p := fmt.Sprintf("alerts[%d]", i)
		v.name(p+".name", "alert", al.Name)
		if names[al.Name] {
			v.errorf(p+".name", "alert %q is defined twice", al.Name)
		}
		names[al.Name] = true
		switch {
		case al.API != "" && routes[al.API] == nil:
			v.errorf(p+".api", "no API is named %q", al.API)
		case al.Route != "" && al.API == "":
			v.errorf(p+".route", "a route is named within its API: set api too")
		case al.Route != "" && !routes[al.API][al.Route]:
			v.errorf(p+".route", "API %q has no route named %q", al.API, al.Route)
		}
		w := al.When
		if !slices.Contains(AlertMetrics, w.Metric) {
			v.errorf(p+".when.metric", "%q is not one of %s", w.Metric, strings.Join(AlertMetrics, ", "))
		}
		switch w.Metric {
		case "circuit_open":
			if !ups[al.Upstream] {
				v.errorf(p+".upstream", "a circuit_open alert names one of the upstreams (%q is not one)", al.Upstream)
			}
			if w.Above != nil || w.Below != nil || w.Clear != nil {
				v.errorf(p+".when", "circuit_open has no threshold: it fires while the circuit is open")
			}
		default:
			if al.Upstream != "" {
				v.errorf(p+".upstream", "only circuit_open alerts name an upstream")
			}
			if (w.Above == nil) == (w.Below == nil) {
				v.errorf(p+".when", "give one threshold: above or below")
			}
			if w.Metric == "quota_used" && al.Consumer == "" {
				v.errorf(p+".consumer", "a quota_used alert watches one consumer's quota: name it")
			}
		}
		if w.Clear != nil && w.Above != nil && *w.Clear > *w.Above || w.Clear != nil && w.Below != nil && *w.Clear < *w.Below {
			v.errorf(p+".when.clear", "the clear level must be on the healthy side of the threshold")
		}
		if w.Window != 0 && (w.Window.D() < time.Second || w.Window.D() > time.Hour) {
			v.errorf(p+".when.window", "must be between 1s and 1h")
		}
		if w.For.D() > 24*time.Hour {
			v.errorf(p+".when.for", "must be at most 24h")
		}
		if w.MinRequests < 0 {
			v.errorf(p+".when.min_requests", "must be 0 or more")
		}
		if len(al.Notify) == 0 {
			v.errorf(p+".notify", "an alert needs somewhere to notify: a webhook or slack URL")
		}
		for j, n := range al.Notify {
			np := fmt.Sprintf("%s.notify[%d]", p, j)
			switch {
			case (n.Webhook == "") == (n.Slack == ""):
				v.errorf(np, "give one of webhook or slack")
			case n.Webhook != "" && n.Secret == "":
				v.errorf(np+".secret", "a webhook needs a secret, so that its receiver can verify the signature")
			case n.Slack != "" && n.Secret != "":
				v.errorf(np+".secret", "Slack-compatible webhooks are not signed: remove the secret")
			}
			for _, u := range []struct{ key, val string }{{"webhook", n.Webhook}, {"slack", n.Slack}} {
				if u.val == "" {
					continue
				}
				pu, err := url.Parse(u.val)
				if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil {
					v.errorf(np+"."+u.key, "%q is not an http or https URL (without user info)", u.val)
				}
			}
		}
	}
}

// portal validates an API's portal section.
func (v *validator) portal(p string, pt *Portal, plans map[string]bool) {
	switch pt.Visibility {
	case "", "hidden", "public", "signed_in":
	default:
		v.errorf(p+".visibility", "%q is not public, signed_in or hidden", pt.Visibility)
	}
	switch pt.Subscription {
	case "", "auto", "approval":
	default:
		v.errorf(p+".subscription", "%q is not auto or approval", pt.Subscription)
	}
	for i, pl := range pt.Plans {
		if !plans[pl] {
			v.errorf(fmt.Sprintf("%s.plans[%d]", p, i), "no plan is named %q", pl)
		}
	}
	if pt.OpenAPI != "" {
		v.errorf(p+".openapi", "names a file, which is read only when the config is loaded from a file; send the document itself as openapi_document")
	}
	if len(pt.Title) > 200 {
		v.errorf(p+".title", "is longer than 200 characters")
	}
	if len(pt.Description) > 64<<10 {
		v.errorf(p+".description", "is longer than 64 KiB")
	}
	if d := pt.OpenAPIDocument; d != "" {
		if len(d) > MaxOpenAPIDocument {
			v.errorf(p+".openapi_document", "is %d bytes; the limit is %d", len(d), MaxOpenAPIDocument)
			return
		}
		var head struct {
			OpenAPI string         `yaml:"openapi"`
			Paths   map[string]any `yaml:"paths"`
		}
		if err := yaml.Unmarshal([]byte(d), &head); err != nil || !strings.HasPrefix(head.OpenAPI, "3.") {
			v.errorf(p+".openapi_document", "is not an OpenAPI 3 document (YAML or JSON with openapi: 3.x)")
		}
	}
}

// sandboxPaths refuses APIs mapped under /sandbox/ while an API of the
// portal has a sandbox there.
func (v *validator) sandboxPaths(c *Config) {
	has := false
	for _, a := range c.APIs {
		if p := a.Portal; p != nil && p.OpenAPIDocument != "" && (p.Visibility == "public" || p.Visibility == "signed_in") {
			has = true
		}
	}
	if !has {
		return
	}
	for i, a := range c.APIs {
		if a.BasePath+"/" == SandboxPrefix || strings.HasPrefix(a.BasePath, SandboxPrefix) {
			v.errorf(fmt.Sprintf("apis[%d].base_path", i), "%s is where the portal's sandboxes are served; map this API elsewhere", SandboxPrefix)
		}
	}
}

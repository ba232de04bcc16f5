package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file validates the traffic and hygiene policies: plans and quotas,
// rate limits, basic credentials, CORS and request filters.

var (
	bcryptRE   = regexp.MustCompile(`^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$`)
	argon2idRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=([0-9]{1,7}),t=([0-9]{1,3}),p=([0-9]{1,3})\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{22,1000}$`)
)

// checkPasswordHash tells why h is not a password hash Portico verifies:
// bcrypt (cost 4–31) or argon2id version 19 in PHC form, with parameters
// that keep one check affordable (memory at most 256 MiB, at most 10
// passes and 16 lanes).
func checkPasswordHash(h string) error {
	if bcryptRE.MatchString(h) {
		return nil
	}
	m := argon2idRE.FindStringSubmatch(h)
	if m == nil {
		return fmt.Errorf("write a bcrypt hash ($2a$/$2b$/$2y$) or an argon2id hash in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash), never the password itself")
	}
	mem, _ := strconv.Atoi(m[1])
	passes, _ := strconv.Atoi(m[2])
	lanes, _ := strconv.Atoi(m[3])
	if mem < 8 || mem > 256*1024 || passes < 1 || passes > 10 || lanes < 1 || lanes > 16 {
		return fmt.Errorf("argon2id parameters m=%d,t=%d,p=%d are out of bounds (m 8–262144 KiB, t 1–10, p 1–16)", mem, passes, lanes)
	}
	return nil
}

func (v *validator) plans(c *Config) map[string]bool {
	names := map[string]bool{}
	for i, pl := range c.Plans {
		p := fmt.Sprintf("plans[%d]", i)
		v.name(p+".name", "plan", pl.Name)
		if names[pl.Name] {
			v.errorf(p+".name", "plan %q is defined twice", pl.Name)
		}
		names[pl.Name] = true
		for k, rl := range pl.RateLimits {
			lp := fmt.Sprintf("%s.rate_limits[%d]", p, k)
			v.rateLimit(lp, rl)
			if rl.By != "" && rl.By != "consumer" {
				v.errorf(lp+".by", "a plan's limits count per consumer; put limits by %s on routes", rl.By)
			}
		}
		if q := pl.Quota; q != nil {
			if q.Limit <= 0 {
				v.errorf(p+".quota.limit", "must be 1 or more")
			}
			if q.Period != "day" && q.Period != "month" {
				v.errorf(p+".quota.period", "%q is not a period; use day or month", q.Period)
			}
		}
		if pr := pl.Pricing; pr != nil {
			v.pricing(p+".pricing", pr, pl.Quota != nil)
		}
		if b := pl.LLMBudget; b != nil {
			if b.Amount == "" || decimals(b.Amount) > 6 {
				v.errorf(p+".llm_budget.amount", "give the amount, with at most six decimals")
			} else if above(b.Amount, MaxBudget) {
				v.errorf(p+".llm_budget.amount", "is more than %d, the most a budget can count (in 10⁻¹² units); for no budget, leave llm_budget out", MaxBudget)
			}
			if b.Currency != "" && !currencyRE.MatchString(b.Currency) {
				v.errorf(p+".llm_budget.currency", "%q is not an ISO 4217 currency code such as USD", b.Currency)
			}
			if b.Period != "day" && b.Period != "month" {
				v.errorf(p+".llm_budget.period", "%q is not a period; use day or month", b.Period)
			}
		}
		if len(pl.RateLimits) == 0 && pl.Quota == nil && pl.Pricing == nil && pl.LLMBudget == nil {
			v.errorf(p, "plan %q has no rate_limits, quota, pricing or llm_budget", pl.Name)
		}
	}
	if c.QuotaTimeZone != "" {
		if _, err := time.LoadLocation(c.QuotaTimeZone); err != nil || c.QuotaTimeZone == "Local" {
			v.errorf("quota_time_zone", "%q is not an IANA time zone such as Europe/Paris or UTC", c.QuotaTimeZone)
		}
	}
	v.analytics(c.Analytics)
	v.alerts(c)
	v.llm(c)
	v.sandboxPaths(c)
	switch c.RedisFailureMode {
	case "", "open", "closed":
	default:
		v.errorf("redis_failure_mode", "%q is not open or closed", c.RedisFailureMode)
	}
	return names
}

func (v *validator) rateLimit(lp string, rl RateLimit) {
	if rl.Tokens != 0 {
		v.errorf(lp+".tokens", "token limits are for LLM APIs, on the API (apis[].rate_limit)")
	}
	v.rateLimitCommon(lp, rl)
}

func (v *validator) rateLimitCommon(lp string, rl RateLimit) {
	if rl.Tokens == 0 && (rl.Limit <= 0 || rl.Limit > 1_000_000_000) {
		v.errorf(lp+".limit", "must be between 1 and 1000000000")
	}
	if rl.Window.D() < time.Millisecond || rl.Window.D() > 366*24*time.Hour {
		v.errorf(lp+".window", "must be between 1ms and 366 days (quotas per day or month are plans' business)")
	}
	switch rl.By {
	case "", "consumer", "ip", "route":
		if rl.Header != "" {
			v.errorf(lp+".header", "header is only for by: header")
		}
	case "header":
		if !tokenRE.MatchString(rl.Header) {
			v.errorf(lp+".header", "by: header needs the header's name")
		}
	default:
		v.errorf(lp+".by", "%q is not consumer, ip, route or header", rl.By)
	}
}

func (v *validator) basicCredentials(p string, creds []BasicCredential, users map[string]string, consumer string) {
	for j, b := range creds {
		bp := fmt.Sprintf("%s.basic[%d]", p, j)
		switch {
		case b.Username == "" || !isPrintableASCII(b.Username) || strings.Contains(b.Username, ":"):
			v.errorf(bp+".username", "a user name is printable ASCII without spaces or ':'")
		case users[b.Username] != "":
			v.errorf(bp+".username", "user %q is already a user of consumer %q", b.Username, users[b.Username])
		default:
			users[b.Username] = consumer
		}
		if err := checkPasswordHash(b.PasswordHash); err != nil {
			v.errorf(bp+".password_hash", "%v", err)
		}
	}
}

func (v *validator) cors(p string, c *CORS) {
	for i, o := range c.Origins {
		op := fmt.Sprintf("%s.origins[%d]", p, i)
		if o == "*" {
			if c.Credentials {
				v.errorf(op, "browsers refuse credentials with any origin (*); list the origins")
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || o != strings.ToLower(o) {
			v.errorf(op, "%q is not an origin such as https://app.example.com (lower case, no path)", o)
		}
	}
	if len(c.Origins) == 0 {
		v.errorf(p+".origins", "list the origins allowed (or \"*\")")
	}
	for i, m := range c.Methods {
		if !slices.Contains(knownMth, m) {
			v.errorf(fmt.Sprintf("%s.methods[%d]", p, i), "%q is not a method Portico routes (%s)", m, strings.Join(knownMth, ", "))
		}
	}
	for _, list := range []struct {
		key   string
		names []string
	}{{"headers", c.Headers}, {"expose_headers", c.ExposeHeaders}} {
		for i, h := range list.names {
			if !tokenRE.MatchString(h) {
				v.errorf(fmt.Sprintf("%s.%s[%d]", p, list.key, i), "%q is not a header name", h)
			}
		}
	}
	if c.MaxAge.D() < 0 || c.MaxAge.D() > 24*time.Hour {
		v.errorf(p+".max_age", "must be between 0 and 24h")
	}
}

func (v *validator) requestFilters(p string, fs []RequestFilter) {
	for i, f := range fs {
		fp := fmt.Sprintf("%s[%d]", p, i)
		set := 0
		if len(f.BlockMethods) > 0 {
			set++
			for k, m := range f.BlockMethods {
				if !tokenRE.MatchString(m) || m != strings.ToUpper(m) {
					v.errorf(fmt.Sprintf("%s.block_methods[%d]", fp, k), "%q is not a method", m)
				}
			}
		}
		for _, re := range []struct{ key, pattern string }{{"block_path", f.BlockPath}, {"block_query", f.BlockQuery}} {
			if re.pattern != "" {
				set++
				v.pattern(fp+"."+re.key, re.pattern)
			}
		}
		if h := f.BlockHeader; h != nil {
			set++
			if !tokenRE.MatchString(h.Name) {
				v.errorf(fp+".block_header.name", "%q is not a header name", h.Name)
			}
			v.pattern(fp+".block_header.pattern", h.Pattern)
		}
		if set != 1 {
			v.errorf(fp, "a request filter has exactly one of block_methods, block_path, block_query and block_header")
		}
		if f.Name != "" && !nameRE.MatchString(f.Name) {
			v.errorf(fp+".name", "%q is not a valid name", f.Name)
		}
	}
}

func (v *validator) pattern(p, s string) {
	if s == "" {
		v.errorf(p, "the pattern is empty")
		return
	}
	if _, err := regexp.Compile(s); err != nil {
		v.errorf(p, "not a regular expression: %v", err)
	}
}

package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// This file validates the LLM gateway's configuration: providers, model
// aliases and the APIs that serve them.

// LLMProviderTypes are the provider protocols this version speaks.
var LLMProviderTypes = []string{"openai", "openai_compatible", "azure_openai", "anthropic", "gemini", "bedrock"}

func (v *validator) llm(c *Config) map[string]bool {
	providers := map[string]bool{}
	for i, p := range c.LLMProviders {
		pp := fmt.Sprintf("llm_providers[%d]", i)
		v.name(pp+".name", "LLM provider", p.Name)
		if providers[p.Name] {
			v.errorf(pp+".name", "LLM provider %q is defined twice", p.Name)
		}
		providers[p.Name] = true
		if !slices.Contains(LLMProviderTypes, p.Type) {
			v.errorf(pp+".type", "%q is not a provider type; use openai, openai_compatible, azure_openai, anthropic, gemini or bedrock", p.Type)
		}
		v.bedrock(pp, p)
		u, err := url.Parse(p.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
			v.errorf(pp+".base_url", "%q is not an http or https URL (without user info or query), such as https://api.openai.com/v1", p.BaseURL)
		}
		if p.Timeout.D() < 0 || p.Timeout.D() > 3600e9 {
			v.errorf(pp+".timeout", "must be at most 1h")
		}
	}
	seen := map[string]bool{}
	for i, pr := range c.LLMPrices {
		pp := fmt.Sprintf("llm_prices[%d]", i)
		if !providers[pr.Provider] {
			v.errorf(pp+".provider", "no LLM provider is named %q", pr.Provider)
		}
		if pr.Model == "" {
			v.errorf(pp+".model", "give the provider's model name")
		}
		if k := pr.Provider + "/" + pr.Model; seen[k] {
			v.errorf(pp, "%s is priced twice", k)
		} else {
			seen[k] = true
		}
		if pr.Currency != "" && !currencyRE.MatchString(pr.Currency) {
			v.errorf(pp+".currency", "%q is not an ISO 4217 currency code such as USD", pr.Currency)
		}
		for _, f := range []struct {
			key      string
			d        Decimal
			required bool
		}{{"input", pr.Input, true}, {"output", pr.Output, true}, {"cached_input", pr.CachedInput, false}} {
			switch {
			case f.d == "" && f.required:
				v.errorf(pp+"."+f.key, "is required (price per million tokens; write 0 for free)")
			case f.d != "" && decimals(f.d) > 6:
				v.errorf(pp+"."+f.key, "has more than six decimals")
			case f.d != "" && above(f.d, MaxPrice):
				v.errorf(pp+"."+f.key, "is more than %d per million tokens", MaxPrice)
			}
		}
	}
	models := map[string]bool{}
	for i, m := range c.LLMModels {
		mp := fmt.Sprintf("llm_models[%d]", i)
		v.name(mp+".name", "LLM model", m.Name)
		if models[m.Name] {
			v.errorf(mp+".name", "LLM model %q is defined twice", m.Name)
		}
		models[m.Name] = true
		switch m.Strategy {
		case "", "priority", "weighted", "least_busy", "latency":
		default:
			v.errorf(mp+".strategy", "%q is not a strategy; use priority, weighted, least_busy or latency", m.Strategy)
		}
		if len(m.Targets) == 0 {
			v.errorf(mp+".targets", "a model needs at least one target")
		}
		if mr := m.Mirror; mr != nil {
			if !providers[mr.Provider] {
				v.errorf(mp+".mirror.provider", "no LLM provider is named %q", mr.Provider)
			}
			if mr.Model == "" || len(mr.Model) > 200 {
				v.errorf(mp+".mirror.model", "give the provider's model name")
			}
			if mr.Percent <= 0 || mr.Percent > 100 {
				v.errorf(mp+".mirror.percent", "must be more than 0 and at most 100")
			}
		}
		for j, t := range m.Targets {
			tp := fmt.Sprintf("%s.targets[%d]", mp, j)
			if !providers[t.Provider] {
				v.errorf(tp+".provider", "no LLM provider is named %q", t.Provider)
			}
			if t.Model == "" || len(t.Model) > 200 {
				v.errorf(tp+".model", "give the provider's model name")
			}
			if t.Weight < 0 || t.Weight > 10000 {
				v.errorf(tp+".weight", "must be between 0 and 10000")
			}
		}
	}
	return models
}

func (v *validator) llmAPI(p string, a API, c *Config) {
	models := map[string]bool{}
	for _, m := range c.LLMModels {
		models[m.Name] = true
	}
	if len(a.Routes) > 0 {
		v.errorf(p+".routes", "an LLM API's routes are the LLM endpoints (/v1/chat/completions, /v1/messages, /v1/embeddings, /v1/responses, /v1/models); remove its routes")
	}
	if a.Upstream != "" {
		v.errorf(p+".upstream", "an LLM API calls llm_providers, not an upstream")
	}
	if len(a.LLM.Models) == 0 {
		v.errorf(p+".llm.models", "name the model aliases (llm_models) the API serves")
	}
	for i, m := range a.LLM.Models {
		if !models[m] {
			v.errorf(fmt.Sprintf("%s.llm.models[%d]", p, i), "no LLM model is named %q", m)
		}
	}
	if c := a.LLM.Cache; c != nil {
		if c.TTL.D() < 0 || c.TTL.D() > 24*3600e9 {
			v.errorf(p+".llm.cache.ttl", "must be at most 24h")
		}
		if c.MaxEntries < 0 || c.MaxEntries > 1_000_000 {
			v.errorf(p+".llm.cache.max_entries", "must be between 1 and 1000000")
		}
		if c.MaxBytes < 0 || c.MaxBytes > 64<<30 {
			v.errorf(p+".llm.cache.max_bytes", "must be between 1 and 68719476736 (64 GiB)")
		}
	}
	for i, m := range a.LLM.Mask {
		mp := fmt.Sprintf("%s.llm.mask[%d]", p, i)
		switch {
		case m.Type != "" && (m.Name != "" || m.Pattern != ""):
			v.errorf(mp, "give type (a built-in rule) or name and pattern, not both")
		case m.Type != "":
			if !slices.Contains(LLMMaskTypes, m.Type) {
				v.errorf(mp+".type", "%q is not a built-in rule; use email, phone, card, ssn or ipv4, or give name and pattern", m.Type)
			}
		case !maskName.MatchString(m.Name):
			v.errorf(mp+".name", "give a name of letters, digits and underscores (it names the placeholders, as in [NAME_1])")
		default:
			if re, err := regexp.Compile(m.Pattern); err != nil || m.Pattern == "" {
				v.errorf(mp+".pattern", "is not a regular expression: %v", err)
			} else if re.MatchString("") {
				v.errorf(mp+".pattern", "matches the empty string")
			}
		}
	}
	if a.Auth == nil {
		v.errorf(p+".auth", "say how clients authenticate (for example [api_key]: the key as X-API-Key or Authorization: Bearer)")
	}
	for i, rl := range a.RateLimit {
		lp := fmt.Sprintf("%s.rate_limit[%d]", p, i)
		switch {
		case rl.Limit != 0 && rl.Tokens != 0:
			v.errorf(lp, "give limit (requests) or tokens, not both")
		case rl.Tokens < 0 || rl.Tokens > 1_000_000_000_000:
			v.errorf(lp+".tokens", "must be between 1 and 1000000000000")
		}
		v.rateLimitCommon(lp, rl)
	}
}

// decimals counts a decimal's fractional digits.
func decimals(d Decimal) int {
	if i := strings.IndexByte(string(d), '.'); i >= 0 {
		return len(d) - i - 1
	}
	return 0
}

// Bounds of money amounts, which are kept as int64 counts of 10⁻¹² units
// (a call's cost, a budget's use): large enough for any real price or
// budget, small enough that no product or sum of them wraps around.
const (
	// MaxPrice is the highest price per million tokens: one unit a token.
	MaxPrice = 1_000_000
	// MaxBudget is the highest LLM budget a period (int64 holds 9.2
	// million in 10⁻¹² units).
	MaxBudget = 9_000_000
)

// above reports whether the validated decimal d is more than limit.
func above(d Decimal, limit int64) bool {
	whole, frac, _ := strings.Cut(string(d), ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	return err != nil || n > limit || n == limit && strings.Trim(frac, "0") != ""
}

// bedrock checks a provider's AWS settings: a Bedrock provider needs an
// API key or an access key pair, and a region (its own, or its URL's);
// others have none.
func (v *validator) bedrock(pp string, p LLMProvider) {
	aws := p.Region != "" || p.AccessKeyID != "" || p.SecretAccessKey != "" || p.SessionToken != ""
	if p.Type != "bedrock" {
		if aws {
			v.errorf(pp, "region, access_key_id, secret_access_key and session_token are for bedrock providers")
		}
		return
	}
	if (p.AccessKeyID == "") != (p.SecretAccessKey == "") {
		v.errorf(pp, "give access_key_id and secret_access_key together")
	}
	if p.APIKey == "" && p.AccessKeyID == "" {
		v.errorf(pp, "a bedrock provider needs api_key (a Bedrock API key) or access_key_id and secret_access_key")
	}
	if p.Region == "" && !bedrockHost.MatchString(p.BaseURL) {
		v.errorf(pp+".region", "give the AWS region (base_url does not name one, as in https://bedrock-runtime.us-east-1.amazonaws.com)")
	}
	if p.Region != "" && !regionRE.MatchString(p.Region) {
		v.errorf(pp+".region", "%q is not an AWS region such as us-east-1", p.Region)
	}
}

// LLMMaskTypes are the built-in PII masking rules.
var LLMMaskTypes = []string{"email", "phone", "card", "ssn", "ipv4"}

var (
	maskName    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,31}$`)
	bedrockHost = regexp.MustCompile(`^https://bedrock-runtime(-fips)?\.[a-z0-9-]+\.amazonaws\.com(/|$)`)
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
)

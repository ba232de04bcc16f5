// Package config defines Portico's declarative configuration (version 1):
// the schema, a strict YAML decoder that keeps line and column positions,
// ${VAR} interpolation, and validation that reports every problem at once.
//
// The types here are the user documentation of the config file: every field
// says what it means, its default, and what validation demands of it.
// Turning a valid Config into something that serves traffic is the job of
// internal/compiler.
package config

import "time"

// Config is a whole declarative configuration file.
type Config struct {
	// Version must be 1.
	Version int `yaml:"version,omitempty" json:"version,omitempty"`
	// Upstreams are the backends that APIs forward to.
	Upstreams []Upstream `yaml:"upstreams,omitempty" json:"upstreams,omitempty"`
	// APIs are the API mappings: a host and base path, and the routes under it.
	APIs []API `yaml:"apis,omitempty" json:"apis,omitempty"`
	// TrustedProxies lists the addresses (IPs or CIDRs) of proxies in front of
	// Portico. Only a peer in this list may tell Portico the client address
	// through X-Forwarded-For, or set X-Forwarded-Proto/-Host, Forwarded and
	// X-Real-IP; from anyone else those headers are replaced.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty" json:"trusted_proxies,omitempty"`
	// AuthPolicies are named authentication methods that APIs and routes
	// reference in their auth lists, next to the built-in "none" and "api_key".
	AuthPolicies []AuthPolicy `yaml:"auth_policies,omitempty" json:"auth_policies,omitempty"`
	// Consumers are the clients known from the file, with their credentials.
	Consumers []Consumer `yaml:"consumers,omitempty" json:"consumers,omitempty"`
	// Plans are the service levels consumers subscribe to: rate limits
	// and a quota that apply to every authenticated route the consumer
	// calls, on top of the route's own limits.
	Plans []Plan `yaml:"plans,omitempty" json:"plans,omitempty"`
	// QuotaTimeZone is the IANA time zone in which quota days and months
	// begin ("Europe/Paris"). Default UTC.
	QuotaTimeZone string `yaml:"quota_time_zone,omitempty" json:"quota_time_zone,omitempty"`
	// RedisFailureMode says what rate limits and quotas do while Redis
	// (--redis) is unreachable: "open" (the default) enforces them in each
	// node's own memory until Redis is back; "closed" refuses every request
	// they guard with 503 rate_limit_unavailable.
	RedisFailureMode string `yaml:"redis_failure_mode,omitempty" json:"redis_failure_mode,omitempty"`
	// Analytics configures usage metering and how long its data is kept.
	Analytics *Analytics `yaml:"analytics,omitempty" json:"analytics,omitempty"`
	// LLMProviders are the LLM services the LLM APIs call.
	LLMProviders []LLMProvider `yaml:"llm_providers,omitempty" json:"llm_providers,omitempty"`
	// LLMModels are the model aliases clients ask for, each mapped to
	// deployments: a provider and its model name.
	LLMModels []LLMModel `yaml:"llm_models,omitempty" json:"llm_models,omitempty"`
	// LLMPrices are what the providers' models cost, per million tokens.
	LLMPrices []LLMPrice `yaml:"llm_prices,omitempty" json:"llm_prices,omitempty"`
	// Alerts are rules evaluated continuously over the group's usage;
	// they notify webhooks when they fire and when they resolve.
	Alerts []Alert `yaml:"alerts,omitempty" json:"alerts,omitempty"`
}

// Alert is a rule on a metric of the traffic an API, route, consumer or
// upstream sees.
type Alert struct {
	// Name is unique among alerts.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// API, Route and Consumer narrow the traffic the metric is computed
	// over (Route needs API); Upstream names the upstream of a
	// circuit_open rule.
	API      string         `yaml:"api,omitempty" json:"api,omitempty"`
	Route    string         `yaml:"route,omitempty" json:"route,omitempty"`
	Consumer string         `yaml:"consumer,omitempty" json:"consumer,omitempty"`
	Upstream string         `yaml:"upstream,omitempty" json:"upstream,omitempty"`
	When     AlertCondition `yaml:"when,omitempty" json:"when,omitempty"`
	// Notify are where notifications go; at least one.
	Notify []Notify `yaml:"notify,omitempty" json:"notify,omitempty"`
}

// AlertCondition says when an alert fires: its metric is above (or
// below) the threshold for a while.
type AlertCondition struct {
	// Metric is error_rate (5xx share, 0-1), p95_ms, p99_ms, requests
	// (count in the window), quota_used (share of the consumer's plan
	// quota used this period, 0-1) or circuit_open (the upstream's
	// circuit breaker is open).
	Metric string `yaml:"metric,omitempty" json:"metric,omitempty"`
	// Above or Below is the threshold (one of them; circuit_open needs
	// neither).
	Above *float64 `yaml:"above,omitempty" json:"above,omitempty"`
	Below *float64 `yaml:"below,omitempty" json:"below,omitempty"`
	// For is how long the condition must hold before the alert fires, and
	// how long it must be clear before it resolves. Default 0: at once.
	For Duration `yaml:"for,omitempty" json:"for,omitempty"`
	// Window is the sliding time the metric is computed over. Default 1m,
	// at most 1h.
	Window Duration `yaml:"window,omitempty" json:"window,omitempty"`
	// Clear is the hysteresis: a firing alert resolves only once the
	// metric is at or beyond it (below it for above rules). Default: the
	// threshold.
	Clear *float64 `yaml:"clear,omitempty" json:"clear,omitempty"`
	// MinRequests is the fewest requests in the window for error_rate and
	// the percentiles to count. Default 10.
	MinRequests int64 `yaml:"min_requests,omitempty" json:"min_requests,omitempty"`
}

// Notify is one destination of an alert's notifications.
type Notify struct {
	// Webhook receives a JSON body signed with Secret (HMAC-SHA256 in the
	// X-Portico-Signature header).
	Webhook string `yaml:"webhook,omitempty" json:"webhook,omitempty"`
	Secret  string `yaml:"secret,omitempty" json:"secret,omitempty"`
	// Slack is a Slack-compatible incoming-webhook URL ({"text": …}).
	Slack string `yaml:"slack,omitempty" json:"slack,omitempty"`
}

// Analytics configures usage records and their rollups.
type Analytics struct {
	// Record turns usage records on (the default) or off.
	Record *bool `yaml:"record,omitempty" json:"record,omitempty"`
	// RetentionDays says how many days each kind of usage data is kept.
	RetentionDays *Retention `yaml:"retention_days,omitempty" json:"retention_days,omitempty"`
}

// Retention is a number of days per kind of usage data; 0 takes the
// default.
type Retention struct {
	// Records are the raw request records (default 7).
	Records int64 `yaml:"records,omitempty" json:"records,omitempty"`
	// Minute, Hour and Day are the rollups (defaults 14, 400 and 1830).
	// Monthly statements are computed from hour rollups.
	Minute int64 `yaml:"minute,omitempty" json:"minute,omitempty"`
	Hour   int64 `yaml:"hour,omitempty" json:"hour,omitempty"`
	Day    int64 `yaml:"day,omitempty" json:"day,omitempty"`
}

// Default retention, in days.
const (
	DefaultRecordsDays = 7
	DefaultMinuteDays  = 14
	DefaultHourDays    = 400
	DefaultDayDays     = 1830
)

// RecordUsage says whether usage records are on.
func (a *Analytics) RecordUsage() bool { return a == nil || a.Record == nil || *a.Record }

// Retention returns the retention in days with defaults filled in.
func (a *Analytics) Retention() Retention {
	r := Retention{DefaultRecordsDays, DefaultMinuteDays, DefaultHourDays, DefaultDayDays}
	if a == nil || a.RetentionDays == nil {
		return r
	}
	for _, f := range []struct {
		dst *int64
		v   int64
	}{{&r.Records, a.RetentionDays.Records}, {&r.Minute, a.RetentionDays.Minute},
		{&r.Hour, a.RetentionDays.Hour}, {&r.Day, a.RetentionDays.Day}} {
		if f.v > 0 {
			*f.dst = f.v
		}
	}
	return r
}

// Plan is a named service level.
type Plan struct {
	// Name is unique; consumers name it in their plan.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// RateLimits apply per consumer across every route the consumer calls
	// (by is always consumer here).
	RateLimits RateLimits `yaml:"rate_limits,omitempty" json:"rate_limits,omitempty"`
	// Quota caps the requests per calendar day or month.
	Quota *Quota `yaml:"quota,omitempty" json:"quota,omitempty"`
	// Pricing is what the plan's consumers pay each month.
	Pricing *Pricing `yaml:"pricing,omitempty" json:"pricing,omitempty"`
	// LLMBudget caps what each consumer's LLM calls may cost per period.
	LLMBudget *LLMBudget `yaml:"llm_budget,omitempty" json:"llm_budget,omitempty"`
}

// LLMBudget is an amount of money per calendar period (in
// quota_time_zone), spent by LLM calls at the price table's prices.
type LLMBudget struct {
	Amount   Decimal `yaml:"amount,omitempty" json:"amount,omitempty"`
	Currency string  `yaml:"currency,omitempty" json:"currency,omitempty"`
	// Period is day or month.
	Period string `yaml:"period,omitempty" json:"period,omitempty"`
}

// Pricing prices a month of a consumer's requests. Tiers count the month's
// billable requests from the first one, the included ones too: with
// included 1000 and tiers [{up_to: 100000, price: 0.001}, {up_to: null,
// price: 0.0005}], requests 1–1,000 are free, 1,001–100,000 cost 0.001
// each, and every one after that 0.0005.
type Pricing struct {
	// Currency is an ISO 4217 code such as USD.
	Currency string `yaml:"currency,omitempty" json:"currency,omitempty"`
	// MonthlyFee is charged every month, whatever the usage.
	MonthlyFee Decimal `yaml:"monthly_fee,omitempty" json:"monthly_fee,omitempty"`
	// Included requests are free each month.
	Included int64 `yaml:"included,omitempty" json:"included,omitempty"`
	// Tiers are per-request prices up to a running count; the last one
	// has no up_to.
	Tiers []PriceTier `yaml:"tiers,omitempty" json:"tiers,omitempty"`
	// Overage says what happens past the plan's quota: "block" (the
	// default: the quota refuses with 429) or "bill" (requests go on and
	// are billed by the tiers).
	Overage string `yaml:"overage,omitempty" json:"overage,omitempty"`
}

// PriceTier is the price of each request up to a running count.
type PriceTier struct {
	// UpTo is the last request (counted from the month's first) at this
	// price; 0 (null) for no end.
	UpTo int64 `yaml:"up_to,omitempty" json:"up_to,omitempty"`
	// Price is the price of one request.
	Price Decimal `yaml:"price,omitempty" json:"price,omitempty"`
}

// Decimal is an exact, non-negative decimal number such as 0.0005, kept
// as written: prices are never floats.
type Decimal string

// MarshalJSON writes d as a JSON number.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d == "" {
		return []byte("0"), nil
	}
	return []byte(d), nil
}

// Quota is a number of requests per calendar period. A request refused by
// a quota answers 429 quota_exceeded with Retry-After until the period
// ends. Counts are kept in Redis when Portico has one, otherwise in the
// store (written every second and at shutdown), so a restart keeps them.
type Quota struct {
	Limit int64 `yaml:"limit,omitempty" json:"limit,omitempty"`
	// Period is "day" or "month", starting at midnight in quota_time_zone.
	Period string `yaml:"period,omitempty" json:"period,omitempty"`
}

// Upstream is a named pool of targets.
type Upstream struct {
	// Name is unique among upstreams; APIs and routes refer to it.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Targets are the servers of this upstream; at least one. Requests are
	// spread over them by weighted round-robin.
	Targets []Target `yaml:"targets,omitempty" json:"targets,omitempty"`
	// Timeout bounds the wait for the upstream's response headers and each
	// wait for more of its body. Default 30s. A route's timeout overrides it.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// ConnectTimeout bounds establishing a connection. Default 5s. A target
	// that does not accept in time answers 504, like one that never responds.
	ConnectTimeout Duration `yaml:"connect_timeout,omitempty" json:"connect_timeout,omitempty"`
	// WebSocketIdleTimeout closes a WebSocket tunnel to this upstream when
	// neither side has sent anything for this long. Default 5m.
	WebSocketIdleTimeout Duration `yaml:"websocket_idle_timeout,omitempty" json:"websocket_idle_timeout,omitempty"`
	// Retries re-sends a failed request to the upstream (idempotent methods
	// only, and only when no byte of the response reached the client).
	Retries *Retries `yaml:"retries,omitempty" json:"retries,omitempty"`
	// Balance is how requests are spread over the targets: round_robin
	// (smooth weighted, the default), least_requests (the less loaded of
	// two random targets, by requests in flight per weight) or hash
	// (weighted rendezvous hashing on HashOn: the same key reaches the same
	// target from every node while it is available).
	Balance string `yaml:"balance,omitempty" json:"balance,omitempty"`
	// HashOn is, with balance: hash, the key: consumer, ip or
	// header:<Name> (requests without the header share one key).
	HashOn string `yaml:"hash_on,omitempty" json:"hash_on,omitempty"`
	// HealthCheck takes failing targets out of rotation.
	HealthCheck *HealthCheck `yaml:"health_check,omitempty" json:"health_check,omitempty"`
	// Fallback names an upstream used only when no target of this one is
	// available (the pilot-light pattern). It may not have a fallback
	// itself.
	Fallback string `yaml:"fallback,omitempty" json:"fallback,omitempty"`
	// CircuitBreaker holds requests back from an upstream that is failing.
	CircuitBreaker *CircuitBreaker `yaml:"circuit_breaker,omitempty" json:"circuit_breaker,omitempty"`
}

// CircuitBreaker opens when, over the last Window (default 10s), at least
// MinRequests (default 20) were sent and ErrorRate (0 to 1) of them failed
// (connect errors, timeouts, resets, malformed answers, 502/503/504). Open,
// it answers 503 circuit_open at once (or sends to the fallback upstream)
// for Cooldown (default 30s), then lets one trial request through: its
// success closes the circuit, its failure opens it again.
type CircuitBreaker struct {
	ErrorRate   float64  `yaml:"error_rate,omitempty" json:"error_rate,omitempty"`
	Window      Duration `yaml:"window,omitempty" json:"window,omitempty"`
	MinRequests int      `yaml:"min_requests,omitempty" json:"min_requests,omitempty"`
	Cooldown    Duration `yaml:"cooldown,omitempty" json:"cooldown,omitempty"`
}

// HealthCheck is an upstream's active and passive health checking.
type HealthCheck struct {
	// Path, when set, is requested with GET on every target every
	// Interval (default 10s); a 2xx or 3xx within Timeout (default 2s) is
	// a success. Healthy successes in a row (default 2) bring a target
	// back, Unhealthy failures in a row (default 3) take it out.
	Path      string   `yaml:"path,omitempty" json:"path,omitempty"`
	Interval  Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Timeout   Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Healthy   int      `yaml:"healthy,omitempty" json:"healthy,omitempty"`
	Unhealthy int      `yaml:"unhealthy,omitempty" json:"unhealthy,omitempty"`
	// Passive ejects a target after real requests fail.
	Passive *PassiveCheck `yaml:"passive,omitempty" json:"passive,omitempty"`
}

// PassiveCheck ejects a target after Failures real requests in a row fail
// (connect errors, timeouts, resets, malformed answers, 502, 503, 504), for
// Ejection (default 10s), doubled at each ejection in a row up to
// MaxEjection (default 5m).
type PassiveCheck struct {
	Failures    int      `yaml:"failures,omitempty" json:"failures,omitempty"`
	Ejection    Duration `yaml:"ejection,omitempty" json:"ejection,omitempty"`
	MaxEjection Duration `yaml:"max_ejection,omitempty" json:"max_ejection,omitempty"`
}

// Target is one server of an upstream.
type Target struct {
	// URL is http:// or https:// with a host, an optional port and an
	// optional base path that is put in front of every forwarded path.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// Weight is the target's share of requests relative to the other targets.
	// Default 1; 0 takes the target out of rotation.
	Weight *int `yaml:"weight,omitempty" json:"weight,omitempty"`
}

// Retries says how a failed upstream request is retried.
type Retries struct {
	// Attempts is the number of retries after the first try (0 disables).
	Attempts int `yaml:"attempts,omitempty" json:"attempts,omitempty"`
	// Backoff is "exponential" (the default) or "linear".
	Backoff string `yaml:"backoff,omitempty" json:"backoff,omitempty"`
	// Base is the first wait between tries. Default 50ms.
	Base Duration `yaml:"base,omitempty" json:"base,omitempty"`
	// Budget caps retries at this share (0 to 1) of the upstream's
	// requests over the last ten seconds (at least 3 retries are always
	// allowed), so that a failing upstream is not hit with a multiple of
	// its load. 0: no cap.
	Budget float64 `yaml:"budget,omitempty" json:"budget,omitempty"`
	// OnStatus are upstream answers retried like failures, such as [503]
	// (the answer is dropped, never half-sent).
	OnStatus []int `yaml:"on_status,omitempty" json:"on_status,omitempty"`
	// PerTryTimeout bounds each try's wait for the response head, inside
	// the route's timeout.
	PerTryTimeout Duration `yaml:"per_try_timeout,omitempty" json:"per_try_timeout,omitempty"`
}

// API is an API mapping: requests whose host and path prefix match it are
// routed to one of its routes.
type API struct {
	// Name is unique among APIs; it appears in logs and metrics.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// BasePath is the URI prefix that maps requests to this API, matched on
	// whole segments ("/orders" matches "/orders" and "/orders/1", never
	// "/ordersx"). The longest matching prefix wins. An empty base path
	// (or "/") catches whatever no other mapping of the same host matches.
	BasePath string `yaml:"base_path,omitempty" json:"base_path,omitempty"`
	// Host restricts the mapping to one host name (case-insensitive, port
	// ignored). "*.example.com" matches any single-label subdomain. A mapping
	// with a host wins over one without.
	Host string `yaml:"host,omitempty" json:"host,omitempty"`
	// Upstream is the default upstream of the API's routes.
	Upstream string `yaml:"upstream,omitempty" json:"upstream,omitempty"`
	// StripBasePath removes the base path before forwarding: with base path
	// "/orders", "/orders/7" reaches the upstream as "/7". Default true.
	StripBasePath *bool `yaml:"strip_base_path,omitempty" json:"strip_base_path,omitempty"`
	// Auth lists the accepted authentication methods; any one suffices.
	// "none" means anonymous and cannot be combined with other methods.
	// Either the API or each of its routes must say auth.
	Auth []string `yaml:"auth,omitempty" json:"auth,omitempty"`
	// CORS lets browsers on other origins call the API; the gateway
	// answers preflight requests itself.
	CORS *CORS `yaml:"cors,omitempty" json:"cors,omitempty"`
	// IPAllow and IPDeny apply to every route of the API, before the
	// route's own lists (a request must pass both).
	IPAllow []string `yaml:"ip_allow,omitempty" json:"ip_allow,omitempty"`
	IPDeny  []string `yaml:"ip_deny,omitempty" json:"ip_deny,omitempty"`
	// RequestFilters apply to every route of the API, before the route's.
	RequestFilters []RequestFilter `yaml:"request_filters,omitempty" json:"request_filters,omitempty"`
	// Routes are the operations of the API; at least one.
	Routes []Route `yaml:"routes,omitempty" json:"routes,omitempty"`
	// Portal publishes the API in the developer portal.
	Portal *Portal `yaml:"portal,omitempty" json:"portal,omitempty"`
	// LLM makes the API an LLM endpoint: its routes are the OpenAI API's
	// (the API has no routes of its own, nor an upstream).
	LLM *LLMAPI `yaml:"llm,omitempty" json:"llm,omitempty"`
	// RateLimit are the LLM API's limits: of requests (limit) or of tokens
	// (tokens), on every call of the API.
	RateLimit RateLimits `yaml:"rate_limit,omitempty" json:"rate_limit,omitempty"`
}

// LLMAPI is the LLM endpoint an API serves.
type LLMAPI struct {
	// Models are the model aliases (llm_models) clients may ask for.
	Models []string `yaml:"models,omitempty" json:"models,omitempty"`
	// Cache, when given, answers a consumer's repeated requests from each
	// node's memory.
	Cache *LLMCache `yaml:"cache,omitempty" json:"cache,omitempty"`
	// Mask lists what is replaced with placeholders in prompts before they
	// leave for a provider, and put back in the answers.
	Mask []LLMMask `yaml:"mask,omitempty" json:"mask,omitempty"`
}

// LLMMask is one PII masking rule: a built-in Type (email, phone, card,
// ssn, ipv4), or a Name and a Pattern (a Go regular expression).
type LLMMask struct {
	Type    string `yaml:"type,omitempty" json:"type,omitempty"`
	Name    string `yaml:"name,omitempty" json:"name,omitempty"`
	Pattern string `yaml:"pattern,omitempty" json:"pattern,omitempty"`
}

// LLMCache is an LLM API's exact-match response cache.
type LLMCache struct {
	// TTL is how long an answer is reused (default 5m, at most 24h).
	TTL Duration `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// MaxEntries bounds the answers kept per node (default 1000), the
	// least recently used dropped first; each is at most 1 MiB.
	MaxEntries int `yaml:"max_entries,omitempty" json:"max_entries,omitempty"`
	// MaxBytes bounds the answers' bytes kept per node (default 64 MiB),
	// the least recently used dropped first.
	MaxBytes int64 `yaml:"max_bytes,omitempty" json:"max_bytes,omitempty"`
}

// LLMProvider is one LLM service.
type LLMProvider struct {
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Type is the provider's protocol: openai, openai_compatible (any
	// server speaking OpenAI's: Ollama, vLLM, …), azure_openai (OpenAI's
	// protocol with Azure's api-key header), anthropic, gemini or bedrock
	// (AWS Bedrock's Converse API).
	Type    string `yaml:"type,omitempty" json:"type,omitempty"`
	BaseURL string `yaml:"base_url,omitempty" json:"base_url,omitempty"`
	// APIKey is sent to the provider as it expects: a bearer token
	// (OpenAI, and Bedrock's API keys), api-key (Azure), x-api-key
	// (Anthropic) or x-goog-api-key (Gemini).
	APIKey string `yaml:"api_key,omitempty" json:"api_key,omitempty"`
	// Region, AccessKeyID, SecretAccessKey and SessionToken sign a bedrock
	// provider's requests (SigV4) when it has no APIKey (a Bedrock API
	// key); Region defaults to the one in BaseURL.
	Region          string `yaml:"region,omitempty" json:"region,omitempty"`
	AccessKeyID     string `yaml:"access_key_id,omitempty" json:"access_key_id,omitempty"`
	SecretAccessKey string `yaml:"secret_access_key,omitempty" json:"secret_access_key,omitempty"`
	SessionToken    string `yaml:"session_token,omitempty" json:"session_token,omitempty"`
	// Timeout bounds the wait for the provider's answer to begin (and each
	// wait for more of it). Default 60s.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// LLMPrice is the price of one provider's model, per million tokens, in
// the table's currency (USD unless said), with at most six decimals.
type LLMPrice struct {
	Provider string  `yaml:"provider,omitempty" json:"provider,omitempty"`
	Model    string  `yaml:"model,omitempty" json:"model,omitempty"`
	Currency string  `yaml:"currency,omitempty" json:"currency,omitempty"`
	Input    Decimal `yaml:"input,omitempty" json:"input,omitempty"`
	Output   Decimal `yaml:"output,omitempty" json:"output,omitempty"`
	// CachedInput prices prompt tokens the provider served from its cache
	// (default: the input price).
	CachedInput Decimal `yaml:"cached_input,omitempty" json:"cached_input,omitempty"`
}

// LLMModel is a model alias.
type LLMModel struct {
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Strategy picks the target tried first: priority (the lowest
	// priority number), weighted (at random by weight), least_busy (the
	// fewest calls running) or latency (the lowest recent time to first
	// token). On failure the others follow by priority.
	Strategy string      `yaml:"strategy,omitempty" json:"strategy,omitempty"`
	Targets  []LLMTarget `yaml:"targets,omitempty" json:"targets,omitempty"`
	// Mirror, when given, sends a share of the alias's answered calls
	// again to a candidate deployment, to compare it in the analytics.
	Mirror *LLMMirror `yaml:"mirror,omitempty" json:"mirror,omitempty"`
}

// LLMMirror is a model alias's candidate deployment.
type LLMMirror struct {
	Provider string `yaml:"provider,omitempty" json:"provider,omitempty"`
	Model    string `yaml:"model,omitempty" json:"model,omitempty"`
	// Percent of the answered calls mirrored (more than 0, at most 100).
	Percent float64 `yaml:"percent,omitempty" json:"percent,omitempty"`
}

// LLMTarget is one deployment of a model alias.
type LLMTarget struct {
	Provider string `yaml:"provider,omitempty" json:"provider,omitempty"`
	// Model is the provider's name of the model.
	Model    string `yaml:"model,omitempty" json:"model,omitempty"`
	Priority int64  `yaml:"priority,omitempty" json:"priority,omitempty"`
	// Weight is the deployment's share under the weighted strategy
	// (default 1).
	Weight int64 `yaml:"weight,omitempty" json:"weight,omitempty"`
}

// Portal is how an API appears in the developer portal.
type Portal struct {
	// Visibility is public (in the catalog for everyone), signed_in (for
	// signed-in developers) or hidden (the default: not in the portal).
	Visibility string `yaml:"visibility,omitempty" json:"visibility,omitempty"`
	// Title and Description (Markdown) introduce the API.
	Title       string `yaml:"title,omitempty" json:"title,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// OpenAPI is a file with the API's OpenAPI 3 document, relative to the
	// config file; it is read when the file is loaded and kept in the
	// configuration as OpenAPIDocument (what the admin API sets directly).
	OpenAPI         string `yaml:"openapi,omitempty" json:"openapi,omitempty"`
	OpenAPIDocument string `yaml:"openapi_document,omitempty" json:"openapi_document,omitempty"`
	// Subscription is auto (subscriptions are active at once) or approval
	// (an admin approves them).
	Subscription string `yaml:"subscription,omitempty" json:"subscription,omitempty"`
	// Plans developers may subscribe under; the first is the default.
	Plans []string `yaml:"plans,omitempty" json:"plans,omitempty"`
}

// SandboxPrefix is the base path under which the gateway serves the
// sandboxes of the APIs in the portal (/sandbox/<api>/…); no API may map
// a path under it while one has a sandbox.
const SandboxPrefix = "/sandbox/"

// Visible says whether the API is in the portal for a developer who is
// signed in or not.
func (p *Portal) Visible(signedIn bool) bool {
	return p != nil && (p.Visibility == "public" || p.Visibility == "signed_in" && signedIn)
}

// Route is one operation of an API: methods and a path template, with the
// policies that guard it.
type Route struct {
	// Name is unique within its API; it appears in logs and metrics.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Methods the route answers. Empty means every method. A route with GET
	// also answers HEAD unless another route of the same path claims HEAD.
	Methods []string `yaml:"methods,omitempty" json:"methods,omitempty"`
	// Path is a template relative to the API's base path: literal segments,
	// "{name}" capturing one segment, and a final "{name...}" capturing the
	// rest of the path. Empty or "/" is the base path itself.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Upstream overrides the API's upstream.
	Upstream string `yaml:"upstream,omitempty" json:"upstream,omitempty"`
	// Upstreams splits the route's traffic between upstreams (a canary,
	// two versions of an API) instead of Upstream: a request goes to the
	// first entry whose match it meets, otherwise to one chosen by weight.
	Upstreams []WeightedUpstream `yaml:"upstreams,omitempty" json:"upstreams,omitempty"`
	// Sticky, with upstreams, is "consumer": a consumer's requests always
	// take the same side of the split (anonymous ones are spread).
	Sticky string `yaml:"sticky,omitempty" json:"sticky,omitempty"`
	// Mirror copies a share of the route's requests to a shadow upstream.
	Mirror *Mirror `yaml:"mirror,omitempty" json:"mirror,omitempty"`
	// Transform rewrites the route's requests and responses.
	Transform *Transform `yaml:"transform,omitempty" json:"transform,omitempty"`
	// Aggregate answers the route by calling several upstreams in
	// parallel and merging their JSON answers, instead of proxying.
	Aggregate *Aggregate `yaml:"aggregate,omitempty" json:"aggregate,omitempty"`
	// Auth overrides the API's auth list.
	Auth []string `yaml:"auth,omitempty" json:"auth,omitempty"`
	// RequireGroups admits only consumers in at least one of these groups
	// (403 otherwise): consumers of the config by their groups, token
	// holders by their token's "groups" claim.
	RequireGroups []string `yaml:"require_groups,omitempty" json:"require_groups,omitempty"`
	// RequireScopes admits only tokens that grant all of these scopes
	// ("scope" or "scp"), 403 otherwise. API keys grant no scopes.
	RequireScopes []string `yaml:"require_scopes,omitempty" json:"require_scopes,omitempty"`
	// AllowConsumers, when set, admits only the named consumers (403 for
	// every other one, including anonymous callers). Consumers come from
	// this file or from the admin API; a name that matches none admits
	// nobody.
	AllowConsumers []string `yaml:"allow_consumers,omitempty" json:"allow_consumers,omitempty"`
	// RateLimit limits how often the route may be called: one limit or a
	// list of them, all enforced.
	RateLimit RateLimits `yaml:"rate_limit,omitempty" json:"rate_limit,omitempty"`
	// MaxBodyBytes rejects request bodies larger than this with 413.
	// 0 means no limit.
	MaxBodyBytes int64 `yaml:"max_body_bytes,omitempty" json:"max_body_bytes,omitempty"`
	// IPAllow, when set, admits only clients whose address is in one of
	// these CIDRs or IPs; IPDeny rejects the listed ones (deny wins).
	IPAllow []string `yaml:"ip_allow,omitempty" json:"ip_allow,omitempty"`
	IPDeny  []string `yaml:"ip_deny,omitempty" json:"ip_deny,omitempty"`
	// Timeout overrides the upstream's timeout for this route, and also
	// bounds how long the client may take to send its request body.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// RetryMethods lets the upstream's retries apply to these methods too
	// (POST, PATCH), which are not idempotent: only for routes whose
	// upstream tolerates a request arriving twice.
	RetryMethods []string `yaml:"retry_methods,omitempty" json:"retry_methods,omitempty"`
	// RequestFilters block requests by method, path or header pattern
	// (403 request_blocked), before authentication.
	RequestFilters []RequestFilter `yaml:"request_filters,omitempty" json:"request_filters,omitempty"`
}

// Aggregate calls upstreams in parallel with GET and merges their JSON
// answers into one object, each under its call's name.
type Aggregate struct {
	Calls []AggregateCall `yaml:"calls,omitempty" json:"calls,omitempty"`
	// Timeout bounds each call (default: its upstream's timeout).
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// OnError is "omit" (the default: the other answers are sent, and
	// "errors" names the failed calls and why) or "fail" (502).
	OnError string `yaml:"on_error,omitempty" json:"on_error,omitempty"`
}

// AggregateCall is one call: the member name of its answer, the upstream,
// and the path (and query) to GET, a template such as
// "/users/{{path.id}}".
type AggregateCall struct {
	Name     string `yaml:"name,omitempty" json:"name,omitempty"`
	Upstream string `yaml:"upstream,omitempty" json:"upstream,omitempty"`
	Path     string `yaml:"path,omitempty" json:"path,omitempty"`
}

// Transform rewrites a route's requests on their way to the upstream and
// its responses on their way back.
type Transform struct {
	Request  *RequestTransform  `yaml:"request,omitempty" json:"request,omitempty"`
	Response *ResponseTransform `yaml:"response,omitempty" json:"response,omitempty"`
	// MaxBodyBytes caps a body that a body mapping reads whole (default
	// 1 MiB): a larger request body is a 413, a larger response a 502.
	MaxBodyBytes int64 `yaml:"max_body_bytes,omitempty" json:"max_body_bytes,omitempty"`
	// Convert converts bodies between the client's format and the
	// upstream's: json_to_xml (a JSON client in front of an XML upstream:
	// request bodies to XML, response bodies to JSON) or xml_to_json (the
	// reverse). Body mappings apply on the JSON side.
	Convert string `yaml:"convert,omitempty" json:"convert,omitempty"`
	// XMLRoot names the root element of XML made from JSON. Default
	// "root".
	XMLRoot string `yaml:"xml_root,omitempty" json:"xml_root,omitempty"`
}

// RequestTransform changes requests.
type RequestTransform struct {
	Headers *HeaderTransform `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Query changes query parameters, as Headers does headers.
	Query *HeaderTransform `yaml:"query,omitempty" json:"query,omitempty"`
	// Path is the path the upstream receives, a template such as
	// "/v2/orders/{{path.id}}" (under the target's base path).
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Body maps a JSON request body.
	Body *BodyTransform `yaml:"body,omitempty" json:"body,omitempty"`
}

// ResponseTransform changes responses.
type ResponseTransform struct {
	Headers *HeaderTransform `yaml:"headers,omitempty" json:"headers,omitempty"`
	Body    *BodyTransform   `yaml:"body,omitempty" json:"body,omitempty"`
	// Status maps upstream statuses to the client's: {"404": 200}.
	Status map[string]int `yaml:"status,omitempty" json:"status,omitempty"`
	// Modifiers name response modifiers registered in Go.
	Modifiers []string `yaml:"modifiers,omitempty" json:"modifiers,omitempty"`
}

// HeaderTransform changes headers (or query parameters), in this order:
// remove, rename, set, add. Values are templates ({{consumer}},
// {{path.id}}, {{query.page}}, {{header.X-Tenant}}, {{request_id}} …).
type HeaderTransform struct {
	Remove []string          `yaml:"remove,omitempty" json:"remove,omitempty"`
	Rename map[string]string `yaml:"rename,omitempty" json:"rename,omitempty"`
	Set    map[string]string `yaml:"set,omitempty" json:"set,omitempty"`
	Add    map[string]string `yaml:"add,omitempty" json:"add,omitempty"`
}

// BodyTransform maps a JSON body, in this order: rename (move a value to
// another path), remove, set, defaults (set where absent). Paths use the
// syntax "customer.id", "items[0].sku", "items[].price"; values are
// templates, set as strings.
type BodyTransform struct {
	Rename   map[string]string `yaml:"rename,omitempty" json:"rename,omitempty"`
	Remove   []string          `yaml:"remove,omitempty" json:"remove,omitempty"`
	Set      map[string]string `yaml:"set,omitempty" json:"set,omitempty"`
	Defaults map[string]string `yaml:"defaults,omitempty" json:"defaults,omitempty"`
}

// Mirror copies Percent (1 to 100) of a route's requests, those that pass
// every policy, to Upstream after the real request is done; the shadow's
// answers are discarded and only counted and timed. Requests whose body
// is larger than 64 KiB, or of unknown length, are not mirrored.
type Mirror struct {
	Upstream string `yaml:"upstream,omitempty" json:"upstream,omitempty"`
	Percent  int    `yaml:"percent,omitempty" json:"percent,omitempty"`
}

// WeightedUpstream is one side of a route's traffic split.
type WeightedUpstream struct {
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Weight is the side's share of requests that no match claimed; 0
	// gives it only the requests its match claims.
	Weight int `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Match claims requests for this side: all Headers must have exactly
	// these values (X-Api-Version: "2"), or the consumer is one of
	// Consumers (pinned to this version).
	Match *SplitMatch `yaml:"match,omitempty" json:"match,omitempty"`
}

// SplitMatch selects requests for one side of a split.
type SplitMatch struct {
	Headers   map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Consumers []string          `yaml:"consumers,omitempty" json:"consumers,omitempty"`
}

// RequestFilter is one rule in the spirit of a web application firewall.
// Exactly one of BlockMethods, BlockPath and BlockHeader is set. Patterns
// are RE2 regular expressions (no backtracking, linear time) matched
// anywhere in the value unless anchored.
type RequestFilter struct {
	// BlockMethods blocks these methods.
	BlockMethods []string `yaml:"block_methods,omitempty" json:"block_methods,omitempty"`
	// BlockPath blocks requests whose normalised path, or raw request
	// target, matches.
	BlockPath string `yaml:"block_path,omitempty" json:"block_path,omitempty"`
	// BlockQuery blocks requests whose query string, raw or decoded, matches.
	BlockQuery string `yaml:"block_query,omitempty" json:"block_query,omitempty"`
	// BlockHeader blocks requests with a header of that name whose value
	// matches.
	BlockHeader *HeaderPattern `yaml:"block_header,omitempty" json:"block_header,omitempty"`
	// LogOnly logs a match (the access log's "filter" field and the
	// portico_request_filter_matches_total metric) without blocking.
	LogOnly bool `yaml:"log_only,omitempty" json:"log_only,omitempty"`
	// Name appears in logs and metrics; default "<api>/<route>#<index>".
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
}

// HeaderPattern matches one header's values.
type HeaderPattern struct {
	Name    string `yaml:"name,omitempty" json:"name,omitempty"`
	Pattern string `yaml:"pattern,omitempty" json:"pattern,omitempty"`
}

// CORS is an API's cross-origin resource sharing policy.
type CORS struct {
	// Origins allowed, as "https://app.example.com"; "*" allows any origin
	// (not with credentials).
	Origins []string `yaml:"origins,omitempty" json:"origins,omitempty"`
	// Methods allowed in preflight answers. Default GET, HEAD, POST.
	Methods []string `yaml:"methods,omitempty" json:"methods,omitempty"`
	// Headers the browser may send (besides the always-allowed ones).
	Headers []string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// ExposeHeaders the browser's script may read.
	ExposeHeaders []string `yaml:"expose_headers,omitempty" json:"expose_headers,omitempty"`
	// Credentials allows cookies and Authorization on cross-origin calls.
	Credentials bool `yaml:"credentials,omitempty" json:"credentials,omitempty"`
	// MaxAge lets the browser cache a preflight answer. Default 0 (its own
	// default, 5s in most browsers).
	MaxAge Duration `yaml:"max_age,omitempty" json:"max_age,omitempty"`
}

// RateLimits are the limits of a route. In the file, one limit may be
// written without the list.
type RateLimits []RateLimit

// RateLimit is a limit of Limit requests per Window, enforced with GCRA:
// a burst of up to Limit after a quiet period, then one request every
// Window/Limit — never a fixed window's burst of twice the limit at an edge.
type RateLimit struct {
	Limit int `yaml:"limit,omitempty" json:"limit,omitempty"`
	// Tokens limits an LLM API's tokens (in and out) per window instead of
	// its requests; on the API (apis[].rate_limit) only.
	Tokens int64    `yaml:"tokens,omitempty" json:"tokens,omitempty"`
	Window Duration `yaml:"window,omitempty" json:"window,omitempty"`
	// By is what the limit is counted per: "consumer", "ip", "route" (one
	// budget shared by all callers) or "header" (per value of Header;
	// requests without it share one budget). Default: consumer on routes
	// that authenticate, ip on anonymous ones.
	By string `yaml:"by,omitempty" json:"by,omitempty"`
	// Header names the header counted by, with by: header.
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
}

// AuthPolicy is a named authentication method.
type AuthPolicy struct {
	// Name is unique and must not be "none" or "api_key".
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Type is "api_key", "jwt", "basic" (HTTP Basic with the consumers'
	// basic credentials) or "mtls" (the client certificate of a TLS
	// connection; the proxy listens with TLS when given a certificate).
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// Header is, for api_key, the header that carries the key.
	// Default X-API-Key.
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
	// QueryParam is, for api_key, a query parameter that may carry the key
	// instead, for legacy clients (keys in URLs end up in logs and
	// histories: prefer the header). It is removed before forwarding.
	QueryParam string `yaml:"query_param,omitempty" json:"query_param,omitempty"`
	// Realm is, for basic, the realm announced in WWW-Authenticate.
	// Default "portico".
	Realm string `yaml:"realm,omitempty" json:"realm,omitempty"`
	// CAFile is, for mtls, a PEM file of the certificate authorities that
	// client certificates must chain to (read when the config is
	// compiled). ConsumerFrom names the consumer: "subject_cn" (default),
	// "san_dns", "san_email" or "san_uri" (the first such name).
	CAFile       string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	ConsumerFrom string `yaml:"consumer_from,omitempty" json:"consumer_from,omitempty"`
	// For type jwt, exactly one key source: JWKSURL, Discovery (the
	// issuer's /.well-known/openid-configuration names the key set), or
	// JWKSFile (a key set on disk, read when the config is compiled). Key
	// sets are fetched in the background, cached as the issuer's
	// Cache-Control says (1 minute to 24 hours), refetched at most every
	// 30 s for an unknown kid, and the last good set is kept while the
	// issuer is down.
	JWKSURL   string `yaml:"jwks_url,omitempty" json:"jwks_url,omitempty"`
	Discovery bool   `yaml:"discovery,omitempty" json:"discovery,omitempty"`
	JWKSFile  string `yaml:"jwks_file,omitempty" json:"jwks_file,omitempty"`
	// Issuer and Audience, when set, must match the iss and aud claims.
	Issuer   string `yaml:"issuer,omitempty" json:"issuer,omitempty"`
	Audience string `yaml:"audience,omitempty" json:"audience,omitempty"`
	// ConsumerClaim names the consumer; default "sub".
	ConsumerClaim string `yaml:"consumer_claim,omitempty" json:"consumer_claim,omitempty"`
	// Algorithms accepted; default every asymmetric one (RS*, PS*, ES*,
	// EdDSA), never HS* unless listed. "none" is never accepted.
	Algorithms []string `yaml:"algorithms,omitempty" json:"algorithms,omitempty"`
	// Leeway tolerates clock skew on exp, nbf and iat. Default 30s, at
	// most 5m.
	Leeway Duration `yaml:"leeway,omitempty" json:"leeway,omitempty"`
	// RequiredClaims must be present; RequiredScopes must all be granted
	// (in "scope" or "scp").
	RequiredClaims []string `yaml:"required_claims,omitempty" json:"required_claims,omitempty"`
	// ForwardClaims sends claims upstream in headers. Client-sent headers
	// of those names never pass on routes that use the policy.
	ForwardClaims  []ForwardClaim `yaml:"forward_claims,omitempty" json:"forward_claims,omitempty"`
	RequiredScopes []string       `yaml:"required_scopes,omitempty" json:"required_scopes,omitempty"`
}

// ForwardClaim names a claim and the header that carries it upstream.
type ForwardClaim struct {
	Claim  string `yaml:"claim,omitempty" json:"claim,omitempty"`
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
}

// Consumer is a client of the APIs.
type Consumer struct {
	// Name is unique; the upstream receives it as X-Consumer.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Groups the consumer belongs to, for routes' require_groups.
	Groups []string `yaml:"groups,omitempty" json:"groups,omitempty"`
	// APIKeys are the consumer's keys; each at least 16 characters and
	// unique across consumers. Portico keeps only their SHA-256 in memory,
	// and revisions store only "sha256:<hex>", which is also accepted here
	// in place of a key.
	APIKeys []string `yaml:"api_keys,omitempty" json:"api_keys,omitempty"`
	// Plan names the consumer's plan (its rate limits and quota).
	Plan string `yaml:"plan,omitempty" json:"plan,omitempty"`
	// Basic are the consumer's credentials for basic auth policies. Only
	// password hashes are written here: bcrypt ("$2a$", "$2b$", "$2y$")
	// or argon2id in PHC form ("$argon2id$v=19$m=…,t=…,p=…$salt$hash").
	Basic []BasicCredential `yaml:"basic,omitempty" json:"basic,omitempty"`
}

// BasicCredential is a user name and a password hash.
type BasicCredential struct {
	Username     string `yaml:"username,omitempty" json:"username,omitempty"`
	PasswordHash string `yaml:"password_hash,omitempty" json:"password_hash,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("250ms", "1m").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON writes d as a duration string, as the config file does.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// Package telemetry holds what Portico tells operators about traffic: the
// Prometheus metrics and the JSON access log.
package telemetry

import (
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the gateway's Prometheus series. One Metrics lives as long as
// the process; compiled routes hold RouteMetrics handles into it, so series
// survive config reloads.
type Metrics struct {
	Registry *prometheus.Registry

	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	upstreamErrors *prometheus.CounterVec
	reloads        *prometheus.CounterVec
	lastReload     prometheus.Gauge
	inFlight       prometheus.Gauge
	unmatched      *RouteMetrics
	redisUp        prometheus.Gauge
	fallbacks      *prometheus.CounterVec
	registerRedis  sync.Once
	filterMatches  *prometheus.CounterVec
	targetHealthy  *prometheus.GaugeVec
	circuitState   *prometheus.GaugeVec
	mirrored       *prometheus.CounterVec
	mirrorDuration *prometheus.HistogramVec
	usageRecords   *prometheus.CounterVec
	usageSpooled   prometheus.Gauge
	llmTTFT        *prometheus.HistogramVec
	llmDuration    *prometheus.HistogramVec
	llmSpeed       *prometheus.HistogramVec
	llmOverhead    prometheus.Histogram
	llmTokens      *prometheus.CounterVec
	llmCalls       *prometheus.CounterVec
	llmCache       *prometheus.CounterVec
	llmMirror      *prometheus.CounterVec
	llmLikeness    *prometheus.HistogramVec
}

// NewMetrics registers Portico's series, plus the Go runtime and process
// collectors, in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_http_requests_total",
			Help: "Requests served by the gateway, by API, route and status code. Requests that matched no route have empty api and route labels.",
		}, []string{"api", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_http_request_duration_seconds",
			Help:    "Time from receiving a request's headers to finishing its response, by API and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"api", "route"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_upstream_errors_total",
			Help: "Failed upstream requests, by upstream and kind (connect, timeout, protocol, reset, body).",
		}, []string{"upstream", "kind"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_config_reloads_total",
			Help: "Config loads, by result (success or failure). A failed reload keeps the previous config serving.",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_config_last_reload_success_timestamp_seconds",
			Help: "When the config now serving was loaded, as a Unix time.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_http_requests_in_flight",
			Help: "Requests being served by the gateway now.",
		}),
		usageRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_usage_records_total",
			Help: "Usage records by outcome: written to the store, or dropped (the buffer was full, or the store failed and the spool was full).",
		}, []string{"outcome"}),
		llmTTFT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_llm_time_to_first_token_seconds",
			Help:    "Time from an LLM call's start to the provider's first answer byte (the whole answer when not streamed), by provider model.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 4, 8, 15, 30, 60},
		}, []string{"model"}),
		llmDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_llm_provider_duration_seconds",
			Help:    "Time from an LLM call's start to the end of the provider's answer, by provider model.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 4, 8, 15, 30, 60, 120},
		}, []string{"model"}),
		llmSpeed: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_llm_output_tokens_per_second",
			Help:    "Output tokens per second of an LLM answer, from its first byte to its end (whole answers: over the call), by provider model.",
			Buckets: []float64{5, 10, 20, 40, 60, 80, 120, 200, 400, 1000},
		}, []string{"model"}),
		llmOverhead: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portico_llm_overhead_seconds",
			Help:    "Portico's own time in an LLM call before the answer began (the X-Portico-Overhead-Ms header).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05},
		}),
		llmTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_llm_tokens_total",
			Help: "Tokens of LLM calls as the providers reported them, by provider model and direction (in, out).",
		}, []string{"model", "direction"}),
		llmCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_llm_calls_total",
			Help: "LLM calls to providers, by provider and outcome: ok, failed_over (the next deployment was tried) or failed.",
		}, []string{"provider", "outcome"}),
		llmMirror: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_llm_mirror_calls_total",
			Help: "LLM calls mirrored to a model alias's candidate, by alias, candidate (provider/model) and outcome: ok, failed or skipped (too many running).",
		}, []string{"alias", "candidate", "outcome"}),
		llmLikeness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_llm_mirror_likeness",
			Help:    "How alike a candidate's answer is to the one the client got: twice the shared words over all words, 0 to 1.",
			Buckets: []float64{.1, .2, .3, .4, .5, .6, .7, .8, .9, .95, 1},
		}, []string{"alias", "candidate"}),
		llmCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_llm_cache_total",
			Help: "Requests to LLM APIs with a response cache, by result: hit or miss.",
		}, []string{"result"}),
		usageSpooled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_usage_spooled_batches",
			Help: "Batches of usage records waiting on disk for the store to take them.",
		}),
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_redis_up",
			Help: "Whether rate limits and quotas are kept in Redis now (1), or decided without it because it is unreachable (0). Absent without --redis.",
		}),
		targetHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portico_upstream_target_healthy",
			Help: "Whether an upstream target passes its active health checks (1) or not (0); present once a check changed its state.",
		}, []string{"upstream", "target"}),
		mirrored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_mirror_requests_total",
			Help: "Requests copied to a shadow upstream, by upstream and outcome: the shadow's status class (2xx-5xx), error, dropped (too many in flight) or skipped (body too large or of unknown length).",
		}, []string{"upstream", "outcome"}),
		mirrorDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_mirror_duration_seconds",
			Help:    "Time a shadow upstream took to answer a mirrored request, to compare with the route's own duration.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"upstream"}),
		circuitState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portico_upstream_circuit_state",
			Help: "An upstream's circuit breaker: 0 closed, 1 open (requests held back), 2 half-open (one trial request); present once it changed.",
		}, []string{"upstream"}),
		filterMatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_request_filter_matches_total",
			Help: "Requests that matched a request filter, by filter name and action (blocked, or logged for log-only filters).",
		}, []string{"filter", "action"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_ratelimit_redis_fallbacks_total",
			Help: "Requests whose rate limits were decided without Redis, by failure mode: open (counted in this node's memory) or closed (refused with 503).",
		}, []string{"mode"}),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.upstreamErrors, m.reloads, m.lastReload, m.inFlight, m.filterMatches, m.targetHealthy, m.circuitState, m.mirrored, m.mirrorDuration, m.usageRecords, m.usageSpooled, m.llmTTFT, m.llmDuration, m.llmSpeed, m.llmOverhead, m.llmTokens, m.llmCalls, m.llmCache, m.llmMirror, m.llmLikeness,
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(schedulerMetrics)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.unmatched = m.Route("", "")
	return m
}

// schedulerMetrics adds the Go runtime's own view of tail latency to the
// default Go collector: how long runnable goroutines waited for a thread
// (go_sched_latencies_seconds) and how long the world stood stopped for
// the collector (go_sched_pauses_total_gc_seconds). A p99 that climbs
// with the first is ready work waiting for a CPU (the process, or the
// host it shares, is short of cores); with the second, the collector.
var schedulerMetrics = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/(latencies|pauses/total/gc):seconds$`)}

// Route returns the handle for one route's series. The series themselves
// appear on the first request, so 10,000 idle routes cost no output.
func (m *Metrics) Route(api, route string) *RouteMetrics {
	return &RouteMetrics{m: m, api: api, route: route}
}

// Unmatched is the handle for requests that matched no route.
func (m *Metrics) Unmatched() *RouteMetrics { return m.unmatched }

// UpstreamError counts one failed upstream request.
func (m *Metrics) UpstreamError(upstream, kind string) {
	m.upstreamErrors.WithLabelValues(upstream, kind).Inc()
}

// Reloaded records a config load.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("success").Inc()
		m.lastReload.SetToCurrentTime()
		return
	}
	m.reloads.WithLabelValues("failure").Inc()
}

// InFlight is the gauge of requests being served.
func (m *Metrics) InFlight() prometheus.Gauge { return m.inFlight }

// RedisUp records whether Redis is reachable; the series appears with
// the first call, so nodes without Redis do not report it.
func (m *Metrics) RedisUp(up bool) {
	m.registerRedis.Do(func() { m.Registry.MustRegister(m.redisUp, m.fallbacks) })
	if up {
		m.redisUp.Set(1)
	} else {
		m.redisUp.Set(0)
	}
}

// TargetHealthy records an upstream target's active health.
func (m *Metrics) TargetHealthy(upstream, target string, healthy bool) {
	v := 0.0
	if healthy {
		v = 1
	}
	m.targetHealthy.WithLabelValues(upstream, target).Set(v)
}

// Mirrored counts a mirrored request and times the shadow's answer.
func (m *Metrics) Mirrored(upstream, outcome string, d time.Duration) {
	m.mirrored.WithLabelValues(upstream, outcome).Inc()
	if d > 0 {
		m.mirrorDuration.WithLabelValues(upstream).Observe(d.Seconds())
	}
}

// CircuitState records an upstream's circuit breaker state.
func (m *Metrics) CircuitState(upstream string, state int) {
	m.circuitState.WithLabelValues(upstream).Set(float64(state))
}

// FilterMatched counts a request that matched a request filter.
func (m *Metrics) FilterMatched(name string, blocked bool) {
	action := "logged"
	if blocked {
		action = "blocked"
	}
	m.filterMatches.WithLabelValues(name, action).Inc()
}

// RateLimitFallback counts a request decided without Redis.
func (m *Metrics) RateLimitFallback(mode string) { m.fallbacks.WithLabelValues(mode).Inc() }

// commonCodes get a lock-free slot per route; other codes take the
// CounterVec's own (locked) lookup, which is fine for rare statuses.
var commonCodes = [...]int{200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 413, 414, 429, 431, 500, 502, 503, 504}

var codeSlot = func() (s [600]int8) {
	for i := range s {
		s[i] = -1
	}
	for i, c := range commonCodes {
		s[c] = int8(i)
	}
	return s
}()

// RouteMetrics are one route's series, resolved once and then updated
// without locks or map lookups.
type RouteMetrics struct {
	m          *Metrics
	api, route string
	codes      [len(commonCodes)]atomic.Pointer[prometheus.Counter]
	duration   atomic.Pointer[prometheus.Observer]
}

// Observe records one finished request.
func (r *RouteMetrics) Observe(code int, d time.Duration) {
	r.counter(code).Inc()
	o := r.duration.Load()
	if o == nil {
		obs := r.m.duration.WithLabelValues(r.api, r.route)
		r.duration.CompareAndSwap(nil, &obs)
		o = r.duration.Load()
	}
	(*o).Observe(d.Seconds())
}

func (r *RouteMetrics) counter(code int) prometheus.Counter {
	if code < 0 || code >= len(codeSlot) || codeSlot[code] < 0 {
		return r.m.requests.WithLabelValues(r.api, r.route, strconv.Itoa(code))
	}
	slot := &r.codes[codeSlot[code]]
	if c := slot.Load(); c != nil {
		return *c
	}
	c := r.m.requests.WithLabelValues(r.api, r.route, strconv.Itoa(code))
	slot.CompareAndSwap(nil, &c)
	return c
}

// UsageRecords counts n usage records by outcome (written, dropped).
func (m *Metrics) UsageRecords(outcome string, n int) {
	m.usageRecords.WithLabelValues(outcome).Add(float64(n))
}

// UsageSpooled sets the number of usage batches waiting in the spool.
func (m *Metrics) UsageSpooled(batches int) { m.usageSpooled.Set(float64(batches)) }

// WatchOutput shows how many log lines l dropped because standard output
// did not take them.
func (m *Metrics) WatchOutput(l *AccessLog) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "portico_log_lines_dropped_total",
		Help: "Access log and node log lines dropped because standard output did not take them (8 MiB were waiting).",
	}, func() float64 { return float64(l.Dropped()) }))
}

// LLMCall counts a call to an LLM provider by outcome.
func (m *Metrics) LLMCall(provider, outcome string) {
	m.llmCalls.WithLabelValues(provider, outcome).Inc()
}

// LLMMirror counts a mirrored LLM call and, when ok, observes its
// answer's likeness to the client's.
func (m *Metrics) LLMMirror(alias, candidate, outcome string, likeness float64) {
	m.llmMirror.WithLabelValues(alias, candidate, outcome).Inc()
	if outcome == "ok" {
		m.llmLikeness.WithLabelValues(alias, candidate).Observe(likeness)
	}
}

// LLMCache counts a request to an LLM API with a cache by result.
func (m *Metrics) LLMCache(result string) { m.llmCache.WithLabelValues(result).Inc() }

// LLMAnswer records an answered LLM call: its times, speed and tokens.
func (m *Metrics) LLMAnswer(model string, ttft, total, overhead time.Duration, in, out int64) {
	m.llmTTFT.WithLabelValues(model).Observe(ttft.Seconds())
	m.llmDuration.WithLabelValues(model).Observe(total.Seconds())
	m.llmOverhead.Observe(overhead.Seconds())
	gen := total - ttft
	if gen <= 0 {
		gen = total // a whole answer: its tokens over the call
	}
	if out > 0 && gen > 0 {
		m.llmSpeed.WithLabelValues(model).Observe(float64(out) / gen.Seconds())
	}
	if in > 0 {
		m.llmTokens.WithLabelValues(model, "in").Add(float64(in))
	}
	if out > 0 {
		m.llmTokens.WithLabelValues(model, "out").Add(float64(out))
	}
}

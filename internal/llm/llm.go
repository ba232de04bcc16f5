// Package llm is the LLM gateway: an API whose routes are OpenAI's chat
// completions, embeddings, responses and models endpoints and Anthropic's
// messages endpoint, in front of providers speaking OpenAI's protocol
// (OpenAI, Azure OpenAI, and compatible servers such as Ollama or vLLM),
// Anthropic's or Gemini's. Clients ask for a model alias; the alias's
// deployments are tried in the strategy's order, and a connection
// failure, a timeout, a 429 or a 5xx moves on to the next — never once a
// byte of the answer has reached the client. When the client's format is
// the provider's, bodies pass through unchanged but for the model name
// (and the usage option of streams), so fields the gateway does not know
// survive; otherwise a translator (translate.go) carries the request and
// the answer across through a neutral form (format.go). Usage is metered
// from what the provider reports, and priced by the config's price table.
package llm

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-gw/portico/internal/clock"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/policy/ratelimit"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/server"
)

// The response cache's defaults.
const (
	DefaultCacheTTL     = 5 * time.Minute
	DefaultCacheEntries = 1000
	DefaultCacheBytes   = 64 << 20
)

// MaxRequestBody bounds a request body (prompts with images are large).
const MaxRequestBody = 16 << 20

// DefaultTimeout bounds the wait for a provider's answer to begin.
const DefaultTimeout = 60 * time.Second

// ProviderConnectTimeout bounds a connection's set-up to a provider.
const ProviderConnectTimeout = 10 * time.Second

type provider struct {
	name, base string
	// Bedrock's AWS credentials and region (SigV4), when it has no key.
	region, accessKey, secretKey, sessionToken string
	// typ is the provider's type (config), format its wire format.
	typ, format string
	// rt sends the calls. No http.Client around it: a provider's redirect
	// is not followed (see try) — following one would send the provider's
	// key, in a header net/http does not strip, to wherever it points.
	rt http.RoundTripper
	// upstream is what access logs and usage records name it by.
	upstream string
	// keyHeader and keyValue carry its API key (keyValue nil: none).
	keyHeader string
	keyValue  []string
	// stallAfter, when not 0, bounds each wait for more of an answer
	// (see guardStalls); rt bounds the wait for its start.
	stallAfter time.Duration
}

// formats are the wire formats of the provider types.
var formats = map[string]string{"openai": FormatOpenAI, "openai_compatible": FormatOpenAI, "azure_openai": FormatOpenAI,
	"anthropic": FormatAnthropic, "gemini": FormatGemini, "bedrock": FormatBedrock}

type target struct {
	p     *provider
	model string
	// modelJSON is model as a JSON string, for passed-through bodies.
	modelJSON []byte
	priority  int64
	weight    int64
	// inflight counts calls running; ttft is a moving average of the time
	// to first token, in nanoseconds (0: no sample yet).
	inflight, ttft *atomic.Int64
	// failures counts consecutive failed calls; openUntil (Unix
	// nanoseconds) skips the deployment while its circuit is open.
	failures, openUntil *atomic.Int64
}

// Circuit breaker of a deployment: after BreakerFailures consecutive
// failures it is skipped for BreakerCooldown, then tried again.
const (
	BreakerFailures = 5
	BreakerCooldown = 30 * time.Second
)

// failed counts a failed call, opening the circuit at the threshold.
func (t *target) failed(now time.Time) {
	if t.failures.Add(1) >= BreakerFailures {
		t.openUntil.Store(clock.Of(now.Add(BreakerCooldown)))
	}
}

// MaxRetryAfter bounds how long a provider's Retry-After keeps its
// deployment out.
const MaxRetryAfter = 10 * time.Minute

// rest leaves the deployment out until the time given (or later, if its
// circuit is open longer).
func (t *target) rest(until time.Time) {
	for {
		old := t.openUntil.Load()
		if at := clock.Of(until); old >= at || t.openUntil.CompareAndSwap(old, at) {
			return
		}
	}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(min(max(n, 0), int64(MaxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

// succeeded closes the circuit.
func (t *target) succeeded() {
	t.failures.Store(0)
	t.openUntil.Store(0)
}

// alias is a model alias: its deployments, by priority, and how to pick.
type alias struct {
	strategy string
	targets  []target
	// mirror, when not nil, gets a share of the answered calls.
	mirror *mirror
}

// Events receives what metrics show about LLM calls.
type Events interface {
	LLMCall(provider, outcome string)
	LLMCache(result string)
	// LLMAnswer records an answered call of model (provider/model): the
	// time to the provider's first byte (the whole answer when not
	// streamed), to the answer's end, Portico's own time before the
	// answer began, and the tokens.
	LLMAnswer(model string, ttft, total, overhead time.Duration, in, out int64)
	Mirrors
}

// Endpoint serves one LLM API.
type Endpoint struct {
	aliases map[string]*alias
	// pools are the proxy pools of the providers on plain HTTP.
	pools  []*proxy.Pool
	names  []string
	prices map[string]price // by "provider/model"
	events Events
	// tokens are the API's token limits: each call reserves the most it
	// may use and settles with what the provider reports.
	tokens []*ratelimit.Limit
	// budgets are the plans' LLM budgets: each call reserves its most
	// cost from its consumer's plan's budget and settles to its cost.
	budgets map[string]*ratelimit.Quota
	// cache, when not nil, answers repeated requests (apis[].llm.cache).
	cache *respCache
	// masker, when not nil, masks prompts (apis[].llm.mask).
	masker *masker
	// mirrors counts mirrored calls; usage records them; mirrorSlots
	// bounds those running.
	mirrors     Mirrors
	usage       UsageSink
	mirrorSlots chan struct{}
}

// Pools are the connection pools the endpoint calls providers on, which a
// reload that keeps the endpoint must keep open.
func (e *Endpoint) Pools() []*proxy.Pool { return e.pools }

// RecordUsage sets where mirrored calls' usage records go.
func (e *Endpoint) RecordUsage(u UsageSink) { e.usage = u }

// New builds the endpoint of api. pools, when not nil, are the proxy's
// connection pools: providers on http:// are called on them, and every
// dial to a provider obeys their egress policy.
func New(cfg *config.Config, api config.API, pools *proxy.Pools, events Events,
	tokenLimits []*ratelimit.Limit, budgets map[string]*ratelimit.Quota) *Endpoint {
	providers := map[string]*provider{}
	var own []*proxy.Pool
	for _, p := range cfg.LLMProviders {
		timeout := cmp.Or(p.Timeout.D(), DefaultTimeout)
		var rt http.RoundTripper
		var stallAfter time.Duration
		if u, err := url.Parse(p.BaseURL); err == nil && u.Scheme == "http" && pools != nil {
			// A provider on plain HTTP is one next to the gateway (Ollama,
			// vLLM, a sidecar), where the hop's own cost shows: it is
			// called on the proxy's client and pools, which bounds each
			// wait for more of the answer too.
			c := pools.NewClient(u.Host, ProviderConnectTimeout, timeout)
			own = append(own, c.Pool())
			rt = c
		} else {
			stallAfter = timeout // net/http's Transport bounds only the wait for the head
			var control func(network, address string, c syscall.RawConn) error
			if pools != nil {
				control = pools.Control
			}
			rt = &http.Transport{
				DialContext:           (&net.Dialer{Timeout: ProviderConnectTimeout, Control: control}).DialContext,
				ResponseHeaderTimeout: timeout,
				MaxIdleConnsPerHost:   64,
				IdleConnTimeout:       90 * time.Second,
				ForceAttemptHTTP2:     true,
			}
		}
		providers[p.Name] = &provider{name: p.Name, base: strings.TrimSuffix(p.BaseURL, "/"), typ: p.Type, format: formats[p.Type],
			region: cmp.Or(p.Region, regionOf(p.BaseURL)), accessKey: p.AccessKeyID, secretKey: p.SecretAccessKey, sessionToken: p.SessionToken,
			rt: rt, upstream: "llm:" + p.Name, stallAfter: stallAfter}
		if p.APIKey != "" {
			providers[p.Name].keyHeader, providers[p.Name].keyValue = keyHeader(p.Type, p.APIKey)
		}
	}
	e := &Endpoint{aliases: map[string]*alias{}, pools: own, prices: parsePrices(cfg), events: events, tokens: tokenLimits, budgets: budgets,
		mirrors: events, mirrorSlots: make(chan struct{}, MaxMirrors)}
	if len(api.LLM.Mask) > 0 {
		e.masker = newMasker(api.LLM.Mask)
	}
	if c := api.LLM.Cache; c != nil {
		e.cache = newRespCache(cmp.Or(c.TTL.D(), DefaultCacheTTL), cmp.Or(c.MaxEntries, DefaultCacheEntries), cmp.Or(c.MaxBytes, DefaultCacheBytes))
	}
	for _, m := range cfg.LLMModels {
		if !slices.Contains(api.LLM.Models, m.Name) {
			continue
		}
		var ts []target
		for _, t := range m.Targets {
			ts = append(ts, target{p: providers[t.Provider], model: t.Model, modelJSON: appendJSONString(nil, t.Model), priority: t.Priority, weight: cmp.Or(t.Weight, 1),
				inflight: new(atomic.Int64), ttft: new(atomic.Int64), failures: new(atomic.Int64), openUntil: new(atomic.Int64)})
		}
		slices.SortStableFunc(ts, func(a, b target) int { return cmp.Compare(a.priority, b.priority) })
		al := &alias{strategy: cmp.Or(m.Strategy, "priority"), targets: ts}
		if mr := m.Mirror; mr != nil {
			al.mirror = &mirror{percent: mr.Percent, t: target{p: providers[mr.Provider], model: mr.Model, modelJSON: appendJSONString(nil, mr.Model), weight: 1,
				inflight: new(atomic.Int64), ttft: new(atomic.Int64), failures: new(atomic.Int64), openUntil: new(atomic.Int64)}}
		}
		e.aliases[m.Name] = al
		e.names = append(e.names, m.Name)
	}
	return e
}

// order returns the deployments in the order to try them: the strategy's
// choice first, then the others by priority; those whose circuit is open
// are left out, unless every one is.
func (a *alias) order() []target {
	ts := a.targets
	now := clock.Now()
	open := 0
	for _, t := range ts {
		if t.openUntil.Load() > now {
			open++
		}
	}
	if open > 0 && open < len(ts) {
		closed := make([]target, 0, len(ts)-open)
		for _, t := range ts {
			if t.openUntil.Load() <= now {
				closed = append(closed, t)
			}
		}
		if len(closed) > 0 {
			ts = closed
		}
	}
	if len(ts) < 2 || a.strategy == "priority" {
		return ts
	}
	first := 0
	switch a.strategy {
	case "weighted":
		var total int64
		for _, t := range ts {
			total += t.weight
		}
		n := rand.Int64N(total) //nolint:gosec // spreading load, not a secret
		for i, t := range ts {
			if n < t.weight {
				first = i
				break
			}
			n -= t.weight
		}
	case "least_busy":
		for i, t := range ts {
			if t.inflight.Load() < ts[first].inflight.Load() {
				first = i
			}
		}
	case "latency":
		for i, t := range ts {
			// A deployment without a sample yet is tried, to get one.
			if v := t.ttft.Load(); v < ts[first].ttft.Load() {
				first = i
			}
		}
	}
	if first == 0 {
		return ts
	}
	out := make([]target, 0, len(ts))
	out = append(out, ts[first])
	out = append(out, ts[:first]...)
	return append(out, ts[first+1:]...)
}

// observe folds a time to first token into the deployment's average.
func (t *target) observe(d time.Duration) {
	old := t.ttft.Load()
	if old == 0 {
		t.ttft.Store(int64(d))
		return
	}
	t.ttft.Store(old + (int64(d)-old)/5)
}

// Models answers GET /v1/models with the API's aliases.
func (e *Endpoint) Models() pipeline.Handler {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, n := range e.names {
		list.Data = append(list.Data, model{ID: n, Object: "model", OwnedBy: "portico"})
	}
	body, _ := json.Marshal(list)
	return pipeline.HandlerFunc(func(w http.ResponseWriter, _ *http.Request, x *pipeline.Exchange) error {
		x.Upstream = "llm"
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
		return nil
	})
}

var (
	errBadJSON = &pipeline.Error{Status: http.StatusBadRequest, Code: "invalid_request",
		Message: "the body is not a JSON object"}
	errDuplicateMember = &pipeline.Error{Status: http.StatusBadRequest, Code: "invalid_request",
		Message: "the body names a member twice"}
	errNoModel = &pipeline.Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: `give "model": one of the models GET /v1/models lists`}
	errUnknown = &pipeline.Error{Status: http.StatusNotFound, Code: "model_not_found", Message: "this API serves no model of that name; GET /v1/models lists them"}
	errTooBig  = &pipeline.Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: "the request body is larger than 16 MiB"}
	errAllDown = &pipeline.Error{Status: http.StatusBadGateway, Code: "llm_unavailable",
		Message: "no deployment of the model answered; see the node's log"}
	errNotServed = &pipeline.Error{Status: http.StatusBadRequest, Code: "llm_operation_unsupported",
		Message: "no deployment of this model speaks OpenAI's protocol, which this endpoint needs"}
)

// ChatCompletions answers POST /v1/chat/completions.
func (e *Endpoint) ChatCompletions() pipeline.Handler { return e.Handler(opChat) }

// Handler answers the operation's POST requests: the body goes to the
// alias's deployments in turn, translated to each one's format, until one
// answers.
func (e *Endpoint) Handler(op *operation) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
		body, err := readBody(r.Body, r.ContentLength, MaxRequestBody)
		switch {
		case errors.Is(err, errBodyOver):
			return errTooBig
		case err != nil:
			return proxy.ErrClientGone
		}
		x.BytesIn = int64(len(body))
		req, err := members(body)
		switch {
		case errors.Is(err, errDuplicate):
			return errDuplicateMember
		case err != nil:
			return errBadJSON
		}
		name := jsonString(req["model"])
		if name == "" {
			return errNoModel
		}
		al, ok := e.aliases[name]
		if !ok {
			return errUnknown
		}
		targets := al.order()
		if op.only != nil {
			targets = slices.DeleteFunc(slices.Clone(targets), func(t target) bool { return !slices.Contains(op.only, t.p.format) })
			if len(targets) == 0 {
				return errNotServed
			}
		}
		if e.cache != nil {
			key, ok := cacheKey(x.Consumer, op.name, body)
			if ok {
				if hit := e.cache.get(key, time.Now()); hit != nil {
					return e.cached(w, x, hit)
				}
				e.events.LLMCache("miss")
				w.Header().Set(CacheHeader, "miss")
				rec := &recorder{ResponseWriter: w}
				w = rec
				defer func() {
					if rec.status == http.StatusOK && !rec.over && x.LLM.Model != "" && !x.LLM.Estimated {
						e.cache.put(key, rec.Header().Get("Content-Type"), rec.buf, time.Now())
					}
				}()
			}
		}
		var mask *masking
		if e.masker != nil {
			body, mask = e.masker.mask(body)
			req, _ = members(body)
		}
		c := &call{e: e, op: op, w: w, r: r, x: x, req: req, body: body, mask: mask, alias: name}
		defer c.settle()
		if len(e.tokens) > 0 {
			res, refusal := e.reserve(w, r, x, req, len(body))
			if refusal != nil {
				return refusal
			}
			c.settlers = append(c.settlers, func() { settle(res, x) })
		}
		if b := e.budgets[x.Plan]; b != nil && x.Consumer != "" {
			reserved, refusal := e.reserveBudget(w, b, x, al, req, len(body))
			if refusal != nil {
				return refusal
			}
			c.settlers = append(c.settlers, func() { b.Adjust(x.Consumer, x.LLM.CostPico-reserved, time.Now()) })
		}
		if op.only == nil {
			c.mirror = al.mirror
		}
		c.stream = string(req["stream"]) == "true"
		if c.stream && op == opChat && string(member(req["stream_options"], "include_usage")) != "true" {
			c.stripUsage = true
		}
		for i, t := range targets {
			done, err := c.try(t, i == len(targets)-1)
			if done {
				return err
			}
		}
		if c.last != nil {
			// Every deployment refused: the last one's answer, in the
			// client's format.
			for _, h := range []string{"Content-Type", "Retry-After"} {
				if v := c.last.Header.Get(h); v != "" {
					w.Header().Set(h, v)
				}
			}
			body := c.lastBody
			if c.lastFormat != op.client {
				w.Header().Set("Content-Type", "application/json")
				body = errorBody(op.client, c.last.StatusCode, body)
			}
			w.WriteHeader(c.last.StatusCode)
			_, _ = w.Write(body)
			return nil
		}
		if c.badRequest != nil {
			return c.badRequest
		}
		return errAllDown
	})
}

var errBodyOver = errors.New("body over the limit")

// preallocMax is the most of a request body's declared length readBody
// allocates before it arrives.
const preallocMax = 64 << 10

// readBody reads a request body whole, at most max bytes (errBodyOver
// beyond), into a buffer sized by the declared length (-1: unknown) —
// io.ReadAll would start at 512 bytes and grow a prompt of some KiB
// through several copies. The declared length is believed only up to
// preallocMax before the bytes arrive: a client that declares megabytes
// and sends nothing must not cost them.
func readBody(body io.Reader, declared, max int64) ([]byte, error) {
	if declared > max {
		// Refused, but not before up to max+1 bytes are read and dropped,
		// as when a body turns out too long while it is kept: a client
		// still sending would otherwise meet a closed connection instead
		// of its 413.
		_, _ = io.Copy(io.Discard, io.LimitReader(body, max+1))
		return nil, errBodyOver
	}
	size := int64(512)
	if declared >= 0 {
		size = min(declared+1, preallocMax) // +1: the last Read finds the end with room to spare
	}
	buf := make([]byte, 0, size)
	lr := &io.LimitedReader{R: body, N: max + 1}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, errBodyOver
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// cached answers from the cache: no provider is called, nothing is
// reserved, and the usage record has no tokens and no cost.
func (e *Endpoint) cached(w http.ResponseWriter, x *pipeline.Exchange, hit *cacheEntry) error {
	e.events.LLMCache("hit")
	x.Upstream = "llm:cache"
	h := w.Header()
	h.Set(CacheHeader, "hit")
	h.Set("Content-Type", hit.contentType)
	overhead(w, x, 0)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(hit.body); err != nil {
		return proxy.ErrClientGone
	}
	return nil
}

// call is one client request on its way through the deployments.
type call struct {
	e                  *Endpoint
	op                 *operation
	w                  http.ResponseWriter
	r                  *http.Request
	x                  *pipeline.Exchange
	req                map[string]json.RawMessage
	body               []byte
	stream, stripUsage bool
	// neutral is the request decoded, once a deployment needs a
	// translation; badRequest is why it could not be.
	neutral    *chat
	badRequest error
	// mask is the call's placeholders: when on, answers are translated
	// even between the same formats, to put the values back.
	mask *masking
	// alias is the model asked for; mirror its candidate, if any, and
	// answered the text of the answer (kept only then).
	alias    string
	mirror   *mirror
	answered string
	// last is the last refusal (429 or 5xx), its body and its format.
	last       *http.Response
	lastBody   []byte
	lastFormat string
	// settlers settle what the call reserved (token limits, budget) with
	// what it used.
	settlers []func()
}

// settle settles the call's reservations, once.
func (c *call) settle() {
	for _, f := range c.settlers {
		f()
	}
	c.settlers = nil
}

// end sends the client the end of its answer, once the call is metered:
// its reservations are settled first, so the client's next call sees
// them settled; what is left — metrics, a mirror, the gateway's access
// log and usage record — is done after the client has its answer.
func (c *call) end() {
	c.settle()
	_ = server.End(c.w)
}

// fill names an answer its provider gave no id or model (Bedrock gives
// neither): the request's id, and the deployment's model.
func (c *call) fill(id, model, deployment string) (string, string) {
	if id == "" {
		id = "portico-" + c.x.RequestID
	}
	if model == "" {
		_, model, _ = strings.Cut(deployment, "/")
	}
	return id, model
}

// passes says whether the call's bytes pass through tr unchanged: the
// formats match (the Responses API's and OpenAI's do) and no placeholder
// is to be put back; for embeddings, whenever the provider speaks OpenAI's
// protocol.
func (c *call) passes(tr *translator) bool {
	if c.op.only != nil {
		return tr.provider == FormatOpenAI
	}
	return tr.passthrough && !c.mask.on()
}

// promptTokens estimates the prompt's tokens.
func (c *call) promptTokens() int64 { return promptTokens(c.op.client, c.body) }

// try sends the call to one deployment; done says an answer (or an
// error) went to the client, else the next deployment is tried.
func (c *call) try(t target, lastOne bool) (done bool, err error) {
	e, x := c.e, c.x
	outcome := "failed_over"
	if lastOne {
		outcome = "failed"
	}
	tr := translators[[2]string{c.op.client, t.p.format}]
	var path string
	var out []byte
	switch {
	case c.op == opEmbeddings && t.p.format != FormatOpenAI:
		embedRequest := geminiEmbedRequest
		if t.p.format == FormatBedrock {
			embedRequest = func(body []byte, model string) (string, []byte, error) { return bedrockEmbedRequest(body, model, 0) }
		}
		var err error
		if path, out, err = embedRequest(c.body, t.model); err != nil {
			c.badRequest = &pipeline.Error{Status: http.StatusBadRequest, Code: "invalid_request",
				Message: "the request cannot be translated for this model's provider: " + err.Error()}
			return false, nil
		}
	case c.passes(tr):
		// The client's bytes, but for the deployment's model name.
		out = withMember(c.body, "model", t.modelJSON)
		if c.stripUsage {
			// Ask for the usage the stream ends with (for metering), and
			// drop it from the answer: the client did not ask for it.
			o := []byte(`{"include_usage":true}`)
			if so := c.req["stream_options"]; len(so) > 0 && string(so) != "null" {
				opts := map[string]json.RawMessage{}
				_ = json.Unmarshal(so, &opts)
				opts["include_usage"] = json.RawMessage("true")
				o, _ = json.Marshal(opts)
			}
			out = withMember(out, "stream_options", o)
		}
		path = cmp.Or(c.op.providerPath, "/v1/messages")
	default:
		if c.neutral == nil && c.badRequest == nil {
			var derr error
			if c.neutral, derr = decodeClient(c.op.client, c.body); derr != nil {
				c.badRequest = &pipeline.Error{Status: http.StatusBadRequest, Code: "invalid_request",
					Message: "the request cannot be translated for this model's provider: " + derr.Error()}
			}
		}
		if c.neutral == nil {
			return false, nil // a deployment of the client's own format may still take it
		}
		path, out = tr.request(c.neutral, &t)
	}
	t.inflight.Add(1)
	start := time.Now()
	ctx, cancel := c.r.Context(), context.CancelFunc(nil)
	if c.stream {
		// A stream's call can be cut short by the gateway itself: see
		// drainRest.
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	resp, err := t.p.call(ctx, path, out, c.r.Header)
	if err != nil {
		t.inflight.Add(-1)
		if c.r.Context().Err() != nil {
			return true, proxy.ErrClientGone
		}
		t.failed(time.Now())
		e.events.LLMCall(t.p.name, outcome)
		return false, nil // connection failure or timeout: the next deployment
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// A provider's API does not redirect its calls: a redirect is a
		// base_url gone wrong, a failure of this deployment like a refused
		// connection. It is not followed (see provider.rt).
		t.inflight.Add(-1)
		_ = resp.Body.Close()
		t.failed(time.Now())
		e.events.LLMCall(t.p.name, outcome)
		return false, nil
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		t.inflight.Add(-1)
		now := time.Now()
		t.failed(now)
		if d := retryAfter(resp.Header.Get("Retry-After"), now); d > 0 {
			// The provider said when to come back: until then the
			// deployment is left out like one whose circuit is open.
			t.rest(now.Add(min(d, MaxRetryAfter)))
		}
		e.events.LLMCall(t.p.name, outcome)
		c.last, c.lastBody, c.lastFormat = resp, readSome(resp), t.p.format
		return false, nil
	}
	x.Upstream = t.p.upstream
	model := t.p.name + "/" + t.model
	if !c.stream || resp.StatusCode != http.StatusOK {
		ttft := time.Since(start)
		t.inflight.Add(-1)
		t.succeeded()
		t.observe(ttft)
		e.events.LLMCall(t.p.name, "ok")
		ov := overhead(c.w, x, ttft)
		err := c.whole(resp, tr, &t, model)
		e.events.LLMAnswer(model, ttft, time.Since(start), ov, x.LLM.TokensIn, x.LLM.TokensOut)
		c.mirrored(resp.StatusCode, err)
		return true, err
	}
	fr := framesOf(resp, t.p.format)
	first, err := fr.next()
	if err == nil && len(first.raw) == 0 {
		err = io.ErrUnexpectedEOF
	}
	ttft := time.Since(start)
	if err != nil {
		t.inflight.Add(-1)
		_ = resp.Body.Close()
		if s, ok := fr.(*sseFrames); ok {
			s.release()
		}
		t.failed(time.Now())
		e.events.LLMCall(t.p.name, outcome)
		return false, nil // the stream broke before its first event: still time to fall back
	}
	t.succeeded()
	t.observe(ttft)
	e.events.LLMCall(t.p.name, "ok")
	ov := overhead(c.w, x, ttft)
	err = c.relay(resp, fr, first, tr, model, cancel)
	t.inflight.Add(-1)
	e.events.LLMAnswer(model, ttft, time.Since(start), ov, x.LLM.TokensIn, x.LLM.TokensOut)
	c.mirrored(http.StatusOK, err)
	return true, err
}

// mirrored hands a complete answer's call to the alias's mirror.
func (c *call) mirrored(status int, err error) {
	if c.mirror != nil && err == nil && status == http.StatusOK && c.x.LLM.Model != "" && !c.x.LLM.Estimated {
		c.maybeMirror(c.alias, c.mirror, c.answered)
	}
}

var errTokens = &pipeline.Error{Status: http.StatusTooManyRequests, Code: "token_rate_limited",
	Message: "the API's token limit is used up for now; retry after the time in Retry-After"}

// DefaultMaxTokens is what a call without max_tokens is assumed to
// generate at most, for the reservation its token limits take.
const DefaultMaxTokens = 4096

// reserve takes from every token limit the most tokens the call may use:
// its prompt (a byte counts as a token: never an underestimate for text)
// and its max_tokens. All limits or none.
func (e *Endpoint) reserve(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange, req map[string]json.RawMessage, bodyLen int) ([]*ratelimit.Reservation, error) {
	n := int64(bodyLen) + maxTokens(req) // both below 2^41
	now := time.Now()
	var out []*ratelimit.Reservation
	for _, l := range e.tokens {
		res, ok, retry, err := l.Reserve(r, x, n, now)
		if err != nil {
			for _, o := range out {
				o.Cancel()
			}
			return nil, err
		}
		if !ok {
			for _, o := range out {
				o.Cancel()
			}
			w.Header().Set("Retry-After", strconv.FormatInt(max(int64((retry+time.Second-1)/time.Second), 1), 10))
			w.Header().Set("RateLimit-Limit", l.Text())
			return nil, errTokens
		}
		out = append(out, res)
	}
	return out, nil
}

var errBudget = &pipeline.Error{Status: http.StatusTooManyRequests, Code: "llm_budget_exceeded",
	Message: "the plan's LLM budget for this period cannot cover this call; it renews at the time in Retry-After"}

// reserveBudget takes the most the call may cost — its prompt bytes at the
// highest input price and its max tokens at the highest output price of
// the alias's deployments — from the consumer's budget.
func (e *Endpoint) reserveBudget(w http.ResponseWriter, b *ratelimit.Quota, x *pipeline.Exchange, al *alias, req map[string]json.RawMessage, bodyLen int) (int64, error) {
	var in, out int64
	for _, t := range al.targets {
		if p, ok := e.prices[t.p.name+"/"+t.model]; ok {
			in, out = max(in, p.in), max(out, p.out)
		}
	}
	cost := addCap(mulCap(int64(bodyLen), in), mulCap(maxTokens(req), out))
	ok, retry := b.Reserve(x.Consumer, cost, time.Now())
	if !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(max(int64((retry+time.Second-1)/time.Second), 1), 10))
		return 0, errBudget
	}
	return cost, nil
}

// maxTokens is the most a call may generate: its max_completion_tokens,
// max_tokens or (the Responses API's) max_output_tokens, else
// DefaultMaxTokens, for each of its n choices (OpenAI's n), and at most
// MaxReserveTokens — more than any limit holds — so that no sum or price
// of it can wrap around to a small number.
func maxTokens(req map[string]json.RawMessage) int64 {
	per := int64(DefaultMaxTokens)
	for _, k := range []string{"max_completion_tokens", "max_tokens", "max_output_tokens"} {
		var n int64
		if json.Unmarshal(req[k], &n) == nil && n > 0 {
			per = n
			break
		}
	}
	choices := int64(1)
	if n := int64(0); json.Unmarshal(req["n"], &n) == nil && n > 1 {
		choices = n
	}
	if per > MaxReserveTokens/choices {
		return MaxReserveTokens
	}
	return per * choices
}

// MaxReserveTokens caps what one call reserves: 2^40 tokens, far above
// any token limit or budget, and small enough that a price per token
// times it, plus a request's size, stays within an int64.
const MaxReserveTokens = 1 << 40

// mulCap is a × b for non-negative a and b, or math.MaxInt64 when that
// would not fit.
func mulCap(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// addCap is a + b for non-negative a and b, or math.MaxInt64 when that
// would not fit.
func addCap(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// settle corrects the reservations to the tokens the provider reported;
// a call that reached no provider gives them all back, and one whose
// usage is unknown keeps them.
func settle(res []*ratelimit.Reservation, x *pipeline.Exchange) {
	for _, r := range res {
		switch {
		case x.LLM.Model != "":
			r.Settle(x.LLM.TokensIn + x.LLM.TokensOut)
		case x.Upstream == "":
			r.Cancel()
		}
	}
}

// OverheadHeader tells the client how long Portico itself took: the time
// from receiving the request to answering, less the time the provider
// took to begin its answer.
const OverheadHeader = "X-Portico-Overhead-Ms"

func overhead(w http.ResponseWriter, x *pipeline.Exchange, provider time.Duration) time.Duration {
	d := time.Since(x.Start) - provider
	w.Header().Set(OverheadHeader, strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64))
	return d
}

// call posts body to the provider's path, with the provider's
// credentials; in holds the client's headers, of which only Anthropic's
// beta flags go on (to Anthropic).
func (p *provider) call(ctx context.Context, path string, body []byte, in http.Header) (*http.Response, error) {
	var cancel context.CancelFunc
	if p.stallAfter > 0 {
		ctx, cancel = context.WithCancel(ctx)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, bytes.NewReader(body))
	if err != nil {
		if cancel != nil {
			cancel()
		}
		return nil, err
	}
	if cancel == nil {
		return p.send(ctx, req, body, in)
	}
	resp, err := p.send(ctx, req, body, in)
	if err != nil {
		cancel()
		return nil, err
	}
	guardStalls(resp, p.stallAfter, cancel)
	return resp, nil
}

// send fills in req's headers and sends it.
func (p *provider) send(ctx context.Context, req *http.Request, body []byte, in http.Header) (*http.Response, error) {
	// The header values are shared between calls: nothing on the way out
	// modifies a value in place.
	h := req.Header
	h["Content-Type"] = jsonContentType
	if p.keyValue != nil {
		h[p.keyHeader] = p.keyValue
	}
	switch p.typ {
	case "anthropic":
		h["Anthropic-Version"] = anthropicVersion
		if v := in.Get("Anthropic-Beta"); v != "" {
			h.Set("Anthropic-Beta", v)
		}
	case "bedrock":
		h["Accept"] = jsonContentType
		if p.keyValue == nil { // no Bedrock API key: SigV4, over the headers above
			if err := p.sign(ctx, req, body); err != nil {
				return nil, err
			}
		}
	}
	return p.rt.RoundTrip(req)
}

// stallGuard bounds each wait for more of an answer that net/http's
// Transport reads (it bounds only the wait for the answer's head): a read
// that waits longer than the provider's timeout cancels the call, and
// fails with an error that wraps os.ErrDeadlineExceeded — what a read of
// proxy.Client's answers fails with when the same happens.
type stallGuard struct {
	body    io.ReadCloser
	timeout time.Duration
	timer   *time.Timer
	cancel  context.CancelFunc
	stalled atomic.Bool
}

// guardStalls puts a stallGuard on resp's body. cancel cancels the call
// and is called when the body is closed.
func guardStalls(resp *http.Response, timeout time.Duration, cancel context.CancelFunc) {
	g := &stallGuard{body: resp.Body, timeout: timeout, cancel: cancel}
	g.timer = time.AfterFunc(time.Hour, g.fire)
	g.timer.Stop() // armed only while a read waits
	resp.Body = g
}

func (g *stallGuard) fire() {
	g.stalled.Store(true)
	g.cancel()
}

func (g *stallGuard) Read(p []byte) (int, error) {
	g.timer.Reset(g.timeout)
	n, err := g.body.Read(p)
	g.timer.Stop()
	if err != nil && g.stalled.Load() {
		err = fmt.Errorf("nothing more of the answer within %v: %w", g.timeout, os.ErrDeadlineExceeded)
	}
	return n, err
}

func (g *stallGuard) Close() error {
	g.timer.Stop()
	err := g.body.Close()
	g.cancel()
	return err
}

var (
	jsonContentType  = []string{"application/json"}
	anthropicVersion = []string{AnthropicVersion}
)

// keyHeader is the header a provider type takes its API key in, and the
// value.
func keyHeader(typ, key string) (string, []string) {
	switch typ {
	case "anthropic":
		return "X-Api-Key", []string{key}
	case "gemini":
		return "X-Goog-Api-Key", []string{key}
	case "azure_openai":
		return "Api-Key", []string{key}
	default: // openai, openai_compatible, and a Bedrock API key
		return "Authorization", []string{"Bearer " + key}
	}
}

func readSome(resp *http.Response) []byte {
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return b
}

// MaxAnswer bounds a whole answer Portico translates (one it passes
// through is not bounded).
const MaxAnswer = 32 << 20

// whole relays a whole answer — as it is, or translated — and meters its
// usage.
func (c *call) whole(resp *http.Response, tr *translator, t *target, model string) error {
	defer func() { _ = resp.Body.Close() }()
	w, x := c.w, c.x
	switch {
	case c.op == opEmbeddings && tr.provider == FormatGemini:
		return c.geminiEmbeddings(resp, model)
	case c.op == opEmbeddings && tr.provider == FormatBedrock:
		return c.bedrockEmbeddings(resp, t, model)
	}
	if c.passes(tr) {
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(resp.StatusCode)
		cp := &capture{w: w, max: 1 << 20}
		buf, _ := copyBufs.Get().(*[]byte)
		if buf == nil {
			b := make([]byte, 32<<10)
			buf = &b
		}
		_, err := io.CopyBuffer(cp, resp.Body, *buf)
		copyBufs.Put(buf)
		if resp.StatusCode == http.StatusOK {
			if a, derr := passAnswer(c.op, cp.buf); derr == nil {
				c.e.meterAnswer(x, model, a, c.promptTokens)
			}
		}
		if err != nil {
			return proxy.ErrClientGone // the answer has begun: nothing else to send
		}
		c.end()
		if resp.StatusCode == http.StatusOK && c.mirror != nil {
			c.answered = answerText(c.op.client, cp.buf)
		}
		return nil
	}
	body, done, err := c.wholeAnswer(resp)
	if done {
		return err
	}
	a, err := tr.answer(body)
	if err != nil {
		return &pipeline.Error{Status: http.StatusBadGateway, Code: "llm_bad_answer", Message: "the provider's answer could not be read"}
	}
	c.e.meterAnswer(x, model, a, c.promptTokens)
	a.id, a.model = c.fill(a.id, a.model, model)
	if c.mask.on() {
		c.mask.restoreAnswer(a)
	}
	if c.mirror != nil {
		c.answered = a.text()
	}
	_, err = w.Write(tr.reply(a, time.Now().Unix()))
	if err != nil {
		return proxy.ErrClientGone
	}
	c.end()
	return nil
}

// frame is one event of a provider's stream: as received (passed through
// as it is) and its data (what decoders read).
type frame struct{ raw, data []byte }

// frames reads a provider's stream event by event. At the stream's clean
// end, next returns io.EOF and no frame; a frame's bytes may be reused by
// the next call to next. pending reports whether the next frame has
// arrived whole already, so next will not wait for it.
type frames interface {
	next() (frame, error)
	// pending reports whether next returns without waiting for the
	// network.
	pending() bool
}

// framesOf reads resp's stream: server-sent events, or AWS's event stream
// for Bedrock.
func framesOf(resp *http.Response, format string) frames {
	if format == FormatBedrock {
		return newBedrockFrames(resp.Body)
	}
	f, _ := sseFramesPool.Get().(*sseFrames)
	if f == nil {
		f = &sseFrames{br: bufio.NewReaderSize(resp.Body, 32<<10)}
	}
	f.br.Reset(resp.Body)
	f.src, _ = resp.Body.(readier)
	return f
}

// readier is a provider's answer body that tells whether a Read would
// return without waiting (proxy.Client's bodies, on http:// providers).
type readier interface{ Ready() bool }

// sseFramesPool holds the readers streams are read through, with their
// buffers, and copyBufs the buffers whole answers are copied through,
// reused.
var sseFramesPool, copyBufs sync.Pool

type sseFrames struct {
	br  *bufio.Reader
	src readier // nil: only what br holds is known to have arrived
	// ev holds the event next returned last: a frame is good until the
	// next call.
	ev []byte
}

// maxKeptEvent bounds the event buffer a stream's reader keeps for reuse.
const maxKeptEvent = 64 << 10

// release returns the frames for reuse; they are not used after.
func (f *sseFrames) release() {
	f.br.Reset(nil)
	f.src = nil
	if cap(f.ev) > maxKeptEvent {
		f.ev = nil
	}
	sseFramesPool.Put(f)
}

// pending looks in the buffer for a whole event, then — while the body
// says more has arrived — reads what has, which does not wait.
func (f *sseFrames) pending() bool {
	for {
		b, _ := f.br.Peek(f.br.Buffered())
		b = bytes.TrimLeft(b, "\r\n") // blank lines between events, which next skips
		if bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n")) {
			return true
		}
		if f.src == nil || f.br.Buffered() == f.br.Size() || !f.src.Ready() {
			return false
		}
		if _, err := f.br.Peek(f.br.Buffered() + 1); err != nil {
			return true // the end, or an error: next returns at once
		}
	}
}

func (f *sseFrames) next() (frame, error) {
	ev, err := readEvent(f.br, f.ev[:0])
	f.ev = ev
	if err != nil {
		if errors.Is(err, io.EOF) && len(bytes.TrimSpace(ev)) == 0 {
			return frame{}, io.EOF
		}
		return frame{}, cmp.Or(err, io.ErrUnexpectedEOF)
	}
	return frame{raw: ev, data: eventData(ev)}, nil
}

// readEvent reads lines up to and including the blank line that ends an
// event, appended to ev.
func readEvent(br *bufio.Reader, ev []byte) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		ev = append(ev, line...)
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			return ev, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 && len(bytes.TrimSpace(ev)) > 0 {
			return ev, nil
		}
		if len(bytes.TrimSpace(ev)) == 0 {
			ev = ev[:0] // blank lines between events
		}
	}
}

// relay sends the stream event by event — as it is, or translated — and
// meters the usage it reports. Each event is flushed unless the next one
// has arrived already: events that came together leave together, in one
// write, and none waits for a later one.
func (c *call) relay(resp *http.Response, fr frames, first frame, tr *translator, model string, cancel context.CancelFunc) error {
	defer func() {
		_ = resp.Body.Close()
		if s, ok := fr.(*sseFrames); ok {
			s.release()
		}
	}()
	w, x := c.w, c.x
	pass := c.passes(tr)
	var dec decoder
	var enc encoder
	var restore *streamRestore
	if c.mask.on() && !pass {
		restore = c.mask.stream()
	}
	encode := func(evs []event, out []byte, closed *bool) []byte {
		if restore != nil {
			evs = restore.events(evs)
		}
		return encodeAll(enc, evs, out, closed)
	}
	if pass {
		dec, enc = passStream(c.op)
	} else {
		dec, enc = tr.decoder(), tr.encoder(c.neutral, time.Now().Unix())
	}
	// What was generated, for an estimate should the stream end without
	// its usage (the client left, the provider broke off): it is still
	// billed.
	var generated strings.Builder
	var known usage // the prompt's, when the stream's start told it
	metered := func() {
		if x.LLM.Model == "" {
			c.e.estimate(x, model, known, c.promptTokens, generated.String())
		}
	}
	defer func() {
		metered()
		if c.mirror != nil {
			c.answered = generated.String()
		}
	}()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var evs []event
	var out []byte
	ended, closed, written := false, false, false
	send := func(more bool) error {
		if len(out) > 0 {
			if _, err := w.Write(out); err != nil {
				return proxy.ErrClientGone
			}
			written = true
		}
		if written && !more {
			written = false
			_ = rc.Flush()
		}
		return nil
	}
	ev := first
	for {
		var derr error
		evs, derr = dec.decode(ev.data, evs[:0])
		out = out[:0]
		usageOnly := len(evs) > 0
		for _, e := range evs {
			switch e.kind {
			case evUsage:
				c.e.meter(x, model, &e.usage)
			case evText, evThinking, evToolArgs:
				if generated.Len() < MaxAnswer {
					generated.WriteString(e.text)
				}
				usageOnly = false
			case evEnd:
				ended = true
				usageOnly = false
			case evStart:
				known = e.usage
				usageOnly = false
			default:
				usageOnly = false
			}
		}
		switch {
		case !pass:
			if len(evs) > 0 && evs[0].kind == evStart {
				evs[0].id, evs[0].model = c.fill(evs[0].id, evs[0].model, model)
			}
			out = encode(evs, out, &closed)
		case !c.stripUsage || !usageOnly:
			out = append(out, ev.raw...)
		}
		if derr != nil && !pass {
			out = enc.fail(out, derr.Error())
		}
		// The stream's end event ([DONE], message_stop, response.completed)
		// ends the client's answer, passed through or translated: nothing
		// follows it in any of these protocols, and the client need not
		// wait for the few bytes that end the provider's answer.
		last := derr != nil || ended
		// The last events are not flushed alone: they leave with the
		// response's end, in one write.
		if err := send(last || fr.pending()); err != nil {
			return err
		}
		if last {
			// The client's stream ends here, before the provider's
			// connection is drained.
			metered()
			c.end()
			if derr == nil {
				drainRest(fr, cancel)
			}
			return nil
		}
		var err error
		ev, err = fr.next()
		if err != nil {
			out = out[:0]
			switch {
			case errors.Is(err, io.EOF):
				if !ended && !pass {
					evs = dec.finish(evs[:0])
					for _, e := range evs {
						if e.kind == evUsage {
							c.e.meter(x, model, &e.usage)
						}
					}
					out = encode(evs, out, &closed)
				}
			case errors.Is(err, os.ErrDeadlineExceeded):
				out = enc.fail(out, "the provider's stream stalled: nothing more within its timeout")
			default:
				// An error inside the stream reaches the client in its
				// own protocol.
				out = enc.fail(out, "the provider's stream broke off")
			}
			// Not flushed: what is left leaves with the end of the
			// response, in one write instead of two.
			if err := send(true); err != nil {
				return err
			}
			metered()
			c.end()
			return nil
		}
	}
}

// DrainWait bounds the wait for what follows a stream's end event.
const DrainWait = 100 * time.Millisecond

// drainRest reads, and drops, what a provider sends after the event that
// ended a stream (OpenAI's [DONE], Anthropic's message_stop): it follows
// at once and is small, and a connection whose answer was read to its end
// serves the next call — without it every such stream costs a new
// connection, a TLS handshake to a remote provider. A provider that does
// not end its answer within DrainWait, or sends more than a few events,
// is cut off.
func drainRest(fr frames, cancel context.CancelFunc) {
	t := time.AfterFunc(DrainWait, cancel)
	defer t.Stop()
	for range 8 {
		if _, err := fr.next(); err != nil {
			return
		}
	}
	cancel()
}

// wholeAnswer reads a provider's whole (unstreamed) answer. A non-200
// answer is sent to the client at once as an error in its own format, and
// done is true: err is then what the handler returns.
func (c *call) wholeAnswer(resp *http.Response) (body []byte, done bool, err error) {
	body, err = io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return nil, true, errAllDown
	}
	c.w.Header().Set("Content-Type", "application/json")
	if resp.StatusCode != http.StatusOK {
		c.w.WriteHeader(resp.StatusCode)
		_, _ = c.w.Write(errorBody(c.op.client, resp.StatusCode, body))
		return nil, true, nil
	}
	return body, false, nil
}

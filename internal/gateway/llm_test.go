package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portico-gw/portico/internal/telemetry"
	"github.com/portico-gw/portico/internal/usage"
)

// mockLLM is a provider speaking OpenAI's chat completions protocol, with
// a scripted behaviour: fail with a status, or answer (streamed or not)
// with exact usage numbers. It records what it received.
type mockLLM struct {
	mu       sync.Mutex
	status   int // when not 0 and not 200: answer this error
	breakOff bool
	got      []map[string]any
	raw      []string // the bodies as received
	auth     []string
	srv      *httptest.Server
}

func newMockLLM(t *testing.T) *mockLLM {
	m := &mockLLM{}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &req)
		m.mu.Lock()
		m.got = append(m.got, req)
		m.raw = append(m.raw, string(raw))
		m.auth = append(m.auth, r.Header.Get("Authorization"))
		status, breakOff := m.status, m.breakOff
		m.mu.Unlock()
		if r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "wrong path "+r.URL.Path, 404)
			return
		}
		if status != 0 && status != 200 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"error":{"message":"mock says no","type":"server_error"}}`)
			return
		}
		model, _ := req["model"].(string)
		if stream, _ := req["stream"].(bool); stream {
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			for i, word := range []string{"Hello", " there"} {
				fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}],\"extra_field\":%d}\n\n", model, word, i)
				fl.Flush()
				if breakOff {
					panic(http.ErrAbortHandler) // the connection breaks mid-stream
				}
			}
			fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
			if opts, _ := req["stream_options"].(map[string]any); opts["include_usage"] == true {
				fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":2,\"total_tokens\":13}}\n\n")
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13},"system_fingerprint":"fp_mock"}`, model)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mockLLM) set(status int, breakOff bool) {
	m.mu.Lock()
	m.status, m.breakOff = status, breakOff
	m.mu.Unlock()
}

func (m *mockLLM) requests() ([]map[string]any, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]map[string]any(nil), m.got...), append([]string(nil), m.auth...)
}

func llmConfig(primary, backup string) string {
	return `version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
llm_providers:
  - {name: primary, type: openai, base_url: "` + primary + `/v1", api_key: sk-primary}
  - {name: backup, type: openai_compatible, base_url: "` + backup + `/v1"}
llm_prices:
  - {provider: primary, model: gpt-4.1, input: 2.00, output: 8.00, cached_input: 0.50}
llm_models:
  - name: smart
    strategy: priority
    targets:
      - {provider: backup, model: backup-model, priority: 2}
      - {provider: primary, model: gpt-4.1, priority: 1}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
apis:
  - name: ai
    base_path: /ai
    auth: [api_key]
    llm: {models: [smart]}
`
}

// TestLLMGateway: an OpenAI-style client with its Portico key as a bearer
// token asks for an alias; the request reaches the alias's first
// deployment with the provider's own key and model name and every other
// field intact; streams arrive event by event with the usage chunk
// removed when the client did not ask for it; a 429 or 5xx moves to the
// next deployment; a stream that breaks after its first event ends with
// an error event in OpenAI's format.
func TestLLMGateway(t *testing.T) {
	t.Parallel()
	primary, backup := newMockLLM(t), newMockLLM(t)
	e := start(t, llmConfig(primary.srv.URL, backup.srv.URL), "http://127.0.0.1:9")
	rec := usage.NewRecorder(1000, 1000, telemetry.NewMetrics())
	e.gw.RecordUsage(rec)
	bearer := hdr("Authorization", "Bearer "+acmeKey, "Content-Type", "application/json")

	resp, body := e.do("GET", "/ai/v1/models", bearer, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"id":"smart"`) {
		t.Fatalf("models: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/ai/v1/models", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("without a key: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", "/ai/v1/models", hdr("Authorization", "Basic eDp5"), nil); resp.StatusCode != 401 {
		t.Fatalf("another scheme: %d", resp.StatusCode)
	}

	req := `{"model":"smart","messages":[{"role":"user","content":"Hi"}],"temperature":0.2,"future_field":{"x":1}}`
	resp, body = e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(req))
	if resp.StatusCode != 200 || !strings.Contains(body, `"system_fingerprint":"fp_mock"`) || !strings.Contains(body, `"model":"gpt-4.1"`) {
		t.Fatalf("chat completion: %d %s", resp.StatusCode, body)
	}
	if ms, err := strconv.ParseFloat(resp.Header.Get("X-Portico-Overhead-Ms"), 64); err != nil || ms < 0 {
		t.Fatalf("X-Portico-Overhead-Ms %q", resp.Header.Get("X-Portico-Overhead-Ms"))
	}
	got, auth := primary.requests()
	if len(got) != 1 || got[0]["model"] != "gpt-4.1" || got[0]["future_field"] == nil || got[0]["temperature"] != 0.2 || auth[0] != "Bearer sk-primary" {
		t.Fatalf("what the provider received: %v %v", got, auth)
	}
	// Passed through: the client's bytes, but for the model's name.
	primary.mu.Lock()
	raw := primary.raw[0]
	primary.mu.Unlock()
	if want := strings.Replace(req, `"smart"`, `"gpt-4.1"`, 1); raw != want {
		t.Fatalf("the provider received\n%s\nwant\n%s", raw, want)
	}
	// Metered from the provider's usage: 11 tokens in at 2.00 and 2 out at
	// 8.00 per million = 38 millionths of a dollar.
	if recs := takeRecords(rec, 4); len(recs) != 4 || recs[3].TokensIn != 11 || recs[3].TokensOut != 2 || recs[3].CostPico != 38_000_000 ||
		recs[3].LLMModel != "primary/gpt-4.1" || recs[3].Unpriced || recs[3].Upstream != "llm:primary" || recs[3].BytesIn != int64(len(req)) {
		t.Fatalf("usage records: %+v", recs)
	}
	// The Anthropic SDKs' header works too.
	if resp, _ := e.do("POST", "/ai/v1/chat/completions", hdr("X-API-Key", acmeKey), strings.NewReader(req)); resp.StatusCode != 200 {
		t.Fatalf("with X-API-Key: %d", resp.StatusCode)
	}

	// A stream: events relayed, the usage chunk Portico asked for removed.
	stream := `{"model":"smart","stream":true,"messages":[{"role":"user","content":"Hi"}]}`
	resp, body = e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(stream))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || strings.Count(body, "data: ") != 4 ||
		strings.Contains(body, `"usage"`) || !strings.HasSuffix(body, "data: [DONE]\n\n") || !strings.Contains(body, `"extra_field":1`) {
		t.Fatalf("stream: %d %q", resp.StatusCode, body)
	}
	got, _ = primary.requests()
	if opts, _ := got[len(got)-1]["stream_options"].(map[string]any); opts["include_usage"] != true {
		t.Fatalf("usage was not asked of the provider: %v", got[len(got)-1])
	}
	if recs := takeRecords(rec, 2); len(recs) != 2 || recs[1].TokensIn != 11 || recs[1].TokensOut != 2 || recs[1].CostPico != 38_000_000 {
		t.Fatalf("a stream's usage records (the usage chunk the client did not see still counts): %+v", recs)
	}
	// A client that asks for usage gets it.
	_, body = e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(`{"model":"smart","stream":true,"stream_options":{"include_usage":true},"messages":[]}`))
	if !strings.Contains(body, `"prompt_tokens":11`) {
		t.Fatalf("stream with usage asked: %q", body)
	}
	// One that says no has it asked of the provider all the same, and
	// removed.
	_, body = e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(`{"model":"smart","stream":true,"stream_options":{"include_usage":false},"messages":[]}`))
	got, _ = primary.requests()
	if opts, _ := got[len(got)-1]["stream_options"].(map[string]any); opts["include_usage"] != true || strings.Contains(body, `"usage"`) ||
		!strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Fatalf("stream with usage refused: asked %v, answered %q", got[len(got)-1], body)
	}

	// The primary fails with 429, then 500: the backup answers.
	for _, status := range []int{429, 500} {
		primary.set(status, false)
		resp, body = e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(req))
		if resp.StatusCode != 200 || !strings.Contains(body, `"model":"backup-model"`) {
			t.Fatalf("fallback after %d: %d %s", status, resp.StatusCode, body)
		}
	}
	if got, auth := backup.requests(); len(got) != 2 || auth[0] != "" {
		t.Fatalf("the backup received %d requests, auth %q (it has no key)", len(got), auth)
	}
	// The backup's model has no price: flagged, never priced at 0.
	if recs := takeRecords(rec, 3); len(recs) < 3 || !recs[len(recs)-1].Unpriced || recs[len(recs)-1].LLMModel != "backup/backup-model" || recs[len(recs)-1].TokensIn != 11 {
		t.Fatalf("usage of a fallback to an unpriced model: %+v", recs)
	}
	// Both fail: the last answer comes back as it was.
	backup.set(503, false)
	resp, body = e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(req))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, "mock says no") {
		t.Fatalf("every deployment down: %d %s", resp.StatusCode, body)
	}

	// A stream that breaks after its first event: the client gets that
	// event, then an error event, and no fallback replays the answer.
	primary.set(200, true)
	backup.set(200, false)
	httpReq, _ := http.NewRequest("POST", e.URL+"/ai/v1/chat/completions", strings.NewReader(stream))
	httpReq.Header = bearer
	httpResp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	sc := bufio.NewScanner(httpResp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			events = append(events, sc.Text())
		}
	}
	httpResp.Body.Close()
	if len(events) != 2 || !strings.Contains(events[0], "Hello") || !strings.Contains(events[1], `"code":"llm_stream_broken"`) {
		t.Fatalf("a broken stream: %q", events)
	}
	// It is still metered: estimated with the tokenizer from what was sent
	// ("Hi": 1 token, plus 3 for its message and 3 for the prompt) and
	// relayed ("Hello": 1 token).
	recs := takeRecords(rec, 1)
	if len(recs) == 0 {
		t.Fatal("a broken stream: no usage record")
	}
	last := recs[len(recs)-1]
	if !last.Estimated || last.TokensOut != 1 || last.TokensIn != 7 || last.CostPico != (7*2+1*8)*1e6 {
		t.Fatalf("a broken stream's usage record: %+v", last)
	}
	// The calls show in the metrics, by outcome.
	families, _ := e.metrics.Registry.Gather()
	seen := map[string]bool{}
	for _, f := range families {
		seen[f.GetName()] = true
	}
	for _, name := range []string{"portico_llm_calls_total", "portico_llm_time_to_first_token_seconds", "portico_llm_tokens_total",
		"portico_llm_provider_duration_seconds", "portico_llm_output_tokens_per_second", "portico_llm_overhead_seconds"} {
		if !seen[name] {
			t.Errorf("metric %s is missing", name)
		}
	}

	// Bad requests, which reach no provider. A member named twice is one:
	// the gateway would route and bill by one "model" while a provider
	// might read the other.
	before, _ := primary.requests()
	for _, c := range []struct {
		body string
		code int
	}{{`not json`, 400}, {`{"messages":[]}`, 400}, {`{"model":"dumb"}`, 404},
		{`{"model":"gpt-4.1","model":"smart","messages":[]}`, 400}, {`{"model":"smart","mod\u0065l":"gpt-4.1"}`, 400}} {
		if resp, _ := e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(c.body)); resp.StatusCode != c.code {
			t.Errorf("%s: %d, want %d", c.body, resp.StatusCode, c.code)
		}
	}
	if after, _ := primary.requests(); len(after) != len(before) {
		t.Errorf("bad requests reached the provider: %v", after[len(before):])
	}
}

// TestLLMTokenLimit: a token limit on the API reserves each call's most
// (prompt bytes + max_tokens) and settles with the provider's usage, so
// calls pass while what they may use fits, and the next is refused 429
// token_rate_limited with Retry-After.
// TestLLMProviderRedirect: a provider answering a call with a redirect is
// a deployment failing — the next one answers, the client never sees the
// 3xx — and the redirect is not followed: the provider is called once,
// and where it points never sees the call or the provider's key. (The
// providers here are on http://; one on https:// is called on net/http's
// transport, which follows nothing either — there is no http.Client.)
func TestLLMProviderRedirect(t *testing.T) {
	t.Parallel()
	elsewhere, backup := newMockLLM(t), newMockLLM(t)
	var redirected atomic.Int32
	for _, code := range []int{301, 307, 308} {
		redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			redirected.Add(1)
			http.Redirect(w, r, elsewhere.srv.URL+r.URL.Path, code)
		}))
		defer redirecting.Close()
		e := start(t, llmConfig(redirecting.URL, backup.srv.URL), "http://127.0.0.1:9")
		bearer := hdr("Authorization", "Bearer "+acmeKey, "Content-Type", "application/json")
		resp, body := e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(`{"model":"smart","messages":[{"role":"user","content":"Hi"}]}`))
		if resp.StatusCode != 200 || !strings.Contains(body, `"model":"backup-model"`) {
			t.Fatalf("%d: the call after a redirect: %d %s", code, resp.StatusCode, body)
		}
	}
	if n := redirected.Load(); n != 3 {
		t.Fatalf("the redirecting provider had %d calls, want 3 (one a request)", n)
	}
	if got, _ := elsewhere.requests(); len(got) != 0 {
		t.Fatalf("a redirect was followed: %d calls reached its target", len(got))
	}
	if got, _ := backup.requests(); len(got) != 3 {
		t.Fatalf("the backup deployment had %d calls, want 3", len(got))
	}
}

func TestLLMTokenLimit(t *testing.T) {
	t.Parallel()
	primary := newMockLLM(t)
	cfg := strings.Replace(llmConfig(primary.srv.URL, primary.srv.URL), "    llm: {models: [smart]}\n",
		"    llm: {models: [smart]}\n    rate_limit: [{tokens: 1000, window: 1h}]\n", 1)
	e := start(t, cfg, "http://127.0.0.1:9")
	bearer := hdr("Authorization", "Bearer "+acmeKey)
	body := `{"model":"smart","max_tokens":900,"messages":[{"role":"user","content":"`
	body += strings.Repeat("x", 80-len(body)-4) + `"}]}`
	if len(body) != 80 {
		t.Fatalf("body of %d bytes", len(body))
	}
	// 1: reserves 980, uses 13. 2: 13 + 980 = 993 fits, uses 13. 3: 26 + 980 > 1000.
	for i, want := range []int{200, 200, 429} {
		resp, got := e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(body))
		if resp.StatusCode != want {
			t.Fatalf("call %d: %d %s, want %d", i+1, resp.StatusCode, got, want)
		}
		if want == 429 && (decodeError(t, resp, got).Error.Code != "token_rate_limited" || resp.Header.Get("Retry-After") == "") {
			t.Fatalf("refusal: %v %s", resp.Header, got)
		}
	}
	// The refused call never reached the provider.
	if got, _ := primary.requests(); len(got) != 2 {
		t.Fatalf("the provider saw %d calls, want 2", len(got))
	}
}

// TestLLMBudget: a plan's LLM budget reserves each call's most cost
// (prompt bytes at the input price + max tokens at the output price) and
// settles to the real cost, so calls pass while their most fits what is
// left, and the next is refused 429 llm_budget_exceeded.
func TestLLMBudget(t *testing.T) {
	t.Parallel()
	primary := newMockLLM(t)
	cfg := strings.Replace(llmConfig(primary.srv.URL, primary.srv.URL), "consumers:\n  - name: acme\n", `plans:
  - name: metered
    llm_budget: {amount: 0.0012, currency: USD, period: month}
consumers:
  - name: acme
    plan: metered
`, 1)
	e := start(t, cfg, "http://127.0.0.1:9")
	bearer := hdr("Authorization", "Bearer "+acmeKey)
	body := `{"model":"smart","max_tokens":100,"messages":[{"role":"user","content":"`
	body += strings.Repeat("x", 100-len(body)-4) + `"}]}`
	// Each call reserves 100 × 2 + 100 × 8 = 1,000 millionths of a dollar
	// of the 1,200 and costs 38 (11 in, 2 out): six pass (the sixth at
	// 190 + 1,000 = 1,190), the seventh (228 + 1,000) does not.
	for i := 1; i <= 7; i++ {
		resp, got := e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(body))
		want := 200
		if i == 7 {
			want = 429
		}
		if resp.StatusCode != want {
			t.Fatalf("call %d: %d %s, want %d", i, resp.StatusCode, got, want)
		}
		if want == 429 && decodeError(t, resp, got).Error.Code != "llm_budget_exceeded" {
			t.Fatalf("refusal: %s", got)
		}
	}
	if got, _ := primary.requests(); len(got) != 6 {
		t.Fatalf("the provider saw %d calls, want 6", len(got))
	}
}

// TestLLMLimitsHoldAgainstHugeCalls: a call that asks for more tokens
// than any limit holds (max_tokens near the largest integer, or many
// choices with n) is refused before it reaches the provider — its most
// cost may not wrap around to a small or negative number — and leaves the
// token limit and the budget as they were.
func TestLLMLimitsHoldAgainstHugeCalls(t *testing.T) {
	t.Parallel()
	primary := newMockLLM(t)
	cfg := strings.Replace(llmConfig(primary.srv.URL, primary.srv.URL), "consumers:\n  - name: acme\n", `plans:
  - name: metered
    llm_budget: {amount: 0.02, currency: USD, period: month}
consumers:
  - name: acme
    plan: metered
`, 1)
	budgetOnly := start(t, cfg, "http://127.0.0.1:9")
	cfg = strings.Replace(cfg, "    llm: {models: [smart]}\n", "    llm: {models: [smart]}\n    rate_limit: [{tokens: 1000, window: 1h}]\n", 1)
	limited := start(t, cfg, "http://127.0.0.1:9")
	bearer := hdr("Authorization", "Bearer "+acmeKey)
	huge := []string{
		`"max_tokens":9223372036854775807,`,
		`"max_tokens":9223372036854775000,`,
		`"max_tokens":4611686018427387904,`,
		`"max_completion_tokens":1152921504606846976,`,
		`"max_tokens":1000000000000000,`,
		`"max_tokens":4611686018427387904,"n":4,`,
		`"max_tokens":2,"n":9223372036854775807,`,
	}
	// The budget of 0.02 USD covers 2,500 output tokens at 8 USD a million.
	e := budgetOnly
	call := func(extra string) (int, string) {
		body := `{"model":"smart",` + extra + `"messages":[{"role":"user","content":"hi"}]}`
		resp, got := e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(body))
		code := ""
		if resp.StatusCode == 429 {
			code = decodeError(t, resp, got).Error.Code
		}
		return resp.StatusCode, code
	}
	for _, extra := range append(huge, `"max_tokens":1000,"n":3,`) {
		if status, code := call(extra); status != 429 || code != "llm_budget_exceeded" {
			t.Errorf("budget: %s: %d %s, want 429 llm_budget_exceeded", extra, status, code)
		}
	}
	e = limited
	for _, extra := range append(huge, `"max_tokens":300,"n":4,`) {
		if status, code := call(extra); status != 429 || code != "token_rate_limited" {
			t.Errorf("token limit: %s: %d %s, want 429 token_rate_limited", extra, status, code)
		}
	}
	if got, _ := primary.requests(); len(got) != 0 {
		t.Fatalf("the provider saw %d calls, want none", len(got))
	}
	// The limit and the budget are whole: a call that may use 900 tokens
	// (costing at most 0.0072 USD) passes, twice on the budget alone.
	if status, _ := call(`"max_tokens":850,`); status != 200 {
		t.Fatalf("a call within the limit after the refusals: %d", status)
	}
	e = budgetOnly
	for i := range 2 {
		if status, _ := call(`"max_tokens":850,`); status != 200 {
			t.Fatalf("call %d within the budget after the refusals: %d", i+1, status)
		}
	}
}

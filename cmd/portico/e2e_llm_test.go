package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/llm/llmtest"
	"github.com/portico-gw/portico/internal/testenv"
)

// llmProvider is a mock OpenAI-protocol provider answering every call with
// exact usage: in tokens = 100 + the call's number, out = 10.
func llmProvider(t *testing.T, fail *atomic.Bool) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail != nil && fail.Load() {
			http.Error(w, `{"error":{"message":"down"}}`, 500)
			return
		}
		var req map[string]any
		_ = json.NewDecoder(r.Body).Decode(&req)
		in := 100 + n.Add(1)
		u := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":10,"prompt_tokens_details":{"cached_tokens":50}}`, in)
		if s, _ := req["stream"].(bool); s {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n")
			w.(http.Flusher).Flush()
			fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":%s}\n\ndata: [DONE]\n\n", u)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":%s}`, u)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestLLMMetering drives a scripted mix through the real binary — calls
// streamed and not, one that falls back from a failing deployment, and a
// stream the client leaves after its first words — and finds in the
// analytics exactly the tokens the mocks reported (for the stream left
// early: the prompt's tokens the provider told at its start, and the words
// relayed, counted by the tokenizer) and the cost the price table gives
// them.
func TestLLMMetering(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	primary, backup := llmProvider(t, &down), llmProvider(t, nil)
	claude := llmtest.New(t)
	claude.Answer(llmtest.Reply{Text: "one two three four five", Usage: llmtest.Usage{In: 40, Out: 5}})
	claude.Fail(llmtest.Trouble{EventDelay: 300 * time.Millisecond})
	cfg := `version: 1
llm_providers:
  - {name: primary, type: openai, base_url: "` + primary.URL + `/v1", api_key: sk-test}
  - {name: backup, type: openai_compatible, base_url: "` + backup.URL + `/v1"}
  - {name: claude, type: anthropic, base_url: "` + claude.URL + `"}
llm_prices:
  - {provider: primary, model: big, input: 2.5, output: 10, cached_input: 1.25}
  - {provider: backup, model: small, input: 0.15, output: 0.6}
  - {provider: claude, model: sonnet, input: 3, output: 15}
llm_models:
  - name: smart
    targets: [{provider: primary, model: big, priority: 1}, {provider: backup, model: small, priority: 2}]
  - {name: claude, targets: [{provider: claude, model: sonnet}]}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
apis:
  - name: ai
    base_path: /ai
    auth: [api_key]
    llm: {models: [smart, claude]}
`
	const token = "ptk_llm-metering-token"
	n := startNode(t, []string{"PORTICO_ADMIN_TOKEN=" + token}, "--config", writeConfig(t, cfg))
	call := func(stream bool) {
		t.Helper()
		body := `{"model":"smart","messages":[{"role":"user","content":"hi"}],"stream":` + fmt.Sprint(stream) + `}`
		req, _ := http.NewRequest("POST", "http://"+n.proxy+"/ai/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer acme-key-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		// Read to the end: a client that leaves early is billed an estimate.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("call (stream %v): %d", stream, resp.StatusCode)
		}
	}
	start := time.Now().UTC()
	call(false) // primary: 101 in (50 cached), 10 out
	call(true)  // primary: 102 in, 10 out
	call(false) // primary: 103 in, 10 out
	down.Store(true)
	call(true)  // backup: 101 in, 10 out
	call(false) // backup: 102 in, 10 out
	// claude: 40 in (told at the stream's start), "one" relayed (1 token)
	// before the client leaves; the provider's stream is cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+n.proxy+"/ai/v1/chat/completions",
		strings.NewReader(`{"model":"claude","stream":true,"messages":[{"role":"user","content":"count"}]}`))
	req.Header.Set("Authorization", "Bearer acme-key-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended before its first words: %v", err)
		}
		if strings.Contains(line, `"content":"one"`) {
			break
		}
	}
	cancel()
	resp.Body.Close()
	for deadline := time.Now().Add(5 * time.Second); claude.Cancelled() == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if claude.Cancelled() != 1 {
		t.Fatal("the provider's stream was not cancelled when the client left")
	}
	// By hand, in dollars per million tokens:
	// primary: uncached (51+52+53) × 2.5 + cached 150 × 1.25 + out 30 × 10 = 390 + 187.5 + 300 = 877.5
	// backup:  uncached (51+52) × 0.15 + cached 100 × 0.15 + out 20 × 0.6 = 15.45 + 15 + 12 = 42.45
	// claude:  40 × 3 + 1 × 15 = 135
	// total 1054.95 per million = 0.00105495
	q := url.Values{"from": {start.Add(-time.Minute).Format(time.RFC3339)}, "to": {time.Now().UTC().Add(time.Minute).Format(time.RFC3339)}, "api": {"ai"}}
	deadline := time.Now().Add(5 * time.Second)
	var sum map[string]any
	for {
		_, sum = n.adminCall(token, "GET", "/admin/v1/analytics/summary?"+q.Encode(), "")
		if sum["requests"] == float64(6) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if sum["requests"] != float64(6) || sum["llm_tokens_in"] != float64(101+102+103+101+102+40) || sum["llm_tokens_out"] != float64(51) ||
		sum["llm_cost"] != "0.00105495" || sum["llm_unpriced"] != float64(0) || sum["llm_estimated"] != float64(1) {
		t.Fatalf("LLM analytics: %v", sum)
	}
	// The month's statement bills the LLM calls at their cost (acme has no
	// plan price for requests).
	_, st := n.adminCall(token, "GET", "/admin/v1/consumers/acme/statements/"+start.Format("2006-01"), "")
	lines, _ := st["lines"].([]any)
	if st["amount"] != "0.00105495" || st["llm_tokens_in"] != float64(549) || len(lines) != 1 ||
		!strings.Contains(lines[0].(map[string]any)["description"].(string), "549 tokens in, 51 out") {
		t.Fatalf("statement with LLM calls: %v", st)
	}
}

// TestLLMTokenLimitAcrossNodes: two gateway processes on one Redis share
// one token limit exactly. Each call reserves its prompt's bytes plus its
// max_tokens (80 + 120 = 200) and settles to the mock's 14; of the
// 1,000-token limit, calls pass while 14 × (passed) + 200 fits: 58 pass —
// alternating between the nodes — and every later one is refused, on
// either node. Without sharing, each node would pass 58.
func TestLLMTokenLimitAcrossNodes(t *testing.T) {
	t.Parallel()
	redisURL := testenv.RedisURL(t)
	mock := llmtest.New(t)
	mock.Answer(llmtest.Reply{Text: "ok", Usage: llmtest.Usage{In: 11, Out: 3}})
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	cfg := `version: 1
llm_providers:
  - {name: p, type: anthropic, base_url: "` + mock.URL + `"}
llm_models:
  - {name: smart, targets: [{provider: p, model: m}]}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
apis:
  - name: ai-` + hex.EncodeToString(b) + `
    base_path: /ai
    auth: [api_key]
    llm: {models: [smart]}
    rate_limit: [{tokens: 1000, window: 1h}]
`
	path := writeConfig(t, cfg)
	nodes := []*proc{startNode(t, nil, "--config", path, "--redis", redisURL), startNode(t, nil, "--config", path, "--redis", redisURL)}
	body := `{"model":"smart","max_tokens":120,"messages":[{"role":"user","content":"`
	body += strings.Repeat("x", 80-len(body)-4) + `"}]}`
	passed, refused := 0, 0
	for i := range 70 {
		req, _ := http.NewRequest("POST", "http://"+nodes[i%2].proxy+"/ai/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer acme-key-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == 200 && refused == 0:
			passed++
		case resp.StatusCode == 429 && strings.Contains(string(out), "token_rate_limited"):
			refused++
		default:
			t.Fatalf("call %d on node %d: %d %s (after %d passed, %d refused)", i+1, i%2, resp.StatusCode, out, passed, refused)
		}
	}
	// The n-th call passes when 14 × (n-1) + 200 ≤ 1000.
	want := 0
	for used := int64(0); used+200 <= 1000; used += 14 {
		want++
	}
	if passed != want || len(mock.Requests()) != want {
		t.Fatalf("%d calls passed (the provider saw %d), want exactly %d", passed, len(mock.Requests()), want)
	}
}

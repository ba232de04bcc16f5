package gateway_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/llm/llmtest"
	"github.com/portico-gw/portico/internal/server"
	"github.com/portico-gw/portico/internal/testenv"
)

// streamGateway is an LLM API in front of url, as an OpenAI-protocol
// provider (model "passed") and an Anthropic one ("translated").
func streamGateway(t *testing.T, url string) *env {
	return start(t, streamGatewayConfig(url), "http://127.0.0.1:9")
}

func streamGatewayConfig(url string) string {
	return `version: 1
llm_providers:
  - {name: oa, type: openai_compatible, base_url: "` + url + `/v1"}
  - {name: an, type: anthropic, base_url: "` + url + `"}
llm_models:
  - {name: passed, targets: [{provider: oa, model: m}]}
  - {name: translated, targets: [{provider: an, model: m}]}
consumers:
  - {name: acme, api_keys: [acme-key-0123456789]}
apis:
  - {name: ai, base_path: /ai, auth: [api_key], llm: {models: [passed, translated]}}
`
}

// TestLLMStreamEventByEvent: a provider that sends an answer's first word
// and waits for the client to have it before sending the rest. Portico
// must relay the first word as it comes — passed through and translated —
// not hold it until more arrives; and what arrives together is still
// relayed whole.
func TestLLMStreamEventByEvent(t *testing.T) {
	t.Parallel()
	const gateWait = 10 * time.Second
	gate := make(chan struct{}, 1)
	held := make(chan string, 4)
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := map[string]string{"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}[r.URL.Path]
		_, events := llmtest.Wire(format, "m", llmtest.Reply{Text: "first second third", Usage: llmtest.Usage{In: 3, Out: 3}}, true)
		w.Header().Set("Content-Type", "text/event-stream")
		gated := false
		for _, ev := range events {
			_, _ = w.Write([]byte(ev))
			if !gated && strings.Contains(ev, "first") {
				gated = true
				w.(http.Flusher).Flush()
				select {
				case <-gate:
				case <-time.After(gateWait):
					held <- format // the client never saw the first word alone
				}
			}
		}
	}))
	t.Cleanup(provider.Close)
	e := streamGateway(t, provider.URL)
	for _, model := range []string{"passed", "translated"} {
		req, _ := http.NewRequest("POST", e.URL+"/ai/v1/chat/completions",
			strings.NewReader(`{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"Count"}]}`))
		req.Header.Set("Authorization", "Bearer acme-key-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		var got strings.Builder
		opened := false
		for {
			line, err := br.ReadString('\n')
			got.WriteString(line)
			if err != nil {
				break
			}
			if !opened && strings.Contains(line, "first") {
				opened = true
				gate <- struct{}{}
			}
		}
		_ = resp.Body.Close()
		select {
		case <-gate: // left unread by a provider that stopped waiting
		default:
		}
		select {
		case f := <-held:
			t.Errorf("%s: the %s provider's first word did not reach the client before its next one", model, f)
		default:
		}
		for _, w := range []string{"first", "second", "third", "[DONE]"} {
			if !strings.Contains(got.String(), w) {
				t.Errorf("%s: %q missing from the stream: %s", model, w, got.String())
			}
		}
	}
}

// TestLLMStreamEndsInOneWrite: a provider whose whole stream, end
// included, arrives at once. Nothing waits for anything, so Portico
// flushes nothing before the response's end: the events leave with it, in
// one write — translated too, where the relay stops at the provider's end
// event and reads the few bytes after it.
func TestLLMStreamEndsInOneWrite(t *testing.T) {
	t.Parallel()
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := map[string]string{"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}[r.URL.Path]
		_, events := llmtest.Wire(format, "m", llmtest.Reply{Text: "one two", Usage: llmtest.Usage{In: 3, Out: 2}}, true)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, strings.Join(events, "")) // sent with the answer's end
	}))
	t.Cleanup(provider.Close)
	var flushes atomic.Int32
	e := start(t, streamGatewayConfig(provider.URL), "http://127.0.0.1:9", func(s *server.Server) {
		h := s.Handler
		s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(&flushCounter{w, &flushes}, r)
		})
	})
	bearer := hdr("Authorization", "Bearer acme-key-0123456789")
	for _, model := range []string{"passed", "translated"} {
		flushes.Store(0)
		resp, body := e.do("POST", "/ai/v1/chat/completions", bearer,
			strings.NewReader(`{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"Count"}]}`))
		if resp.StatusCode != 200 || !strings.Contains(body, "two") || !strings.HasSuffix(body, "data: [DONE]\n\n") {
			t.Fatalf("%s: %d %q", model, resp.StatusCode, body)
		}
		if n := flushes.Load(); n != 0 {
			t.Errorf("%s: %d flushes before the response's end, want none", model, n)
		}
	}
}

// flushCounter counts the flushes asked of the server's writer.
type flushCounter struct {
	http.ResponseWriter
	n *atomic.Int32
}

func (f *flushCounter) Flush() {
	f.n.Add(1)
	http.NewResponseController(f.ResponseWriter).Flush() //nolint:errcheck // as http.Flusher, nothing to return
}

func (f *flushCounter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// TestLLMStreamKeepsConnection: after a stream, passed through or
// translated (which ends at the provider's end event, before the few bytes
// that close the provider's answer), the provider connection serves the
// next call instead of being dropped.
func TestLLMStreamKeepsConnection(t *testing.T) {
	t.Parallel()
	provider, conns := testenv.CountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		format := map[string]string{"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}[r.URL.Path]
		_, events := llmtest.Wire(format, "m", llmtest.Reply{Text: "one two", Usage: llmtest.Usage{In: 3, Out: 2}}, true)
		w.Header().Set("Content-Type", "text/event-stream")
		for i, ev := range events {
			_, _ = w.Write([]byte(ev))
			if i == len(events)-2 {
				w.(http.Flusher).Flush() // the last event comes apart, as it may on a network
			}
		}
	})
	e := streamGateway(t, provider.URL)
	bearer := hdr("Authorization", "Bearer acme-key-0123456789")
	for _, model := range []string{"passed", "translated", "translated", "passed", "translated"} {
		resp, body := e.do("POST", "/ai/v1/chat/completions", bearer,
			strings.NewReader(`{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"Count"}]}`))
		if resp.StatusCode != 200 || !strings.Contains(body, "two") || !strings.HasSuffix(body, "data: [DONE]\n\n") {
			t.Fatalf("%s: %d %q", model, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the provider saw %d connections for five streams, want 1", n)
	}
}

// hangsAfterEnd is a provider that streams a whole answer ("one two"; 3
// tokens in, 2 out) — OpenAI's on /v1/chat/completions, Anthropic's on
// /v1/messages — and then neither ends its response nor closes, until the
// call is cancelled or the test ends.
func hangsAfterEnd(t *testing.T) *httptest.Server {
	release := make(chan struct{})
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := map[string]string{"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}[r.URL.Path]
		_, events := llmtest.Wire(format, "m", llmtest.Reply{Text: "one two", Usage: llmtest.Usage{In: 3, Out: 2}}, true)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(strings.Join(events, "")))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(provider.Close)
	t.Cleanup(func() { close(release) })
	return provider
}

// TestLLMStreamProviderHangsAfterEnd: a provider that sends a stream's
// end event and then neither ends its answer nor closes: the client's
// answer ends with the end event, passed through or translated (the
// gateway stops waiting for the provider after llm.DrainWait), and the
// next call works.
func TestLLMStreamProviderHangsAfterEnd(t *testing.T) {
	t.Parallel()
	provider := hangsAfterEnd(t)
	e := streamGateway(t, provider.URL)
	for i, model := range []string{"translated", "passed", "translated", "passed"} {
		done := make(chan string, 1)
		go func() {
			req, _ := http.NewRequest("POST", e.URL+"/ai/v1/chat/completions",
				strings.NewReader(`{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"Count"}]}`))
			req.Header.Set("Authorization", "Bearer acme-key-0123456789")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- err.Error()
				return
			}
			defer func() { _ = resp.Body.Close() }()
			body, _ := io.ReadAll(resp.Body)
			done <- string(body)
		}()
		select {
		case body := <-done:
			if !strings.Contains(body, "two") || !strings.HasSuffix(body, "data: [DONE]\n\n") {
				t.Fatalf("call %d (%s): %q", i, model, body)
			}
		case <-time.After(10 * time.Second): // far beyond llm.DrainWait
			t.Fatalf("call %d (%s): the answer did not end while the provider hung after its end event", i, model)
		}
	}
}

// TestLLMProviderConnectionSurvivesReload: a reload that keeps a provider
// on http:// keeps its warm connections, as it keeps upstreams'.
func TestLLMProviderConnectionSurvivesReload(t *testing.T) {
	t.Parallel()
	provider, conns := testenv.CountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		whole, _ := llmtest.Wire("openai", "m", llmtest.Reply{Text: "hi", Usage: llmtest.Usage{In: 1, Out: 1}}, true)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, whole)
	})
	e := streamGateway(t, provider.URL)
	bearer := hdr("Authorization", "Bearer acme-key-0123456789")
	for i := range 3 {
		if i == 2 {
			e.load(streamGatewayConfig(provider.URL), "http://127.0.0.1:9")
		}
		resp, body := e.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(`{"model":"passed","messages":[{"role":"user","content":"Hi"}]}`))
		if resp.StatusCode != 200 || !strings.Contains(body, `"hi"`) {
			t.Fatalf("call %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the provider saw %d connections over a reload, want 1", n)
	}
}

// TestLLMStreamSettledBeforeItsEnd: a translated stream's client has its
// answer's end while the gateway still drains the provider (which hangs
// after its end event, for llm.DrainWait), and by then the call's token
// reservation is settled: a next call on another connection at once
// finds the limit's room. Each call reserves its 100 bytes and 890
// tokens, and uses 5: unsettled, the first call's 990 would refuse the
// second.
func TestLLMStreamSettledBeforeItsEnd(t *testing.T) {
	t.Parallel()
	provider := hangsAfterEnd(t)
	cfg := strings.Replace(streamGatewayConfig(provider.URL), "llm: {models: [passed, translated]}}",
		"llm: {models: [passed, translated]}, rate_limit: [{tokens: 1000, window: 1h}]}", 1)
	e := start(t, cfg, "http://127.0.0.1:9")
	body := `{"model":"translated","stream":true,"max_tokens":890,"messages":[{"role":"user","content":"`
	body += strings.Repeat("x", 100-len(body)-4) + `"}]}`
	for i := range 2 {
		// A new connection for each call: the next call does not wait for
		// the previous one's handler to return.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		req, _ := http.NewRequest("POST", e.URL+"/ai/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer acme-key-0123456789")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasSuffix(string(got), "data: [DONE]\n\n") {
			t.Fatalf("call %d: %d %q", i+1, resp.StatusCode, got)
		}
	}
}

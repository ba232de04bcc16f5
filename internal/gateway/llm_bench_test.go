package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/compiler"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/gateway"
	"github.com/portico-gw/portico/internal/llm/llmtest"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/telemetry"
)

// llmBenchGateway is an LLM API in front of a provider answering at once
// from answers made beforehand: OpenAI's on /v1/chat/completions,
// Anthropic's on /v1/messages.
func llmBenchGateway(b *testing.B) *gateway.Gateway {
	answers := map[string][2][]byte{}
	for path, format := range map[string]string{"/v1/chat/completions": "openai", "/v1/messages": "anthropic"} {
		whole, events := llmtest.Wire(format, "m", llmtest.Reply{Text: "Hello there, friend", Usage: llmtest.Usage{In: 12, Out: 4}}, true)
		answers[path] = [2][]byte{[]byte(whole), []byte(strings.Join(events, ""))}
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a := answers[r.URL.Path]
		if bytes.Contains(body, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write(a[1])
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(a[0])
	}))
	b.Cleanup(up.Close)
	cfg := `version: 1
llm_providers:
  - {name: mock, type: openai_compatible, base_url: "` + up.URL + `/v1"}
  - {name: claude, type: anthropic, base_url: "` + up.URL + `"}
llm_prices:
  - {provider: mock, model: m, input: 1, output: 2}
  - {provider: claude, model: m, input: 1, output: 2}
llm_models:
  - {name: fast, targets: [{provider: mock, model: m}]}
  - {name: translated, targets: [{provider: claude, model: m}]}
consumers:
  - name: bench
    api_keys: [bench-key-0123456789abcdef]
apis:
  - name: ai
    base_path: /ai
    auth: [api_key]
    llm: {models: [fast, translated]}
  - name: raw
    base_path: /raw
    upstream: mock
    auth: [api_key]
    routes:
      - {name: chat, methods: [POST], path: /v1/chat/completions}
upstreams:
  - name: mock
    targets: [{url: "` + up.URL + `"}]
`
	f, err := config.Parse("bench.yaml", []byte(cfg), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	metrics := telemetry.NewMetrics()
	alog := telemetry.NewAccessLog(&lockedDiscard{&bytes.Buffer{}}, 1<<40)
	rt := compiler.Runtime{Pools: proxy.NewPools(), Metrics: metrics, Tunnels: proxy.NewTunnels()}
	c, err := compiler.Compile("bench.yaml", f.Config, rt)
	if err != nil {
		b.Fatal(err)
	}
	g := gateway.New(metrics, alog)
	c.Activate(g)
	b.Cleanup(func() { rt.Pools.Close() })
	return g
}

// BenchmarkLLMChat is one chat completion through the gateway — passed
// through and translated, whole and streamed — including the provider's
// loopback round trip (which BenchmarkLLMProvider alone measures).
func BenchmarkLLMChat(b *testing.B) {
	g := llmBenchGateway(b)
	for _, c := range []struct{ name, body string }{
		{"proxy", `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`},
		{"passthrough", `{"model":"fast","messages":[{"role":"user","content":"Hi"}]}`},
		{"passthrough-stream", `{"model":"fast","stream":true,"messages":[{"role":"user","content":"Hi"}]}`},
		{"translated", `{"model":"translated","messages":[{"role":"user","content":"Hi"}]}`},
		{"translated-stream", `{"model":"translated","stream":true,"messages":[{"role":"user","content":"Hi"}]}`},
		// An Anthropic client, an OpenAI provider.
		{"anthropic-client", `{"model":"fast","max_tokens":256,"messages":[{"role":"user","content":"Hi"}]}`},
		{"anthropic-client-stream", `{"model":"fast","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`},
	} {
		path := "/ai/v1/chat/completions"
		if c.name == "proxy" {
			path = "/raw/v1/chat/completions"
		}
		if strings.HasPrefix(c.name, "anthropic-client") {
			path = "/ai/v1/messages"
		}
		b.Run(c.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				r, _ := http.NewRequest("POST", "http://example.com"+path, strings.NewReader(c.body))
				r.RequestURI = path
				r.RemoteAddr = "127.0.0.1:40000"
				r.Header.Set("Authorization", "Bearer bench-key-0123456789abcdef")
				r.Header.Set("X-API-Key", "bench-key-0123456789abcdef")
				clear(w.h)
				g.ServeHTTP(w, r)
			}
		})
	}
}

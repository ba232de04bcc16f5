package sdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicopt "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	openaiopt "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/portico-gw/portico/internal/llm/llmtest"
)

var binary string

// TestMain builds Portico from this checkout (in its own module).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portico-sdk")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "portico")
	build := exec.Command("go", "build", "-C", "../../..", "-o", binary, "./cmd/portico")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building portico:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// reply is every mock's answer: text, a tool call whose arguments stream
// in 5-byte pieces, and exact usage.
var reply = llmtest.Reply{
	Text:      "It is sunny in Paris today",
	ToolCalls: []llmtest.ToolCall{{ID: "call_sdk1", Name: "lookup", Args: `{"q":"weather in Paris","days":2}`}},
	Usage:     llmtest.Usage{In: 321, Out: 45, Cached: 21},
}

const key = "acme-key-0123456789"

// models are the aliases, one per provider format.
var models = []string{"gpt", "claude", "gemini", "bedrock"}

type gateway struct {
	base string // the LLM API's URL
}

// startGateway starts the mocks and a Portico in front of them: an alias
// per provider format, "busy" whose only deployment answers 429, and
// "fallback" whose first deployment answers 503.
func startGateway(t *testing.T) *gateway {
	t.Helper()
	oa, an, gm, br, busy, down := llmtest.New(t), llmtest.New(t), llmtest.New(t), llmtest.New(t), llmtest.New(t), llmtest.New(t)
	for _, m := range []*llmtest.Mock{oa, an, gm, br} {
		m.Answer(reply)
	}
	busy.Fail(llmtest.Trouble{Status: 429, RetryAfter: "1"})
	down.Fail(llmtest.Trouble{Status: 503})
	cfg := `version: 1
llm_providers:
  - {name: oa, type: openai, base_url: "` + oa.URL + `/v1", api_key: sk-oa}
  - {name: an, type: anthropic, base_url: "` + an.URL + `", api_key: sk-an}
  - {name: gm, type: gemini, base_url: "` + gm.URL + `/v1beta", api_key: sk-gm}
  - {name: br, type: bedrock, base_url: "` + br.URL + `", region: us-east-1, api_key: br-key}
  - {name: busy, type: openai, base_url: "` + busy.URL + `/v1"}
  - {name: down, type: gemini, base_url: "` + down.URL + `/v1beta"}
llm_models:
  - {name: gpt, targets: [{provider: oa, model: gpt-4.1}]}
  - {name: claude, targets: [{provider: an, model: claude-sonnet-4-5}]}
  - {name: gemini, targets: [{provider: gm, model: gemini-2.5-pro}]}
  - {name: bedrock, targets: [{provider: br, model: "anthropic.claude-sonnet-4-5-v1:0"}]}
  - {name: titan, targets: [{provider: br, model: "amazon.titan-embed-text-v2:0"}]}
  - {name: cohere, targets: [{provider: br, model: "cohere.embed-english-v3"}]}
  - {name: busy, targets: [{provider: busy, model: m}]}
  - {name: fallback, targets: [{provider: down, model: m, priority: 1}, {provider: an, model: claude-sonnet-4-5, priority: 2}]}
consumers:
  - name: acme
    api_keys: [` + key + `]
apis:
  - name: ai
    base_path: /ai
    auth: [api_key]
    llm: {models: [gpt, claude, gemini, bedrock, titan, cohere, busy, fallback]}
`
	dir := t.TempDir()
	path := filepath.Join(dir, "portico.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	proxy, admin, portal := freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command(binary, "serve", "--config", path, "--proxy-addr", proxy, "--admin-addr", admin, "--portal-addr", portal,
		"--data-dir", filepath.Join(dir, "data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("portico output:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + admin + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &gateway{base: "http://" + proxy + "/ai"}
			}
		}
	}
	t.Fatalf("portico was not ready after 10 s:\n%s", out.String())
	return nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	var a, b any
	if json.Unmarshal([]byte(got), &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestOpenAIGoSDK: openai-go, changed only in base URL and key, against
// each provider format: a completion, a stream put together by the SDK's
// accumulator (tool call arguments whole again, usage at the end), typed
// errors, a fallback, the Responses API (whole and streamed, with a tool)
// and embeddings.
func TestOpenAIGoSDK(t *testing.T) {
	g := startGateway(t)
	client := openai.NewClient(openaiopt.WithBaseURL(g.base+"/v1"), openaiopt.WithAPIKey(key), openaiopt.WithMaxRetries(0))
	ctx := context.Background()
	params := func(model string) openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{
			Model:    model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather?")},
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
				Name: "lookup", Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
			})},
		}
	}
	for _, model := range models {
		t.Run(model+"/create", func(t *testing.T) {
			r, err := client.Chat.Completions.New(ctx, params(model))
			if err != nil {
				t.Fatal(err)
			}
			m := r.Choices[0].Message
			if m.Content != reply.Text || len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Name != "lookup" ||
				!sameJSON(t, m.ToolCalls[0].Function.Arguments, reply.ToolCalls[0].Args) || r.Choices[0].FinishReason != "tool_calls" {
				t.Fatalf("answer: %+v", r.Choices)
			}
			if r.Usage.PromptTokens != reply.Usage.In || r.Usage.CompletionTokens != reply.Usage.Out || r.Usage.PromptTokensDetails.CachedTokens != reply.Usage.Cached {
				t.Fatalf("usage: %+v", r.Usage)
			}
		})
		t.Run(model+"/stream", func(t *testing.T) {
			p := params(model)
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := client.Chat.Completions.NewStreaming(ctx, p)
			acc := openai.ChatCompletionAccumulator{}
			chunks := 0
			for stream.Next() {
				acc.AddChunk(stream.Current())
				chunks++
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			m := acc.Choices[0].Message
			if m.Content != reply.Text || len(m.ToolCalls) != 1 || !sameJSON(t, m.ToolCalls[0].Function.Arguments, reply.ToolCalls[0].Args) || chunks < 4 {
				t.Fatalf("accumulated in %d chunks: %+v", chunks, m)
			}
			if acc.Usage.PromptTokens != reply.Usage.In || acc.Usage.CompletionTokens != reply.Usage.Out {
				t.Fatalf("usage: %+v", acc.Usage)
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		stranger := openai.NewClient(openaiopt.WithBaseURL(g.base+"/v1"), openaiopt.WithAPIKey("not-a-key"), openaiopt.WithMaxRetries(0))
		for _, c := range []struct {
			client openai.Client
			model  string
			status int
		}{{stranger, "gpt", 401}, {client, "no-such-model", 404}, {client, "busy", 429}} {
			_, err := c.client.Chat.Completions.New(ctx, params(c.model))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != c.status {
				t.Errorf("%s: %v, want an *openai.Error with status %d", c.model, err, c.status)
			}
		}
	})
	t.Run("fallback", func(t *testing.T) {
		r, err := client.Chat.Completions.New(ctx, params("fallback"))
		if err != nil || r.Choices[0].Message.Content != reply.Text {
			t.Fatalf("%v %+v", err, r)
		}
	})
	// The Responses API: passed through to OpenAI's protocol, translated
	// for the others; text, a function call and usage, whole and
	// streamed (the stream's items put together from their events, as
	// the SDK's own types give them).
	for _, model := range models {
		t.Run(model+"/responses", func(t *testing.T) {
			params := responses.ResponseNewParams{
				Model: model,
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is the weather?")},
				Tools: []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{
					Name: "lookup", Parameters: map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
				}}},
			}
			r, err := client.Responses.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			var call *responses.ResponseFunctionToolCall
			for _, it := range r.Output {
				if it.Type == "function_call" {
					fc := it.AsFunctionCall()
					call = &fc
				}
			}
			if r.OutputText() != reply.Text || call == nil || call.Name != "lookup" || !sameJSON(t, call.Arguments, reply.ToolCalls[0].Args) ||
				r.Usage.InputTokens != reply.Usage.In || r.Usage.OutputTokens != reply.Usage.Out || r.Status != "completed" {
				t.Fatalf("%+v", r)
			}
			stream := client.Responses.NewStreaming(ctx, params)
			var text, args string
			var done *responses.Response
			for stream.Next() {
				ev := stream.Current()
				switch ev.Type {
				case "response.output_text.delta":
					text += ev.Delta
				case "response.function_call_arguments.delta":
					args += ev.Delta
				case "response.completed":
					done = &ev.Response
				}
			}
			if err := stream.Err(); err != nil || text != reply.Text || !sameJSON(t, args, reply.ToolCalls[0].Args) || done == nil ||
				done.Usage.OutputTokens != reply.Usage.Out || done.OutputText() != reply.Text {
				t.Fatalf("stream: %v %q %q %+v", err, text, args, done)
			}
		})
	}
	t.Run("embeddings", func(t *testing.T) {
		r, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "gpt", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}})
		if err != nil || len(r.Data) != 1 || len(r.Data[0].Embedding) != 3 || r.Usage.PromptTokens != reply.Usage.In {
			t.Fatalf("%v %+v", err, r)
		}
		// Translated for Gemini, which reports no tokens: counted ("hello": 1).
		r, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "gemini", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}})
		if err != nil || len(r.Data) != 1 || r.Data[0].Embedding[1] != -0.5 || r.Usage.PromptTokens != 1 {
			t.Fatalf("gemini: %v %+v", err, r)
		}
		// Translated for Bedrock: Titan embeds one text per call, so three
		// inputs are three calls, each reporting the mock's 321 tokens;
		// Cohere's model takes the list in one call. Floats and base64.
		three := openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one", "two", "three"}}
		for _, c := range []struct {
			model  string
			tokens int64
			format openai.EmbeddingNewParamsEncodingFormat
		}{{"titan", 3 * reply.Usage.In, openai.EmbeddingNewParamsEncodingFormatFloat}, {"cohere", reply.Usage.In, openai.EmbeddingNewParamsEncodingFormatBase64}} {
			r, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: c.model, Input: three, EncodingFormat: c.format})
			if err != nil || len(r.Data) != 3 || r.Data[2].Index != 2 || len(r.Data[2].Embedding) != 3 || r.Data[2].Embedding[1] != -0.5 || r.Usage.PromptTokens != c.tokens {
				t.Fatalf("%s: %v %+v", c.model, err, r)
			}
		}
	})
}

// TestAnthropicGoSDK: anthropic-sdk-go, changed only in base URL and key,
// against each provider format: a message, a stream put together by the
// SDK's Accumulate, typed errors and a fallback.
func TestAnthropicGoSDK(t *testing.T) {
	g := startGateway(t)
	client := anthropic.NewClient(anthropicopt.WithBaseURL(g.base), anthropicopt.WithAPIKey(key), anthropicopt.WithMaxRetries(0))
	ctx := context.Background()
	params := func(model string) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{
			Model: anthropic.Model(model), MaxTokens: 200,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is the weather?"))},
			Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "lookup",
				InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"q": map[string]any{"type": "string"}}}}}},
		}
	}
	check := func(t *testing.T, m *anthropic.Message) {
		t.Helper()
		if len(m.Content) != 2 || m.Content[0].Text != reply.Text || m.Content[1].Name != "lookup" ||
			!sameJSON(t, string(m.Content[1].Input), reply.ToolCalls[0].Args) || m.StopReason != anthropic.StopReasonToolUse {
			t.Fatalf("message: %s", m.RawJSON())
		}
		if m.Usage.InputTokens+m.Usage.CacheReadInputTokens != reply.Usage.In || m.Usage.OutputTokens != reply.Usage.Out {
			t.Fatalf("usage: %+v", m.Usage)
		}
	}
	for _, model := range models {
		t.Run(model+"/create", func(t *testing.T) {
			m, err := client.Messages.New(ctx, params(model))
			if err != nil {
				t.Fatal(err)
			}
			check(t, m)
			if m.Usage.CacheReadInputTokens != reply.Usage.Cached {
				t.Fatalf("cached: %+v", m.Usage)
			}
		})
		t.Run(model+"/stream", func(t *testing.T) {
			stream := client.Messages.NewStreaming(ctx, params(model))
			m := anthropic.Message{}
			events := 0
			for stream.Next() {
				if err := m.Accumulate(stream.Current()); err != nil {
					t.Fatal(err)
				}
				events++
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if events < 6 {
				t.Fatalf("%d events: not streamed", events)
			}
			check(t, &m)
		})
	}
	t.Run("errors", func(t *testing.T) {
		stranger := anthropic.NewClient(anthropicopt.WithBaseURL(g.base), anthropicopt.WithAPIKey("not-a-key"), anthropicopt.WithMaxRetries(0))
		for _, c := range []struct {
			client anthropic.Client
			model  string
			status int
		}{{stranger, "claude", 401}, {client, "no-such-model", 404}, {client, "busy", 429}} {
			_, err := c.client.Messages.New(ctx, params(c.model))
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != c.status {
				t.Errorf("%s: %v, want an *anthropic.Error with status %d", c.model, err, c.status)
			}
		}
	})
	t.Run("fallback", func(t *testing.T) {
		m, err := client.Messages.New(ctx, params("fallback"))
		if err != nil {
			t.Fatal(err)
		}
		check(t, m)
	})
}

// TestNodeSDKs runs test/sdk/node/conformance.mjs — the official openai
// (6.x) and @anthropic-ai/sdk npm packages — against the same gateway;
// each of its checks is a subtest here. The test command installs the
// packages (npm ci); without them the test fails under
// PORTICO_REQUIRE_SERVICES=1 and skips loudly otherwise.
func TestNodeSDKs(t *testing.T) {
	dir, _ := filepath.Abs("../node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil {
		msg := "SKIPPING: the Node SDKs are not installed; run npm ci in test/sdk/node (make test does)"
		if os.Getenv("PORTICO_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	g := startGateway(t)
	expect, _ := json.Marshal(map[string]any{"text": reply.Text, "tool": map[string]string{"name": "lookup", "args": reply.ToolCalls[0].Args},
		"usage": map[string]int64{"in": reply.Usage.In, "out": reply.Usage.Out, "cached": reply.Usage.Cached}})
	ms, _ := json.Marshal(models)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "conformance.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORTICO_BASE="+g.base, "PORTICO_KEY="+key, "EXPECT="+string(expect), "MODELS="+string(ms))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	checks := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		name, ok := strings.CutPrefix(line, "ok ")
		if !ok {
			var why string
			name, why, _ = strings.Cut(strings.TrimPrefix(line, "FAIL "), ": ")
			t.Run(name, func(t *testing.T) { t.Fatal(why) })
			checks++
			continue
		}
		t.Run(name, func(t *testing.T) {})
		checks++
	}
	// Two SDKs × (create, stream) × the formats, then errors and fallback
	// for each SDK, and OpenAI's embeddings.
	if want := 2*2*len(models) + 5; checks != want || err != nil {
		t.Fatalf("%d checks reported, want %d; node: %v\n%s%s", checks, want, err, out, stderr.String())
	}
}

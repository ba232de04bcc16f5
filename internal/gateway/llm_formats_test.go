package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/portico-gw/portico/internal/llm/llmtest"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/telemetry"
	"github.com/portico-gw/portico/internal/usage"
)

// formatsConfig has one provider of each type, each on its own mock, and
// an alias per provider plus "mixed": Anthropic first, then Gemini, then
// OpenAI.
func formatsConfig(oa, an, gm, az, br string) string {
	return `version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
llm_providers:
  - {name: oa, type: openai, base_url: "` + oa + `/v1", api_key: sk-oa}
  - {name: an, type: anthropic, base_url: "` + an + `", api_key: sk-an}
  - {name: gm, type: gemini, base_url: "` + gm + `/v1beta", api_key: sk-gm}
  - {name: az, type: azure_openai, base_url: "` + az + `/v1", api_key: sk-az}
  - {name: br, type: bedrock, base_url: "` + br + `", region: eu-west-3, access_key_id: AKIDEXAMPLE, secret_access_key: wJalrXUtnFEMI-example}
llm_prices:
  - {provider: oa, model: gpt-4.1, input: 2.00, output: 8.00, cached_input: 0.50}
  - {provider: an, model: claude-sonnet-4-5, input: 3.00, output: 15.00, cached_input: 0.30}
  - {provider: gm, model: gemini-2.5-pro, input: 1.25, output: 10.00}
  - {provider: br, model: "anthropic.claude-sonnet-4-5-v1:0", input: 3.00, output: 15.00, cached_input: 0.30}
llm_models:
  - {name: gpt, targets: [{provider: oa, model: gpt-4.1}]}
  - {name: claude, targets: [{provider: an, model: claude-sonnet-4-5}]}
  - {name: gemini, targets: [{provider: gm, model: gemini-2.5-pro}]}
  - {name: azure, targets: [{provider: az, model: my-deployment}]}
  - {name: bedrock, targets: [{provider: br, model: "anthropic.claude-sonnet-4-5-v1:0"}]}
  - name: mixed
    targets:
      - {provider: an, model: claude-sonnet-4-5, priority: 1}
      - {provider: gm, model: gemini-2.5-pro, priority: 2}
      - {provider: oa, model: gpt-4.1, priority: 3}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
apis:
  - name: ai
    base_path: /ai
    auth: [api_key]
    llm: {models: [gpt, claude, gemini, azure, bedrock, mixed]}
`
}

type formatsEnv struct {
	*env
	oa, an, gm, az, br *llmtest.Mock
	rec                *usage.Recorder
}

func startFormats(t *testing.T) *formatsEnv {
	f := &formatsEnv{oa: llmtest.New(t), an: llmtest.New(t), gm: llmtest.New(t), az: llmtest.New(t), br: llmtest.New(t)}
	f.env = start(t, formatsConfig(f.oa.URL, f.an.URL, f.gm.URL, f.az.URL, f.br.URL), "http://127.0.0.1:9")
	f.rec = usage.NewRecorder(1000, 1000, telemetry.NewMetrics())
	f.gw.RecordUsage(f.rec)
	return f
}

// last returns the last usage record.
func (f *formatsEnv) last(t *testing.T) store.UsageRecord {
	t.Helper()
	recs := takeRecords(f.rec, 1)
	if len(recs) == 0 {
		t.Fatal("no usage record")
	}
	return recs[len(recs)-1]
}

var toolReply = llmtest.Reply{
	Text:      "Let me look",
	ToolCalls: []llmtest.ToolCall{{ID: "call_9", Name: "lookup", Args: `{"query":"weather in Paris","limit":3}`}},
	Usage:     llmtest.Usage{In: 1234, Out: 56, Cached: 200},
}

// TestLLMAnthropicClients: an Anthropic client (its key as x-api-key) on
// /v1/messages reaches every provider type: Anthropic's bytes pass through
// with the provider's key and version header; OpenAI and Gemini get the
// request translated and their answers come back in Anthropic's format,
// whole and streamed, tool calls included; each call is metered to the
// mock's exact numbers and priced.
func TestLLMAnthropicClients(t *testing.T) {
	t.Parallel()
	f := startFormats(t)
	for _, m := range []*llmtest.Mock{f.oa, f.an, f.gm, f.br} {
		m.Answer(toolReply)
	}
	key := hdr("X-Api-Key", acmeKey, "Anthropic-Version", "2023-06-01", "Anthropic-Beta", "tools-2099", "Content-Type", "application/json")
	req := `{"model":"%s","max_tokens":500,"system":"Be brief.","messages":[{"role":"user","content":"Weather?"}],` +
		`"tools":[{"name":"lookup","input_schema":{"type":"object"}}],"future_field":true%s}`
	for _, c := range []struct {
		alias, provider, model string
		mock                   *llmtest.Mock
		cost                   int64 // pico-dollars
	}{
		{"claude", "an", "claude-sonnet-4-5", f.an, (1034*3 + 200*0.3 + 56*15) * 1e6},
		{"gpt", "oa", "gpt-4.1", f.oa, (1034*2 + 200*0.5 + 56*8) * 1e6},
		{"gemini", "gm", "gemini-2.5-pro", f.gm, (1234*1.25 + 56*10) * 1e6},
		{"bedrock", "br", "anthropic.claude-sonnet-4-5-v1:0", f.br, (1034*3 + 200*0.3 + 56*15) * 1e6},
	} {
		for _, stream := range []bool{false, true} {
			extra := ""
			if stream {
				extra = `,"stream":true`
			}
			resp, body := f.do("POST", "/ai/v1/messages", key, strings.NewReader(fmt.Sprintf(req, c.alias, extra)))
			if resp.StatusCode != 200 {
				t.Fatalf("%s stream=%v: %d %s", c.alias, stream, resp.StatusCode, body)
			}
			var text, args, stop string
			if stream {
				text, args, stop = readAnthropicStream(t, body)
			} else {
				var m struct {
					Type    string `json:"type"`
					Content []struct {
						Type  string          `json:"type"`
						Text  string          `json:"text"`
						Input json.RawMessage `json:"input"`
					} `json:"content"`
					StopReason string `json:"stop_reason"`
					Usage      struct {
						InputTokens, OutputTokens, CacheReadInputTokens int64
					} `json:"usage"`
				}
				if err := json.Unmarshal([]byte(body), &m); err != nil || m.Type != "message" || len(m.Content) != 2 {
					t.Fatalf("%s: not an Anthropic message: %s", c.alias, body)
				}
				text, args, stop = m.Content[0].Text, string(m.Content[1].Input), m.StopReason
			}
			if text != toolReply.Text || !sameJSONText(args, toolReply.ToolCalls[0].Args) || stop != "tool_use" {
				t.Errorf("%s stream=%v: text %q args %s stop %q\n%s", c.alias, stream, text, args, stop, body)
			}
			got := c.mock.Requests()
			last := got[len(got)-1]
			switch c.provider {
			case "an":
				if last.Header.Get("X-Api-Key") != "sk-an" || last.Header.Get("Anthropic-Version") != "2023-06-01" ||
					last.Header.Get("Anthropic-Beta") != "tools-2099" || last.Body["future_field"] != true || last.Model != c.model {
					t.Errorf("what Anthropic received: %v %s", last.Header, last.Raw)
				}
			case "oa":
				if last.Header.Get("Authorization") != "Bearer sk-oa" || last.Path != "/v1/chat/completions" || last.Model != c.model {
					t.Errorf("what OpenAI received: %v %s", last.Header, last.Raw)
				}
			case "br":
				if !signedBy(t, last, "AKIDEXAMPLE", "wJalrXUtnFEMI-example", "eu-west-3") || last.Model != c.model {
					t.Errorf("what Bedrock received: %s %v", last.Path, last.Header)
				}
			case "gm":
				if last.Header.Get("X-Goog-Api-Key") != "sk-gm" || last.Model != c.model || !strings.Contains(string(last.Raw), `"systemInstruction"`) {
					t.Errorf("what Gemini received: %v %s %s", last.Header, last.Path, last.Raw)
				}
			}
			if last.Header.Get("X-Api-Key") == acmeKey || strings.Contains(last.Header.Get("Authorization"), acmeKey) {
				t.Errorf("the client's Portico key reached the provider")
			}
			r := f.last(t)
			if r.TokensIn != 1234 || r.TokensOut != 56 || r.TokensCached != 200 || r.CostPico != c.cost || r.Estimated ||
				r.LLMModel != c.provider+"/"+c.model || r.Route != "messages" {
				t.Errorf("%s stream=%v usage record: %+v, want cost %d", c.alias, stream, r, c.cost)
			}
		}
	}
}

// TestLLMCrossFormatFallback: "mixed" tries Anthropic, then Gemini, then
// OpenAI. Anthropic's 429 with Retry-After moves on and keeps it out for
// that long; Gemini's 503 moves on too; the OpenAI client gets OpenAI's
// answer; once every one refuses, the last refusal comes back in the
// client's own format.
func TestLLMCrossFormatFallback(t *testing.T) {
	t.Parallel()
	f := startFormats(t)
	bearer := hdr("Authorization", "Bearer "+acmeKey)
	f.an.Fail(llmtest.Trouble{Status: 429, RetryAfter: "30"})
	f.gm.Fail(llmtest.Trouble{Status: 503})
	chat := `{"model":"mixed","messages":[{"role":"user","content":"Hi"}]}`
	resp, body := f.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(chat))
	if resp.StatusCode != 200 || !strings.Contains(body, `"content":"Hello there, friend"`) || !strings.Contains(body, `"object":"chat.completion"`) {
		t.Fatalf("fallback: %d %s", resp.StatusCode, body)
	}
	if r := f.last(t); r.LLMModel != "oa/gpt-4.1" || r.TokensIn != 11 || r.TokensOut != 3 {
		t.Fatalf("usage record of the fallback: %+v", r)
	}
	// Anthropic said 30 s: the next call does not ask it.
	n := len(f.an.Requests())
	f.gm.Fail(llmtest.Trouble{})
	resp, body = f.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(chat))
	if resp.StatusCode != 200 || len(f.an.Requests()) != n || !strings.Contains(body, `"id":"resp-mock"`) {
		t.Fatalf("after Retry-After: %d, Anthropic asked %d more times: %s", resp.StatusCode, len(f.an.Requests())-n, body)
	}
	// Every deployment refuses: the last one's refusal, in OpenAI's shape
	// for the OpenAI client, in Anthropic's for the Anthropic one.
	f.gm.Fail(llmtest.Trouble{Status: 503})
	f.oa.Fail(llmtest.Trouble{Status: 429, RetryAfter: "7"})
	resp, body = f.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(chat))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !strings.Contains(body, `"error":{"message":"mock says no"`) {
		t.Fatalf("every deployment refusing, OpenAI client: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// (Anthropic and now OpenAI rest after their Retry-After: only Gemini
	// is asked, and its 503 comes back.)
	resp, body = f.do("POST", "/ai/v1/messages", bearer, strings.NewReader(`{"model":"mixed","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`))
	if resp.StatusCode != 503 || !strings.Contains(body, `{"error":{"message":"mock says no","type":"api_error"},"type":"error"}`) {
		t.Fatalf("every deployment refusing, Anthropic client: %d %s", resp.StatusCode, body)
	}
	// A 400 does not fall back: it comes back translated.
	f.an.Fail(llmtest.Trouble{})
	resp, body = f.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(`{"model":"claude","messages":[{"role":"user","content":"Hi"}]}`))
	if resp.StatusCode != 200 {
		t.Fatalf("claude: %d %s", resp.StatusCode, body)
	}
	f.an.Fail(llmtest.Trouble{Status: 400})
	resp, body = f.do("POST", "/ai/v1/chat/completions", bearer, strings.NewReader(`{"model":"claude","messages":[{"role":"user","content":"Hi"}]}`))
	if resp.StatusCode != 400 || !strings.Contains(body, `"type":"invalid_request_error"`) || !strings.Contains(body, `"message":"mock says no"`) {
		t.Fatalf("a 400 from Anthropic to an OpenAI client: %d %s", resp.StatusCode, body)
	}
}

// TestLLMStreamErrors: a provider whose stream breaks after its first
// event — an error event of its own, or a cut connection — ends the
// client's stream with an error event in the client's format; a client
// that goes away mid-stream cancels the provider call and is still
// metered (estimated).
func TestLLMStreamErrors(t *testing.T) {
	t.Parallel()
	f := startFormats(t)
	key := hdr("X-Api-Key", acmeKey)
	msg := `{"model":"%s","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`
	for _, c := range []struct {
		alias string
		mock  *llmtest.Mock
	}{{"gpt", f.oa}, {"gemini", f.gm}, {"claude", f.an}, {"bedrock", f.br}} {
		for _, how := range []string{"error", "cut"} {
			c.mock.Fail(llmtest.Trouble{AfterFirst: how})
			resp, body := f.do("POST", "/ai/v1/messages", key, strings.NewReader(strings.Replace(msg, "%s", c.alias, 1)))
			if resp.StatusCode != 200 || !strings.Contains(body, "event: message_start") || !strings.Contains(body, "event: error\ndata: {") ||
				strings.Contains(body, "message_stop") {
				t.Errorf("%s %s: %d %q", c.alias, how, resp.StatusCode, body)
			}
			if r := f.last(t); r.LLMModel == "" || (how == "cut" && !r.Estimated) {
				t.Errorf("%s %s: usage record %+v", c.alias, how, r)
			}
		}
		c.mock.Fail(llmtest.Trouble{})
	}
	// An OpenAI client of Gemini whose stream breaks: OpenAI's error event.
	f.gm.Fail(llmtest.Trouble{AfterFirst: "error"})
	_, body := f.do("POST", "/ai/v1/chat/completions", key, strings.NewReader(`{"model":"gemini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`))
	if !strings.Contains(body, `"code":"llm_stream_broken"`) || !strings.Contains(body, "mock broke") || strings.Contains(body, "[DONE]") {
		t.Errorf("OpenAI client of a broken Gemini stream: %q", body)
	}
	f.gm.Fail(llmtest.Trouble{})

	// The client leaves after the first event; the provider's stream is
	// cancelled, and the call is billed from what was sent and relayed.
	f.an.Answer(llmtest.Reply{Text: "one two three four five six seven eight", Usage: llmtest.Usage{In: 10, Out: 8}})
	f.an.Fail(llmtest.Trouble{EventDelay: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", f.URL+"/ai/v1/chat/completions",
		strings.NewReader(`{"model":"claude","stream":true,"messages":[{"role":"user","content":"Count"}]}`))
	req.Header = key
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, `"content":"one"`) {
			break
		}
	}
	cancel()
	_ = resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for f.an.Cancelled() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.an.Cancelled() != 1 {
		t.Fatal("the provider's stream was not cancelled")
	}
	var r store.UsageRecord
	for time.Now().Before(deadline) {
		if recs := f.rec.Take(); len(recs) > 0 {
			r = recs[len(recs)-1]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Estimated from the request's bytes and the text relayed.
	if r.LLMModel != "an/claude-sonnet-4-5" || !r.Estimated || r.TokensOut < 1 || r.CostPico == 0 {
		t.Fatalf("a cancelled stream's usage record: %+v", r)
	}
}

// TestLLMOtherEndpoints: embeddings and responses pass through to
// OpenAI-protocol deployments (Azure's api-key header included) and are
// metered; embeddings are translated for Gemini; an alias with no
// deployment that can serve them answers 400.
func TestLLMOtherEndpoints(t *testing.T) {
	t.Parallel()
	f := startFormats(t)
	bearer := hdr("Authorization", "Bearer "+acmeKey)
	f.az.Answer(llmtest.Reply{Text: "a b c", Usage: llmtest.Usage{In: 42, Out: 7, Reasoning: 2}})
	resp, body := f.do("POST", "/ai/v1/embeddings", bearer, strings.NewReader(`{"model":"azure","input":"hello"}`))
	if resp.StatusCode != 200 || !strings.Contains(body, `"embedding":[0.25,-0.5,0.125]`) {
		t.Fatalf("embeddings: %d %s", resp.StatusCode, body)
	}
	got := f.az.Requests()
	if got[0].Path != "/v1/embeddings" || got[0].Header.Get("Api-Key") != "sk-az" || got[0].Header.Get("Authorization") != "" || got[0].Model != "my-deployment" {
		t.Fatalf("what Azure received: %s %v %s", got[0].Path, got[0].Header, got[0].Raw)
	}
	if r := f.last(t); r.TokensIn != 42 || r.TokensOut != 0 || r.Route != "embeddings" || !r.Unpriced {
		t.Fatalf("embeddings usage: %+v", r)
	}
	for _, stream := range []string{"false", "true"} {
		resp, body = f.do("POST", "/ai/v1/responses", bearer, strings.NewReader(`{"model":"azure","input":"hi","stream":`+stream+`}`))
		if resp.StatusCode != 200 || !strings.Contains(body, `"output_tokens":7`) {
			t.Fatalf("responses stream=%s: %d %s", stream, resp.StatusCode, body)
		}
		if r := f.last(t); r.TokensIn != 42 || r.TokensOut != 7 || r.TokensReasoning != 2 || r.Route != "responses" || r.Estimated {
			t.Fatalf("responses stream=%s usage: %+v", stream, r)
		}
	}
	resp, body = f.do("POST", "/ai/v1/embeddings", bearer, strings.NewReader(`{"model":"claude","input":"hello"}`))
	if resp.StatusCode != 400 || decodeError(t, resp, body).Error.Code != "llm_operation_unsupported" {
		t.Fatalf("embeddings of an Anthropic-only alias: %d %s", resp.StatusCode, body)
	}
	// Gemini: translated to batchEmbedContents, one vector per input, as
	// floats or as OpenAI's base64 of little-endian float32; the tokens
	// are counted by the tokenizer ("hello": 1, "hello world": 2).
	resp, body = f.do("POST", "/ai/v1/embeddings", bearer, strings.NewReader(`{"model":"gemini","input":["hello","hello world"],"dimensions":3}`))
	if resp.StatusCode != 200 || !strings.Contains(body, `{"object":"embedding","index":1,"embedding":[0.25,-0.5,0.125]}`) ||
		!strings.Contains(body, `"usage":{"prompt_tokens":3,"total_tokens":3}`) || !strings.Contains(body, `"model":"gemini-2.5-pro"`) {
		t.Fatalf("Gemini embeddings: %d %s", resp.StatusCode, body)
	}
	got = f.gm.Requests()
	if last := got[len(got)-1]; last.Path != "/v1beta/models/gemini-2.5-pro:batchEmbedContents" ||
		!strings.Contains(string(last.Raw), `"outputDimensionality":3`) || !strings.Contains(string(last.Raw), `{"text":"hello world"}`) {
		t.Fatalf("what Gemini received: %s %s", last.Path, last.Raw)
	}
	if r := f.last(t); r.TokensIn != 3 || !r.Estimated || r.LLMModel != "gm/gemini-2.5-pro" || r.CostPico != 3*1.25*1e6 {
		t.Fatalf("Gemini embeddings usage: %+v", r)
	}
	_, body = f.do("POST", "/ai/v1/embeddings", bearer, strings.NewReader(`{"model":"gemini","input":"hello","encoding_format":"base64"}`))
	var b64 struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &b64); err != nil || len(b64.Data) != 1 {
		t.Fatalf("base64 embeddings: %s", body)
	}
	raw, _ := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	if len(raw) != 12 || math.Float32frombits(binary.LittleEndian.Uint32(raw[4:])) != -0.5 {
		t.Fatalf("base64 embeddings decode to % x", raw)
	}
	resp, body = f.do("POST", "/ai/v1/embeddings", bearer, strings.NewReader(`{"model":"gemini","input":[[1,2,3]]}`))
	if resp.StatusCode != 400 || !strings.Contains(body, "token lists cannot be translated") {
		t.Fatalf("token-list input to Gemini: %d %s", resp.StatusCode, body)
	}
}

// readAnthropicStream puts an Anthropic stream back together: its text,
// its first tool call's arguments and its stop reason.
func readAnthropicStream(t *testing.T, body string) (text, args, stop string) {
	t.Helper()
	if !strings.HasPrefix(body, "event: message_start\n") || !strings.HasSuffix(body, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
		t.Fatalf("not an Anthropic stream: %q", body)
	}
	for _, line := range strings.Split(body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var e struct {
			Type  string `json:"type"`
			Delta struct {
				Type, Text, PartialJSON, StopReason string
			} `json:"delta"`
		}
		var raw struct {
			Delta struct {
				PartialJSON string `json:"partial_json"`
				StopReason  string `json:"stop_reason"`
			} `json:"delta"`
		}
		if json.Unmarshal([]byte(data), &e) != nil || json.Unmarshal([]byte(data), &raw) != nil {
			t.Fatalf("bad event %s", data)
		}
		switch {
		case e.Type == "content_block_delta" && e.Delta.Type == "text_delta":
			text += e.Delta.Text
		case e.Type == "content_block_delta":
			args += raw.Delta.PartialJSON
		case e.Type == "message_delta":
			stop = raw.Delta.StopReason
		}
	}
	return text, args, stop
}

func sameJSONText(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// signedBy checks a request's SigV4 signature: signed again with the
// credentials and the request's own time, it must come out the same.
func signedBy(t *testing.T, r llmtest.Request, keyID, secret, region string) bool {
	t.Helper()
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+keyID+"/") || !strings.Contains(auth, "/"+region+"/bedrock/aws4_request") {
		t.Logf("Authorization %q", auth)
		return false
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	req, _ := http.NewRequest("POST", "http://"+r.Host+r.Path, bytes.NewReader(r.Raw))
	for k, v := range r.Header {
		if k != "Authorization" && k != "X-Amz-Date" && k != "User-Agent" && k != "Accept-Encoding" && k != "Content-Length" {
			req.Header[k] = v
		}
	}
	sum := sha256.Sum256(r.Raw)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, req,
		hex.EncodeToString(sum[:]), "bedrock", region, when)
	if err != nil || req.Header.Get("Authorization") != auth {
		t.Logf("signature %q, want %q (%v)", auth, req.Header.Get("Authorization"), err)
		return false
	}
	return true
}

// TestLLMCache: with apis[].llm.cache, a consumer's repeated request —
// the same JSON, whatever its spacing and key order — is answered from
// the cache (streams replayed whole) without a provider call and without
// tokens or cost in its usage record; another consumer, another request,
// or an answer that failed is not.
func TestLLMCache(t *testing.T) {
	t.Parallel()
	oa := llmtest.New(t)
	cfg := formatsConfig(oa.URL, oa.URL, oa.URL, oa.URL, oa.URL)
	cfg = strings.Replace(cfg, "llm: {models: [gpt, claude, gemini, azure, bedrock, mixed]}",
		"llm: {models: [gpt, claude], cache: {ttl: 1m, max_entries: 10}}", 1)
	cfg = strings.Replace(cfg, "    api_keys: [acme-key-0123456789]\n", "    api_keys: [acme-key-0123456789]\n  - name: other\n    api_keys: [other-key-0123456789]\n", 1)
	e := start(t, cfg, "http://127.0.0.1:9")
	rec := usage.NewRecorder(1000, 1000, telemetry.NewMetrics())
	e.gw.RecordUsage(rec)
	acme, other := hdr("Authorization", "Bearer "+acmeKey), hdr("Authorization", "Bearer other-key-0123456789")
	calls := func() int { return len(oa.Requests()) }

	first := `{"model":"gpt","messages":[{"role":"user","content":"Hi"}],"temperature":0.1}`
	same := `{ "temperature": 0.1, "messages": [ {"content": "Hi", "role": "user"} ], "model": "gpt" }`
	resp, body1 := e.do("POST", "/ai/v1/chat/completions", acme, strings.NewReader(first))
	if resp.StatusCode != 200 || resp.Header.Get("X-Portico-Cache") != "miss" || calls() != 1 {
		t.Fatalf("first call: %d %v, %d provider calls", resp.StatusCode, resp.Header, calls())
	}
	resp, body2 := e.do("POST", "/ai/v1/chat/completions", acme, strings.NewReader(same))
	if resp.StatusCode != 200 || resp.Header.Get("X-Portico-Cache") != "hit" || body2 != body1 || calls() != 1 {
		t.Fatalf("the same request again: %d %v, %d provider calls\n%s\n%s", resp.StatusCode, resp.Header, calls(), body1, body2)
	}
	recs := takeRecords(rec, 2)
	if len(recs) != 2 || recs[0].TokensIn != 11 || recs[1].TokensIn != 0 || recs[1].CostPico != 0 || recs[1].Upstream != "llm:cache" {
		t.Fatalf("usage records: %+v", recs)
	}
	// Another consumer, another request, another endpoint: misses.
	for _, c := range []struct {
		h    http.Header
		path string
		body string
	}{
		{other, "/ai/v1/chat/completions", first},
		{acme, "/ai/v1/chat/completions", strings.Replace(first, "0.1", "0.2", 1)},
		{acme, "/ai/v1/messages", `{"model":"claude","max_tokens":9,"messages":[{"role":"user","content":"Hi"}]}`},
	} {
		if resp, _ := e.do("POST", c.path, c.h, strings.NewReader(c.body)); resp.Header.Get("X-Portico-Cache") != "miss" {
			t.Errorf("%s %s: %v", c.path, c.body, resp.Header)
		}
	}
	// A stream is replayed whole.
	stream := `{"model":"gpt","stream":true,"messages":[{"role":"user","content":"Hi"}]}`
	_, s1 := e.do("POST", "/ai/v1/chat/completions", acme, strings.NewReader(stream))
	resp, s2 := e.do("POST", "/ai/v1/chat/completions", acme, strings.NewReader(stream))
	if resp.Header.Get("X-Portico-Cache") != "hit" || resp.Header.Get("Content-Type") != "text/event-stream" || s1 != s2 || !strings.HasSuffix(s2, "data: [DONE]\n\n") {
		t.Fatalf("a stream again: %v\n%q\n%q", resp.Header, s1, s2)
	}
	// A failed answer is not kept.
	oa.Fail(llmtest.Trouble{Status: 400})
	failing := `{"model":"gpt","messages":[{"role":"user","content":"fail"}]}`
	e.do("POST", "/ai/v1/chat/completions", acme, strings.NewReader(failing))
	oa.Fail(llmtest.Trouble{})
	if resp, _ := e.do("POST", "/ai/v1/chat/completions", acme, strings.NewReader(failing)); resp.StatusCode != 200 || resp.Header.Get("X-Portico-Cache") != "miss" {
		t.Fatalf("after a failed answer: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestLLMHostileInput: a body over 16 MiB is refused 413 before any
// provider is called; a provider that does not begin answering within
// its timeout is left for the next deployment; a provider answering
// something that is not its format is a 502, whole or streamed.
func TestLLMHostileInput(t *testing.T) {
	t.Parallel()
	slow, fast := llmtest.New(t), llmtest.New(t)
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "stream") || strings.Contains(r.Header.Get("Accept"), "event-stream") {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		_, _ = io.WriteString(w, "<html>not an answer")
	}))
	defer garbage.Close()
	slow.Fail(llmtest.Trouble{Latency: 3 * time.Second})
	cfg := `version: 1
llm_providers:
  - {name: slow, type: anthropic, base_url: "` + slow.URL + `", timeout: 200ms}
  - {name: fast, type: openai, base_url: "` + fast.URL + `/v1"}
  - {name: junk, type: gemini, base_url: "` + garbage.URL + `/v1beta"}
llm_models:
  - name: smart
    targets: [{provider: slow, model: s, priority: 1}, {provider: fast, model: f, priority: 2}]
  - {name: junk, targets: [{provider: junk, model: j}]}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
apis:
  - name: ai
    base_path: /ai
    auth: [api_key]
    llm: {models: [smart, junk]}
`
	e := start(t, cfg, "http://127.0.0.1:9")
	key := hdr("Authorization", "Bearer "+acmeKey)
	huge := `{"model":"smart","messages":[{"role":"user","content":"` + strings.Repeat("x", 16<<20) + `"}]}`
	resp, body := e.do("POST", "/ai/v1/chat/completions", key, strings.NewReader(huge))
	if resp.StatusCode != 413 || len(slow.Requests())+len(fast.Requests()) != 0 {
		t.Fatalf("a 16 MiB body: %d %.200s", resp.StatusCode, body)
	}
	start := time.Now()
	resp, body = e.do("POST", "/ai/v1/chat/completions", key, strings.NewReader(`{"model":"smart","messages":[{"role":"user","content":"Hi"}]}`))
	if resp.StatusCode != 200 || !strings.Contains(body, "Hello there, friend") || time.Since(start) > 2*time.Second {
		t.Fatalf("past the slow provider's timeout: %d after %v: %s", resp.StatusCode, time.Since(start), body)
	}
	resp, body = e.do("POST", "/ai/v1/chat/completions", key, strings.NewReader(`{"model":"junk","messages":[{"role":"user","content":"Hi"}]}`))
	if resp.StatusCode != 502 || decodeError(t, resp, body).Error.Code != "llm_bad_answer" {
		t.Fatalf("a provider answering garbage: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("POST", "/ai/v1/chat/completions", key, strings.NewReader(`{"model":"junk","stream":true,"messages":[{"role":"user","content":"Hi"}]}`))
	// Not one event: nothing was relayed, so it is a failed start (no
	// other deployment: 502).
	if resp.StatusCode != 502 || decodeError(t, resp, body).Error.Code != "llm_unavailable" {
		t.Fatalf("a stream of garbage: %d %q", resp.StatusCode, body)
	}
}

// TestLLMMask: with apis[].llm.mask, the provider receives placeholders
// instead of the prompt's email address and employee number — passed
// through or translated — and the client gets the values back in the
// answer's text and tool call arguments, whole and streamed.
func TestLLMMask(t *testing.T) {
	t.Parallel()
	oa := llmtest.New(t)
	oa.Answer(llmtest.Reply{Text: "I will write to [EMAIL_1] now",
		ToolCalls: []llmtest.ToolCall{{ID: "c1", Name: "mail", Args: `{"to":"[EMAIL_1]","ref":"[EMPLOYEE_1]"}`}}, Usage: llmtest.Usage{In: 20, Out: 9}})
	cfg := formatsConfig(oa.URL, oa.URL, oa.URL, oa.URL, oa.URL)
	cfg = strings.Replace(cfg, "llm: {models: [gpt, claude, gemini, azure, bedrock, mixed]}",
		"llm:\n      models: [gpt, claude]\n      mask: [{type: email}, {name: employee, pattern: 'EMP-[0-9]{6}'}]", 1)
	e := start(t, cfg, "http://127.0.0.1:9")
	key := hdr("Authorization", "Bearer "+acmeKey)
	for _, c := range []struct{ path, body string }{
		{"/ai/v1/chat/completions", `{"model":"gpt","messages":[{"role":"user","content":"Mail ann@example.com about EMP-123456"}]}`},
		{"/ai/v1/chat/completions", `{"model":"gpt","stream":true,"messages":[{"role":"user","content":"Mail ann@example.com about EMP-123456"}]}`},
		{"/ai/v1/messages", `{"model":"gpt","max_tokens":50,"messages":[{"role":"user","content":"Mail ann@example.com about EMP-123456"}]}`},
		{"/ai/v1/messages", `{"model":"claude","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"Mail ann@example.com about EMP-123456"}]}`},
	} {
		resp, body := e.do("POST", c.path, key, strings.NewReader(c.body))
		got := oa.Requests()
		sent := string(got[len(got)-1].Raw)
		if strings.Contains(sent, "ann@example.com") || strings.Contains(sent, "EMP-123456") || !strings.Contains(sent, "Mail [EMAIL_1] about [EMPLOYEE_1]") {
			t.Errorf("%s %s: the provider received %s", c.path, c.body, sent)
		}
		text, args := body, body
		if strings.Contains(c.body, `"stream":true`) {
			text, args = joinStream(t, body)
		}
		if resp.StatusCode != 200 || !strings.Contains(text, "I will write to ann@example.com now") ||
			!strings.Contains(args, `\"to\":\"ann@example.com\",\"ref\":\"EMP-123456\"`) && !strings.Contains(args, `{"to":"ann@example.com","ref":"EMP-123456"}`) ||
			strings.Contains(body, "[EMAIL_1]") {
			t.Errorf("%s %s: %d\n%s", c.path, c.body, resp.StatusCode, body)
		}
	}
}

// joinStream puts a stream's text and tool arguments together, in either
// client format.
func joinStream(t *testing.T, body string) (text, args string) {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var e struct {
			Choices []struct {
				Delta struct {
					Content   string `json:"content"`
					ToolCalls []struct {
						Function struct {
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
			} `json:"choices"`
			Delta struct {
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		for _, c := range e.Choices {
			text += c.Delta.Content
			for _, tc := range c.Delta.ToolCalls {
				args += tc.Function.Arguments
			}
		}
		text += e.Delta.Text
		args += e.Delta.PartialJSON
	}
	return text, args
}

// TestLLMMirror: an alias mirrored at 100% sends each answered call again,
// unstreamed and in the background, to its candidate; the candidate's
// calls are usage records of "mirror:ai" (no consumer: never billed), and
// the likeness of its answers to the client's is a metric.
func TestLLMMirror(t *testing.T) {
	t.Parallel()
	oa, cand := llmtest.New(t), llmtest.New(t)
	cand.Answer(llmtest.Reply{Text: "Hello there, my friend", Usage: llmtest.Usage{In: 13, Out: 5}})
	cfg := formatsConfig(oa.URL, cand.URL, oa.URL, oa.URL, oa.URL)
	cfg = strings.Replace(cfg, "  - {name: gpt, targets: [{provider: oa, model: gpt-4.1}]}",
		"  - {name: gpt, targets: [{provider: oa, model: gpt-4.1}], mirror: {provider: an, model: candidate-1, percent: 100}}", 1)
	e := start(t, cfg, "http://127.0.0.1:9")
	rec := usage.NewRecorder(1000, 1000, telemetry.NewMetrics())
	e.gw.RecordUsage(rec)
	e.rt.Usage = rec
	e.load(cfg, "http://127.0.0.1:9")
	key := hdr("Authorization", "Bearer "+acmeKey)
	for _, c := range []struct{ path, body string }{
		{"/ai/v1/chat/completions", `{"model":"gpt","messages":[{"role":"user","content":"Hi"}]}`},
		{"/ai/v1/chat/completions", `{"model":"gpt","stream":true,"messages":[{"role":"user","content":"Hi"}]}`},
		{"/ai/v1/messages", `{"model":"gpt","max_tokens":20,"messages":[{"role":"user","content":"Hi"}]}`},
	} {
		if resp, body := e.do("POST", c.path, key, strings.NewReader(c.body)); resp.StatusCode != 200 || !strings.Contains(body, "Hello") {
			t.Fatalf("%s: %d %s", c.body, resp.StatusCode, body)
		}
	}
	var recs []store.UsageRecord
	for deadline := time.Now().Add(5 * time.Second); len(recs) < 6 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		recs = append(recs, rec.Take()...)
	}
	mirrored := 0
	for _, r := range recs {
		if r.API != "mirror:ai" {
			continue
		}
		mirrored++
		if r.Consumer != "" || r.LLMModel != "an/candidate-1" || r.TokensIn != 13 || r.TokensOut != 5 || r.CostPico != 0 || !r.Unpriced || r.Status != 200 {
			t.Errorf("a mirrored call's record: %+v", r)
		}
	}
	if len(recs) != 6 || mirrored != 3 {
		t.Fatalf("%d records, %d mirrored: %+v", len(recs), mirrored, recs)
	}
	for _, r := range cand.Requests() {
		if r.Body["stream"] == true || r.Model != "candidate-1" {
			t.Errorf("the candidate received %s", r.Raw)
		}
	}
	// "hello there friend" and "hello there my friend": 2 × 3 / 7.
	families, _ := e.metrics.Registry.Gather()
	var sum float64
	var count uint64
	for _, f := range families {
		if f.GetName() == "portico_llm_mirror_likeness" {
			h := f.GetMetric()[0].GetHistogram()
			sum, count = h.GetSampleSum(), h.GetSampleCount()
		}
	}
	if count != 3 || sum < 3*6.0/7-1e-9 || sum > 3*6.0/7+1e-9 {
		t.Fatalf("likeness: %d samples summing to %f, want 3 of 6/7", count, sum)
	}
}

// TestLLMBedrockAPIKey: a Bedrock provider with an API key sends it as a
// bearer token, and signs nothing.
func TestLLMBedrockAPIKey(t *testing.T) {
	t.Parallel()
	br := llmtest.New(t)
	cfg := strings.Replace(formatsConfig(br.URL, br.URL, br.URL, br.URL, br.URL),
		"region: eu-west-3, access_key_id: AKIDEXAMPLE, secret_access_key: wJalrXUtnFEMI-example}", "region: eu-west-3, api_key: br-key-123}", 1)
	e := start(t, cfg, "http://127.0.0.1:9")
	resp, body := e.do("POST", "/ai/v1/chat/completions", hdr("Authorization", "Bearer "+acmeKey),
		strings.NewReader(`{"model":"bedrock","messages":[{"role":"user","content":"Hi"}]}`))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got := br.Requests()
	if len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer br-key-123" || got[0].Header.Get("X-Amz-Date") != "" {
		t.Fatalf("what Bedrock received: %+v", got)
	}
}

// TestLLMStreamStall: a provider that begins its stream, then falls
// silent for longer than its timeout, ends the client's stream with an
// error event of the client's protocol at that timeout — the wait for
// each next part of an answer is bounded as the wait for its start is —
// and the call is still metered.
func TestLLMStreamStall(t *testing.T) {
	t.Parallel()
	stalled := llmtest.New(t)
	stalled.Answer(llmtest.Reply{Text: "one two three four", Usage: llmtest.Usage{In: 10, Out: 4}})
	stalled.Fail(llmtest.Trouble{EventDelay: 5 * time.Second})
	cfg := `version: 1
llm_providers:
  - {name: stalled, type: anthropic, base_url: "` + stalled.URL + `", timeout: 300ms}
llm_models:
  - {name: smart, targets: [{provider: stalled, model: s}]}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
apis:
  - name: ai
    base_path: /ai
    auth: [api_key]
    llm: {models: [smart]}
`
	e := start(t, cfg, "http://127.0.0.1:9")
	for _, c := range []struct{ path, body, started, failed, ended string }{
		{"/ai/v1/messages", `{"model":"smart","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			"event: message_start", "event: error\ndata: {", "message_stop"},
		{"/ai/v1/chat/completions", `{"model":"smart","stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			`"role":"assistant"`, `"code":"llm_stream_broken"`, "[DONE]"},
	} {
		began := time.Now()
		resp, body := e.do("POST", c.path, hdr("Authorization", "Bearer "+acmeKey), strings.NewReader(c.body))
		took := time.Since(began)
		if resp.StatusCode != 200 || !strings.Contains(body, c.started) || !strings.Contains(body, c.failed) || strings.Contains(body, c.ended) {
			t.Errorf("%s: a stream stalled past its provider's timeout: %d after %v: %q", c.path, resp.StatusCode, took, body)
		}
		if took < 300*time.Millisecond || took > 2*time.Second {
			t.Errorf("%s: ended after %v; want at the provider's timeout (300ms), well before its next event (5s)", c.path, took)
		}
	}
}

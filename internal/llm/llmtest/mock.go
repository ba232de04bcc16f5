// Package llmtest is a mock LLM provider for tests: one HTTP server that
// speaks OpenAI's (chat completions, embeddings, responses), Anthropic's
// (messages) and Gemini's (generateContent) wire formats, streamed or
// not, with a scripted answer — text, tool calls whose arguments stream in
// pieces, exact usage — and scripted trouble: latency, an error status
// with Retry-After, an error or a cut connection after the first event.
//
// Point a provider at it with these base URLs: openai and
// openai_compatible URL+"/v1", anthropic and bedrock URL, gemini
// URL+"/v1beta". Bedrock's streams are AWS event streams (binary).
package llmtest

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// Usage is what the mock reports, in neutral terms: In counts every
// prompt token (Cached among them), Out every generated one (Reasoning
// among them). Each format reports it its own way.
type Usage struct {
	In, Out, Cached, Reasoning int64
}

// ToolCall is a tool call of the answer.
type ToolCall struct {
	ID, Name, Args string
}

// Reply is the answer the mock gives.
type Reply struct {
	Text      string
	ToolCalls []ToolCall
	Usage     Usage
	// MaxTokens: the answer stopped at its token limit.
	MaxTokens bool
}

// Trouble is what goes wrong.
type Trouble struct {
	// Status, when not 0, is answered with an error in the format's shape
	// (and Retry-After when given).
	Status     int
	RetryAfter string
	// Latency passes before the answer begins; EventDelay between a
	// stream's events.
	Latency, EventDelay time.Duration
	// AfterFirst happens after a stream's first event: "cut" (the
	// connection breaks) or "error" (an error event of the format's).
	AfterFirst string
}

// Request is a request the mock received.
type Request struct {
	Format string // openai, anthropic, gemini or bedrock
	Host   string
	Path   string
	Model  string
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Mock is the mock provider.
type Mock struct {
	URL string

	mu        sync.Mutex
	reply     Reply
	trouble   Trouble
	got       []Request
	cancelled int
}

// DefaultReply is the answer of a new mock.
var DefaultReply = Reply{Text: "Hello there, friend", Usage: Usage{In: 11, Out: 3}}

// New starts a mock for the test's duration.
func New(t testing.TB) *Mock {
	m := &Mock{reply: DefaultReply}
	srv := httptest.NewServer(m)
	m.URL = srv.URL
	t.Cleanup(srv.Close)
	return m
}

// Answer sets the answer.
func (m *Mock) Answer(r Reply) {
	m.mu.Lock()
	m.reply = r
	m.mu.Unlock()
}

// Fail sets the trouble (Trouble{} for none).
func (m *Mock) Fail(t Trouble) {
	m.mu.Lock()
	m.trouble = t
	m.mu.Unlock()
}

// Requests returns the requests received so far.
func (m *Mock) Requests() []Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Request(nil), m.got...)
}

// Cancelled counts streams whose client went away before their end.
func (m *Mock) Cancelled() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cancelled
}

// ServeHTTP answers by the path: /v1/chat/completions, /v1/embeddings,
// /v1/responses, /v1/messages, /v1beta/models/<model>:generateContent or
// :streamGenerateContent.
func (m *Mock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	req := Request{Host: r.Host, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body, Raw: raw}
	req.Model, _ = body["model"].(string)
	stream, _ := body["stream"].(bool)
	switch {
	case r.URL.Path == "/v1/messages":
		req.Format = "anthropic"
	case strings.HasPrefix(r.URL.Path, "/v1beta/models/"):
		req.Format = "gemini"
		name, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1beta/models/"), ":")
		req.Model, stream = name, method == "streamGenerateContent"
	case strings.HasPrefix(r.URL.Path, "/model/"):
		req.Format = "bedrock"
		name, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/model/"), "/")
		req.Model, stream = name, method == "converse-stream"
	case strings.HasPrefix(r.URL.Path, "/v1/"):
		req.Format = "openai"
	default:
		http.Error(w, "no such path "+r.URL.Path, http.StatusNotFound)
		return
	}
	m.mu.Lock()
	m.got = append(m.got, req)
	reply, trouble := m.reply, m.trouble
	m.mu.Unlock()
	if trouble.Latency > 0 {
		select {
		case <-time.After(trouble.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if trouble.Status != 0 {
		if trouble.RetryAfter != "" {
			w.Header().Set("Retry-After", trouble.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(trouble.Status)
		_, _ = io.WriteString(w, errorJSON(req.Format, trouble.Status))
		return
	}
	var events []string
	var whole string
	switch {
	case req.Format == "anthropic":
		whole, events = anthropicAnswer(req.Model, reply)
	case req.Format == "gemini" && strings.HasSuffix(r.URL.Path, ":batchEmbedContents"):
		whole = geminiEmbeddings(body)
	case req.Format == "gemini":
		whole, events = geminiAnswer(req.Model, reply)
	case req.Format == "bedrock" && strings.HasSuffix(r.URL.Path, "/invoke"):
		// InvokeModel of an embedding model: Cohere's takes texts, Titan's
		// one inputText; both report the input's tokens (reply.Usage.In
		// per call) in a header, Titan in its answer too.
		var answer map[string]any
		if texts, ok := body["texts"].([]any); ok {
			vectors := make([]any, len(texts))
			for i := range texts {
				vectors[i] = []float64{0.25, -0.5, 0.125}
			}
			answer = map[string]any{"id": "emb-mock", "embeddings": vectors, "response_type": "embeddings_floats", "texts": texts}
		} else {
			answer = map[string]any{"embedding": []float64{0.25, -0.5, 0.125}, "inputTextTokenCount": reply.Usage.In}
		}
		w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", strconv.FormatInt(reply.Usage.In, 10))
		whole = js(answer)
	case req.Format == "bedrock":
		whole, events = bedrockAnswer(reply)
	case r.URL.Path == "/v1/embeddings":
		whole = embeddingsAnswer(req.Model, reply, body)
	case r.URL.Path == "/v1/responses":
		whole, events = responsesAnswer(req.Model, reply)
	case r.URL.Path == "/v1/chat/completions":
		opts, _ := body["stream_options"].(map[string]any)
		whole, events = openAIAnswer(req.Model, reply, opts["include_usage"] == true)
	default:
		http.Error(w, "no such path "+r.URL.Path, http.StatusNotFound)
		return
	}
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, whole)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	if req.Format == "bedrock" {
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	}
	fl := w.(http.Flusher)
	for i, ev := range events {
		if i > 0 && trouble.EventDelay > 0 {
			select {
			case <-time.After(trouble.EventDelay):
			case <-r.Context().Done():
				m.mu.Lock()
				m.cancelled++
				m.mu.Unlock()
				return
			}
		}
		_, _ = io.WriteString(w, ev)
		fl.Flush()
		if i == 0 {
			switch trouble.AfterFirst {
			case "cut":
				panic(http.ErrAbortHandler)
			case "error":
				_, _ = io.WriteString(w, errorEvent(req.Format))
				return
			}
		}
	}
}

// Wire is what the mock answers in a format ("openai", "anthropic",
// "gemini", or "openai-responses"/"openai-embeddings" for those
// endpoints): the whole answer, and the events of the stream.
func Wire(format, model string, r Reply, includeUsage bool) (whole string, events []string) {
	switch format {
	case "anthropic":
		return anthropicAnswer(model, r)
	case "gemini":
		return geminiAnswer(model, r)
	case "bedrock":
		return bedrockAnswer(r)
	case "openai-responses":
		return responsesAnswer(model, r)
	case "openai-embeddings":
		return embeddingsAnswer(model, r, map[string]any{}), nil
	}
	return openAIAnswer(model, r, includeUsage)
}

func errorJSON(format string, status int) string {
	switch format {
	case "anthropic":
		t := map[int]string{429: "rate_limit_error", 529: "overloaded_error", 400: "invalid_request_error"}[status]
		return fmt.Sprintf(`{"type":"error","error":{"type":%q,"message":"mock says no"}}`, cmp.Or(t, "api_error"))
	case "bedrock":
		return `{"message":"mock says no"}`
	case "gemini":
		s := map[int]string{429: "RESOURCE_EXHAUSTED", 400: "INVALID_ARGUMENT", 503: "UNAVAILABLE"}[status]
		return fmt.Sprintf(`{"error":{"code":%d,"message":"mock says no","status":%q}}`, status, cmp.Or(s, "INTERNAL"))
	}
	t := map[int]string{429: "rate_limit_exceeded", 400: "invalid_request_error"}[status]
	return fmt.Sprintf(`{"error":{"message":"mock says no","type":%q,"param":null,"code":null}}`, cmp.Or(t, "server_error"))
}

func errorEvent(format string) string {
	switch format {
	case "anthropic":
		return "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
	case "gemini":
		return "data: {\"error\":{\"code\":500,\"message\":\"mock broke\",\"status\":\"INTERNAL\"}}\r\n\r\n"
	case "bedrock":
		return awsFrame("exception", "modelStreamErrorException", `{"message":"mock broke"}`)
	}
	return "data: {\"error\":{\"message\":\"mock broke\",\"type\":\"server_error\"}}\n\n"
}

// Pieces splits text the way the mock streams it: at spaces, each space
// starting the next piece.
func Pieces(text string) []string {
	var out []string
	for text != "" {
		i := strings.IndexByte(text[1:], ' ')
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	return out
}

// ArgPieces splits a tool call's arguments as the mock streams them: in
// pieces of 5 bytes, so that no piece is valid JSON on its own.
func ArgPieces(args string) []string {
	var out []string
	for len(args) > 5 {
		out = append(out, args[:5])
		args = args[5:]
	}
	if args != "" {
		out = append(out, args)
	}
	return out
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func openAIAnswer(model string, r Reply, includeUsage bool) (string, []string) {
	finish := "stop"
	switch {
	case r.MaxTokens:
		finish = "length"
	case len(r.ToolCalls) > 0:
		finish = "tool_calls"
	}
	use := map[string]any{"prompt_tokens": r.Usage.In, "completion_tokens": r.Usage.Out, "total_tokens": r.Usage.In + r.Usage.Out,
		"prompt_tokens_details":     map[string]any{"cached_tokens": r.Usage.Cached},
		"completion_tokens_details": map[string]any{"reasoning_tokens": r.Usage.Reasoning}}
	msg := map[string]any{"role": "assistant", "content": nil, "refusal": nil}
	if r.Text != "" {
		msg["content"] = r.Text
	}
	var calls []any
	for _, tc := range r.ToolCalls {
		calls = append(calls, map[string]any{"id": tc.ID, "type": "function", "function": map[string]any{"name": tc.Name, "arguments": tc.Args}})
	}
	if calls != nil {
		msg["tool_calls"] = calls
	}
	whole := js(map[string]any{"id": "chatcmpl-mock", "object": "chat.completion", "created": 1700000000, "model": model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
		"usage":   use, "system_fingerprint": "fp_mock"})
	chunk := func(delta map[string]any, finish any) string {
		return "data: " + js(map[string]any{"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
			"system_fingerprint": "fp_mock", "choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}) + "\n\n"
	}
	events := []string{chunk(map[string]any{"role": "assistant", "content": ""}, nil)}
	for _, p := range Pieces(r.Text) {
		events = append(events, chunk(map[string]any{"content": p}, nil))
	}
	for i, tc := range r.ToolCalls {
		events = append(events, chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": tc.ID, "type": "function",
			"function": map[string]any{"name": tc.Name, "arguments": ""}}}}, nil))
		for _, p := range ArgPieces(tc.Args) {
			events = append(events, chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]any{"arguments": p}}}}, nil))
		}
	}
	events = append(events, chunk(map[string]any{}, finish))
	if includeUsage {
		events = append(events, "data: "+js(map[string]any{"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000,
			"model": model, "choices": []any{}, "usage": use})+"\n\n")
	}
	return whole, append(events, "data: [DONE]\n\n")
}

// embeddingsAnswer is one vector (0.25, -0.5, 0.125) per input, as floats
// or, when the request asks (as OpenAI's SDKs do), as base64 of
// little-endian float32.
func embeddingsAnswer(model string, r Reply, body map[string]any) string {
	n := 1
	if list, ok := body["input"].([]any); ok {
		n = len(list)
	}
	var vector any = []float64{0.25, -0.5, 0.125}
	if body["encoding_format"] == "base64" {
		buf := make([]byte, 12)
		for i, f := range []float32{0.25, -0.5, 0.125} {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
		}
		vector = base64.StdEncoding.EncodeToString(buf)
	}
	var data []any
	for i := range n {
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": vector})
	}
	return js(map[string]any{"object": "list", "model": model, "data": data,
		"usage": map[string]any{"prompt_tokens": r.Usage.In, "total_tokens": r.Usage.In}})
}

func responsesAnswer(model string, r Reply) (string, []string) {
	use := map[string]any{"input_tokens": r.Usage.In, "input_tokens_details": map[string]any{"cached_tokens": r.Usage.Cached},
		"output_tokens": r.Usage.Out, "output_tokens_details": map[string]any{"reasoning_tokens": r.Usage.Reasoning},
		"total_tokens": r.Usage.In + r.Usage.Out}
	items := []any{map[string]any{"type": "message", "id": "msg_mock", "status": "completed", "role": "assistant",
		"content": []any{map[string]any{"type": "output_text", "text": r.Text, "annotations": []any{}}}}}
	for _, tc := range r.ToolCalls {
		items = append(items, map[string]any{"type": "function_call", "id": "fc_" + tc.ID, "status": "completed", "call_id": tc.ID,
			"name": tc.Name, "arguments": tc.Args})
	}
	resp := func(status string, output []any, u any) map[string]any {
		return map[string]any{"id": "resp_mock", "object": "response", "created_at": 1700000000, "status": status, "model": model,
			"output": output, "usage": u}
	}
	whole := js(resp("completed", items, use))
	var events []string
	ev := func(typ string, data map[string]any) {
		data["type"] = typ
		data["sequence_number"] = len(events)
		events = append(events, "event: "+typ+"\ndata: "+js(data)+"\n\n")
	}
	ev("response.created", map[string]any{"response": resp("in_progress", []any{}, nil)})
	for _, p := range Pieces(r.Text) {
		ev("response.output_text.delta", map[string]any{"item_id": "msg_mock", "output_index": 0, "content_index": 0, "delta": p, "logprobs": []any{}})
	}
	for i, tc := range r.ToolCalls {
		ev("response.output_item.added", map[string]any{"output_index": i + 1, "item": map[string]any{"type": "function_call",
			"id": "fc_" + tc.ID, "status": "in_progress", "call_id": tc.ID, "name": tc.Name, "arguments": ""}})
		for _, p := range ArgPieces(tc.Args) {
			ev("response.function_call_arguments.delta", map[string]any{"item_id": "fc_" + tc.ID, "output_index": i + 1, "delta": p})
		}
		ev("response.output_item.done", map[string]any{"output_index": i + 1, "item": items[i+1]})
	}
	ev("response.completed", map[string]any{"response": resp("completed", items, use)})
	return whole, events
}

func anthropicAnswer(model string, r Reply) (string, []string) {
	stop := "end_turn"
	switch {
	case r.MaxTokens:
		stop = "max_tokens"
	case len(r.ToolCalls) > 0:
		stop = "tool_use"
	}
	var content []any
	if r.Text != "" {
		content = append(content, map[string]any{"type": "text", "text": r.Text})
	}
	for _, tc := range r.ToolCalls {
		content = append(content, map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Name, "input": json.RawMessage(tc.Args)})
	}
	if content == nil {
		content = []any{}
	}
	use := map[string]any{"input_tokens": r.Usage.In - r.Usage.Cached, "output_tokens": r.Usage.Out,
		"cache_read_input_tokens": r.Usage.Cached, "cache_creation_input_tokens": 0}
	whole := js(map[string]any{"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": content,
		"stop_reason": stop, "stop_sequence": nil, "usage": use})
	ev := func(typ string, data map[string]any) string {
		data["type"] = typ
		return "event: " + typ + "\ndata: " + js(data) + "\n\n"
	}
	start := map[string]any{"input_tokens": r.Usage.In - r.Usage.Cached, "output_tokens": 1,
		"cache_read_input_tokens": r.Usage.Cached, "cache_creation_input_tokens": 0}
	events := []string{ev("message_start", map[string]any{"message": map[string]any{"id": "msg_mock", "type": "message", "role": "assistant",
		"model": model, "content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": start}})}
	block := 0
	if r.Text != "" {
		events = append(events, ev("content_block_start", map[string]any{"index": 0, "content_block": map[string]any{"type": "text", "text": ""}}),
			ev("ping", map[string]any{}))
		for _, p := range Pieces(r.Text) {
			events = append(events, ev("content_block_delta", map[string]any{"index": 0, "delta": map[string]any{"type": "text_delta", "text": p}}))
		}
		events = append(events, ev("content_block_stop", map[string]any{"index": 0}))
		block++
	}
	for _, tc := range r.ToolCalls {
		events = append(events, ev("content_block_start", map[string]any{"index": block,
			"content_block": map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Name, "input": map[string]any{}}}))
		for _, p := range ArgPieces(tc.Args) {
			events = append(events, ev("content_block_delta", map[string]any{"index": block, "delta": map[string]any{"type": "input_json_delta", "partial_json": p}}))
		}
		events = append(events, ev("content_block_stop", map[string]any{"index": block}))
		block++
	}
	events = append(events, ev("message_delta", map[string]any{"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": r.Usage.Out}}), ev("message_stop", map[string]any{}))
	return whole, events
}

func geminiAnswer(model string, r Reply) (string, []string) {
	finish := "STOP"
	if r.MaxTokens {
		finish = "MAX_TOKENS"
	}
	use := func(out int64) map[string]any {
		u := map[string]any{"promptTokenCount": r.Usage.In, "candidatesTokenCount": max(out-r.Usage.Reasoning, 0),
			"totalTokenCount": r.Usage.In + out}
		if r.Usage.Cached > 0 {
			u["cachedContentTokenCount"] = r.Usage.Cached
		}
		if r.Usage.Reasoning > 0 {
			u["thoughtsTokenCount"] = r.Usage.Reasoning
		}
		return u
	}
	var parts []any
	if r.Text != "" {
		parts = append(parts, map[string]any{"text": r.Text})
	}
	for _, tc := range r.ToolCalls {
		parts = append(parts, map[string]any{"functionCall": map[string]any{"name": tc.Name, "args": json.RawMessage(tc.Args)}})
	}
	cand := func(parts []any, finish string) []any {
		c := map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "index": 0}
		if finish != "" {
			c["finishReason"] = finish
		}
		return []any{c}
	}
	whole := js(map[string]any{"candidates": cand(parts, finish), "usageMetadata": use(r.Usage.Out), "modelVersion": model, "responseId": "resp-mock"})
	var events []string
	pieces := Pieces(r.Text)
	for i, p := range pieces {
		events = append(events, "data: "+js(map[string]any{"candidates": cand([]any{map[string]any{"text": p}}, ""),
			"usageMetadata": use(int64(i + 1)), "modelVersion": model, "responseId": "resp-mock"})+"\r\n\r\n")
	}
	var last []any
	for _, tc := range r.ToolCalls {
		last = append(last, map[string]any{"functionCall": map[string]any{"name": tc.Name, "args": json.RawMessage(tc.Args)}})
	}
	if last == nil {
		last = []any{map[string]any{"text": ""}}
	}
	events = append(events, "data: "+js(map[string]any{"candidates": cand(last, finish), "usageMetadata": use(r.Usage.Out),
		"modelVersion": model, "responseId": "resp-mock"})+"\r\n\r\n")
	return whole, events
}

// awsFrame is one message of an AWS event stream.
func awsFrame(messageType, eventType, payload string) string {
	var b bytes.Buffer
	m := eventstream.Message{Payload: []byte(payload)}
	m.Headers.Set(":message-type", eventstream.StringValue(messageType))
	if messageType == "exception" {
		m.Headers.Set(":exception-type", eventstream.StringValue(eventType))
	} else {
		m.Headers.Set(":event-type", eventstream.StringValue(eventType))
	}
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	if err := eventstream.NewEncoder().Encode(&b, m); err != nil {
		panic(err)
	}
	return b.String()
}

func bedrockAnswer(r Reply) (string, []string) {
	stop := "end_turn"
	switch {
	case r.MaxTokens:
		stop = "max_tokens"
	case len(r.ToolCalls) > 0:
		stop = "tool_use"
	}
	use := map[string]any{"inputTokens": r.Usage.In - r.Usage.Cached, "outputTokens": r.Usage.Out, "totalTokens": r.Usage.In + r.Usage.Out}
	if r.Usage.Cached > 0 {
		use["cacheReadInputTokens"] = r.Usage.Cached
	}
	var content []any
	if r.Text != "" {
		content = append(content, map[string]any{"text": r.Text})
	}
	for _, tc := range r.ToolCalls {
		content = append(content, map[string]any{"toolUse": map[string]any{"toolUseId": tc.ID, "name": tc.Name, "input": json.RawMessage(tc.Args)}})
	}
	whole := js(map[string]any{"output": map[string]any{"message": map[string]any{"role": "assistant", "content": content}},
		"stopReason": stop, "usage": use, "metrics": map[string]any{"latencyMs": 12}})
	events := []string{awsFrame("event", "messageStart", `{"role":"assistant"}`)}
	block := 0
	if r.Text != "" {
		for _, p := range Pieces(r.Text) {
			events = append(events, awsFrame("event", "contentBlockDelta", js(map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"text": p}})))
		}
		events = append(events, awsFrame("event", "contentBlockStop", `{"contentBlockIndex":0}`))
		block++
	}
	for _, tc := range r.ToolCalls {
		events = append(events, awsFrame("event", "contentBlockStart", js(map[string]any{"contentBlockIndex": block,
			"start": map[string]any{"toolUse": map[string]any{"toolUseId": tc.ID, "name": tc.Name}}})))
		for _, p := range ArgPieces(tc.Args) {
			events = append(events, awsFrame("event", "contentBlockDelta", js(map[string]any{"contentBlockIndex": block,
				"delta": map[string]any{"toolUse": map[string]any{"input": p}}})))
		}
		events = append(events, awsFrame("event", "contentBlockStop", js(map[string]any{"contentBlockIndex": block})))
		block++
	}
	events = append(events, awsFrame("event", "messageStop", js(map[string]any{"stopReason": stop})),
		awsFrame("event", "metadata", js(map[string]any{"usage": use, "metrics": map[string]any{"latencyMs": 12}})))
	return whole, events
}

// geminiEmbeddings answers batchEmbedContents: one vector per request.
func geminiEmbeddings(body map[string]any) string {
	reqs, _ := body["requests"].([]any)
	var out []any
	for range reqs {
		out = append(out, map[string]any{"values": []float64{0.25, -0.5, 0.125}})
	}
	return js(map[string]any{"embeddings": out})
}

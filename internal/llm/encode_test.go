package llm

import (
	"bytes"
	"encoding/json"
	"testing"
)

// jsonStrings are strings with every kind of character appendJSONString
// escapes or keeps.
var jsonStrings = []string{
	"", "Hello, world", `say "hi" \ there`, "a\nb\rc\td\be\ff\x00\x1f\x7f",
	"<b>&amp;</b>", "héllo wörld — ✓ 😀", "line\u2028sep\u2029para",
	"bad \xff utf-8 \xc3", "\xed\xa0\x80 surrogate", "tail<",
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range jsonStrings {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString([]byte("x"), s); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Errorf("appendJSONString(%q) = %s, json.Marshal gives %s", s, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, json.Marshal gives %s", s, got, want)
		}
	})
}

// TestTextDeltas checks the hand-written text deltas of both stream
// encoders against what their reflective paths write.
func TestTextDeltas(t *testing.T) {
	for _, s := range jsonStrings {
		checkTextDeltas(t, "chatcmpl-"+s, "model<"+s, s, 1764300000, 3)
	}
}

func FuzzTextDeltas(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add("chatcmpl-1", "gpt-4.1", s, int64(1764300000), 0)
	}
	f.Add("", "", "", int64(-1), -7)
	f.Fuzz(checkTextDeltas)
}

func checkTextDeltas(t *testing.T, id, model, text string, created int64, block int) {
	e := &oaiEncoder{id: id, model: model, created: created}
	want := e.chunk([]byte("x"), &oaiDelta{Content: &text}, "", nil)
	if got := e.textChunk([]byte("x"), text); !bytes.Equal(got, want) {
		t.Fatalf("OpenAI text chunk:\n got %s\nwant %s", got, want)
	}
	empty := ""
	want = e.chunk([]byte("x"), &oaiDelta{Role: "assistant", Content: &empty}, "", nil)
	if got := e.startChunk([]byte("x")); !bytes.Equal(got, want) {
		t.Fatalf("OpenAI first chunk:\n got %s\nwant %s", got, want)
	}
	// The finish reasons are a fixed few (oaiStop); the text stands in
	// for any, but none is empty.
	for _, finish := range []string{"stop", "length", "tool_calls", "content_filter", text} {
		if finish == "" {
			continue
		}
		want = e.chunk([]byte("x"), &oaiDelta{}, finish, nil)
		if got := e.stopChunk([]byte("x"), finish); !bytes.Equal(got, want) {
			t.Fatalf("OpenAI finish chunk:\n got %s\nwant %s", got, want)
		}
	}
	want = antEvent([]byte("x"), "content_block_delta", map[string]any{"type": "content_block_delta", "index": block,
		"delta": map[string]string{"type": "text_delta", "text": text}})
	if got := antTextDelta([]byte("x"), block, text); !bytes.Equal(got, want) {
		t.Fatalf("Anthropic text delta:\n got %s\nwant %s", got, want)
	}
}

// BenchmarkTextDelta compares the hand-written text deltas with the
// reflective paths they replace.
func BenchmarkTextDelta(b *testing.B) {
	e := &oaiEncoder{id: "chatcmpl-8f3a2c", model: "gpt-4.1-2025-04-14", created: 1764300000}
	text := "The quick brown fox jumps over the lazy dog."
	buf := make([]byte, 0, 512)
	b.Run("openai/reflect", func(b *testing.B) {
		for b.Loop() {
			buf = e.chunk(buf[:0], &oaiDelta{Content: &text}, "", nil)
		}
	})
	b.Run("openai/hand", func(b *testing.B) {
		for b.Loop() {
			buf = e.textChunk(buf[:0], text)
		}
	})
	b.Run("anthropic/reflect", func(b *testing.B) {
		for b.Loop() {
			buf = antEvent(buf[:0], "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
				"delta": map[string]string{"type": "text_delta", "text": text}})
		}
	})
	b.Run("anthropic/hand", func(b *testing.B) {
		for b.Loop() {
			buf = antTextDelta(buf[:0], 0, text)
		}
	})
}

// FuzzOpenAIAnswer holds the hand-written whole chat completion to what
// encoding/json writes for the same answer.
func FuzzOpenAIAnswer(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add("chatcmpl-"+s, "gpt-4.1", s, "", int64(1764300000), int64(12), int64(4), int64(3), int64(1))
	}
	f.Add("", "", "", stopLength, int64(-1), int64(-5), int64(0), int64(1<<62), int64(-1<<63))
	f.Add("id", "m", "<b>&", stopTool, int64(0), int64(0), int64(0), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, id, model, text, stop string, created, in, out, cached, reasoning int64) {
		a := &answer{id: id, model: model, stop: stop, parts: []part{{kind: partText, text: text}}}
		a.usage.PromptTokens, a.usage.CompletionTokens = in, out
		a.usage.PromptTokensDetails.CachedTokens, a.usage.CompletionTokensDetails.ReasoningTokens = cached, reasoning
		want := encodeOpenAIAnswerJSON(a, oaiAssistant(a.parts), created)
		if got := encodeOpenAIAnswer(a, created); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkOpenAIAnswer compares the hand-written whole chat completion
// with encoding/json's.
func BenchmarkOpenAIAnswer(b *testing.B) {
	a := &answer{id: "msg_01XFDUDYJgAACzvnptvVoYEL", model: "claude/claude-sonnet-4-5", stop: stopEnd,
		parts: []part{{kind: partText, text: "The quick brown fox jumps over the lazy dog."}}}
	a.usage.PromptTokens, a.usage.CompletionTokens = 12, 10
	benchBoth(b, func() { encodeOpenAIAnswerJSON(a, oaiAssistant(a.parts), 1764300000) }, func() { encodeOpenAIAnswer(a, 1764300000) })
}

// FuzzAnthropicRequest holds the hand-written messages request (a request
// of text alone) to what encoding/json writes for the same request.
func FuzzAnthropicRequest(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add("claude-sonnet-4-5", s, "", "user", s, "", "0.7", "1", s, int64(0), uint8(0))
	}
	f.Add("", "", "be brief", "", "", "<&>", "", "", "", int64(-1), uint8(0xff))
	f.Add("m", "a", "b", "assistant", "x", "y", "1e-3", "-0.5E+2", "END", int64(1<<62), uint8(0x5a))
	f.Fuzz(func(t *testing.T, model, sys1, sys2, role, text1, text2, temperature, topP, stop string, maxTokens int64, shape uint8) {
		c := &chat{maxTokens: maxTokens, stream: shape&1 != 0}
		// shape's bits choose: a stream (bit 0), one or two system texts
		// (bit 1), one or two parts in the first turn (bit 2), one to
		// three turns (bits 3-4), a second stop sequence (bit 5).
		c.system = []string{sys1, sys2}[:(shape>>1)&1+1]
		c.messages = []message{
			{role: role, parts: []part{{kind: partText, text: text1}, {kind: partText, text: text2}}[:(shape>>2)&1+1]},
			{role: "assistant"}, // nothing to say: left out
			{role: "user", parts: []part{{kind: partText, text: text2}}},
		}[:((shape>>3)&3)%3+1]
		fuzzSampling(c, temperature, topP, stop, text1, shape&32 != 0)
		if !textOnly(c) {
			return // written by encodeAnthropicJSON itself (TestAnthropicRequestTextOnly)
		}
		want := encodeAnthropicJSON(c, model)
		if got := encodeAnthropicText(c, model); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// TestAnthropicRequestTextOnly checks which requests take the hand-written
// path: the usual chat does, anything with tools, images or a temperature
// that is not a number does not.
func TestAnthropicRequestTextOnly(t *testing.T) {
	text := []part{{kind: partText, text: "Hi"}}
	for _, c := range []struct {
		name string
		chat chat
		want bool
	}{
		{"text", chat{system: []string{"be brief"}, messages: []message{{role: "user", parts: text}}, temperature: json.RawMessage("0.2")}, true},
		{"no messages", chat{}, true},
		{"tools", chat{messages: []message{{role: "user", parts: text}}, tools: []tool{{name: "f"}}}, false},
		{"image", chat{messages: []message{{role: "user", parts: []part{{kind: partImage, url: "https://example.com/a.png"}}}}}, false},
		{"tool result", chat{messages: []message{{role: "user", parts: []part{{kind: partToolResult, id: "t1", text: "42"}}}}}, false},
		{"temperature null", chat{messages: []message{{role: "user", parts: text}}, temperature: json.RawMessage("null")}, false},
		{"top_p spaced", chat{messages: []message{{role: "user", parts: text}}, topP: json.RawMessage(" 1")}, false},
	} {
		if got := textOnly(&c.chat); got != c.want {
			t.Errorf("%s: textOnly %v, want %v", c.name, got, c.want)
		}
		if got, want := encodeAnthropic(&c.chat, "m"), encodeAnthropicJSON(&c.chat, "m"); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, want)
		}
	}
}

// BenchmarkAnthropicRequest compares the hand-written messages request
// with encoding/json's.
func BenchmarkAnthropicRequest(b *testing.B) {
	c := &chat{system: []string{"You are terse."}, maxTokens: 1024, temperature: json.RawMessage("0.2"), stream: true,
		messages: []message{{role: "user", parts: []part{{kind: partText, text: "What is the capital of France?"}}},
			{role: "assistant", parts: []part{{kind: partText, text: "Paris."}}},
			{role: "user", parts: []part{{kind: partText, text: "And of Italy?"}}}}}
	benchBoth(b, func() { encodeAnthropicJSON(c, "claude-sonnet-4-5") }, func() { encodeAnthropicText(c, "claude-sonnet-4-5") })
}

// FuzzAnthropicEvents holds the hand-written events of a translated
// Anthropic stream to what antEvent writes for the same data.
func FuzzAnthropicEvents(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add("msg_1", "claude-sonnet-4-5", s, 0, int64(12), int64(4), int64(3), true)
	}
	f.Add("", "", "", -7, int64(-1), int64(0), int64(1<<62), false)
	f.Fuzz(func(t *testing.T, id, model, text string, block int, in, out, cached int64, withSeq bool) {
		check := func(what string, got, want []byte) {
			t.Helper()
			if !bytes.Equal(got, want) {
				t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
			}
		}
		check("message_start", antMessageStart([]byte("x"), id, model), antEvent([]byte("x"), "message_start", map[string]any{
			"type": "message_start", "message": map[string]any{"id": id, "type": "message", "role": "assistant", "model": model,
				"content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": antUsage{}}}))
		check("content_block_start", antTextStart([]byte("x"), block), antEvent([]byte("x"), "content_block_start", map[string]any{
			"type": "content_block_start", "index": block, "content_block": map[string]string{"type": "text", "text": ""}}))
		check("content_block_stop", antBlockStop([]byte("x"), block),
			antEvent([]byte("x"), "content_block_stop", map[string]any{"type": "content_block_stop", "index": block}))
		u := antUsage{InputTokens: in, OutputTokens: out, CacheReadInputTokens: cached, CacheCreationInputTokens: in ^ out}
		var seq *string
		if withSeq {
			seq = &text
		}
		// The stop reasons are a fixed few (antStop); the text stands in for any.
		for _, reason := range []string{"end_turn", "max_tokens", "tool_use", "refusal", "stop_sequence", text} {
			want := antEvent([]byte("x"), "message_delta", map[string]any{"type": "message_delta",
				"delta": map[string]any{"stop_reason": reason, "stop_sequence": seq}, "usage": u})
			want = antEvent(want, "message_stop", map[string]string{"type": "message_stop"})
			check("message_delta and message_stop", antMessageEnd([]byte("x"), reason, seq, u), want)
		}
	})
}

// BenchmarkAnthropicStream encodes a short translated stream for an
// Anthropic client: its start, three text deltas, the stop, the usage and
// the end.
func BenchmarkAnthropicStream(b *testing.B) {
	evs := []event{{kind: evStart, id: "msg_01XFDUDYJgAACzvnptvVoYEL", model: "gpt-4.1-2025-04-14"},
		{kind: evText, text: "The quick brown fox "}, {kind: evText, text: "jumps over "}, {kind: evText, text: "the lazy dog."},
		{kind: evStop, stop: stopEnd}, {kind: evUsage, usage: usage{PromptTokens: 12, CompletionTokens: 9}}, {kind: evEnd}}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		e := &antEncoder{}
		buf = buf[:0]
		for _, ev := range evs {
			buf = e.encode(ev, buf)
		}
	}
}

// FuzzAnthropicAnswer holds the hand-written whole message to what
// encoding/json writes for the same answer.
func FuzzAnthropicAnswer(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add("msg_1", "gpt-4.1", s, "", stopEnd, int64(12), int64(4), int64(3), uint8(1))
	}
	f.Add("", "", "", "", stopSequence, int64(-1), int64(0), int64(1<<62), uint8(0))
	f.Add("id", "m", "<b>&", "\n\nHuman:", stopSequence, int64(0), int64(0), int64(0), uint8(7))
	f.Fuzz(func(t *testing.T, id, model, text, seq, stop string, in, out, cached int64, shape uint8) {
		a := &answer{id: id, model: model, stop: stop, stopSeq: seq}
		a.usage.PromptTokens, a.usage.CompletionTokens, a.usage.PromptTokensDetails.CachedTokens = in, out, cached
		// shape's bits: a text part, a thinking part (not written), a
		// second text part.
		for i, p := range []part{{kind: partText, text: text}, {kind: partThinking, text: seq}, {kind: partText, text: seq}} {
			if shape&(1<<i) != 0 {
				a.parts = append(a.parts, p)
			}
		}
		want := encodeAnthropicAnswerJSON(a)
		if got := encodeAnthropicAnswer(a); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkAnthropicAnswer compares the hand-written whole message with
// encoding/json's.
func BenchmarkAnthropicAnswer(b *testing.B) {
	a := &answer{id: "msg_01XFDUDYJgAACzvnptvVoYEL", model: "gpt-4.1-2025-04-14", stop: stopEnd,
		parts: []part{{kind: partText, text: "The quick brown fox jumps over the lazy dog."}}}
	a.usage.PromptTokens, a.usage.CompletionTokens = 12, 9
	benchBoth(b, func() { encodeAnthropicAnswerJSON(a) }, func() { encodeAnthropicAnswer(a) })
}

// benchBoth runs an encoder's reflective path and its hand-written one
// side by side.
func benchBoth(b *testing.B, reflect, hand func()) {
	for _, c := range []struct {
		name string
		f    func()
	}{{"reflect", reflect}, {"hand", hand}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.f()
			}
		})
	}
}

// FuzzOpenAIRequest holds the hand-written chat completions request (a
// request of text alone) to what encoding/json writes for the same
// request.
func FuzzOpenAIRequest(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add("gpt-4.1", s, "", "user", s, "", "0.7", "1", s, "u1", int64(0), uint8(0))
	}
	f.Add("", "", "be brief", "", "", "<&>", "", "", "", "", int64(-1), uint8(0xff))
	f.Add("m", "a", "b", "assistant", "x", "y", "1e-3", "-0.5E+2", "END", "", int64(1<<62), uint8(0x5a))
	f.Fuzz(func(t *testing.T, model, sys1, sys2, role, text1, text2, temperature, topP, stop, user string, maxTokens int64, shape uint8) {
		// shape's bits choose: a stream (bit 0), no, one or two system
		// texts (bits 1-2), one or two parts in the first turn (bit 3),
		// no turn to three (bits 4-5), OpenAI's own server or a compatible
		// one (bit 6), a second stop sequence (bit 7).
		c := &chat{maxTokens: maxTokens, stream: shape&1 != 0, user: user}
		c.system = []string{sys1, sys2}[:((shape>>1)&3)%3]
		c.messages = []message{
			{role: role, parts: []part{{kind: partText, text: text1}, {kind: partText, text: text2}}[:(shape>>3)&1+1]},
			{role: "assistant", parts: []part{{kind: partText, text: text2}, {kind: partText, text: text1}}},
			{role: "user"}, // nothing to say: left out
		}[:(shape>>4)&3%4]
		fuzzSampling(c, temperature, topP, stop, text1, shape&128 != 0)
		compatible := shape&64 != 0
		if !textOnly(c) {
			return // written by encodeOpenAIJSON itself (TestOpenAIRequestShapes)
		}
		want := encodeOpenAIJSON(c, model, compatible)
		if got := encodeOpenAIText(c, model, compatible); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// TestOpenAIRequestShapes checks requests around the hand-written path's
// edge: a tool choice without tools, a response format, a system text
// alone and nothing at all are written as encoding/json writes them.
func TestOpenAIRequestShapes(t *testing.T) {
	text := []message{{role: "user", parts: []part{{kind: partText, text: "Hi"}}}}
	for _, c := range []chat{
		{messages: text, toolChoice: "auto"},
		{messages: text, toolChoice: "none"},
		{messages: text, jsonObject: true},
		{messages: text, schema: json.RawMessage(`{"type":"object"}`), schemaName: "a"},
		{messages: text, tools: []tool{{name: "f"}}, noParallel: true},
		{system: []string{"be brief"}},
		{},
	} {
		for _, compatible := range []bool{false, true} {
			if got, want := encodeOpenAI(&c, "m", compatible), encodeOpenAIJSON(&c, "m", compatible); !bytes.Equal(got, want) {
				t.Errorf("%+v:\n got %s\nwant %s", c, got, want)
			}
		}
	}
}

// BenchmarkOpenAIRequest compares the hand-written chat completions
// request with encoding/json's.
func BenchmarkOpenAIRequest(b *testing.B) {
	c := &chat{system: []string{"You are terse."}, maxTokens: 1024, temperature: json.RawMessage("0.2"), stream: true,
		messages: []message{{role: "user", parts: []part{{kind: partText, text: "What is the capital of France?"}}},
			{role: "assistant", parts: []part{{kind: partText, text: "Paris."}}},
			{role: "user", parts: []part{{kind: partText, text: "And of Italy?"}}}}}
	benchBoth(b, func() { encodeOpenAIJSON(c, "gpt-4.1", false) }, func() { encodeOpenAIText(c, "gpt-4.1", false) })
}

// fuzzSampling sets a fuzzed request's temperature and top_p, where they
// are valid JSON (as a request read from a client holds), and one or two
// stop sequences.
func fuzzSampling(c *chat, temperature, topP, stop, stop2 string, two bool) {
	if two {
		c.stop = []string{stop, stop2}
	} else if stop != "" {
		c.stop = []string{stop}
	}
	if json.Valid([]byte(temperature)) {
		c.temperature = json.RawMessage(temperature)
	}
	if json.Valid([]byte(topP)) {
		c.topP = json.RawMessage(topP)
	}
}

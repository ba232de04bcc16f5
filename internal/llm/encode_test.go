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
	b.Run("by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encodeOpenAIAnswer(a, 1764300000)
		}
	})
	b.Run("reflect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encodeOpenAIAnswerJSON(a, oaiAssistant(a.parts), 1764300000)
		}
	})
}

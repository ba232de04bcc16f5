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

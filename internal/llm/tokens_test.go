package llm

import (
	"strings"
	"testing"
)

// TestCountTokens: o200k_base counts as OpenAI's tokenizer does; text past
// 1 MiB is counted at the ratio of the first MiB.
func TestCountTokens(t *testing.T) {
	for _, c := range []struct {
		text string
		want int64
	}{
		{"", 0},
		{"Hello", 1},
		{"Hello there, friend! How is the weather in Paris today? It is sunny.", 17},
	} {
		if got := countTokens(c.text); got != c.want {
			t.Errorf("%q: %d tokens, want %d", c.text, got, c.want)
		}
	}
	word := "weather "
	big := strings.Repeat(word, 3*maxTokenize/len(word))
	if got := countTokens(big); got != 3*countTokens(big[:maxTokenize]) {
		t.Errorf("3 MiB of one word: %d tokens, want 3 × the first MiB's %d", got, countTokens(big[:maxTokenize]))
	}
	// A prompt: its texts and tool definitions, plus 3 per message and 3.
	body := `{"model":"m","messages":[{"role":"system","content":"Hello"},{"role":"user","content":"Hello"}]}`
	if got := promptTokens(FormatOpenAI, []byte(body)); got != 3+3+3+1+1 {
		t.Errorf("prompt: %d tokens, want 11", got)
	}
}

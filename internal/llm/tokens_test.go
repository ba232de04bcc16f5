package llm

import (
	"strings"
	"testing"
)

// TestCountTokens: o200k_base counts as OpenAI's tokenizer does; text past
// maxTokenize is counted at the ratio of what was tokenized; a body that
// is not a request is counted whole.
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
		t.Errorf("3 × maxTokenize of one word: %d tokens, want 3 × the first part's %d", got, countTokens(big[:maxTokenize]))
	}
	for _, hostile := range []string{"", "{", "null", `{"messages":7}`, strings.Repeat("[", 5000), string([]byte{0xff, 0xfe, 0})} {
		if n := promptTokens(FormatAnthropic, []byte(hostile)); n < 0 {
			t.Errorf("%.20q: %d tokens", hostile, n)
		}
	}
	// A prompt: its texts and tool definitions, plus 3 per message and 3.
	body := `{"model":"m","messages":[{"role":"system","content":"Hello"},{"role":"user","content":"Hello"}]}`
	if got := promptTokens(FormatOpenAI, []byte(body)); got != 3+3+3+1+1 {
		t.Errorf("prompt: %d tokens, want 11", got)
	}
}

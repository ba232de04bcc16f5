package llm

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/tiktoken-go/tokenizer"
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

// spyCodec records the longest run of white space it was asked to count.
type spyCodec struct {
	tokenizer.Codec
	longest int
}

func (c *spyCodec) Count(s string) (int, error) {
	run := 0
	for _, r := range s {
		if unicode.IsSpace(r) {
			run += utf8.RuneLen(r)
			c.longest = max(c.longest, run)
		} else {
			run = 0
		}
	}
	return c.Codec.Count(s)
}

// TestCountBoundedKeepsRunsShort: the tokenizer backtracks over white
// space (64 KiB of " \n\t" took it 1.9 s, quadratic in the run), so no run
// longer than maxSpaceRun reaches it; text without such runs is counted
// exactly, and long runs are estimated near their real count.
func TestCountBoundedKeepsRunsShort(t *testing.T) {
	for _, hostile := range []string{
		strings.Repeat(" \n\t", 4<<10),
		"intro" + strings.Repeat(" ", 5000) + "outro" + strings.Repeat("\u00a0\n", 3000) + "end",
		strings.Repeat("\u2028 ", 4000),
		strings.Repeat("\r\n", 9000) + "x",
	} {
		spy := &spyCodec{Codec: o200k()}
		got, err := countBounded(spy, hostile)
		if err != nil {
			t.Fatal(err)
		}
		if spy.longest > 256 {
			t.Errorf("%.20q…: a run of %d bytes reached the tokenizer", hostile, spy.longest)
		}
		exact, _ := o200k().Count(hostile)
		if got < int64(exact)/3 || got > 3*int64(exact) {
			t.Errorf("%.20q…: estimated %d tokens, exactly %d", hostile, got, exact)
		}
	}
	prose := strings.Repeat("The weather in Paris is sunny today.\n\n  Indented, then  spaced. ", 400)
	got, _ := countBounded(o200k(), prose)
	if exact, _ := o200k().Count(prose); got != int64(exact) {
		t.Errorf("prose: %d tokens, exactly %d", got, exact)
	}
}

// TestCountInputs: embedding inputs are counted exactly while they fit
// maxTokenize together, and past it at the rate of what was counted,
// without tokenizing more.
func TestCountInputs(t *testing.T) {
	small := []string{"Hello", "Hello there, friend!", "", "weather"}
	want := int64(0)
	for _, in := range small {
		want += countTokens(in)
	}
	if got := countInputs(small); got != want {
		t.Errorf("small inputs: %d tokens, want %d", got, want)
	}
	word := "weather "
	one := strings.Repeat(word, maxTokenize/len(word)) // maxTokenize bytes
	per := countTokens(one)
	many := make([]string, 100)
	for i := range many {
		many[i] = one
	}
	if got := countInputs(many); got != 100*per {
		t.Errorf("100 × maxTokenize: %d tokens, want %d", got, 100*per)
	}
}

// TestMeterKeepsReportedUsageInBounds: a provider's usage is taken as
// reported, but a negative count cannot credit the consumer and a huge
// one cannot wrap the cost around to a small or negative number.
func TestMeterKeepsReportedUsageInBounds(t *testing.T) {
	e := &Endpoint{prices: map[string]price{"p/m": {in: 2_000_000, out: 8_000_000, cached: 500_000}}}
	for _, tc := range []struct {
		name    string
		u       usage
		in, out int64
		cost    int64
	}{
		{name: "as reported", u: usage{PromptTokens: 11, CompletionTokens: 2}, in: 11, out: 2, cost: 11*2_000_000 + 2*8_000_000},
		{name: "negative", u: usage{PromptTokens: -1_000_000, CompletionTokens: -5}, in: 0, out: 0, cost: 0},
		{name: "negative output only", u: usage{PromptTokens: 10, CompletionTokens: -1 << 40}, in: 10, out: 0, cost: 10 * 2_000_000},
		{name: "huge", u: usage{PromptTokens: math.MaxInt64, CompletionTokens: math.MaxInt64}, in: MaxReserveTokens, out: MaxReserveTokens, cost: MaxCallCost},
	} {
		var x pipeline.Exchange
		e.meter(&x, "p/m", &tc.u)
		l := x.LLM
		if l.TokensIn != tc.in || l.TokensOut != tc.out {
			t.Errorf("%s: tokens %d in, %d out; want %d, %d", tc.name, l.TokensIn, l.TokensOut, tc.in, tc.out)
		}
		if l.CostPico != tc.cost {
			t.Errorf("%s: cost %d, want %d", tc.name, l.CostPico, tc.cost)
		}
	}
}

func TestMaxTokens(t *testing.T) {
	for body, want := range map[string]int64{
		`{}`:                 DefaultMaxTokens,
		`{"max_tokens":100}`: 100,
		`{"max_completion_tokens":50,"max_tokens":100}`: 50,
		`{"max_tokens":100,"n":3}`:                      300,
		`{"n":2}`:                                       2 * DefaultMaxTokens,
		`{"max_tokens":-5}`:                             DefaultMaxTokens,
		`{"max_tokens":100,"n":-3}`:                     100,
		`{"max_tokens":9223372036854775807}`:            MaxReserveTokens,
		`{"max_tokens":1099511627776,"n":2}`:            MaxReserveTokens,
		`{"max_tokens":2,"n":9223372036854775807}`:      MaxReserveTokens,
		`{"max_tokens":1e30}`:                           DefaultMaxTokens,
	} {
		var req map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			t.Fatal(err)
		}
		if got := maxTokens(req); got != want {
			t.Errorf("maxTokens(%s) = %d, want %d", body, got, want)
		}
	}
}

// BenchmarkCountTokens: prose and the white space the tokenizer
// backtracks over, 64 KiB each (before the run bound, the second took
// 1.9 s an operation on the machine in docs/performance.md).
func BenchmarkCountTokens(b *testing.B) {
	for name, text := range map[string]string{
		"prose":      strings.Repeat("The weather in Paris is sunny today. ", maxTokenize/37),
		"whitespace": strings.Repeat(" \n\t", maxTokenize/3),
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				countTokens(text)
			}
		})
	}
}

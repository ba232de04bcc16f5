package llm

import (
	"bytes"
	"io"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/pipeline"
)

// price is a model's price in 10⁻¹² currency units per token (a price per
// million tokens with at most six decimals, times 10⁶: exact).
type price struct {
	in, out, cached int64
}

func parsePrices(cfg *config.Config) map[string]price {
	out := map[string]price{}
	for _, p := range cfg.LLMPrices {
		pr := price{in: micro(p.Input), out: micro(p.Output), cached: micro(p.Input)}
		if p.CachedInput != "" {
			pr.cached = micro(p.CachedInput)
		}
		out[p.Provider+"/"+p.Model] = pr
	}
	return out
}

// Pico reads a validated decimal amount (at most six decimals) in 10⁻¹²
// units.
func Pico(d config.Decimal) int64 { return micro(d) * 1_000_000 }

// micro reads a validated decimal (at most six decimals) times 10⁶.
func micro(d config.Decimal) int64 {
	s := string(d)
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000")[:6]
	n, _ := strconv.ParseInt(whole+frac, 10, 64)
	return n
}

// usage is the usage object of OpenAI's answers and stream chunks.
type usage struct {
	PromptTokens            int64             `json:"prompt_tokens"`
	CompletionTokens        int64             `json:"completion_tokens"`
	PromptTokensDetails     promptDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails completionDetails `json:"completion_tokens_details"`
}

type (
	promptDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	}
	completionDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	}
)

// meter records u as the call's usage, priced by the table.
func (e *Endpoint) meter(x *pipeline.Exchange, model string, u *usage) {
	l := &x.LLM
	l.Model = model
	// A provider's numbers are taken as reported, within reason: a
	// negative count would credit the consumer, a huge one wrap the cost.
	l.TokensIn, l.TokensOut = tokenCount(u.PromptTokens), tokenCount(u.CompletionTokens)
	l.TokensCached = tokenCount(u.PromptTokensDetails.CachedTokens)
	l.TokensReasoning = tokenCount(u.CompletionTokensDetails.ReasoningTokens)
	p, ok := e.prices[model]
	if !ok {
		l.Unpriced, l.CostPico = true, 0
		return
	}
	cached := min(l.TokensCached, l.TokensIn)
	cost := addCap(addCap(mulCap(l.TokensIn-cached, p.in), mulCap(cached, p.cached)), mulCap(l.TokensOut, p.out))
	l.CostPico = min(cost, MaxCallCost)
}

// MaxCallCost bounds what one call can cost, in 10⁻¹² units: 2^58, some
// 288,000 in the price table's currency — thousands of times what any
// call costs at any real price, and small enough that the sums of
// analytics and budgets do not wrap around when a provider reports
// nonsense.
const MaxCallCost = 1 << 58

// tokenCount is a reported token count within [0, MaxReserveTokens].
func tokenCount(n int64) int64 { return min(max(n, 0), MaxReserveTokens) }

// estimate meters a call whose provider reported no usage: the prompt's
// tokens and those of what was generated, counted with a tokenizer, and
// marked estimated. known is the prompt's usage when the provider told it
// before breaking off (Anthropic and Gemini do, at a stream's start):
// then only the output is counted.
func (e *Endpoint) estimate(x *pipeline.Exchange, model string, known usage, prompt func() int64, generated string) {
	u := known
	if u.PromptTokens == 0 {
		u.PromptTokens = prompt()
	}
	u.CompletionTokens = countTokens(generated)
	e.meter(x, model, &u)
	x.LLM.Estimated = true
}

// prompt keeps the prompt's part of a usage.
func prompt(u usage) usage {
	return usage{PromptTokens: u.PromptTokens, PromptTokensDetails: u.PromptTokensDetails}
}

// eventData returns an event's data (its "data:" line).
func eventData(ev []byte) []byte {
	for len(ev) > 0 {
		var line []byte
		line, ev, _ = bytes.Cut(ev, []byte("\n"))
		if d, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data:")); ok {
			return bytes.TrimSpace(d)
		}
	}
	return nil
}

// capture keeps the first max bytes written through it.
type capture struct {
	w   io.Writer
	buf []byte
	max int
}

func (c *capture) Write(p []byte) (int, error) {
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return c.w.Write(p)
}

// meterAnswer meters a whole answer: from its usage, or estimated when
// the provider reported none.
func (e *Endpoint) meterAnswer(x *pipeline.Exchange, model string, a *answer, prompt func() int64) {
	if a.usage.PromptTokens != 0 || a.usage.CompletionTokens != 0 {
		e.meter(x, model, &a.usage)
		return
	}
	e.estimate(x, model, usage{}, prompt, a.text())
}

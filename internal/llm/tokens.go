package llm

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
	"github.com/tiktoken-go/tokenizer/codec"
)

// This file estimates token counts for calls whose provider reported no
// usage (a stream the client left, or the provider broke off; a server
// that reports none). It uses OpenAI's o200k_base encoding: exact for
// OpenAI's current models, an approximation for other providers'.

var o200k = sync.OnceValue(func() tokenizer.Codec { return codec.NewO200kBase() })

// maxTokenize bounds the text tokenized (the tokenizer takes about half a
// microsecond a byte: 64 KiB, some 30 ms); the rest is counted at the
// ratio of tokens to bytes of what was. A prompt of 16 MiB thus costs no
// more to estimate than one of 64 KiB.
const maxTokenize = 64 << 10

// countTokens counts text's tokens.
func countTokens(text string) int64 {
	if text == "" {
		return 0
	}
	head := text
	if len(head) > maxTokenize {
		head = head[:maxTokenize]
	}
	n, err := countBounded(o200k(), head)
	if err != nil {
		return int64(len(text)+3) / 4 // a token per four bytes
	}
	if len(head) < len(text) {
		return int64(float64(n) * float64(len(text)) / float64(len(head)))
	}
	return n
}

// countInputs counts the tokens of several texts (embedding inputs),
// tokenizing at most maxTokenize bytes of them in all; the rest is
// counted at the rate of what was. (Each counted alone, a thousand inputs
// of 64 KiB would cost a thousand times the bound.)
func countInputs(inputs []string) int64 {
	var tokens, counted, skipped int64
	left := maxTokenize
	for _, in := range inputs {
		head := in[:min(len(in), left)]
		left -= len(head)
		skipped += int64(len(in) - len(head))
		if head == "" {
			continue
		}
		n, err := countBounded(o200k(), head)
		if err != nil {
			n = int64(len(head)+3) / 4
		}
		tokens += n
		counted += int64(len(head))
	}
	if skipped > 0 && counted > 0 {
		tokens += int64(float64(tokens) * float64(skipped) / float64(counted))
	}
	return tokens
}

// maxSpaceRun is the longest run of white space handed to the tokenizer.
// Its patterns backtrack over white space: 64 KiB of " \n\t" repeated took
// 1.9 s (quadratic in the run), where 64 KiB of prose takes 6–30 ms.
const maxSpaceRun = 64

// countBounded counts s's tokens with no white-space run longer than
// maxSpaceRun reaching the tokenizer: of a longer run, the first
// maxSpaceRun bytes are counted with the text before it, and the rest at
// their rate (runs repeat themselves; this is an estimate).
func countBounded(c tokenizer.Codec, s string) (int64, error) {
	var n int64
	start := 0 // where the text not yet counted begins
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			i += size
			continue
		}
		j := i + size
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if !unicode.IsSpace(r) {
				break
			}
			j += size
		}
		if j-i > maxSpaceRun {
			cut := i + maxSpaceRun
			for !utf8.RuneStart(s[cut]) {
				cut--
			}
			before, err := c.Count(s[start:cut])
			if err != nil {
				return 0, err
			}
			kept, err := c.Count(s[i:cut])
			if err != nil {
				return 0, err
			}
			n += int64(before) + int64(kept)*int64(j-cut)/int64(cut-i)
			start = j
		}
		i = j
	}
	if start < len(s) {
		rest, err := c.Count(s[start:])
		if err != nil {
			return 0, err
		}
		n += int64(rest)
	}
	return n, nil
}

// perMessage is what each message of a prompt adds to its text's tokens
// (its role and separators, as OpenAI counts them), and perPrompt what the
// prompt adds once.
const perMessage, perPrompt = 3, 3

// promptTokens estimates a request's prompt: the tokens of its text —
// system prompts, messages, tool calls and results, tool definitions —
// plus each message's overhead. A body that does not decode counts whole.
func promptTokens(client string, body []byte) int64 {
	c, err := decodeClient(client, body)
	if err != nil {
		return countTokens(string(body))
	}
	var b strings.Builder
	n := int64(perPrompt)
	for _, s := range c.system {
		b.WriteString(s)
		n += perMessage
	}
	for _, m := range c.messages {
		n += perMessage
		for _, p := range m.parts {
			b.WriteString(p.text)
			b.WriteString(p.name)
			b.Write(p.args)
		}
	}
	for _, t := range c.tools {
		b.WriteString(t.name)
		b.WriteString(t.description)
		b.Write(t.parameters)
	}
	return n + countTokens(b.String())
}

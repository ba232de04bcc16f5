package llm

import (
	"strings"
	"sync"

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
	n, err := o200k().Count(head)
	if err != nil {
		return int64(len(text)+3) / 4 // a token per four bytes
	}
	if len(head) < len(text) {
		return int64(float64(n) * float64(len(text)) / float64(len(head)))
	}
	return int64(n)
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

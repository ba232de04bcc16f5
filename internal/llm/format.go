package llm

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// This file holds the neutral form of an LLM call — a request, a whole
// answer and the events of a streamed one — through which a client's wire
// format is translated to a provider's when the two differ. Each format
// has a decoder into this form and an encoder out of it (openai.go,
// anthropic.go, gemini.go); a translator (translate.go) is the pair a
// client format and a provider format make. When both are the same, the
// bytes pass through instead, so fields this form does not hold survive.

// The wire formats.
const (
	FormatOpenAI    = "openai"    // OpenAI's chat completions
	FormatAnthropic = "anthropic" // Anthropic's messages
	FormatGemini    = "gemini"    // Google's generateContent
	// FormatResponses is OpenAI's Responses API, a client format only: to
	// OpenAI-protocol providers it passes through.
	FormatResponses = "openai-responses"
)

// chat is a request in neutral form.
type chat struct {
	system   []string
	messages []message
	tools    []tool
	// toolChoice is "", auto, any (some tool must be called), none or
	// tool (the tool toolName).
	toolChoice, toolName string
	// noParallel asks for at most one tool call.
	noParallel bool
	maxTokens  int64 // 0: not given
	// temperature and topP are kept as the client wrote them.
	temperature, topP json.RawMessage
	stop              []string
	// schema is a JSON schema the answer must follow; jsonObject asks
	// for any JSON object.
	schema     json.RawMessage
	schemaName string
	jsonObject bool
	stream     bool
	// includeUsage: the client asked for the usage at a stream's end.
	includeUsage bool
	user         string
}

// message is one turn: role user or assistant.
type message struct {
	role  string
	parts []part
}

// Kinds of parts.
const (
	partText       = "text"
	partImage      = "image"
	partToolCall   = "tool_call"
	partToolResult = "tool_result"
	partThinking   = "thinking"
)

// part is a piece of a message.
type part struct {
	kind string
	text string // text, thinking, or a tool result's text
	// An image: its media type and base64 data, or its URL.
	mediaType, data, url string
	// A tool call (id, name, arguments: a JSON object) or a tool result
	// (id of the call, and whether it reports an error).
	id, name string
	args     json.RawMessage
	isError  bool
	// signature is a thinking block's signature (Anthropic).
	signature string
}

type tool struct {
	name, description string
	parameters        json.RawMessage
}

// Neutral stop reasons.
const (
	stopEnd      = "end"
	stopLength   = "length"
	stopTool     = "tool"
	stopFilter   = "filter"
	stopSequence = "stop_sequence"
)

// answer is a whole answer in neutral form.
type answer struct {
	id, model string
	parts     []part // text, thinking and tool calls, in order
	stop      string
	stopSeq   string
	usage     usage
}

// text is what the answer generated: its texts (thinking included) and
// tool call arguments.
func (a *answer) text() string {
	var b strings.Builder
	for _, p := range a.parts {
		b.WriteString(p.text)
		b.Write(p.args)
	}
	return b.String()
}

// Kinds of stream events.
const (
	evStart     = iota // id, model; usage: the prompt's, when the provider tells it first
	evText             // text
	evThinking         // text
	evToolStart        // index, id, name
	evToolArgs         // index, text (a piece of the arguments' JSON)
	evStop             // stop, text (the stop sequence)
	evUsage            // usage
	evEnd
)

// event is one step of a streamed answer in neutral form.
type event struct {
	kind      int
	id, model string
	index     int // a tool call's index among the answer's tool calls
	name      string
	text      string
	stop      string
	usage     usage
}

// imagePart is an image given by URL: a data: URL's bytes, or the URL.
func imagePart(u string) part {
	if mt, data, ok := splitDataURL(u); ok {
		return part{kind: partImage, mediaType: mt, data: data}
	}
	return part{kind: partImage, url: u}
}

// oaiChoices are OpenAI's tool_choice modes (chat completions and the
// Responses API alike) in neutral form.
var oaiChoices = map[string]string{"auto": "auto", "none": "none", "required": "any"}

// sysText joins a request's system prompts.
func (c *chat) sysText() string { return strings.Join(c.system, "\n\n") }

// toolNames maps the calls' ids to their tools' names, for formats whose
// tool results name the tool rather than the call.
func (c *chat) toolNames() map[string]string {
	out := map[string]string{}
	for _, m := range c.messages {
		for _, p := range m.parts {
			if p.kind == partToolCall {
				out[p.id] = p.name
			}
		}
	}
	return out
}

// splitDataURL reads a data: URL of base64 data.
func splitDataURL(u string) (mediaType, data string, ok bool) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", "", false
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	mediaType, ok = strings.CutSuffix(meta, ";base64")
	return mediaType, data, ok
}

// objectOr returns args when it is a JSON object, else {}.
func objectOr(args json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(args, &m) != nil || m == nil {
		return json.RawMessage("{}")
	}
	return args
}

// textOf reads content that is a string or a list of text blocks
// ({"type":"text","text":…}), joining the texts.
func textOf(raw json.RawMessage) string {
	var s string
	if readString(raw, &s) { // a string, or null
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &blocks)
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Type == "text" || bl.Type == "" {
			b.WriteString(bl.Text)
		}
	}
	return b.String()
}

// mustJSON marshals values that cannot fail to marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it: `<`, `>` and `&` escaped for HTML, U+2028 and U+2029
// escaped, invalid UTF-8 as U+FFFD. The stream encoders write their most
// frequent event, a text delta, by hand with it and must give the bytes
// json.Marshal gives (FuzzAppendJSONString, FuzzTextDeltas).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0 // s[start:i] is yet to be appended, and needs no escape
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

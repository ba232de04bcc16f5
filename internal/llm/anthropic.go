package llm

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// This file is Anthropic's messages format: its requests, answers and
// stream events, to and from the neutral form.

// AnthropicVersion is the API version sent to Anthropic.
const AnthropicVersion = "2023-06-01"

type antBlock struct {
	Type   string `json:"type"`
	Text   string `json:"text,omitempty"`
	Source *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type,omitempty"`
		Data      string `json:"data,omitempty"`
		URL       string `json:"url,omitempty"`
	} `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	Thinking  string          `json:"thinking,omitempty"`
	Signature string          `json:"signature,omitempty"`
}

// antRequest is a messages request, as far as the gateway reads it.
type antRequest struct {
	MaxTokens int64               `json:"max_tokens"`
	System    json.RawMessage     `json:"system"`
	Messages  []antRequestMessage `json:"messages"`
	Tools     []struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
	} `json:"tool_choice"`
	Temperature   json.RawMessage `json:"temperature"`
	TopP          json.RawMessage `json:"top_p"`
	StopSequences []string        `json:"stop_sequences"`
	Stream        bool            `json:"stream"`
	Metadata      struct {
		UserID string `json:"user_id"`
	} `json:"metadata"`
}

type antRequestMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// decodeAnthropic reads a messages request: the usual one in place
// (readAntRequest, readAntBlocks), the rest the long way.
func decodeAnthropic(body []byte) (*chat, error) {
	var r antRequest
	if !validJSON(body) || !readAntRequest(body, &r) {
		r = antRequest{}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, err
		}
	}
	c := &chat{maxTokens: r.MaxTokens, temperature: r.Temperature, topP: r.TopP, stop: r.StopSequences, stream: r.Stream,
		includeUsage: true, user: r.Metadata.UserID}
	if s := textOf(r.System); s != "" {
		c.system = []string{s}
	}
	for _, t := range r.Tools {
		c.tools = append(c.tools, tool{name: t.Name, description: t.Description, parameters: t.InputSchema})
	}
	if tc := r.ToolChoice; tc != nil {
		c.toolChoice, c.toolName, c.noParallel = tc.Type, tc.Name, tc.DisableParallelToolUse
	}
	for _, m := range r.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, fmt.Errorf("a message has role %q", m.Role)
		}
		var s string
		if readString(m.Content, &s) { // a string, or null
			c.add(m.Role, part{kind: partText, text: s})
			continue
		}
		var blocks []antBlock
		if !readAntBlocks(m.Content, &blocks) {
			blocks = nil
			if err := json.Unmarshal(m.Content, &blocks); err != nil {
				return nil, errors.New("a message's content is neither text nor a list of blocks")
			}
		}
		var parts []part
		for _, b := range blocks {
			switch b.Type {
			case "text":
				parts = append(parts, part{kind: partText, text: b.Text})
			case "image":
				if b.Source == nil {
					return nil, errors.New("an image block has no source")
				}
				parts = append(parts, part{kind: partImage, mediaType: b.Source.MediaType, data: b.Source.Data, url: b.Source.URL})
			case "tool_use":
				parts = append(parts, part{kind: partToolCall, id: b.ID, name: b.Name, args: objectOr(b.Input)})
			case "tool_result":
				parts = append(parts, part{kind: partToolResult, id: b.ToolUseID, text: textOf(b.Content), isError: b.IsError})
			case "thinking":
				parts = append(parts, part{kind: partThinking, text: b.Thinking, signature: b.Signature})
			case "redacted_thinking":
			default:
				return nil, fmt.Errorf("content blocks of type %q cannot be translated to this model's provider", b.Type)
			}
		}
		c.add(m.Role, parts...)
	}
	return c, nil
}

// encodeAnthropic writes a messages request for model: by hand when it
// holds text alone (encodeAnthropicText), else through encoding/json.
func encodeAnthropic(c *chat, model string) []byte {
	if textOnly(c) {
		return encodeAnthropicText(c, model)
	}
	return encodeAnthropicJSON(c, model)
}

// textOnly says whether a request is text alone — no tools, images or
// tool results, and a temperature and top_p (valid JSON, as read) that
// are numbers and so written as they are — as most calls are.
func textOnly(c *chat) bool {
	if len(c.tools) > 0 || !plainNumber(c.temperature) || !plainNumber(c.topP) {
		return false
	}
	for _, m := range c.messages {
		for _, p := range m.parts {
			if p.kind != partText {
				return false
			}
		}
	}
	return true
}

// plainNumber says whether v, valid JSON, is absent or a number: bytes
// encoding/json writes unchanged for a json.RawMessage.
func plainNumber(v json.RawMessage) bool {
	for _, c := range v {
		if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' {
			return false
		}
	}
	return true
}

// textSize is room enough for a text-only request (textOnly) once
// written: its texts and what goes around them.
func textSize(c *chat, model, sys string) int {
	n := 192 + len(model) + len(sys) + len(c.user) + len(c.temperature) + len(c.topP)
	for _, m := range c.messages {
		for _, p := range m.parts {
			n += 32 + len(p.text)
		}
	}
	for _, s := range c.stop {
		n += 3 + len(s)
	}
	return n
}

// appendSampling writes a text-only request's temperature and top_p (as
// the client wrote them: numbers, textOnly says) and its stop sequences,
// under stopKey, each when given.
func appendSampling(b []byte, c *chat, stopKey string) []byte {
	if len(c.temperature) > 0 {
		b = append(append(b, `,"temperature":`...), c.temperature...)
	}
	if len(c.topP) > 0 {
		b = append(append(b, `,"top_p":`...), c.topP...)
	}
	if len(c.stop) > 0 {
		b = append(append(append(b, `,"`...), stopKey...), `":[`...)
		for i, s := range c.stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	return b
}

// appendTextBlocks writes the text parts of parts as an array of text
// blocks (or content parts: OpenAI's have the same shape), an empty text
// left out as encoding/json leaves it; other parts are not written.
func appendTextBlocks(b []byte, parts []part) []byte {
	b = append(b, '[')
	first := true
	for _, p := range parts {
		if p.kind != partText {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"type":"text"`...)
		if p.text != "" {
			b = appendJSONString(append(b, `,"text":`...), p.text)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// encodeAnthropicText writes the bytes encodeAnthropicJSON writes for a
// request that is text alone (textOnly), without reflection;
// FuzzAnthropicRequest holds the two together.
func encodeAnthropicText(c *chat, model string) []byte {
	sys := c.sysText()
	b := appendJSONString(append(make([]byte, 0, textSize(c, model, sys)), `{"model":`...), model)
	b = strconv.AppendInt(append(b, `,"max_tokens":`...), cmp.Or(c.maxTokens, DefaultMaxTokens), 10)
	if sys != "" {
		b = appendJSONString(append(b, `,"system":`...), sys)
	}
	b = append(b, `,"messages":[`...)
	first := true
	for _, m := range c.messages {
		if len(m.parts) == 0 {
			continue // a turn with nothing to say is left out
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(append(b, `{"role":`...), m.role)
		b = append(appendTextBlocks(append(b, `,"content":`...), m.parts), '}')
	}
	b = append(b, ']')
	b = appendSampling(b, c, "stop_sequences")
	if c.stream {
		b = append(b, `,"stream":true`...)
	}
	return append(b, '}')
}

// encodeAnthropicJSON is encodeAnthropic through encoding/json, for a
// request of any shape.
func encodeAnthropicJSON(c *chat, model string) []byte {
	type antTool struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		InputSchema json.RawMessage `json:"input_schema"`
	}
	type antMessage struct {
		Role    string     `json:"role"`
		Content []antBlock `json:"content"`
	}
	out := struct {
		Model         string          `json:"model"`
		MaxTokens     int64           `json:"max_tokens"`
		System        string          `json:"system,omitempty"`
		Messages      []antMessage    `json:"messages"`
		Tools         []antTool       `json:"tools,omitempty"`
		ToolChoice    any             `json:"tool_choice,omitempty"`
		Temperature   json.RawMessage `json:"temperature,omitempty"`
		TopP          json.RawMessage `json:"top_p,omitempty"`
		StopSequences []string        `json:"stop_sequences,omitempty"`
		Stream        bool            `json:"stream,omitempty"`
	}{Model: model, MaxTokens: cmp.Or(c.maxTokens, DefaultMaxTokens), System: c.sysText(), Messages: []antMessage{},
		Temperature: c.temperature, TopP: c.topP, StopSequences: c.stop, Stream: c.stream}
	for _, m := range c.messages {
		am := antMessage{Role: m.role}
		for _, p := range m.parts {
			switch p.kind {
			case partText:
				am.Content = append(am.Content, antBlock{Type: "text", Text: p.text})
			case partImage:
				b := antBlock{Type: "image", Source: &struct {
					Type      string `json:"type"`
					MediaType string `json:"media_type,omitempty"`
					Data      string `json:"data,omitempty"`
					URL       string `json:"url,omitempty"`
				}{Type: "base64", MediaType: p.mediaType, Data: p.data}}
				if p.url != "" {
					b.Source.Type, b.Source.URL = "url", p.url
				}
				am.Content = append(am.Content, b)
			case partToolCall:
				am.Content = append(am.Content, antBlock{Type: "tool_use", ID: p.id, Name: p.name, Input: objectOr(p.args)})
			case partToolResult:
				am.Content = append(am.Content, antBlock{Type: "tool_result", ToolUseID: p.id, Content: mustJSON(p.text), IsError: p.isError})
			}
		}
		if len(am.Content) > 0 {
			out.Messages = append(out.Messages, am)
		}
	}
	for _, t := range c.tools {
		schema := t.parameters
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		out.Tools = append(out.Tools, antTool{Name: t.name, Description: t.description, InputSchema: schema})
	}
	if c.toolChoice != "" && len(c.tools) > 0 {
		tc := map[string]any{"type": c.toolChoice}
		if c.toolChoice == "tool" {
			tc["name"] = c.toolName
		}
		if c.noParallel && c.toolChoice != "none" {
			tc["disable_parallel_tool_use"] = true
		}
		out.ToolChoice = tc
	}
	return mustJSON(out)
}

var antStops = map[string]string{"end_turn": stopEnd, "max_tokens": stopLength, "tool_use": stopTool, "stop_sequence": stopSequence,
	"refusal": stopFilter, "pause_turn": stopEnd, "model_context_window_exceeded": stopLength}

func antStop(neutral string) string {
	switch neutral {
	case stopLength:
		return "max_tokens"
	case stopTool:
		return "tool_use"
	case stopFilter:
		return "refusal"
	case stopSequence:
		return "stop_sequence"
	}
	return "end_turn"
}

// antUsage is usage as Anthropic reports it: its input tokens do not
// count those read from or written to the cache.
type antUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
}

func (u antUsage) neutral() usage {
	var n usage
	n.PromptTokens = u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	n.CompletionTokens = u.OutputTokens
	n.PromptTokensDetails.CachedTokens = u.CacheReadInputTokens
	return n
}

func toAntUsage(u usage) antUsage {
	cached := min(u.PromptTokensDetails.CachedTokens, u.PromptTokens)
	return antUsage{InputTokens: u.PromptTokens - cached, OutputTokens: u.CompletionTokens, CacheReadInputTokens: cached}
}

// antAnswer is the part of a whole message that the gateway reads.
type antAnswer struct {
	ID           string     `json:"id"`
	Model        string     `json:"model"`
	Content      []antBlock `json:"content"`
	StopReason   string     `json:"stop_reason"`
	StopSequence string     `json:"stop_sequence"`
	Usage        antUsage   `json:"usage"`
}

// decodeAnthropicAnswer reads a whole message.
func decodeAnthropicAnswer(body []byte) (*answer, error) {
	// The usual answer is read in place (readAntAnswer); the rest, and
	// what is not JSON, the long way.
	var r antAnswer
	if !validJSON(body) || !readAntAnswer(body, &r) {
		r = antAnswer{}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, err
		}
	}
	a := &answer{id: r.ID, model: r.Model, stop: stopEnd, stopSeq: r.StopSequence, usage: r.Usage.neutral()}
	if s, ok := antStops[r.StopReason]; ok {
		a.stop = s
	}
	for _, b := range r.Content {
		switch b.Type {
		case "text":
			a.parts = append(a.parts, part{kind: partText, text: b.Text})
		case "tool_use":
			a.parts = append(a.parts, part{kind: partToolCall, id: b.ID, name: b.Name, args: objectOr(b.Input)})
		case "thinking":
			a.parts = append(a.parts, part{kind: partThinking, text: b.Thinking})
		}
	}
	return a, nil
}

// encodeAnthropicAnswer writes a whole message: by hand when it holds no
// tool call, else through encoding/json (encodeAnthropicAnswerJSON);
// FuzzAnthropicAnswer holds the two to the same bytes.
func encodeAnthropicAnswer(a *answer) []byte {
	n := 320 + len(a.id) + len(a.model) + len(a.stopSeq)
	for _, p := range a.parts {
		if p.kind == partToolCall {
			return encodeAnthropicAnswerJSON(a)
		}
		n += 32 + len(p.text)
	}
	b := appendJSONString(append(make([]byte, 0, n), `{"id":`...), a.id)
	b = appendJSONString(append(b, `,"type":"message","role":"assistant","model":`...), a.model)
	b = appendTextBlocks(append(b, `,"content":`...), a.parts) // no tool call here: only text is written
	b = appendJSONString(append(b, `,"stop_reason":`...), antStop(a.stop))
	b = append(b, `,"stop_sequence":`...)
	if a.stop == stopSequence {
		b = appendJSONString(b, a.stopSeq)
	} else {
		b = append(b, "null"...)
	}
	b = appendAntUsage(append(b, `,"usage":`...), toAntUsage(a.usage))
	return append(b, '}')
}

// encodeAnthropicAnswerJSON is encodeAnthropicAnswer through
// encoding/json, for an answer of any shape.
func encodeAnthropicAnswerJSON(a *answer) []byte {
	content := []antBlock{}
	for _, p := range a.parts {
		switch p.kind {
		case partText:
			content = append(content, antBlock{Type: "text", Text: p.text})
		case partToolCall:
			content = append(content, antBlock{Type: "tool_use", ID: p.id, Name: p.name, Input: objectOr(p.args)})
		}
	}
	var seq *string
	if a.stop == stopSequence {
		seq = &a.stopSeq
	}
	return mustJSON(struct {
		ID           string     `json:"id"`
		Type         string     `json:"type"`
		Role         string     `json:"role"`
		Model        string     `json:"model"`
		Content      []antBlock `json:"content"`
		StopReason   string     `json:"stop_reason"`
		StopSequence *string    `json:"stop_sequence"`
		Usage        antUsage   `json:"usage"`
	}{a.id, "message", "assistant", a.model, content, antStop(a.stop), seq, toAntUsage(a.usage)})
}

// antDecoder reads Anthropic stream events.
type antDecoder struct {
	started bool
	input   antUsage
	// tools maps content block indexes to tool call indexes.
	tools map[int]int
	ev    antStreamEvent // the last event read, its room reused for the next
}

// antStreamEvent is an Anthropic stream event, as far as the gateway
// reads it.
type antStreamEvent struct {
	Type    string `json:"type"`
	Message struct {
		ID    string   `json:"id"`
		Model string   `json:"model"`
		Usage antUsage `json:"usage"`
	} `json:"message"`
	Index        int             `json:"index"`
	ContentBlock antBlock        `json:"content_block"`
	Delta        antStreamDelta  `json:"delta"`
	Usage        *antStreamUsage `json:"usage"`
	Error        struct {
		Message string `json:"message"`
	} `json:"error"`
}

// antStreamUsage is a message_delta's usage: the counts so far, those
// not given (nil) unchanged.
type antStreamUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             int64  `json:"output_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
}

type antStreamDelta struct {
	Type         string `json:"type"`
	Text         string `json:"text"`
	PartialJSON  string `json:"partial_json"`
	Thinking     string `json:"thinking"`
	StopReason   string `json:"stop_reason"`
	StopSequence string `json:"stop_sequence"`
}

func (d *antDecoder) decode(data []byte, out []event) ([]event, error) {
	// The usual events are read in place (readAntEvent); errors and what
	// it cannot say the long way.
	e := &d.ev
	if !validJSON(data) {
		return out, nil
	}
	if !readAntEvent(data, e) {
		*e = antStreamEvent{}
		if err := json.Unmarshal(data, e); err != nil {
			return out, nil
		}
	}
	if !d.started && e.Type != "message_start" && e.Type != "error" && e.Type != "ping" {
		// A stream without its message_start: the client's stream still
		// begins with one.
		d.started = true
		out = append(out, event{kind: evStart})
	}
	switch e.Type {
	case "message_start":
		d.started = true
		d.input = e.Message.Usage
		out = append(out, event{kind: evStart, id: e.Message.ID, model: e.Message.Model, usage: prompt(e.Message.Usage.neutral())})
	case "content_block_start":
		switch e.ContentBlock.Type {
		case "tool_use":
			if d.tools == nil {
				d.tools = map[int]int{} // made at the first tool call
			}
			n := len(d.tools)
			d.tools[e.Index] = n
			out = append(out, event{kind: evToolStart, index: n, id: e.ContentBlock.ID, name: e.ContentBlock.Name})
		case "text":
			if e.ContentBlock.Text != "" {
				out = append(out, event{kind: evText, text: e.ContentBlock.Text})
			}
		}
	case "content_block_delta":
		switch e.Delta.Type {
		case "text_delta":
			out = append(out, event{kind: evText, text: e.Delta.Text})
		case "input_json_delta":
			if e.Delta.PartialJSON != "" {
				out = append(out, event{kind: evToolArgs, index: d.tools[e.Index], text: e.Delta.PartialJSON})
			}
		case "thinking_delta":
			out = append(out, event{kind: evThinking, text: e.Delta.Thinking})
		}
	case "message_delta":
		if e.Delta.StopReason != "" {
			out = append(out, event{kind: evStop, stop: cmp.Or(antStops[e.Delta.StopReason], stopEnd), text: e.Delta.StopSequence})
		}
		if u := e.Usage; u != nil {
			total := d.input
			total.OutputTokens = u.OutputTokens
			if u.InputTokens != nil {
				total.InputTokens = *u.InputTokens
			}
			if u.CacheReadInputTokens != nil {
				total.CacheReadInputTokens = *u.CacheReadInputTokens
			}
			if u.CacheCreationInputTokens != nil {
				total.CacheCreationInputTokens = *u.CacheCreationInputTokens
			}
			out = append(out, event{kind: evUsage, usage: total.neutral()})
		}
	case "message_stop":
		out = append(out, event{kind: evEnd})
	case "error":
		return out, errors.New(cmp.Or(e.Error.Message, "the provider reported an error"))
	}
	return out, nil
}

func (d *antDecoder) finish(out []event) []event { return append(out, event{kind: evEnd}) }

// antEncoder writes Anthropic stream events.
type antEncoder struct {
	started bool
	// open is the kind of the content block open ("": none), at index
	// block; blocks counts the blocks begun.
	open          string
	block, blocks int
	tools         map[int]int // tool call index → block index
	stop, stopSeq string
	usage         usage
}

func antEvent(b []byte, typ string, data any) []byte {
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: "...)
	b = append(b, mustJSON(data)...)
	return append(b, "\n\n"...)
}

// antTextDelta writes what antEvent writes for a text delta (json.Marshal
// puts a map's keys in order), without reflection: most of a translated
// stream's events are text deltas.
func antTextDelta(b []byte, block int, text string) []byte {
	b = append(b, "event: content_block_delta\ndata: {\"delta\":{\"text\":"...)
	b = appendJSONString(b, text)
	b = append(b, `,"type":"text_delta"},"index":`...)
	b = strconv.AppendInt(b, int64(block), 10)
	return append(b, ",\"type\":\"content_block_delta\"}\n\n"...)
}

// The events every translated stream has are written by hand, as antEvent
// writes them (keys in order, as json.Marshal puts a map's);
// FuzzAnthropicEvents holds each to antEvent's bytes.

func antMessageStart(b []byte, id, model string) []byte {
	b = appendJSONString(append(b, "event: message_start\ndata: {\"message\":{\"content\":[],\"id\":"...), id)
	b = appendJSONString(append(b, `,"model":`...), model)
	b = append(b, `,"role":"assistant","stop_reason":null,"stop_sequence":null,"type":"message","usage":`...)
	b = appendAntUsage(b, antUsage{})
	return append(b, "},\"type\":\"message_start\"}\n\n"...)
}

func antTextStart(b []byte, block int) []byte {
	b = append(b, "event: content_block_start\ndata: {\"content_block\":{\"text\":\"\",\"type\":\"text\"},\"index\":"...)
	b = strconv.AppendInt(b, int64(block), 10)
	return append(b, ",\"type\":\"content_block_start\"}\n\n"...)
}

func antBlockStop(b []byte, block int) []byte {
	b = strconv.AppendInt(append(b, "event: content_block_stop\ndata: {\"index\":"...), int64(block), 10)
	return append(b, ",\"type\":\"content_block_stop\"}\n\n"...)
}

// antMessageEnd writes the message_delta (its stop reason, the stop
// sequence when seq is not nil, the usage) and the message_stop.
func antMessageEnd(b []byte, reason string, seq *string, u antUsage) []byte {
	b = appendJSONString(append(b, "event: message_delta\ndata: {\"delta\":{\"stop_reason\":"...), reason)
	b = append(b, `,"stop_sequence":`...)
	if seq == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *seq)
	}
	b = appendAntUsage(append(b, `},"type":"message_delta","usage":`...), u)
	return append(b, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

func appendAntUsage(b []byte, u antUsage) []byte {
	b = strconv.AppendInt(append(b, `{"input_tokens":`...), u.InputTokens, 10)
	b = strconv.AppendInt(append(b, `,"output_tokens":`...), u.OutputTokens, 10)
	b = strconv.AppendInt(append(b, `,"cache_read_input_tokens":`...), u.CacheReadInputTokens, 10)
	b = strconv.AppendInt(append(b, `,"cache_creation_input_tokens":`...), u.CacheCreationInputTokens, 10)
	return append(b, '}')
}

func (e *antEncoder) close(b []byte) []byte {
	if e.open == "" {
		return b
	}
	e.open = ""
	return antBlockStop(b, e.block)
}

// begin closes the open block, if any, and opens the next, of kind.
func (e *antEncoder) begin(b []byte, kind string) []byte {
	b = e.close(b)
	e.open, e.block = kind, e.blocks
	e.blocks++
	return b
}

func (e *antEncoder) encode(ev event, b []byte) []byte {
	switch ev.kind {
	case evStart:
		e.started, e.stop = true, stopEnd // tools: made at the first tool call
		return antMessageStart(b, ev.id, ev.model)
	case evText:
		if e.open != "text" {
			b = e.begin(b, "text")
			b = antTextStart(b, e.block)
		}
		return antTextDelta(b, e.block, ev.text)
	case evToolStart:
		b = e.begin(b, "tool_use")
		b = antEvent(b, "content_block_start", map[string]any{"type": "content_block_start", "index": e.block,
			"content_block": map[string]any{"type": "tool_use", "id": ev.id, "name": ev.name, "input": map[string]any{}}})
		if e.tools == nil {
			e.tools = map[int]int{}
		}
		e.tools[ev.index] = e.block
		return b
	case evToolArgs:
		idx, ok := e.tools[ev.index]
		if !ok {
			return b
		}
		return antEvent(b, "content_block_delta", map[string]any{"type": "content_block_delta", "index": idx,
			"delta": map[string]string{"type": "input_json_delta", "partial_json": ev.text}})
	case evStop:
		e.stop, e.stopSeq = ev.stop, ev.text
		return e.close(b)
	case evUsage:
		e.usage = ev.usage
	case evEnd:
		b = e.close(b)
		var seq *string
		if e.stop == stopSequence {
			seq = &e.stopSeq
		}
		return antMessageEnd(b, antStop(e.stop), seq, toAntUsage(e.usage))
	}
	return b
}

func (e *antEncoder) fail(b []byte, message string) []byte {
	return antEvent(b, "error", map[string]any{"type": "error", "error": map[string]string{"type": "api_error", "message": message}})
}

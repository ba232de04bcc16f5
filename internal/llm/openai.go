package llm

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file is OpenAI's chat completions format: its requests, answers and
// stream chunks, to and from the neutral form.

type oaiRequest struct {
	Messages []oaiRequestMessage `json:"messages"`
	Tools    []struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	MaxTokens           int64           `json:"max_tokens"`
	MaxCompletionTokens int64           `json:"max_completion_tokens"`
	Temperature         json.RawMessage `json:"temperature"`
	TopP                json.RawMessage `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	User string `json:"user"`
}

type oaiRequestMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []oaiToolCall   `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type oaiToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// decodeOpenAI reads a chat completions request.
func decodeOpenAI(body []byte) (*chat, error) {
	var r oaiRequest
	if !validJSON(body) || !readOAIRequest(body, &r) {
		r = oaiRequest{}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, err
		}
	}
	c := &chat{maxTokens: max(r.MaxCompletionTokens, r.MaxTokens), temperature: r.Temperature, topP: r.TopP,
		stream: r.Stream, user: r.User}
	c.includeUsage = r.StreamOptions != nil && r.StreamOptions.IncludeUsage
	if r.ParallelToolCalls != nil && !*r.ParallelToolCalls {
		c.noParallel = true
	}
	if len(r.Stop) > 0 {
		var one string
		if json.Unmarshal(r.Stop, &one) == nil && one != "" {
			c.stop = []string{one}
		} else {
			_ = json.Unmarshal(r.Stop, &c.stop)
		}
	}
	if f := r.ResponseFormat; f != nil {
		switch {
		case f.Type == "json_schema" && f.JSONSchema != nil:
			c.schema, c.schemaName = f.JSONSchema.Schema, f.JSONSchema.Name
		case f.Type == "json_object":
			c.jsonObject = true
		}
	}
	for _, t := range r.Tools {
		if t.Type == "function" || t.Type == "" {
			c.tools = append(c.tools, tool{name: t.Function.Name, description: t.Function.Description, parameters: t.Function.Parameters})
		}
	}
	var choice string
	switch {
	case len(r.ToolChoice) == 0:
	case json.Unmarshal(r.ToolChoice, &choice) == nil:
		c.toolChoice = oaiChoices[choice]
	default:
		var named struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(r.ToolChoice, &named) == nil && named.Function.Name != "" {
			c.toolChoice, c.toolName = "tool", named.Function.Name
		}
	}
	for _, m := range r.Messages {
		switch m.Role {
		case "system", "developer":
			c.system = append(c.system, textOf(m.Content))
		case "tool":
			c.add("user", part{kind: partToolResult, id: m.ToolCallID, text: textOf(m.Content)})
		case "assistant":
			var parts []part
			if t := textOf(m.Content); t != "" {
				parts = append(parts, part{kind: partText, text: t})
			}
			for _, tc := range m.ToolCalls {
				parts = append(parts, part{kind: partToolCall, id: tc.ID, name: tc.Function.Name, args: objectOr(json.RawMessage(tc.Function.Arguments))})
			}
			c.add("assistant", parts...)
		case "user":
			parts, err := oaiUserParts(m.Content)
			if err != nil {
				return nil, err
			}
			c.add("user", parts...)
		default:
			return nil, fmt.Errorf("a message has role %q", m.Role)
		}
	}
	return c, nil
}

// add appends parts to the conversation, to the last message when it has
// the same role.
func (c *chat) add(role string, parts ...part) {
	if n := len(c.messages); n > 0 && c.messages[n-1].role == role {
		c.messages[n-1].parts = append(c.messages[n-1].parts, parts...)
		return
	}
	c.messages = append(c.messages, message{role: role, parts: parts})
}

func oaiUserParts(content json.RawMessage) ([]part, error) {
	var s string
	if readString(content, &s) { // a string, or null
		return []part{{kind: partText, text: s}}, nil
	}
	var blocks []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	if err := json.Unmarshal(content, &blocks); err != nil {
		return nil, errors.New("a user message's content is neither text nor a list of parts")
	}
	var out []part
	for _, b := range blocks {
		switch b.Type {
		case "text":
			out = append(out, part{kind: partText, text: b.Text})
		case "image_url":
			out = append(out, imagePart(b.ImageURL.URL))
		default:
			return nil, fmt.Errorf("content parts of type %q cannot be translated to this model's provider", b.Type)
		}
	}
	return out, nil
}

type oaiOutMessage struct {
	Role       string          `json:"role"`
	Content    any             `json:"content"`
	ToolCalls  []oaiToolCall   `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
	Refusal    json.RawMessage `json:"refusal,omitempty"`
}

type oaiContentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url,omitempty"`
}

// encodeOpenAI writes a chat completions request for model. Servers
// compatible with OpenAI's take max_tokens; OpenAI's own reasoning models
// only max_completion_tokens.
func encodeOpenAI(c *chat, model string, compatible bool) []byte {
	if c.toolChoice == "" && c.schema == nil && !c.jsonObject && textOnly(c) {
		return encodeOpenAIText(c, model, compatible)
	}
	return encodeOpenAIJSON(c, model, compatible)
}

// encodeOpenAIText writes the bytes encodeOpenAIJSON writes for a request
// of text alone (textOnly, no tool choice or response format), without
// reflection; FuzzOpenAIRequest holds the two together.
func encodeOpenAIText(c *chat, model string, compatible bool) []byte {
	sys := c.sysText()
	b := appendJSONString(append(make([]byte, 0, textSize(c, model, sys)), `{"model":`...), model)
	b = append(b, `,"messages":`...)
	first := true
	message := func(role string) {
		if first {
			b = append(b, '[')
		} else {
			b = append(b, ',')
		}
		first = false
		b = append(append(append(b, `{"role":"`...), role...), `","content":`...)
	}
	if sys != "" {
		message("system")
		b = append(appendJSONString(b, sys), '}')
	}
	for _, m := range c.messages {
		switch {
		case m.role == "assistant": // its text, all of it, even none
			message("assistant")
			b = append(appendJSONString(b, joinText(m.parts)), '}')
		case len(m.parts) == 1:
			message("user")
			b = append(appendJSONString(b, m.parts[0].text), '}')
		case len(m.parts) > 1:
			message("user")
			b = append(appendTextBlocks(b, m.parts), '}')
		}
	}
	if first {
		b = append(b, "null"...) // no message at all
	} else {
		b = append(b, ']')
	}
	if c.maxTokens != 0 {
		if compatible {
			b = append(b, `,"max_tokens":`...)
		} else {
			b = append(b, `,"max_completion_tokens":`...)
		}
		b = strconv.AppendInt(b, c.maxTokens, 10)
	}
	b = appendSampling(b, c, "stop")
	if c.stream {
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	if c.user != "" {
		b = appendJSONString(append(b, `,"user":`...), c.user)
	}
	return append(b, '}')
}

// joinText is the text of parts, one after the other.
func joinText(parts []part) string {
	if len(parts) == 1 {
		return parts[0].text
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.text)
	}
	return b.String()
}

// encodeOpenAIJSON is encodeOpenAI through encoding/json, for a request of
// any shape.
func encodeOpenAIJSON(c *chat, model string, compatible bool) []byte {
	type fn struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	}
	type oaiTool struct {
		Type     string `json:"type"`
		Function fn     `json:"function"`
	}
	out := struct {
		Model               string          `json:"model"`
		Messages            []oaiOutMessage `json:"messages"`
		Tools               []oaiTool       `json:"tools,omitempty"`
		ToolChoice          any             `json:"tool_choice,omitempty"`
		ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
		MaxTokens           int64           `json:"max_tokens,omitempty"`
		MaxCompletionTokens int64           `json:"max_completion_tokens,omitempty"`
		Temperature         json.RawMessage `json:"temperature,omitempty"`
		TopP                json.RawMessage `json:"top_p,omitempty"`
		Stop                []string        `json:"stop,omitempty"`
		ResponseFormat      any             `json:"response_format,omitempty"`
		Stream              bool            `json:"stream,omitempty"`
		StreamOptions       any             `json:"stream_options,omitempty"`
		User                string          `json:"user,omitempty"`
	}{Model: model, Temperature: c.temperature, TopP: c.topP, Stop: c.stop, Stream: c.stream, User: c.user}
	if compatible {
		out.MaxTokens = c.maxTokens
	} else {
		out.MaxCompletionTokens = c.maxTokens
	}
	if c.stream {
		out.StreamOptions = map[string]bool{"include_usage": true}
	}
	if s := c.sysText(); s != "" {
		out.Messages = append(out.Messages, oaiOutMessage{Role: "system", Content: s})
	}
	for _, m := range c.messages {
		out.Messages = append(out.Messages, oaiMessages(m)...)
	}
	for _, t := range c.tools {
		out.Tools = append(out.Tools, oaiTool{Type: "function", Function: fn{Name: t.name, Description: t.description, Parameters: t.parameters}})
	}
	switch c.toolChoice {
	case "auto", "none":
		out.ToolChoice = c.toolChoice
	case "any":
		out.ToolChoice = "required"
	case "tool":
		out.ToolChoice = map[string]any{"type": "function", "function": map[string]string{"name": c.toolName}}
	}
	if c.noParallel && len(c.tools) > 0 {
		f := false
		out.ParallelToolCalls = &f
	}
	switch {
	case c.schema != nil:
		out.ResponseFormat = map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": cmp.Or(c.schemaName, "answer"), "schema": c.schema}}
	case c.jsonObject:
		out.ResponseFormat = map[string]string{"type": "json_object"}
	}
	return mustJSON(out)
}

// oaiAssistant writes an assistant's parts as an OpenAI message: its
// text as content (none when it only calls tools) and its tool calls
// (thinking has no place there).
func oaiAssistant(parts []part) oaiOutMessage {
	msg := oaiOutMessage{Role: "assistant"}
	var text strings.Builder
	for _, p := range parts {
		switch p.kind {
		case partText:
			text.WriteString(p.text)
		case partToolCall:
			tc := oaiToolCall{ID: p.id, Type: "function"}
			tc.Function.Name, tc.Function.Arguments = p.name, string(p.args)
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = text.String()
	}
	return msg
}

// oaiMessages writes one neutral message as OpenAI messages: a user's tool
// results become tool messages, ahead of the rest of its content.
func oaiMessages(m message) []oaiOutMessage {
	var out []oaiOutMessage
	if m.role == "assistant" {
		return append(out, oaiAssistant(m.parts))
	}
	var content []oaiContentPart
	for _, p := range m.parts {
		switch p.kind {
		case partToolResult:
			out = append(out, oaiOutMessage{Role: "tool", ToolCallID: p.id, Content: p.text})
		case partText:
			content = append(content, oaiContentPart{Type: "text", Text: p.text})
		case partImage:
			u := p.url
			if u == "" {
				u = "data:" + p.mediaType + ";base64," + p.data
			}
			content = append(content, oaiContentPart{Type: "image_url", ImageURL: &struct {
				URL string `json:"url"`
			}{u}})
		}
	}
	switch {
	case len(content) == 1 && content[0].Type == "text":
		out = append(out, oaiOutMessage{Role: "user", Content: content[0].Text})
	case len(content) > 0:
		out = append(out, oaiOutMessage{Role: "user", Content: content})
	}
	return out
}

var oaiStops = map[string]string{"stop": stopEnd, "length": stopLength, "tool_calls": stopTool, "function_call": stopTool, "content_filter": stopFilter}

func oaiStop(neutral string) string {
	switch neutral {
	case stopLength:
		return "length"
	case stopTool:
		return "tool_calls"
	case stopFilter:
		return "content_filter"
	}
	return "stop"
}

// decodeOpenAIAnswer reads a whole chat completion.
func decodeOpenAIAnswer(body []byte) (*answer, error) {
	var r struct {
		ID      string `json:"id"`
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Content          *string       `json:"content"`
				ReasoningContent string        `json:"reasoning_content"`
				Refusal          *string       `json:"refusal"`
				ToolCalls        []oaiToolCall `json:"tool_calls"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage *usage `json:"usage"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	a := &answer{id: r.ID, model: r.Model, stop: stopEnd}
	if r.Usage != nil {
		a.usage = *r.Usage
	}
	if len(r.Choices) == 0 {
		return a, nil
	}
	ch := r.Choices[0]
	if ch.Message.ReasoningContent != "" {
		a.parts = append(a.parts, part{kind: partThinking, text: ch.Message.ReasoningContent})
	}
	if ch.Message.Content != nil && *ch.Message.Content != "" {
		a.parts = append(a.parts, part{kind: partText, text: *ch.Message.Content})
	}
	if ch.Message.Refusal != nil && *ch.Message.Refusal != "" {
		a.parts = append(a.parts, part{kind: partText, text: *ch.Message.Refusal})
	}
	for _, tc := range ch.Message.ToolCalls {
		a.parts = append(a.parts, part{kind: partToolCall, id: tc.ID, name: tc.Function.Name, args: objectOr(json.RawMessage(tc.Function.Arguments))})
	}
	if s, ok := oaiStops[ch.FinishReason]; ok {
		a.stop = s
	}
	return a, nil
}

// oaiUsage is usage as OpenAI writes it.
type oaiUsage struct {
	PromptTokens            int64             `json:"prompt_tokens"`
	CompletionTokens        int64             `json:"completion_tokens"`
	TotalTokens             int64             `json:"total_tokens"`
	PromptTokensDetails     promptDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails completionDetails `json:"completion_tokens_details"`
}

func toOAIUsage(u usage) *oaiUsage {
	return &oaiUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.PromptTokens + u.CompletionTokens,
		PromptTokensDetails: u.PromptTokensDetails, CompletionTokensDetails: u.CompletionTokensDetails}
}

// encodeOpenAIAnswer writes a whole chat completion (created at the Unix
// time given). One without tool calls, the most frequent, is written by
// hand: the same bytes as encodeOpenAIAnswerJSON (FuzzOpenAIAnswer), a
// fifth of the time.
func encodeOpenAIAnswer(a *answer, created int64) []byte {
	msg := oaiAssistant(a.parts)
	text, ok := msg.Content.(string)
	if !ok || len(msg.ToolCalls) > 0 {
		return encodeOpenAIAnswerJSON(a, msg, created)
	}
	b := make([]byte, 0, 448+len(a.id)+len(a.model)+len(text)) // room for the constant parts and the numbers
	b = appendJSONString(append(b, `{"id":`...), a.id)
	b = strconv.AppendInt(append(b, `,"object":"chat.completion","created":`...), created, 10)
	b = appendJSONString(append(b, `,"model":`...), a.model)
	b = appendJSONString(append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...), text)
	b = appendJSONString(append(b, `,"refusal":null},"logprobs":null,"finish_reason":`...), oaiStop(a.stop))
	u := &a.usage
	b = strconv.AppendInt(append(b, `}],"usage":{"prompt_tokens":`...), u.PromptTokens, 10)
	b = strconv.AppendInt(append(b, `,"completion_tokens":`...), u.CompletionTokens, 10)
	b = strconv.AppendInt(append(b, `,"total_tokens":`...), u.PromptTokens+u.CompletionTokens, 10)
	b = strconv.AppendInt(append(b, `,"prompt_tokens_details":{"cached_tokens":`...), u.PromptTokensDetails.CachedTokens, 10)
	b = strconv.AppendInt(append(b, `},"completion_tokens_details":{"reasoning_tokens":`...), u.CompletionTokensDetails.ReasoningTokens, 10)
	return append(b, "}}}"...)
}

// encodeOpenAIAnswerJSON is encodeOpenAIAnswer through encoding/json, for
// an answer of any shape; msg is its message (oaiAssistant).
func encodeOpenAIAnswerJSON(a *answer, msg oaiOutMessage, created int64) []byte {
	msg.Refusal = json.RawMessage("null")
	type choice struct {
		Index        int             `json:"index"`
		Message      oaiOutMessage   `json:"message"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason string          `json:"finish_reason"`
	}
	return mustJSON(struct {
		ID      string    `json:"id"`
		Object  string    `json:"object"`
		Created int64     `json:"created"`
		Model   string    `json:"model"`
		Choices []choice  `json:"choices"`
		Usage   *oaiUsage `json:"usage"`
	}{a.id, "chat.completion", created, a.model, []choice{{Message: msg, Logprobs: json.RawMessage("null"), FinishReason: oaiStop(a.stop)}}, toOAIUsage(a.usage)})
}

// oaiDecoder reads OpenAI stream chunks.
type oaiDecoder struct {
	started bool
	chunk   oaiChunk // the last one read, reused for the next (readChunk)
}

// oaiChunk is an OpenAI stream chunk, as far as the gateway reads it.
type oaiChunk struct {
	ID      string           `json:"id"`
	Model   string           `json:"model"`
	Choices []oaiChunkChoice `json:"choices"`
	Usage   *usage           `json:"usage"`
	Error   *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type oaiChunkChoice struct {
	Delta struct {
		Content          string        `json:"content"`
		ReasoningContent string        `json:"reasoning_content"`
		ToolCalls        []oaiToolCall `json:"tool_calls"`
	} `json:"delta"`
	FinishReason string `json:"finish_reason"`
}

func (d *oaiDecoder) decode(data []byte, out []event) ([]event, error) {
	if string(data) == "[DONE]" {
		return append(out, event{kind: evEnd}), nil
	}
	// Chunks of text, a stop and the usage are read in place (readChunk);
	// the rest (tool calls, errors, what it cannot say) the long way.
	if !validJSON(data) {
		return out, nil // not a chunk (a comment, say): nothing to translate
	}
	c := &d.chunk
	if !readChunk(data, c) {
		*c = oaiChunk{}
		if err := json.Unmarshal(data, c); err != nil {
			return out, nil // a chunk of another shape: nothing to translate
		}
	}
	if c.Error != nil {
		return out, errors.New(c.Error.Message)
	}
	if !d.started {
		d.started = true
		out = append(out, event{kind: evStart, id: c.ID, model: c.Model})
	}
	for _, ch := range c.Choices {
		if ch.Delta.ReasoningContent != "" {
			out = append(out, event{kind: evThinking, text: ch.Delta.ReasoningContent})
		}
		if ch.Delta.Content != "" {
			out = append(out, event{kind: evText, text: ch.Delta.Content})
		}
		for i, tc := range ch.Delta.ToolCalls {
			idx := i
			if tc.Index != nil {
				idx = *tc.Index
			}
			if tc.ID != "" || tc.Function.Name != "" {
				out = append(out, event{kind: evToolStart, index: idx, id: tc.ID, name: tc.Function.Name})
			}
			if tc.Function.Arguments != "" {
				out = append(out, event{kind: evToolArgs, index: idx, text: tc.Function.Arguments})
			}
		}
		if s, ok := oaiStops[ch.FinishReason]; ok {
			out = append(out, event{kind: evStop, stop: s})
		}
	}
	if c.Usage != nil {
		out = append(out, event{kind: evUsage, usage: *c.Usage})
	}
	return out, nil
}

func (d *oaiDecoder) finish(out []event) []event { return append(out, event{kind: evEnd}) }

// oaiEncoder writes OpenAI stream chunks.
type oaiEncoder struct {
	id, model    string
	created      int64
	includeUsage bool
}

type oaiDelta struct {
	Role      string        `json:"role,omitempty"`
	Content   *string       `json:"content,omitempty"`
	ToolCalls []oaiToolCall `json:"tool_calls,omitempty"`
}

func (e *oaiEncoder) chunk(b []byte, d *oaiDelta, finish string, u *oaiUsage) []byte {
	type choice struct {
		Index        int      `json:"index"`
		Delta        oaiDelta `json:"delta"`
		FinishReason *string  `json:"finish_reason"`
	}
	c := struct {
		ID      string    `json:"id"`
		Object  string    `json:"object"`
		Created int64     `json:"created"`
		Model   string    `json:"model"`
		Choices []choice  `json:"choices"`
		Usage   *oaiUsage `json:"usage,omitempty"`
	}{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model, Choices: []choice{}, Usage: u}
	if d != nil {
		ch := choice{Delta: *d}
		if finish != "" {
			ch.FinishReason = &finish
		}
		c.Choices = append(c.Choices, ch)
	}
	b = append(b, "data: "...)
	b = append(b, mustJSON(c)...)
	return append(b, "\n\n"...)
}

// choiceHead writes a chunk's members up to its one choice's delta, as
// chunk writes them, without reflection: textChunk, startChunk and
// stopChunk write the events of every translated stream.
func (e *oaiEncoder) choiceHead(b []byte) []byte {
	b = append(b, `data: {"id":`...)
	b = appendJSONString(b, e.id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, e.created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, e.model)
	return append(b, `,"choices":[{"index":0,"delta":`...)
}

// textChunk writes what chunk writes for a text delta: most of a
// translated stream's events are text deltas.
func (e *oaiEncoder) textChunk(b []byte, text string) []byte {
	b = append(e.choiceHead(b), `{"content":`...)
	b = appendJSONString(b, text)
	return append(b, "},\"finish_reason\":null}]}\n\n"...)
}

// startChunk writes what chunk writes for the stream's first event: the
// assistant's role and empty content.
func (e *oaiEncoder) startChunk(b []byte) []byte {
	return append(e.choiceHead(b), `{"role":"assistant","content":""},"finish_reason":null}]}`+"\n\n"...)
}

// stopChunk writes what chunk writes for the stream's finish reason.
func (e *oaiEncoder) stopChunk(b []byte, finish string) []byte {
	b = append(e.choiceHead(b), `{},"finish_reason":`...)
	b = appendJSONString(b, finish)
	return append(b, "}]}\n\n"...)
}

func (e *oaiEncoder) encode(ev event, b []byte) []byte {
	switch ev.kind {
	case evStart:
		e.id, e.model = ev.id, ev.model
		return e.startChunk(b)
	case evText:
		return e.textChunk(b, ev.text)
	case evToolStart:
		idx := ev.index
		tc := oaiToolCall{Index: &idx, ID: ev.id, Type: "function"}
		tc.Function.Name = ev.name
		return e.chunk(b, &oaiDelta{ToolCalls: []oaiToolCall{tc}}, "", nil)
	case evToolArgs:
		idx := ev.index
		tc := oaiToolCall{Index: &idx}
		tc.Function.Arguments = ev.text
		return e.chunk(b, &oaiDelta{ToolCalls: []oaiToolCall{tc}}, "", nil)
	case evStop:
		return e.stopChunk(b, oaiStop(ev.stop))
	case evUsage:
		if e.includeUsage {
			return e.chunk(b, nil, "", toOAIUsage(ev.usage))
		}
	case evEnd:
		return append(b, "data: [DONE]\n\n"...)
	}
	return b
}

func (e *oaiEncoder) fail(b []byte, message string) []byte {
	return append(b, fmt.Sprintf("data: %s\n\n", mustJSON(map[string]any{"error": map[string]any{
		"message": message, "type": "upstream_error", "code": "llm_stream_broken"}}))...)
}

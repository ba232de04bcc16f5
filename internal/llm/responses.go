package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// OpenAI's Responses API as a client format: a request's input items and
// instructions become the neutral conversation, and an answer from any
// provider comes back as a response object, or as the API's stream of
// typed events. To OpenAI-protocol providers the API passes through.

// respRequest is what a Responses request carries that can be translated.
type respRequest struct {
	Input        json.RawMessage `json:"input"`
	Instructions string          `json:"instructions"`
	Tools        []struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	MaxOutputTokens   int64           `json:"max_output_tokens"`
	Temperature       json.RawMessage `json:"temperature"`
	TopP              json.RawMessage `json:"top_p"`
	Text              *struct {
		Format *struct {
			Type   string          `json:"type"`
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"format"`
	} `json:"text"`
	Stream             bool   `json:"stream"`
	User               string `json:"user"`
	PreviousResponseID string `json:"previous_response_id"`
}

// respItem is one input item: a message, a function call the model made
// earlier, or that call's output.
type respItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

// decodeResponses reads a Responses API request.
func decodeResponses(body []byte) (*chat, error) {
	var r respRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	if r.PreviousResponseID != "" {
		// The conversation lives at OpenAI; no other provider has it.
		return nil, errors.New("previous_response_id refers to a conversation stored by OpenAI")
	}
	c := &chat{maxTokens: r.MaxOutputTokens, temperature: r.Temperature, topP: r.TopP, stream: r.Stream, user: r.User}
	if r.Instructions != "" {
		c.system = append(c.system, r.Instructions)
	}
	if r.ParallelToolCalls != nil && !*r.ParallelToolCalls {
		c.noParallel = true
	}
	if r.Text != nil && r.Text.Format != nil {
		switch f := r.Text.Format; f.Type {
		case "json_schema":
			c.schema, c.schemaName = f.Schema, f.Name
		case "json_object":
			c.jsonObject = true
		}
	}
	for _, t := range r.Tools {
		if t.Type != "function" {
			return nil, fmt.Errorf("tools of type %q cannot be translated to this model's provider", t.Type)
		}
		c.tools = append(c.tools, tool{name: t.Name, description: t.Description, parameters: t.Parameters})
	}
	var choice string
	if json.Unmarshal(r.ToolChoice, &choice) == nil {
		c.toolChoice = oaiChoices[choice]
	} else {
		var named struct {
			Type, Name string
		}
		if json.Unmarshal(r.ToolChoice, &named) == nil && named.Type == "function" && named.Name != "" {
			c.toolChoice, c.toolName = "tool", named.Name
		}
	}

	var text string
	if json.Unmarshal(r.Input, &text) == nil {
		c.add("user", part{kind: partText, text: text})
		return c, nil
	}
	var items []respItem
	if err := json.Unmarshal(r.Input, &items); err != nil {
		return nil, errors.New("input is neither text nor a list of items")
	}
	for _, it := range items {
		switch it.Type {
		case "function_call":
			c.add("assistant", part{kind: partToolCall, id: it.CallID, name: it.Name, args: objectOr(json.RawMessage(it.Arguments))})
		case "function_call_output":
			c.add("user", part{kind: partToolResult, id: it.CallID, text: textOf(it.Output)})
		case "reasoning":
			// The model's own reasoning from an earlier turn: OpenAI's alone.
		case "message", "":
			parts, err := respParts(it.Content)
			if err != nil {
				return nil, err
			}
			switch it.Role {
			case "system", "developer":
				var b strings.Builder
				for _, p := range parts {
					b.WriteString(p.text)
				}
				c.system = append(c.system, b.String())
			case "user", "assistant":
				c.add(it.Role, parts...)
			default:
				return nil, fmt.Errorf("an input message has role %q", it.Role)
			}
		default:
			return nil, fmt.Errorf("input items of type %q cannot be translated to this model's provider", it.Type)
		}
	}
	return c, nil
}

// respParts reads a message's content: text, or a list of parts.
func respParts(content json.RawMessage) ([]part, error) {
	var s string
	if json.Unmarshal(content, &s) == nil {
		return []part{{kind: partText, text: s}}, nil
	}
	var blocks []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL string `json:"image_url"`
	}
	if err := json.Unmarshal(content, &blocks); err != nil {
		return nil, errors.New("a message's content is neither text nor a list of parts")
	}
	var out []part
	for _, b := range blocks {
		switch b.Type {
		case "input_text", "output_text":
			out = append(out, part{kind: partText, text: b.Text})
		case "input_image":
			if b.ImageURL == "" {
				return nil, errors.New("images by file id cannot be translated to this model's provider")
			}
			out = append(out, imagePart(b.ImageURL))
		case "refusal":
		default:
			return nil, fmt.Errorf("content parts of type %q cannot be translated to this model's provider", b.Type)
		}
	}
	return out, nil
}

// respOutText is a message's text part in the Responses API.
type respOutText struct {
	Type        string   `json:"type"`
	Text        string   `json:"text"`
	Annotations []string `json:"annotations"`
}

// respOutItem is an output item: a message or a function call.
type respOutItem struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Status    string         `json:"status"`
	Role      string         `json:"role,omitempty"`
	Content   *[]respOutText `json:"content,omitempty"` // messages only`
	CallID    string         `json:"call_id,omitempty"`
	Name      string         `json:"name,omitempty"`
	Arguments *string        `json:"arguments,omitempty"`
}

// respObject is a response object.
type respObject struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	CreatedAt         int64           `json:"created_at"`
	Status            string          `json:"status"`
	Error             json.RawMessage `json:"error"`
	IncompleteDetails json.RawMessage `json:"incomplete_details"`
	Model             string          `json:"model"`
	Output            []respOutItem   `json:"output"`
	ParallelToolCalls bool            `json:"parallel_tool_calls"`
	ToolChoice        string          `json:"tool_choice"`
	Tools             []string        `json:"tools"`
	Usage             *respOutUsage   `json:"usage"`
	Metadata          struct{}        `json:"metadata"`
}

type respOutUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
}

func toRespUsage(u usage) *respOutUsage {
	r := &respOutUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.PromptTokens + u.CompletionTokens}
	r.InputTokensDetails.CachedTokens = u.PromptTokensDetails.CachedTokens
	r.OutputTokensDetails.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	return r
}

// respStatus is a response's status and incomplete_details for a neutral
// stop reason: an answer cut by its token limit is incomplete.
func respStatus(stop string) (string, json.RawMessage) {
	if stop == stopLength {
		return "incomplete", json.RawMessage(`{"reason":"max_output_tokens"}`)
	}
	return "completed", json.RawMessage("null")
}

// messageID names an answer's message item after the answer's id.
func messageID(id string) string {
	if strings.HasPrefix(id, "msg_") {
		return id
	}
	return "msg_" + id
}

func newRespObject(id, model string, created int64) respObject {
	return respObject{ID: "resp_" + id, Object: "response", CreatedAt: created, Status: "in_progress", Error: json.RawMessage("null"),
		IncompleteDetails: json.RawMessage("null"), Model: model, Output: []respOutItem{}, ParallelToolCalls: true, ToolChoice: "auto", Tools: []string{}}
}

// encodeResponsesAnswer writes a whole answer as a response object.
func encodeResponsesAnswer(a *answer, created int64) []byte {
	r := newRespObject(a.id, a.model, created)
	r.Status, r.IncompleteDetails = respStatus(a.stop)
	r.Usage = toRespUsage(a.usage)
	var text strings.Builder
	for _, p := range a.parts {
		if p.kind == partText {
			text.WriteString(p.text)
		}
	}
	if text.Len() > 0 {
		r.Output = append(r.Output, respOutItem{ID: messageID(a.id), Type: "message", Status: "completed", Role: "assistant",
			Content: &[]respOutText{{Type: "output_text", Text: text.String(), Annotations: []string{}}}})
	}
	for _, p := range a.parts {
		if p.kind == partToolCall {
			args := string(objectOr(p.args))
			r.Output = append(r.Output, respOutItem{ID: "fc_" + p.id, Type: "function_call", Status: "completed", CallID: p.id, Name: p.name, Arguments: &args})
		}
	}
	return mustJSON(r)
}

// decodeResponsesAnswer reads a response object (an OpenAI provider's,
// passed through): its output text and function calls, its usage.
func decodeResponsesAnswer(body []byte) (*answer, error) {
	var r struct {
		ID     string `json:"id"`
		Model  string `json:"model"`
		Status string `json:"status"`
		Output []struct {
			Type    string `json:"type"`
			Content []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
			CallID    string `json:"call_id"`
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"output"`
		Usage *respUsage `json:"usage"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	a := &answer{id: r.ID, model: r.Model, stop: stopEnd}
	if r.Usage != nil {
		a.usage = r.Usage.neutral()
	}
	for _, it := range r.Output {
		switch it.Type {
		case "message":
			for _, c := range it.Content {
				if c.Type == "output_text" {
					a.parts = append(a.parts, part{kind: partText, text: c.Text})
				}
			}
		case "function_call":
			a.parts = append(a.parts, part{kind: partToolCall, id: it.CallID, name: it.Name, args: json.RawMessage(it.Arguments)})
			a.stop = stopTool
		}
	}
	if r.Status == "incomplete" {
		a.stop = stopLength
	}
	return a, nil
}

// respClientEncoder writes a stream as the Responses API's events: the
// response created, each output item added, its text or arguments in
// deltas, done, and the response completed with its output and usage.
type respClientEncoder struct {
	r       respObject
	seq     int
	open    bool // the last output item is still being written
	stop    string
	usage   *usage
	text    strings.Builder // the open message's text
	args    strings.Builder // the open function call's arguments
	toolIdx map[int]int     // a tool call's index → its output index
}

func (e *respClientEncoder) event(b []byte, typ string, fields map[string]any) []byte {
	fields["type"] = typ
	fields["sequence_number"] = e.seq
	e.seq++
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: "...)
	b = append(b, mustJSON(fields)...)
	return append(b, "\n\n"...)
}

// closeItem ends the open output item.
func (e *respClientEncoder) closeItem(b []byte) []byte {
	if !e.open {
		return b
	}
	e.open = false
	i := len(e.r.Output) - 1
	it := &e.r.Output[i]
	it.Status = "completed"
	if it.Type == "message" {
		t := e.text.String()
		done := respOutText{Type: "output_text", Text: t, Annotations: []string{}}
		it.Content = &[]respOutText{done}
		b = e.event(b, "response.output_text.done", map[string]any{"item_id": it.ID, "output_index": i, "content_index": 0, "text": t})
		b = e.event(b, "response.content_part.done", map[string]any{"item_id": it.ID, "output_index": i, "content_index": 0, "part": done})
	} else {
		a := e.args.String()
		it.Arguments = &a
		b = e.event(b, "response.function_call_arguments.done", map[string]any{"item_id": it.ID, "output_index": i, "arguments": a})
	}
	return e.event(b, "response.output_item.done", map[string]any{"output_index": i, "item": *it})
}

func (e *respClientEncoder) encode(ev event, b []byte) []byte {
	switch ev.kind {
	case evStart:
		e.r.ID, e.r.Model = "resp_"+ev.id, ev.model
		return e.event(b, "response.created", map[string]any{"response": e.r})
	case evText:
		if !e.open || e.r.Output[len(e.r.Output)-1].Type != "message" {
			b = e.closeItem(b)
			e.text.Reset()
			id := messageID(strings.TrimPrefix(e.r.ID, "resp_"))
			if n := len(e.r.Output); n > 0 {
				id += "_" + strconv.Itoa(n) // text again after a call: an item of its own
			}
			it := respOutItem{ID: id, Type: "message", Status: "in_progress", Role: "assistant", Content: &[]respOutText{}}
			e.r.Output = append(e.r.Output, it)
			e.open = true
			i := len(e.r.Output) - 1
			b = e.event(b, "response.output_item.added", map[string]any{"output_index": i, "item": it})
			b = e.event(b, "response.content_part.added", map[string]any{"item_id": it.ID, "output_index": i, "content_index": 0,
				"part": respOutText{Type: "output_text", Text: "", Annotations: []string{}}})
		}
		e.text.WriteString(ev.text)
		i := len(e.r.Output) - 1
		return e.event(b, "response.output_text.delta", map[string]any{"item_id": e.r.Output[i].ID, "output_index": i, "content_index": 0, "delta": ev.text})
	case evToolStart:
		b = e.closeItem(b)
		e.args.Reset()
		empty := ""
		it := respOutItem{ID: "fc_" + ev.id, Type: "function_call", Status: "in_progress", CallID: ev.id, Name: ev.name, Arguments: &empty}
		e.r.Output = append(e.r.Output, it)
		e.open = true
		if e.toolIdx == nil {
			e.toolIdx = map[int]int{}
		}
		e.toolIdx[ev.index] = len(e.r.Output) - 1
		return e.event(b, "response.output_item.added", map[string]any{"output_index": len(e.r.Output) - 1, "item": it})
	case evToolArgs:
		i, ok := e.toolIdx[ev.index]
		if !ok || !e.open || i != len(e.r.Output)-1 {
			return b // arguments of a call already closed: none of the decoders interleave calls
		}
		e.args.WriteString(ev.text)
		return e.event(b, "response.function_call_arguments.delta", map[string]any{"item_id": e.r.Output[i].ID, "output_index": i, "delta": ev.text})
	case evStop:
		e.stop = ev.stop
	case evUsage:
		u := ev.usage
		e.usage = &u
	case evEnd:
		b = e.closeItem(b)
		e.r.Status, e.r.IncompleteDetails = respStatus(e.stop)
		if e.usage != nil {
			e.r.Usage = toRespUsage(*e.usage)
		}
		typ := "response.completed"
		if e.r.Status == "incomplete" {
			typ = "response.incomplete"
		}
		return e.event(b, typ, map[string]any{"response": e.r})
	}
	return b
}

func (e *respClientEncoder) fail(b []byte, message string) []byte {
	return respEncoder{}.fail(b, message)
}

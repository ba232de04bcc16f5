package llm

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// This file is AWS Bedrock's Converse API, as a provider: requests to it
// (signed with SigV4, or with a Bedrock API key as a bearer token), its
// answers, and its streams — AWS's binary event stream, whose messages
// are read into {"<event type>": payload} documents for the decoder.

// FormatBedrock is Bedrock's Converse format.
const FormatBedrock = "bedrock"

func bedrockPath(model string, stream bool) string {
	if stream {
		return "/model/" + url.PathEscape(model) + "/converse-stream"
	}
	return "/model/" + url.PathEscape(model) + "/converse"
}

var signer = v4.NewSigner()

// sign signs req for Bedrock with the provider's AWS credentials.
func (p *provider) sign(ctx context.Context, req *http.Request, body []byte) error {
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: p.accessKey, SecretAccessKey: p.secretKey, SessionToken: p.sessionToken}
	return signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "bedrock", p.region, time.Now())
}

// regionOf reads the AWS region of a Bedrock runtime URL
// (https://bedrock-runtime.<region>.amazonaws.com), "" when it names none.
func regionOf(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	rest, ok := strings.CutPrefix(host, "bedrock-runtime.")
	if !ok {
		rest, ok = strings.CutPrefix(host, "bedrock-runtime-fips.")
	}
	region, _, found := strings.Cut(rest, ".")
	if !ok || !found {
		return ""
	}
	return region
}

type brBlock struct {
	Text  string `json:"text,omitempty"`
	Image *struct {
		Format string `json:"format"`
		Source struct {
			Bytes string `json:"bytes"`
		} `json:"source"`
	} `json:"image,omitempty"`
	ToolUse *struct {
		ToolUseID string          `json:"toolUseId"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
	} `json:"toolUse,omitempty"`
	ToolResult *struct {
		ToolUseID string              `json:"toolUseId"`
		Content   []map[string]string `json:"content"`
		Status    string              `json:"status,omitempty"`
	} `json:"toolResult,omitempty"`
	ReasoningContent *struct {
		ReasoningText struct {
			Text string `json:"text"`
		} `json:"reasoningText"`
	} `json:"reasoningContent,omitempty"`
}

// encodeBedrock writes a Converse request (the model is in the path).
func encodeBedrock(c *chat) []byte {
	type msg struct {
		Role    string    `json:"role"`
		Content []brBlock `json:"content"`
	}
	type spec struct {
		Name        string         `json:"name"`
		Description string         `json:"description,omitempty"`
		InputSchema map[string]any `json:"inputSchema"`
	}
	type infer struct {
		MaxTokens     int64           `json:"maxTokens,omitempty"`
		Temperature   json.RawMessage `json:"temperature,omitempty"`
		TopP          json.RawMessage `json:"topP,omitempty"`
		StopSequences []string        `json:"stopSequences,omitempty"`
	}
	out := struct {
		Messages        []msg               `json:"messages"`
		System          []map[string]string `json:"system,omitempty"`
		InferenceConfig *infer              `json:"inferenceConfig,omitempty"`
		ToolConfig      map[string]any      `json:"toolConfig,omitempty"`
	}{Messages: []msg{}}
	for _, s := range c.system {
		out.System = append(out.System, map[string]string{"text": s})
	}
	for _, m := range c.messages {
		bm := msg{Role: m.role}
		for _, p := range m.parts {
			var b brBlock
			switch p.kind {
			case partText:
				b.Text = p.text
			case partImage:
				if p.data == "" {
					continue // Bedrock takes images as bytes only
				}
				b.Image = &struct {
					Format string `json:"format"`
					Source struct {
						Bytes string `json:"bytes"`
					} `json:"source"`
				}{Format: strings.TrimPrefix(p.mediaType, "image/")}
				b.Image.Source.Bytes = p.data
			case partToolCall:
				b.ToolUse = &struct {
					ToolUseID string          `json:"toolUseId"`
					Name      string          `json:"name"`
					Input     json.RawMessage `json:"input"`
				}{p.id, p.name, objectOr(p.args)}
			case partToolResult:
				status := ""
				if p.isError {
					status = "error"
				}
				b.ToolResult = &struct {
					ToolUseID string              `json:"toolUseId"`
					Content   []map[string]string `json:"content"`
					Status    string              `json:"status,omitempty"`
				}{p.id, []map[string]string{{"text": p.text}}, status}
			default:
				continue
			}
			bm.Content = append(bm.Content, b)
		}
		if len(bm.Content) > 0 {
			out.Messages = append(out.Messages, bm)
		}
	}
	if c.maxTokens != 0 || c.temperature != nil || c.topP != nil || c.stop != nil {
		out.InferenceConfig = &infer{MaxTokens: c.maxTokens, Temperature: c.temperature, TopP: c.topP, StopSequences: c.stop}
	}
	if len(c.tools) > 0 {
		var tools []map[string]spec
		for _, t := range c.tools {
			schema := t.parameters
			if len(schema) == 0 {
				schema = json.RawMessage(`{"type":"object"}`)
			}
			tools = append(tools, map[string]spec{"toolSpec": {Name: t.name, Description: t.description, InputSchema: map[string]any{"json": schema}}})
		}
		out.ToolConfig = map[string]any{"tools": tools}
		switch c.toolChoice {
		case "auto":
			out.ToolConfig["toolChoice"] = map[string]any{"auto": map[string]any{}}
		case "any":
			out.ToolConfig["toolChoice"] = map[string]any{"any": map[string]any{}}
		case "tool":
			out.ToolConfig["toolChoice"] = map[string]any{"tool": map[string]string{"name": c.toolName}}
		}
	}
	return mustJSON(out)
}

var brStops = map[string]string{"end_turn": stopEnd, "tool_use": stopTool, "max_tokens": stopLength, "stop_sequence": stopSequence,
	"guardrail_intervened": stopFilter, "content_filtered": stopFilter, "model_context_window_exceeded": stopLength}

// brUsage is Bedrock's usage: like Anthropic's, its input tokens do not
// count those read from or written to the cache.
type brUsage struct {
	InputTokens           int64 `json:"inputTokens"`
	OutputTokens          int64 `json:"outputTokens"`
	CacheReadInputTokens  int64 `json:"cacheReadInputTokens"`
	CacheWriteInputTokens int64 `json:"cacheWriteInputTokens"`
}

// neutral counts as Anthropic's usage does (the same fields, other names).
func (u brUsage) neutral() usage {
	return antUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CacheReadInputTokens: u.CacheReadInputTokens,
		CacheCreationInputTokens: u.CacheWriteInputTokens}.neutral()
}

// decodeBedrockAnswer reads a whole Converse answer.
func decodeBedrockAnswer(body []byte) (*answer, error) {
	var r struct {
		Output struct {
			Message struct {
				Content []brBlock `json:"content"`
			} `json:"message"`
		} `json:"output"`
		StopReason string  `json:"stopReason"`
		Usage      brUsage `json:"usage"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	a := &answer{stop: cmp.Or(brStops[r.StopReason], stopEnd), usage: r.Usage.neutral()}
	for _, b := range r.Output.Message.Content {
		switch {
		case b.ToolUse != nil:
			a.parts = append(a.parts, part{kind: partToolCall, id: b.ToolUse.ToolUseID, name: b.ToolUse.Name, args: objectOr(b.ToolUse.Input)})
		case b.ReasoningContent != nil:
			a.parts = append(a.parts, part{kind: partThinking, text: b.ReasoningContent.ReasoningText.Text})
		case b.Text != "":
			a.parts = append(a.parts, part{kind: partText, text: b.Text})
		}
	}
	return a, nil
}

// bedrockFrames reads AWS's event stream into frames whose data is
// {"<event type>": payload}, or {"exception": {"type", "message"}}.
type bedrockFrames struct {
	r   *bufio.Reader
	dec *eventstream.Decoder
	buf []byte
}

func newBedrockFrames(body io.Reader) *bedrockFrames {
	return &bedrockFrames{r: bufio.NewReaderSize(body, 32<<10), dec: eventstream.NewDecoder()}
}

func header(m eventstream.Message, name string) string {
	if v := m.Headers.Get(name); v != nil {
		return v.String()
	}
	return ""
}

// pending reports whether a whole message is buffered: its prelude's first
// four bytes are its total length.
func (f *bedrockFrames) pending() bool {
	if f.r.Buffered() < 4 {
		return false // Peek would wait for the network
	}
	b, _ := f.r.Peek(4)
	return f.r.Buffered() >= int(binary.BigEndian.Uint32(b))
}

func (f *bedrockFrames) next() (frame, error) {
	if _, err := f.r.Peek(1); errors.Is(err, io.EOF) {
		return frame{}, io.EOF
	}
	m, err := f.dec.Decode(f.r, f.buf)
	if err != nil {
		return frame{}, unexpectedEnd(err)
	}
	f.buf = m.Payload[:0]
	var data []byte
	switch header(m, ":message-type") {
	case "event":
		data = append(append(append([]byte(`{`), mustJSON(header(m, ":event-type"))...), ':'), bytes.TrimSpace(m.Payload)...)
		data = append(data, '}')
		if !validJSON(data) {
			return frame{}, errors.New("the provider sent an event that is not JSON")
		}
	default: // exception or error
		msg := errorMessageOf(m.Payload, header(m, ":error-message"))
		data = mustJSON(map[string]any{"exception": map[string]string{"type": header(m, ":exception-type") + header(m, ":error-code"), "message": msg}})
	}
	return frame{raw: data, data: data}, nil
}

// unexpectedEnd makes a cut stream an unexpected end.
func unexpectedEnd(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func errorMessageOf(payload []byte, fallback string) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(payload, &e) == nil && e.Message != "" {
		return e.Message
	}
	return cmp.Or(fallback, "the provider reported an error")
}

// brDecoder reads Bedrock's stream documents.
type brDecoder struct {
	started bool
	tools   map[int]int // content block index → tool call index
}

func (d *brDecoder) decode(data []byte, out []event) ([]event, error) {
	var e struct {
		ContentBlockStart *struct {
			Start struct {
				ToolUse *struct {
					ToolUseID string `json:"toolUseId"`
					Name      string `json:"name"`
				} `json:"toolUse"`
			} `json:"start"`
			ContentBlockIndex int `json:"contentBlockIndex"`
		} `json:"contentBlockStart"`
		ContentBlockDelta *struct {
			Delta struct {
				Text    string `json:"text"`
				ToolUse *struct {
					Input string `json:"input"`
				} `json:"toolUse"`
				ReasoningContent *struct {
					Text string `json:"text"`
				} `json:"reasoningContent"`
			} `json:"delta"`
			ContentBlockIndex int `json:"contentBlockIndex"`
		} `json:"contentBlockDelta"`
		MessageStop *struct {
			StopReason string `json:"stopReason"`
		} `json:"messageStop"`
		Metadata *struct {
			Usage *brUsage `json:"usage"`
		} `json:"metadata"`
		Exception *struct {
			Message string `json:"message"`
		} `json:"exception"`
	}
	if json.Unmarshal(data, &e) != nil {
		return out, nil
	}
	if e.Exception != nil {
		return out, errors.New(e.Exception.Message)
	}
	if !d.started {
		d.started, d.tools = true, map[int]int{}
		out = append(out, event{kind: evStart})
	}
	switch {
	case e.ContentBlockStart != nil && e.ContentBlockStart.Start.ToolUse != nil:
		n := len(d.tools)
		d.tools[e.ContentBlockStart.ContentBlockIndex] = n
		tu := e.ContentBlockStart.Start.ToolUse
		out = append(out, event{kind: evToolStart, index: n, id: tu.ToolUseID, name: tu.Name})
	case e.ContentBlockDelta != nil:
		dl := e.ContentBlockDelta.Delta
		switch {
		case dl.ToolUse != nil:
			out = append(out, event{kind: evToolArgs, index: d.tools[e.ContentBlockDelta.ContentBlockIndex], text: dl.ToolUse.Input})
		case dl.ReasoningContent != nil:
			out = append(out, event{kind: evThinking, text: dl.ReasoningContent.Text})
		case dl.Text != "":
			out = append(out, event{kind: evText, text: dl.Text})
		}
	case e.MessageStop != nil:
		out = append(out, event{kind: evStop, stop: cmp.Or(brStops[e.MessageStop.StopReason], stopEnd)})
	case e.Metadata != nil && e.Metadata.Usage != nil:
		out = append(out, event{kind: evUsage, usage: e.Metadata.Usage.neutral()})
	}
	return out, nil
}

func (d *brDecoder) finish(out []event) []event { return append(out, event{kind: evEnd}) }

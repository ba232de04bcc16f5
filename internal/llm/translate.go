package llm

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// An operation is one of the endpoints the gateway serves, and the wire
// format its clients speak.
type operation struct {
	name   string // the route's name
	path   string // under the API's base path
	client string // FormatOpenAI, FormatAnthropic or FormatResponses
	// only, when not nil, lists the provider formats the operation can
	// reach (the others' deployments are skipped): it passes through to
	// OpenAI's, and is translated to the others listed.
	only []string
	// providerPath is the path at OpenAI-format providers.
	providerPath string
}

var (
	opChat       = &operation{name: "chat-completions", path: "/v1/chat/completions", client: FormatOpenAI, providerPath: "/chat/completions"}
	opMessages   = &operation{name: "messages", path: "/v1/messages", client: FormatAnthropic}
	opEmbeddings = &operation{name: "embeddings", path: "/v1/embeddings", client: FormatOpenAI, only: []string{FormatOpenAI, FormatGemini, FormatBedrock}, providerPath: "/embeddings"}
	opResponses  = &operation{name: "responses", path: "/v1/responses", client: FormatResponses, providerPath: "/responses"}
)

// Operations are the POST endpoints of an LLM API.
var Operations = []*operation{opChat, opMessages, opEmbeddings, opResponses}

// Name is the operation's route name; Path its path under the API.
func (o *operation) Name() string { return o.name }
func (o *operation) Path() string { return o.path }

// decoder reads a provider's stream events into neutral events.
type decoder interface {
	// decode reads one event's data; an error is an error event of the
	// provider's (the stream broke off).
	decode(data []byte, out []event) ([]event, error)
	// finish ends a stream that ended without its end marker.
	finish(out []event) []event
}

// encoder writes neutral events as a client's stream events.
type encoder interface {
	encode(ev event, b []byte) []byte
	// fail writes an error event: the stream broke off.
	fail(b []byte, message string) []byte
}

// encodeAll writes events in the client's format, up to the stream's end
// (closed says it was written).
func encodeAll(enc encoder, evs []event, out []byte, closed *bool) []byte {
	for _, e := range evs {
		if *closed {
			break
		}
		out = enc.encode(e, out)
		*closed = e.kind == evEnd
	}
	return out
}

// translator is a (client format, provider format) pair: how a request
// goes to the provider and how its answer comes back.
type translator struct {
	client, provider string
	// passthrough: the formats are the same, and bytes pass through.
	passthrough bool
	// request writes the neutral request for the deployment's model.
	request func(c *chat, t *target) (path string, body []byte)
	// answer reads the provider's whole answer.
	answer func(body []byte) (*answer, error)
	// decoder reads the provider's stream.
	decoder func() decoder
	// reply writes a whole answer in the client's format.
	reply func(a *answer, created int64) []byte
	// encoder writes a stream in the client's format.
	encoder func(c *chat, created int64) encoder
	// lost lists what the pair cannot carry (docs/llm.md).
	lost []string
}

// providerSide is a provider format's half of its translators.
type providerSide struct {
	request func(c *chat, t *target) (string, []byte)
	answer  func([]byte) (*answer, error)
	decoder func() decoder
	lost    []string
}

type clientSide struct {
	reply   func(a *answer, created int64) []byte
	encoder func(c *chat, created int64) encoder
	lost    []string
}

var providerSides = map[string]providerSide{
	FormatOpenAI: {
		request: func(c *chat, t *target) (string, []byte) {
			return "/chat/completions", encodeOpenAI(c, t.model, t.p.typ == "openai_compatible")
		},
		answer:  decodeOpenAIAnswer,
		decoder: func() decoder { return &oaiDecoder{} },
		lost:    []string{"thinking blocks and their signatures", "a tool result's error flag", "stop_sequence as a stop reason (reported as end_turn)"},
	},
	FormatAnthropic: {
		request: func(c *chat, t *target) (string, []byte) { return "/v1/messages", encodeAnthropic(c, t.model) },
		answer:  decodeAnthropicAnswer,
		decoder: func() decoder { return &antDecoder{} },
		lost:    []string{"response_format (JSON mode and JSON schemas)", "a call without max_tokens is sent max_tokens 4096"},
	},
	FormatBedrock: {
		request: func(c *chat, t *target) (string, []byte) { return bedrockPath(t.model, c.stream), encodeBedrock(c) },
		answer:  decodeBedrockAnswer,
		decoder: func() decoder { return &brDecoder{} },
		lost: []string{"response_format (JSON mode and JSON schemas)", "images by URL (Bedrock takes image bytes only)",
			"tool_choice none (the tools stay offered)", "answer ids (Bedrock's answers have none)"},
	},
	FormatGemini: {
		request: func(c *chat, t *target) (string, []byte) { return geminiPath(t.model, c.stream), encodeGemini(c) },
		answer:  decodeGeminiAnswer,
		decoder: func() decoder { return &gemDecoder{} },
		lost: []string{"parallel_tool_calls: false", "tool call ids (Gemini has none: Portico names them)",
			"thinking blocks", "images by URL are sent as file data (Gemini fetches only the URLs it supports)"},
	},
}

var clientSides = map[string]clientSide{
	FormatOpenAI: {
		reply: encodeOpenAIAnswer,
		encoder: func(c *chat, created int64) encoder {
			return &oaiEncoder{created: created, includeUsage: c != nil && c.includeUsage}
		},
		lost: []string{"n > 1, logprobs, seed, penalties, audio and other fields OpenAI alone has", "reasoning text"},
	},
	FormatAnthropic: {
		reply:   func(a *answer, _ int64) []byte { return encodeAnthropicAnswer(a) },
		encoder: func(*chat, int64) encoder { return &antEncoder{} },
		lost:    []string{"thinking (extended thinking is not requested from other providers)", "documents, citations, cache_control, top_k and server tools"},
	},
	FormatResponses: {
		reply:   encodeResponsesAnswer,
		encoder: func(_ *chat, created int64) encoder { return &respClientEncoder{r: newRespObject("", "", created)} },
		lost: []string{"previous_response_id and stored responses (refused: the conversation is OpenAI's)",
			"built-in tools (web and file search, computer use) and images by file id (refused)",
			"reasoning items and settings, include, truncation, metadata and background mode"},
	},
}

// samePassthrough says whether a client format passes through to a
// provider format unchanged: the same format, or the Responses API to an
// OpenAI-protocol provider (which serves it under its own path).
func samePassthrough(client, provider string) bool {
	return client == provider || client == FormatResponses && provider == FormatOpenAI
}

// translators holds every pair, by client format and provider format.
var translators = func() map[[2]string]*translator {
	out := map[[2]string]*translator{}
	for cf, cs := range clientSides {
		for pf, ps := range providerSides {
			t := &translator{client: cf, provider: pf, passthrough: samePassthrough(cf, pf), request: ps.request, answer: ps.answer,
				decoder: ps.decoder, reply: cs.reply, encoder: cs.encoder}
			if !t.passthrough {
				t.lost = append(append([]string(nil), cs.lost...), ps.lost...)
			}
			out[[2]string{cf, pf}] = t
		}
	}
	return out
}()

// decodeClient reads a client's request in its format.
func decodeClient(format string, body []byte) (*chat, error) {
	switch format {
	case FormatAnthropic:
		return decodeAnthropic(body)
	case FormatResponses:
		return decodeResponses(body)
	}
	return decodeOpenAI(body)
}

// errorMessage finds the message of an error answer in any of the
// formats ({"error":{"message":…}}, or Bedrock's {"message":…}).
func errorMessage(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"` // Bedrock's
	}
	if json.Unmarshal(body, &e) == nil && cmp.Or(e.Error.Message, e.Message) != "" {
		return cmp.Or(e.Error.Message, e.Message)
	}
	return "the provider answered an error"
}

// errorType is the error type both OpenAI and Anthropic give a status.
func errorType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	}
	return "api_error"
}

// errorBody writes a provider's error answer in the client's format.
func errorBody(client string, status int, providerBody []byte) []byte {
	msg := errorMessage(providerBody)
	if client == FormatAnthropic {
		return mustJSON(map[string]any{"type": "error", "error": map[string]string{"type": errorType(status), "message": msg}})
	}
	return mustJSON(map[string]any{"error": map[string]any{"message": msg, "type": errorType(status), "param": nil, "code": nil}})
}

// respDecoder reads the stream of OpenAI's Responses API (passed through):
// the usage is in its response.completed (or .incomplete, .failed) event.
type respDecoder struct{ started bool }

func (d *respDecoder) decode(data []byte, out []event) ([]event, error) {
	var e struct {
		Type     string `json:"type"`
		Delta    string `json:"delta"`
		Message  string `json:"message"`
		Response *struct {
			ID    string     `json:"id"`
			Model string     `json:"model"`
			Usage *respUsage `json:"usage"`
		} `json:"response"`
	}
	if json.Unmarshal(data, &e) != nil {
		return out, nil
	}
	if !d.started {
		d.started = true
		out = append(out, event{kind: evStart})
	}
	switch e.Type {
	case "response.output_text.delta", "response.function_call_arguments.delta", "response.reasoning_summary_text.delta":
		out = append(out, event{kind: evText, text: e.Delta})
	case "response.completed", "response.incomplete", "response.failed":
		if e.Response != nil && e.Response.Usage != nil {
			out = append(out, event{kind: evUsage, usage: e.Response.Usage.neutral()})
		}
		out = append(out, event{kind: evEnd})
	case "error":
		return out, errors.New(cmp.Or(e.Message, "the provider reported an error"))
	}
	return out, nil
}

func (d *respDecoder) finish(out []event) []event { return append(out, event{kind: evEnd}) }

// respUsage is the Responses API's usage.
type respUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	InputTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

func (u respUsage) neutral() usage {
	var n usage
	n.PromptTokens, n.CompletionTokens = u.InputTokens, u.OutputTokens
	n.PromptTokensDetails.CachedTokens, n.CompletionTokensDetails.ReasoningTokens = u.InputTokensDetails.CachedTokens, u.OutputTokensDetails.ReasoningTokens
	return n
}

// respEncoder only writes the Responses API's error event (its streams
// pass through).
type respEncoder struct{}

func (respEncoder) encode(_ event, b []byte) []byte { return b }
func (respEncoder) fail(b []byte, message string) []byte {
	return append(b, fmt.Sprintf("event: error\ndata: %s\n\n", mustJSON(map[string]any{"type": "error", "code": "llm_stream_broken", "message": message}))...)
}

// passAnswer reads a passed-through whole answer's usage, by operation.
func passAnswer(op *operation, body []byte) (*answer, error) {
	switch op {
	case opMessages:
		return decodeAnthropicAnswer(body)
	case opResponses:
		return decodeResponsesAnswer(body)
	}
	// Chat completions and embeddings: OpenAI's usage, read alone when
	// there is one (the answer is decoded whole only for an estimate).
	if validJSON(body) {
		var u usage
		raw := member(body, "usage")
		if raw != nil && (readUsage(raw, &u) || json.Unmarshal(raw, &u) == nil) && (u.PromptTokens != 0 || u.CompletionTokens != 0) {
			return &answer{usage: u}, nil
		}
	}
	return decodeOpenAIAnswer(body)
}

// passStream returns the decoder and the error writer of a passed-through
// stream.
func passStream(op *operation) (decoder, encoder) {
	switch op {
	case opMessages:
		return &antDecoder{}, &antEncoder{}
	case opResponses:
		return &respDecoder{}, respEncoder{}
	}
	return &oaiDecoder{}, &oaiEncoder{}
}

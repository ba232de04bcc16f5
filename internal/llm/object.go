package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The request and answer bodies of a passed-through call are read for a
// few top-level members (model, stream, max_tokens, usage) and otherwise
// left as they are. Decoding a whole body into a map of raw messages, and
// encoding it back, was a third of what such a call cost the gateway;
// these functions find the members in place instead, on a body that
// validJSON (json.Valid's equal, faster) has accepted.

var (
	errNotObject = errors.New("the body is not a JSON object")
	errDuplicate = errors.New("the body names a member twice")
)

// members returns a valid JSON object's top-level members, each value the
// slice of body it spans (not a copy), as json.Unmarshal into a
// map[string]json.RawMessage would — except that a member named twice is
// an error: a gateway that read one "model" while the provider reads the
// other would bill and route one call as another.
func members(body []byte) (map[string]json.RawMessage, error) {
	if !validJSON(body) {
		return nil, errNotObject
	}
	m := make(map[string]json.RawMessage, 8)
	var dup bool
	if !eachMember(body, func(key []byte, raw bool, vs, ve int) {
		k := memberName(key, raw)
		if _, ok := m[k]; ok {
			dup = true
		}
		m[k] = body[vs:ve:ve]
	}) {
		return nil, errNotObject
	}
	if dup {
		return nil, errDuplicate
	}
	return m, nil
}

// member returns the value of a valid JSON object's top-level member name
// (the last, when named twice, as json.Unmarshal would), or nil.
func member(body []byte, name string) json.RawMessage {
	vs, ve := memberSpan(body, name)
	if vs < 0 {
		return nil
	}
	return body[vs:ve:ve]
}

// memberSpan is where member's value lies in body: [vs, ve), or -1, -1.
func memberSpan(body []byte, name string) (vs, ve int) {
	vs, ve = -1, -1
	eachMember(body, func(key []byte, raw bool, s, e int) {
		if memberIs(key, raw, name) {
			vs, ve = s, e
		}
	})
	return vs, ve
}

// withMember returns a valid JSON object with member name's value set to
// value (valid JSON): replaced in place when the object has it, else added
// at its end. Every other byte is as it was; body is not modified.
func withMember(body []byte, name string, value []byte) []byte {
	if vs, ve := memberSpan(body, name); vs >= 0 {
		out := make([]byte, 0, len(body)-(ve-vs)+len(value))
		out = append(out, body[:vs]...)
		out = append(out, value...)
		return append(out, body[ve:]...)
	}
	end := bytes.LastIndexByte(body, '}')
	if end < 0 {
		return body // not an object: members refused it before
	}
	empty := len(bytes.TrimSpace(body[bytes.IndexByte(body, '{')+1:end])) == 0
	out := make([]byte, 0, len(body)+len(name)+len(value)+4)
	out = append(out, body[:end]...)
	if !empty {
		out = append(out, ',')
	}
	out = appendJSONString(out, name)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, body[end:]...)
}

// jsonString returns the string raw, a valid JSON value, holds: "" when it
// holds something else (null, a number, an object...), as json.Unmarshal
// into a string would leave it. A string without escapes or bytes outside
// ASCII — a model's name — is its bytes between the quotes.
func jsonString(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	in := raw[1 : len(raw)-1]
	for _, b := range in {
		if b == '\\' || b >= utf8.RuneSelf {
			var s string
			_ = json.Unmarshal(raw, &s)
			return s
		}
	}
	return string(in)
}

// memberName is a member's name: its bytes, or — when they hold an escape
// or a byte outside ASCII (raw) — what json decodes them to.
func memberName(key []byte, raw bool) string {
	if !raw {
		return string(key)
	}
	var s string
	quoted := make([]byte, 0, len(key)+2)
	quoted = append(append(append(quoted, '"'), key...), '"')
	_ = json.Unmarshal(quoted, &s)
	return s
}

func memberIs(key []byte, raw bool, name string) bool {
	if !raw {
		return string(key) == name
	}
	return memberName(key, raw) == name
}

// eachMember calls fn for each top-level member of body, a valid JSON
// value, with its name as written between the quotes (raw: it holds an
// escape or a non-ASCII byte) and its value's span. It reports whether
// body is an object.
func eachMember(body []byte, fn func(key []byte, raw bool, vs, ve int)) bool {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return true
	}
	for i < len(body) {
		ke := skipString(body, i)
		key := body[i+1 : ke-1]
		raw := false
		for _, c := range key {
			if c == '\\' || c >= 0x80 {
				raw = true
				break
			}
		}
		i = skipSpace(body, ke)
		i = skipSpace(body, i+1) // the colon
		ve := skipValue(body, i)
		fn(key, raw, i, ve)
		i = skipSpace(body, ve)
		if i >= len(body) || body[i] == '}' {
			break
		}
		i = skipSpace(body, i+1) // the comma
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// readUsage decodes a valid JSON OpenAI usage object into u as
// json.Unmarshal would, reading only the members metering uses, in place.
// It reports false where it cannot say (a number that is not a plain
// integer, a name with an escape, a member of the wrong type); the caller
// then decodes the long way.
func readUsage(raw []byte, u *usage) bool {
	*u = usage{}
	ok := true
	isObject := eachMember(raw, func(key []byte, esc bool, vs, ve int) {
		v := raw[vs:ve]
		switch {
		case esc:
			ok = false
		case foldIs(key, "prompt_tokens"):
			ok = ok && readInt(v, &u.PromptTokens)
		case foldIs(key, "completion_tokens"):
			ok = ok && readInt(v, &u.CompletionTokens)
		case foldIs(key, "prompt_tokens_details"):
			ok = ok && readDetail(v, "cached_tokens", &u.PromptTokensDetails.CachedTokens)
		case foldIs(key, "completion_tokens_details"):
			ok = ok && readDetail(v, "reasoning_tokens", &u.CompletionTokensDetails.ReasoningTokens)
		}
	})
	return ok && isObject
}

// foldIs compares a member's name as encoding/json does for an ASCII one:
// without regard to case.
func foldIs(key []byte, name string) bool {
	return len(key) == len(name) && (string(key) == name || strings.EqualFold(string(key), name))
}

// readInt reads an integer value into n; null leaves n as it is.
func readInt(v []byte, n *int64) bool {
	if string(v) == "null" {
		return true
	}
	x, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return false
	}
	*n = x
	return true
}

// readDetail reads the integer member name of the object v into n.
func readDetail(v []byte, name string, n *int64) bool {
	if string(v) == "null" {
		return true
	}
	ok := true
	isObject := eachMember(v, func(key []byte, esc bool, vs, ve int) {
		switch {
		case esc:
			ok = false
		case foldIs(key, name):
			ok = ok && readInt(v[vs:ve], n)
		}
	})
	return ok && isObject
}

// readChunk decodes a valid JSON OpenAI stream chunk into c as
// json.Unmarshal would, in place: the chunks a stream is made of (text,
// reasoning, a stop, the usage), checked by validJSON first, cost a third
// of decoding them the long way (BenchmarkReadChunk), once per event. It
// reports false where it cannot say (tool calls, an error, a name with an
// escape, a member named twice, a value of the wrong type); the caller
// then decodes the long way.
//
// The result is json.Unmarshal's into a zero oaiChunk, but what c held is
// reused: its id and model when the chunk repeats them, as every chunk of
// a stream does, and its choices' room — read into the same c, a stream's
// chunks allocate only for their text.
func readChunk(data []byte, c *oaiChunk) bool {
	id, model, choices := c.ID, c.Model, c.Choices
	*c = oaiChunk{}
	return readObject(data, chunkNames, func(i int, v []byte) bool {
		if string(v) == "null" {
			return true // the member stays zero
		}
		switch i {
		case 0:
			c.ID = id
			return readString(v, &c.ID)
		case 1:
			c.Model = model
			return readString(v, &c.Model)
		case 2:
			c.Choices = choices
			return readChoices(v, &c.Choices)
		case 3:
			c.Usage = new(usage)
			return readUsage(v, c.Usage)
		}
		return false // an error
	})
}

var (
	chunkNames  = []string{"id", "model", "choices", "usage", "error"}
	choiceNames = []string{"delta", "finish_reason"}
	deltaNames  = []string{"content", "reasoning_content", "tool_calls"}
)

// readChoices reads a chunk's choices (not null), as readChunk, into the
// room of *dst: tool calls are left to the long way.
func readChoices(v []byte, dst *[]oaiChunkChoice) bool {
	*dst = (*dst)[:0]
	if *dst == nil {
		*dst = []oaiChunkChoice{} // an empty array is not null
	}
	ok := true
	isArray := eachElement(v, func(es, ee int) {
		*dst = append(*dst, oaiChunkChoice{})
		ch := &(*dst)[len(*dst)-1]
		if e := v[es:ee]; string(e) != "null" {
			ok = ok && readObject(e, choiceNames, func(i int, f []byte) bool {
				switch {
				case i == 1:
					return readString(f, &ch.FinishReason)
				case string(f) == "null":
					return true
				}
				return readObject(f, deltaNames, func(i int, g []byte) bool {
					switch i {
					case 0:
						return readString(g, &ch.Delta.Content)
					case 1:
						return readString(g, &ch.Delta.ReasoningContent)
					}
					return string(g) == "null" // tool calls
				})
			})
		}
	})
	return ok && isArray
}

// readOAIRequest decodes a valid JSON chat completions request into r as
// json.Unmarshal would into a zero oaiRequest, in place: the messages'
// roles, contents (as the raw JSON they are, slices of data) and tool call
// ids, and the settings a translator carries. It reports false where it
// cannot say (tool calls and tools, a response format, a name with an
// escape, a member named twice, a value of the wrong type); the caller
// then decodes the long way. A translated call decodes its request once,
// and json.Unmarshal's reflection over oaiRequest was most of it.
func readOAIRequest(data []byte, r *oaiRequest) bool {
	*r = oaiRequest{}
	return readObject(data, oaiRequestNames, func(i int, v []byte) bool {
		switch {
		case i == 1:
			r.ToolChoice = v // raw, null included
			return true
		case i >= 5 && i <= 7:
			*[...]*json.RawMessage{&r.Temperature, &r.TopP, &r.Stop}[i-5] = v
			return true
		case string(v) == "null":
			return true // the member stays zero
		}
		switch i {
		case 0:
			return readMessages(v, &r.Messages)
		case 2:
			r.ParallelToolCalls = new(bool)
			return readBool(v, r.ParallelToolCalls)
		case 3:
			return readInt(v, &r.MaxTokens)
		case 4:
			return readInt(v, &r.MaxCompletionTokens)
		case 8:
			return readBool(v, &r.Stream)
		case 9:
			r.StreamOptions = &struct {
				IncludeUsage bool `json:"include_usage"`
			}{}
			return readObject(v, streamOptionNames, func(_ int, f []byte) bool {
				return readBool(f, &r.StreamOptions.IncludeUsage)
			})
		case 10:
			return readString(v, &r.User)
		}
		return false // tools, a response format
	})
}

var (
	oaiRequestNames = []string{"messages", "tool_choice", "parallel_tool_calls", "max_tokens", "max_completion_tokens",
		"temperature", "top_p", "stop", "stream", "stream_options", "user", "tools", "response_format"}
	streamOptionNames = []string{"include_usage"}
	antRequestNames   = []string{"max_tokens", "system", "temperature", "top_p", "messages", "stop_sequences", "stream", "metadata",
		"tools", "tool_choice"}
	antRequestMessageNames = []string{"role", "content"}
	antMetadataNames       = []string{"user_id"}
	oaiMessageNames        = []string{"role", "content", "tool_call_id", "tool_calls"}
)

// readMessages reads a request's messages (not null), as readOAIRequest.
func readMessages(v []byte, dst *[]oaiRequestMessage) bool {
	return readArray(v, dst, func(e []byte, m *oaiRequestMessage) bool {
		return readObject(e, oaiMessageNames, func(i int, f []byte) bool {
			switch i {
			case 0:
				return readString(f, &m.Role)
			case 1:
				m.Content = f
				return true
			case 2:
				return readString(f, &m.ToolCallID)
			}
			return string(f) == "null" // tool calls
		})
	})
}

// readArray reads v, a valid JSON array (not null), into *dst as
// json.Unmarshal would into a nil slice: an empty array is not nil, a
// null element stays zero, read reads each other one.
func readArray[T any](v []byte, dst *[]T, read func(e []byte, x *T) bool) bool {
	*dst = []T{}
	ok := true
	isArray := eachElement(v, func(es, ee int) {
		var zero T
		*dst = append(*dst, zero)
		if e := v[es:ee]; ok && string(e) != "null" {
			ok = read(e, &(*dst)[len(*dst)-1])
		}
	})
	return ok && isArray
}

// readAntRequest decodes a valid JSON messages request into r as
// json.Unmarshal would into a zero antRequest, in place: the messages'
// roles and contents (as the raw JSON they are, slices of data) and the
// settings a translator carries. It reports false where it cannot say
// (tools and a tool choice, a name with an escape, a member named twice,
// a value of the wrong type); the caller then decodes the long way.
func readAntRequest(data []byte, r *antRequest) bool {
	*r = antRequest{}
	return readObject(data, antRequestNames, func(i int, v []byte) bool {
		switch {
		case i >= 1 && i <= 3:
			*[...]*json.RawMessage{&r.System, &r.Temperature, &r.TopP}[i-1] = v // raw, null included
			return true
		case string(v) == "null":
			return true // the member stays zero
		}
		switch i {
		case 0:
			return readInt(v, &r.MaxTokens)
		case 4:
			return readAntMessages(v, &r.Messages)
		case 5:
			return readStrings(v, &r.StopSequences)
		case 6:
			return readBool(v, &r.Stream)
		case 7:
			return readObject(v, antMetadataNames, func(_ int, f []byte) bool { return readString(f, &r.Metadata.UserID) })
		}
		return false // tools, a tool choice
	})
}

// readAntMessages reads a messages request's messages (not null), as
// readAntRequest.
func readAntMessages(v []byte, dst *[]antRequestMessage) bool {
	return readArray(v, dst, func(e []byte, m *antRequestMessage) bool {
		return readObject(e, antRequestMessageNames, func(i int, f []byte) bool {
			if i == 1 {
				m.Content = f
				return true
			}
			return readString(f, &m.Role)
		})
	})
}

// readAntBlocks reads content blocks, a valid JSON array or null, into
// dst as json.Unmarshal would into a slice: the usual blocks in place
// (readAntBlock), false — the long way — for the rest.
func readAntBlocks(v []byte, dst *[]antBlock) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	return readArray(v, dst, readAntBlock)
}

// readStrings reads an array of strings (not null) into dst.
func readStrings(v []byte, dst *[]string) bool { return readArray(v, dst, readString) }

// readBool reads a boolean value into b; null leaves b as it is.
func readBool(v []byte, b *bool) bool {
	switch string(v) {
	case "true":
		*b = true
	case "false":
		*b = false
	case "null":
	default:
		return false
	}
	return true
}

// readAntEvent decodes a valid JSON Anthropic stream event into e as
// json.Unmarshal would, in place: a message's and a block's start, deltas
// of text, thinking and tool arguments, usage, pings, a block's or the
// message's end. It reports false where it cannot say (an error, a block
// with an image, a name with an escape, a member named twice, a value of
// the wrong type); the caller then decodes the long way.
func readAntEvent(data []byte, e *antStreamEvent) bool {
	*e = antStreamEvent{}
	return readObject(data, antEventNames, func(i int, v []byte) bool {
		if i > 0 && string(v) == "null" {
			return true // null leaves each of these as it is
		}
		switch i {
		case 0:
			return readString(v, &e.Type)
		case 1:
			var n int64
			ok := readInt(v, &n)
			e.Index = int(n)
			return ok
		case 2:
			d := &e.Delta
			return readObject(v, antDeltaNames, func(i int, f []byte) bool {
				return readString(f, [...]*string{&d.Type, &d.Text, &d.PartialJSON, &d.Thinking, &d.StopReason, &d.StopSequence}[i])
			})
		case 3:
			m := &e.Message
			return readObject(v, antMessageNames, func(i int, f []byte) bool {
				switch i {
				case 0:
					return readString(f, &m.ID)
				case 1:
					return readString(f, &m.Model)
				}
				return readAntUsage(f, &m.Usage)
			})
		case 4:
			return readAntBlock(v, &e.ContentBlock)
		case 5:
			e.Usage = &antStreamUsage{}
			u := e.Usage
			return readObject(v, antUsageNames, func(i int, g []byte) bool {
				if i == 1 {
					return readInt(g, &u.OutputTokens)
				}
				if string(g) == "null" {
					return true
				}
				n := new(int64)
				switch i {
				case 0:
					u.InputTokens = n
				case 2:
					u.CacheReadInputTokens = n
				case 3:
					u.CacheCreationInputTokens = n
				}
				return readInt(g, n)
			})
		}
		return false // an error
	})
}

// readAntBlock reads a content block's start, as readAntEvent: its input
// and content as they are; an image's source or an is_error the long way.
func readAntBlock(v []byte, b *antBlock) bool {
	return readObject(v, antBlockNames, func(i int, f []byte) bool {
		switch i {
		case 7:
			b.Input = append(json.RawMessage(nil), f...)
			return true
		case 8:
			b.Content = append(json.RawMessage(nil), f...)
			return true
		case 9, 10:
			return string(f) == "null"
		}
		return readString(f, [...]*string{&b.Type, &b.Text, &b.ID, &b.Name, &b.ToolUseID, &b.Thinking, &b.Signature}[i])
	})
}

// readAntAnswer decodes a valid JSON whole Anthropic message into a as
// json.Unmarshal would, in place: its blocks of text, thinking and tool
// calls and its usage. It reports false where it cannot say (a block with
// an image, a name with an escape, a member named twice, a value of the
// wrong type); the caller then decodes the long way.
func readAntAnswer(data []byte, a *antAnswer) bool {
	*a = antAnswer{}
	return readObject(data, antAnswerNames, func(i int, v []byte) bool {
		switch i {
		case 2:
			return readAntBlocks(v, &a.Content)
		case 5:
			return readAntUsage(v, &a.Usage)
		}
		return readString(v, [...]*string{&a.ID, &a.Model, nil, &a.StopReason, &a.StopSequence}[i])
	})
}

// readAntUsage reads a message's usage, as readAntEvent; null leaves u
// as it is.
func readAntUsage(v []byte, u *antUsage) bool {
	return string(v) == "null" || readObject(v, antUsageNames, func(i int, g []byte) bool {
		return readInt(g, [...]*int64{&u.InputTokens, &u.OutputTokens, &u.CacheReadInputTokens, &u.CacheCreationInputTokens}[i])
	})
}

var (
	antAnswerNames  = []string{"id", "model", "content", "stop_reason", "stop_sequence", "usage"}
	antEventNames   = []string{"type", "index", "delta", "message", "content_block", "usage", "error"}
	antDeltaNames   = []string{"type", "text", "partial_json", "thinking", "stop_reason", "stop_sequence"}
	antMessageNames = []string{"id", "model", "usage"}
	antUsageNames   = []string{"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"}
	antBlockNames   = []string{"type", "text", "id", "name", "tool_use_id", "thinking", "signature", "input", "content", "source", "is_error"}
)

// readObject calls read with each member of v, a valid JSON object, that
// is one of names (matched as encoding/json matches a field's name): its
// index in names and its value. It reports false — the caller decodes the
// long way — when v is not an object, a member's name has an escape or a
// byte outside ASCII, one of names is given twice (json.Unmarshal merges
// the two) or read reports false. At most 64 names.
func readObject(v []byte, names []string, read func(i int, value []byte) bool) bool {
	var seen uint64
	ok := true
	isObject := eachMember(v, func(key []byte, raw bool, vs, ve int) {
		if raw {
			ok = false
			return
		}
		for i, name := range names {
			if foldIs(key, name) {
				ok = ok && seen&(1<<i) == 0 && read(i, v[vs:ve])
				seen |= 1 << i
				return
			}
		}
	})
	return ok && isObject
}

// readString reads a valid JSON string value into s as json.Unmarshal
// would; null leaves s as it is. One without escapes and in valid UTF-8
// is its bytes; the others are unquoted by encoding/json.
func readString(v []byte, s *string) bool {
	switch {
	case string(v) == "null":
		return true
	case len(v) < 2 || v[0] != '"':
		return false
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		if string(in) != *s { // what s holds already is kept, not made again
			*s = string(in)
		}
		return true
	}
	return json.Unmarshal(v, s) == nil
}

// eachElement calls fn with the span of each element of v, a valid JSON
// value, and reports whether v is an array.
func eachElement(v []byte, fn func(es, ee int)) bool {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return false
	}
	i = skipSpace(v, i+1)
	for i < len(v) && v[i] != ']' {
		e := skipValue(v, i)
		fn(i, e)
		i = skipSpace(v, e)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return true
}

// maxNesting is encoding/json's limit on nested objects and arrays.
const maxNesting = 10000

// validJSON reports whether b is one valid JSON value, exactly as
// json.Valid does (FuzzValidJSON holds it to that), at a fraction of its
// cost: every LLM call's body — prompts run to hundreds of kilobytes — and
// every event of a stream is checked before it is read in place, and
// encoding/json's scanner takes a function call per byte.
func validJSON(b []byte) bool {
	var buf [32]byte
	open := buf[:0] // the containers b[i] is in: '{' or '['
	i := skipSpace(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(open) == maxNesting {
				return false
			}
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '{'+2 is '}', '['+2 is ']'
				i++
				break
			}
			open = append(open, c)
			if c == '{' {
				i = validKey(b, i)
			}
			if i < 0 {
				return false
			}
			continue
		case '"':
			i = validString(b, i)
		case 't':
			i = validLiteral(b, i, "true")
		case 'f':
			i = validLiteral(b, i, "false")
		case 'n':
			i = validLiteral(b, i, "null")
		default:
			i = validNumber(b, i)
		}
		if i < 0 {
			return false
		}
		// The value ended at b[i]: containers close, or the next element
		// starts.
		for {
			i = skipSpace(b, i)
			if len(open) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			c := open[len(open)-1]
			if b[i] == c+2 {
				open = open[:len(open)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return false
			}
			i = skipSpace(b, i+1)
			if c == '{' {
				if i = validKey(b, i); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// validKey checks a member's name and colon at b[i] and returns where its
// value starts, or -1.
func validKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = validString(b, i); i < 0 {
		return -1
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// validString checks the string at b[i] (its opening quote) and returns
// the index after it, or -1. Bytes outside ASCII are not checked:
// encoding/json accepts invalid UTF-8 too (and decodes it to U+FFFD).
func validString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		switch {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		}
		// An escape.
		if i++; i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if i+4 >= len(b) {
				return -1
			}
			for _, h := range b[i+1 : i+5] {
				if h|0x20 < 'a' || h|0x20 > 'f' {
					if h < '0' || h > '9' {
						return -1
					}
				}
			}
			i += 4
		default:
			return -1
		}
	}
	return -1
}

func validLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// validNumber checks the number at b[i] and returns the index after it, or
// -1.
func validNumber(b []byte, i int) int {
	digits := func(i int) int { // one or more
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return -1
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	default:
		if i = digits(i); i < 0 {
			return -1
		}
	}
	if i < len(b) && b[i] == '.' {
		if i = digits(i + 1); i < 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		i = digits(i)
	}
	return i
}

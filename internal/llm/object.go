package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// The request and answer bodies of a passed-through call are read for a
// few top-level members (model, stream, max_tokens, usage) and otherwise
// left as they are. Decoding a whole body into a map of raw messages, and
// encoding it back, was a third of what such a call cost the gateway;
// these functions find the members in place instead, on a body that
// json.Valid has accepted.

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
	if !json.Valid(body) {
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
	key, _ := json.Marshal(name)
	out := make([]byte, 0, len(body)+len(key)+len(value)+2)
	out = append(out, body[:end]...)
	if !empty {
		out = append(out, ',')
	}
	out = append(out, key...)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, body[end:]...)
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
	return len(key) == len(name) && strings.EqualFold(string(key), name)
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

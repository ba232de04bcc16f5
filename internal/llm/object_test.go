package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestMembers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		body string
		want map[string]string
		err  error
	}{
		{`{}`, map[string]string{}, nil},
		{` { "model" : "m" , "n":1,"o":{"a":[1,"}",{"b":"\""}]},"t":true,"z":null } `,
			map[string]string{"model": `"m"`, "n": "1", "o": `{"a":[1,"}",{"b":"\""}]}`, "t": "true", "z": "null"}, nil},
		{`{"mod\u0065l":"x","é":-1.5e3}`, map[string]string{"model": `"x"`, "é": "-1.5e3"}, nil},
		{`{"model":"a","model":"b"}`, nil, errDuplicate},
		// The same name written two ways is the same member.
		{`{"model":"a","mod\u0065l":"b"}`, nil, errDuplicate},
		{`[1,2]`, nil, errNotObject},
		{`"model"`, nil, errNotObject},
		{`{"model":}`, nil, errNotObject},
		{`{"model":"a"`, nil, errNotObject},
		{``, nil, errNotObject},
	} {
		got, err := members([]byte(c.body))
		if !errors.Is(err, c.err) {
			t.Errorf("%s: error %v, want %v", c.body, err, c.err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %d members, want %d", c.body, len(got), len(c.want))
		}
		for k, v := range c.want {
			if string(got[k]) != v {
				t.Errorf("%s: %s = %s, want %s", c.body, k, got[k], v)
			}
		}
	}
}

func TestJSONString(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{`"gpt-4.1"`, "gpt-4.1"},
		{`""`, ""},
		{`"a\"b\u00e9"`, `a"bé`},
		{`"café"`, "café"},
		{"\"\xff\"", "\ufffd"}, // invalid UTF-8, as encoding/json decodes it
		{`null`, ""},
		{`42`, ""},
		{`{"x":"y"}`, ""},
		{``, ""},
	} {
		if got := jsonString([]byte(c.raw)); got != c.want {
			t.Errorf("jsonString(%s) = %q, want %q", c.raw, got, c.want)
		}
	}
}

func TestWithMember(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ body, name, value, want string }{
		// Replaced in place; the other bytes, spacing and order as sent.
		{`{"b": 2, "model" : "fast" ,"a":1}`, "model", `"m"`, `{"b": 2, "model" : "m" ,"a":1}`},
		{`{"model":"a\"b"}`, "model", `"m"`, `{"model":"m"}`},
		{`{"mod\u0065l":"fast"}`, "model", `"m"`, `{"mod\u0065l":"m"}`},
		// Added at the end.
		{`{"stream":true}`, "stream_options", `{"include_usage":true}`, `{"stream":true,"stream_options":{"include_usage":true}}`},
		{` { } `, "model", `"m"`, ` { "model":"m"} `},
		{`{"x":"}"}`, "y", `1`, `{"x":"}","y":1}`},
	} {
		if got := withMember([]byte(c.body), c.name, []byte(c.value)); string(got) != c.want {
			t.Errorf("%s with %s=%s: %s, want %s", c.body, c.name, c.value, got, c.want)
		}
	}
}

// members reads what encoding/json reads, refusing only what it cannot
// (not an object) and names given twice; withMember changes one member
// and nothing else.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"model":"m","stream":true,"stream_options":{"include_usage":false}}`,
		`{"a":[{"b":"]"}],"c":"\\\"","d":1e9}`, `{"é\u00e9":null}`, `[{}]`, `{"a":1,"a":2}`,
		`{"model":"gpt-\u00e9\"x\ud800","m2":"é\xff"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := members(body)
		var want map[string]json.RawMessage
		jerr := json.Unmarshal(body, &want)
		switch {
		case err == nil:
			if jerr != nil || want == nil {
				t.Fatalf("members accepted %q, encoding/json: %v", body, jerr)
			}
			if len(got) != len(want) {
				t.Fatalf("%q: %d members, encoding/json %d", body, len(got), len(want))
			}
			for k, v := range want {
				if !bytes.Equal(got[k], v) {
					t.Fatalf("%q: %q = %s, encoding/json %s", body, k, got[k], v)
				}
			}
		case errors.Is(err, errDuplicate):
			if jerr != nil {
				t.Fatalf("%q: duplicate, but encoding/json: %v", body, jerr)
			}
			n := 0
			eachMember(body, func([]byte, bool, int, int) { n++ })
			if n <= len(want) {
				t.Fatalf("%q: duplicate, but %d members and %d names", body, n, len(want))
			}
			return
		default:
			if jerr == nil && want != nil {
				t.Fatalf("members refused %q (%v), encoding/json took it", body, err)
			}
			return
		}
		for k, v := range want {
			var s string
			_ = json.Unmarshal(v, &s)
			if got := jsonString(v); got != s {
				t.Fatalf("%q: jsonString of %s's %s = %q, encoding/json %q", body, k, v, got, s)
			}
		}
		if u := member(body, "usage"); !bytes.Equal(u, want["usage"]) {
			t.Fatalf("%q: member usage %s, encoding/json %s", body, u, want["usage"])
		}
		for _, name := range []string{"model", "new"} {
			out := withMember(body, name, []byte(`"x"`))
			after, err := members(out)
			if err != nil {
				t.Fatalf("%q with %s: %q: %v", body, name, out, err)
			}
			if string(after[name]) != `"x"` || len(after) != len(want)+map[bool]int{true: 0, false: 1}[want[name] != nil] {
				t.Fatalf("%q with %s: %q", body, name, out)
			}
			for k, v := range want {
				if k != name && !bytes.Equal(after[k], v) {
					t.Fatalf("%q with %s: %s changed to %s", body, name, k, after[k])
				}
			}
		}
	})
}

// readUsage reads what encoding/json reads into a usage, or says it
// cannot.
func FuzzReadUsage(f *testing.F) {
	fuzzReadInPlace(f, []string{
		`{"completion_tokens":4,"completion_tokens_details":{"reasoning_tokens":2},"prompt_tokens":12,"prompt_tokens_details":{"cached_tokens":3},"total_tokens":16}`,
		`{"PROMPT_TOKENS":1,"prompt_tokens":2}`, `{"prompt_tokens":1.0}`, `{"prompt_tokens":"1"}`, `{"prompt_tokens":null}`,
		`{"prompt_tokens_details":null,"completion_tokens":99999999999999999999}`, `null`, `[]`, `{"prompt_tok\u0065ns":1}`,
	}, readUsage)
}

func TestReadUsage(t *testing.T) {
	t.Parallel()
	var u usage
	raw := `{"completion_tokens":4,"completion_tokens_details":{"reasoning_tokens":2},"prompt_tokens":12,"prompt_tokens_details":{"cached_tokens":3},"total_tokens":16}`
	if !readUsage([]byte(raw), &u) || u.PromptTokens != 12 || u.CompletionTokens != 4 ||
		u.PromptTokensDetails.CachedTokens != 3 || u.CompletionTokensDetails.ReasoningTokens != 2 {
		t.Fatalf("%s: %+v", raw, u)
	}
	for _, raw := range []string{`{"prompt_tokens":1.5}`, `{"prompt_tokens":"1"}`, `{"prompt_tok\u0065ns":1}`, `null`} {
		if readUsage([]byte(raw), &u) {
			t.Errorf("%s: read, want the long way", raw)
		}
	}
}

// Chunks as OpenAI, vLLM and Ollama send them, and the shapes around them.
var chunkSeeds = []string{
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":"Hello \"there\"\n\u00e9"},"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":3}}}`,
	`{"id":"c","choices":[{"delta":{"reasoning_content":"hm"}}]}`,
	`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{"}}]}}]}`,
	`{"error":{"message":"overloaded"}}`,
	`{"ID":"a","Model":"b","CHOICES":[null,{"Delta":null,"Finish_Reason":"length"}]}`,
	`{"id":"a","id":"b"}`, `{"choices":[{"delta":{"content":"a"}}],"choices":[{"finish_reason":"stop"}]}`,
	`{"id":1}`, `{"choices":{}}`, `{"choices":[1]}`, `{"usage":[]}`, `{"model":"\ud800"}`, "{\"model\":\"\xff\"}",
	`{"mod\u0065l":"x"}`, `{"choices":[{"delta":{"content":null,"tool_calls":null}}]}`, `[]`, `null`, ` { } `,
}

// readChunk reads what encoding/json reads into a chunk, or says it
// cannot.
func FuzzReadChunk(f *testing.F) { fuzzReadInPlace(f, chunkSeeds, readChunk) }

// fuzzReadInPlace holds an in-place reader to what json.Unmarshal decodes
// into a zero value of the same type, wherever the reader does not say it
// cannot — read into a zero value, into one holding the same reading
// (what a reader may reuse is then all there), and into one holding the
// first seed's.
func fuzzReadInPlace[T any](f *testing.F, seeds []string, read func([]byte, *T) bool) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		var got, want, other T
		if !read(data, &got) {
			return
		}
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("%s: read %+v, encoding/json: %v", data, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: read %+v, encoding/json %+v", data, got, want)
		}
		if !read(data, &got) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: read again into its reading: %+v, encoding/json %+v", data, got, want)
		}
		if !read([]byte(seeds[0]), &other) {
			t.Fatalf("%s: the first seed is not read in place", seeds[0])
		}
		if !read(data, &other) || !reflect.DeepEqual(other, want) {
			t.Fatalf("%s: read after %s: %+v, encoding/json %+v", data, seeds[0], other, want)
		}
	})
}

func TestReadChunk(t *testing.T) {
	t.Parallel()
	// The chunks a stream is made of are read in place; tool calls,
	// errors, names twice, wrong types and escaped names the long way.
	checkInPlace(t, readChunk, chunkSeeds[:5], []string{chunkSeeds[5], chunkSeeds[6], chunkSeeds[8], chunkSeeds[9],
		`{"id":1}`, `{"choices":[1]}`, `{"usage":[]}`, `{"mod\u0065l":"x"}`, `[]`})
	var c oaiChunk
	if !readChunk([]byte(chunkSeeds[1]), &c) || c.ID != "chatcmpl-1" || c.Model != "gpt-4.1" ||
		len(c.Choices) != 1 || c.Choices[0].Delta.Content != "Hello \"there\"\n\u00e9" {
		t.Errorf("%s: %+v", chunkSeeds[1], c)
	}
	if !readChunk([]byte(chunkSeeds[3]), &c) || c.Usage == nil || c.Usage.PromptTokens != 12 ||
		c.Usage.CompletionTokens != 4 || c.Usage.PromptTokensDetails.CachedTokens != 3 || c.Choices == nil {
		t.Errorf("%s: %+v", chunkSeeds[3], c)
	}
}

// Each event of a stream is decoded for metering; in place, and the long
// way for comparison.
func BenchmarkReadChunk(b *testing.B) {
	benchReadInPlace(b, []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" there,"},"logprobs":null,"finish_reason":null}],"usage":null}`), readChunk)
}

// benchReadInPlace compares read, after validJSON, with json.Unmarshal
// on data.
func benchReadInPlace[T any](b *testing.B, data []byte, read func([]byte, *T) bool) {
	b.Run("in-place", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v T
			if !validJSON(data) || !read(data, &v) {
				b.Fatal("not read")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v T
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// validJSON says what json.Valid says.
func FuzzValidJSON(f *testing.F) {
	for _, s := range append(chunkSeeds, validSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("%q: validJSON %v, json.Valid %v", b, got, want)
		}
	})
}

var validSeeds = []string{
	``, ` `, `0`, `-0`, `-`, `01`, `1.`, `.5`, `1.5e`, `1e+9`, `1E-09`, `-12.50e3`, `+1`, `1 2`,
	`"a\u00e9\uD83D\ude00\/\b\f\n\r\t\"\\"`, `"\u00g0"`, `"\x"`, `"\`, `"a`, "\"\x01\"", "\"\x7f\xff\"",
	`true`, `tru`, `truex`, `nul`, `null `, ` false`,
	`{}`, `{ }`, `[]`, `[ ]`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `[1 2]`,
	`{"a":{"b":[1,{"c":null}]},"d":[[],[{}]]}`, `[}`, `{]`, `{"a":[}]}`, `]`, `}`, `[[[`, `{"a"`, `{"a":`,
}

func TestValidJSON(t *testing.T) {
	t.Parallel()
	for _, s := range append(chunkSeeds, validSeeds...) {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("%q: validJSON %v, json.Valid %v", s, got, want)
		}
	}
	// encoding/json's nesting limit, empty containers included.
	for _, n := range []int{maxNesting, maxNesting + 1} {
		for _, pair := range []string{"[]", "{}"} {
			s := bytes.Repeat([]byte(pair[:1]), n)
			s = append(s, bytes.Repeat([]byte(pair[1:]), n)...)
			if got, want := validJSON(s), json.Valid(s); got != want {
				t.Errorf("%d × %s: validJSON %v, json.Valid %v", n, pair, got, want)
			}
		}
	}
}

// A prompt of 100 KB, checked before it is read in place.
func BenchmarkValidJSON(b *testing.B) {
	var body bytes.Buffer
	body.WriteString(`{"model":"fast","messages":[`)
	for i := range 200 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"role":"user","content":"%s\n%d: %s"}`, strings.Repeat("The quick brown fox jumps over the lazy dog. ", 10), i, "caf\u00e9")
	}
	body.WriteString(`],"max_tokens":512,"temperature":0.7}`)
	data := body.Bytes()
	b.Run("validJSON", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !validJSON(data) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !json.Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
}

// Events as Anthropic sends them, and the shapes around them.
var antEventSeeds = []string{
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello \"there\"\n"}}`,
	`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`,
	`{"type":"ping"}`, `{"type":"content_block_stop","index":0}`, `{"type":"message_stop"}`,
	`{"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":12,"output_tokens":1}}}`,
	`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`,
	`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}`,
	`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
	`{"type":"a","type":"b"}`, `{"index":1.0}`, `{"index":"1"}`, `{"delta":[]}`, `{"Type":"ping","INDEX":2,"Delta":null}`,
	`{"typ\u0065":"ping"}`, `{"delta":{"text":"a","text":"b"}}`, `{"index":99999999999999999999}`, `[]`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":"s"}}`,
	`{"type":"content_block_start","content_block":{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"x"}],"is_error":true}}`,
	`{"content_block":{"type":"image","source":{"type":"base64","data":"AA=="}}}`, `{"content_block":{"input":null,"content":  {"a" : 1}}}`,
	`{"type":"message_delta","usage":{"input_tokens":null,"output_tokens":7,"cache_read_input_tokens":3,"cache_creation_input_tokens":0}}`,
	`{"type":"message_start","message":{"id":"m","usage":null,"model":null,"content":[]}}`, `{"usage":null,"message":null,"delta":null,"index":null}`,
	`{"message":{"usage":{"input_tokens":1.5}}}`, `{"usage":{"output_tokens":null}}`, `{"error":null}`,
}

// checkInPlace says which of the inputs read reads in place and which it
// leaves to encoding/json.
func checkInPlace[T any](t *testing.T, read func([]byte, *T) bool, inPlace, longWay []string) {
	t.Helper()
	for _, s := range inPlace {
		var v T
		if !read([]byte(s), &v) {
			t.Errorf("%s: not read in place", s)
		}
	}
	for _, s := range longWay {
		var v T
		if read([]byte(s), &v) {
			t.Errorf("%s: read in place, want the long way", s)
		}
	}
}

// Requests as the OpenAI SDKs send them, and the shapes around them.
var oaiRequestSeeds = []string{
	`{"model":"fast","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi \"you\"\n\u00e9"}],"max_tokens":100,"temperature":0.2,"top_p":1,"stop":["\n"],"stream":true,"stream_options":{"include_usage":true},"user":"u1"}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}],"max_completion_tokens":50,"parallel_tool_calls":false}`,
	`{"model":"m","messages":[{"role":"tool","tool_call_id":"call_1","content":"42"},{"role":"assistant","content":null,"tool_calls":null}],"tool_choice":"auto","stop":"END"}`,
	`{"messages":[],"tool_choice":{"type":"function","function":{"name":"f"}},"temperature":null,"stream_options":null,"user":null,"parallel_tool_calls":null}`,
	`{"messages":[null,{"ROLE":"user","Content":"x"}],"Stream":false,"MAX_TOKENS":null}`,
	`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}`,
	`{"model":"m","messages":[],"response_format":{"type":"json_object"}}`,
	`{"messages":[],"messages":[]}`, `{"max_tokens":1.5}`, `{"max_tokens":"1"}`, `{"stream":1}`, `{"stream_options":[]}`,
	`{"stream_options":{"include_usage":"yes"}}`, `{"parallel_tool_calls":"no"}`, `{"messages":{}}`, `{"messages":[1]}`,
	`{"messages":[{"role":1}]}`, `{"us\u0065r":"x"}`, "{\"user\":\"\xff\"}", `[]`, `null`, ` { } `,
}

// readOAIRequest reads what encoding/json reads into a request, or says
// it cannot.
func FuzzReadOAIRequest(f *testing.F) { fuzzReadInPlace(f, oaiRequestSeeds, readOAIRequest) }

func TestReadOAIRequest(t *testing.T) {
	t.Parallel()
	checkInPlace(t, readOAIRequest, append(oaiRequestSeeds[:5:5], oaiRequestSeeds[19], oaiRequestSeeds[22]),
		append(oaiRequestSeeds[5:19:19], oaiRequestSeeds[20], oaiRequestSeeds[21]))
	var r oaiRequest
	if !readOAIRequest([]byte(oaiRequestSeeds[0]), &r) || len(r.Messages) != 2 || r.Messages[1].Role != "user" ||
		string(r.Messages[1].Content) != `"Hi \"you\"\n\u00e9"` || r.MaxTokens != 100 || string(r.Stop) != `["\n"]` ||
		!r.Stream || r.StreamOptions == nil || !r.StreamOptions.IncludeUsage || r.User != "u1" {
		t.Errorf("%s: %+v", oaiRequestSeeds[0], r)
	}
}

// A translated call's request is decoded once; in place, and the long way
// for comparison.
func BenchmarkReadOAIRequest(b *testing.B) {
	benchReadInPlace(b, []byte(oaiRequestSeeds[0]), readOAIRequest)
}

// Requests as the Anthropic SDKs and Claude Code send them, and the
// shapes around them: the first five are read in place, the rest the long
// way.
var antRequestSeeds = []string{
	`{"model":"fast","max_tokens":1024,"system":"Be brief.","messages":[{"role":"user","content":"Hi \"you\"\n\u00e9"},{"role":"assistant","content":"Hello."}],"temperature":0.2,"top_p":1,"stop_sequences":["\n\nHuman:"],"stream":true,"metadata":{"user_id":"u1"}}`,
	`{"model":"m","max_tokens":64,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"What is 6x7?"},{"type":"tool_result","tool_use_id":"t1","content":"42"}]}]}`,
	`{"messages":[],"system":null,"temperature":null,"stop_sequences":null,"metadata":null,"tools":null,"tool_choice":null,"stream":null,"max_tokens":null}`,
	`{"messages":[null,{"ROLE":"user","Content":"x"}],"Stream":false,"STOP_SEQUENCES":["a",null],"Metadata":{"USER_ID":"u"}}`,
	`{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{"x":1}},{"type":"thinking","thinking":"hm","signature":"s"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}]}`,
	`{"model":"m","messages":[],"tool_choice":{"type":"auto"}}`,
	`{"messages":[{"role":1}]}`, `{"max_tokens":1.5}`, `{"stop_sequences":"END"}`, `{"stop_sequences":[1]}`, `{"stream":"yes"}`,
	`{"metadata":{"user_id":7}}`, `{"messages":{}}`, `{"max_\u0074okens":1}`, `{"stream":true,"stream":false}`, `[]`, `null`,
}

// readAntRequest reads what encoding/json reads into a messages request,
// or says it cannot.
func FuzzReadAntRequest(f *testing.F) { fuzzReadInPlace(f, antRequestSeeds, readAntRequest) }

// Message contents as clients send them: the first six are read in
// place, the rest the long way.
var antBlocksSeeds = []string{
	`[{"type":"text","text":"What is this?","cache_control":{"type":"ephemeral"}},{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"42"}]}]`,
	`[{"type":"tool_use","id":"t1","name":"f","input":{"x":[1,2]}},{"type":"thinking","thinking":"hm","signature":"s"},null]`,
	`[]`, `null`, `[{"type":null,"text":null,"input":null,"content":null}]`, `[{"TYPE":"text","Text":"x"}]`,
	`[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]`, `[{"type":"tool_result","is_error":true}]`,
	`[{"type":"text","type":"image"}]`, `[1]`, `{}`, `"x"`,
}

// readAntBlocks reads what encoding/json reads into content blocks, or
// says it cannot.
func FuzzReadAntBlocks(f *testing.F) { fuzzReadInPlace(f, antBlocksSeeds, readAntBlocks) }

func TestReadAntRequest(t *testing.T) {
	t.Parallel()
	checkInPlace(t, readAntRequest, antRequestSeeds[:5], antRequestSeeds[5:])
	checkInPlace(t, readAntBlocks, antBlocksSeeds[:6], antBlocksSeeds[6:])
	var r antRequest
	if !readAntRequest([]byte(antRequestSeeds[0]), &r) || len(r.Messages) != 2 || r.Messages[1].Role != "assistant" ||
		string(r.Messages[0].Content) != `"Hi \"you\"\n\u00e9"` || r.MaxTokens != 1024 || string(r.System) != `"Be brief."` ||
		len(r.StopSequences) != 1 || r.StopSequences[0] != "\n\nHuman:" || !r.Stream || r.Metadata.UserID != "u1" {
		t.Errorf("%s: %+v", antRequestSeeds[0], r)
	}
	// Through decodeAnthropic, in place and the long way alike.
	c, err := decodeAnthropic([]byte(antRequestSeeds[1]))
	if err != nil || len(c.system) != 1 || c.system[0] != "Be brief." || len(c.messages) != 1 || len(c.messages[0].parts) != 2 ||
		c.messages[0].parts[1].kind != partToolResult || c.messages[0].parts[1].text != "42" {
		t.Errorf("%s: %+v, %v", antRequestSeeds[1], c, err)
	}
}

// An Anthropic client's translated call decodes its request once; in
// place, and the long way for comparison.
func BenchmarkReadAntRequest(b *testing.B) {
	benchReadInPlace(b, []byte(antRequestSeeds[0]), readAntRequest)
}

// readAntEvent reads what encoding/json reads into an event, or says it
// cannot.
func FuzzReadAntEvent(f *testing.F) { fuzzReadInPlace(f, antEventSeeds, readAntEvent) }

func TestReadAntEvent(t *testing.T) {
	t.Parallel()
	var e antStreamEvent
	checkInPlace(t, readAntEvent, append(antEventSeeds[:9:9], antEventSeeds[19:21]...), antEventSeeds[9:14])
	if !readAntEvent([]byte(antEventSeeds[24]), &e) || e.Usage == nil || e.Usage.InputTokens != nil || e.Usage.OutputTokens != 7 ||
		e.Usage.CacheReadInputTokens == nil || *e.Usage.CacheReadInputTokens != 3 {
		t.Errorf("%s: %+v", antEventSeeds[24], e)
	}
	if !readAntEvent([]byte(antEventSeeds[1]), &e) || e.Type != "content_block_delta" || e.Index != 1 ||
		e.Delta.Type != "input_json_delta" || e.Delta.PartialJSON != `{"city": "Par` {
		t.Errorf("%s: %+v", antEventSeeds[1], e)
	}
}

var antAnswerSeeds = []string{
	// Read in place.
	`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello \"there\"\n"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":5}}`,
	`{"id":"msg_2","model":"m","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city": "Paris"}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":9,"cache_read_input_tokens":2,"cache_creation_input_tokens":1}}`,
	`{"content":[],"usage":null,"stop_sequence":"END"}`,
	`{"content":null,"model":"m","extra":{"a":[1,2]}}`,
	`{"Model":"case","USAGE":{"Input_Tokens":4}}`,
	`{"content":[null]}`, // a block of nothing, as encoding/json reads it
	// The long way.
	`{"content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}`,
	`{"mod\u0065l":"x"}`,
	`{"id":"a","id":"b"}`,
	`{"content":"text"}`,
	`{"usage":{"input_tokens":1.5}}`,
	`{"usage":{"output_tokens":1,"output_tokens":2}}`,
	`[]`,
}

// readAntAnswer reads what encoding/json reads into a whole message, or
// says it cannot.
func FuzzReadAntAnswer(f *testing.F) { fuzzReadInPlace(f, antAnswerSeeds, readAntAnswer) }

func TestReadAntAnswer(t *testing.T) {
	t.Parallel()
	checkInPlace(t, readAntAnswer, antAnswerSeeds[:6], antAnswerSeeds[6:])
	for _, s := range antAnswerSeeds[:6] {
		var got, want antAnswer
		readAntAnswer([]byte(s), &got)
		if err := json.Unmarshal([]byte(s), &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read %+v, encoding/json %+v (%v)", s, got, want, err)
		}
	}
	var a antAnswer
	if !readAntAnswer([]byte(antAnswerSeeds[1]), &a) || len(a.Content) != 2 || a.Content[1].Name != "weather" ||
		string(a.Content[1].Input) != `{"city": "Paris"}` || a.Usage.CacheCreationInputTokens != 1 {
		t.Errorf("%s: %+v", antAnswerSeeds[1], a)
	}
}

func BenchmarkReadAntAnswer(b *testing.B) {
	benchReadInPlace(b, []byte(antAnswerSeeds[0]), readAntAnswer)
}

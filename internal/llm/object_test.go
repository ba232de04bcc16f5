package llm

import (
	"bytes"
	"encoding/json"
	"errors"
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
		`{"a":[{"b":"]"}],"c":"\\\"","d":1e9}`, `{"é\u00e9":null}`, `[{}]`, `{"a":1,"a":2}`} {
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
	for _, s := range []string{
		`{"completion_tokens":4,"completion_tokens_details":{"reasoning_tokens":2},"prompt_tokens":12,"prompt_tokens_details":{"cached_tokens":3},"total_tokens":16}`,
		`{"PROMPT_TOKENS":1,"prompt_tokens":2}`, `{"prompt_tokens":1.0}`, `{"prompt_tokens":"1"}`, `{"prompt_tokens":null}`,
		`{"prompt_tokens_details":null,"completion_tokens":99999999999999999999}`, `null`, `[]`, `{"prompt_tok\u0065ns":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		var got, want usage
		if !readUsage(raw, &got) {
			return
		}
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%s: read %+v, encoding/json: %v", raw, got, err)
		}
		if got != want {
			t.Fatalf("%s: read %+v, encoding/json %+v", raw, got, want)
		}
	})
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

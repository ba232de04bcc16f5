package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/llm/llmtest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenReply is the provider's answer in the golden files: text, then two
// tool calls whose arguments arrive in 5-byte pieces, none of them valid
// JSON alone.
var goldenReply = llmtest.Reply{
	Text: "Checking the weather now",
	ToolCalls: []llmtest.ToolCall{
		{ID: "call_w1", Name: "get_weather", Args: `{"city":"Paris","unit":"celsius"}`},
		{ID: "call_w2", Name: "get_time", Args: `{"tz":"Europe/Paris"}`},
	},
	Usage: llmtest.Usage{In: 120, Out: 40, Cached: 20},
}

var providerTypes = map[string]string{FormatOpenAI: "openai", FormatAnthropic: "anthropic", FormatGemini: "gemini", FormatBedrock: "bedrock"}

// TestTranslatorGolden runs every (client format, provider format) pair
// that translates: the client's request as the provider receives it; the
// provider's whole answer and its stream as the client receives them. The
// client's stream is also put back together and must carry the provider's
// text, tool calls (arguments whole again) and usage exactly.
func TestTranslatorGolden(t *testing.T) {
	for key, tr := range translators {
		if tr.passthrough {
			continue
		}
		t.Run(key[0]+"_to_"+key[1], func(t *testing.T) {
			reqBody, err := os.ReadFile(filepath.Join("testdata", "translate", "request."+tr.client+".json"))
			if err != nil {
				t.Fatal(err)
			}
			c, err := decodeClient(tr.client, reqBody)
			if err != nil {
				t.Fatal(err)
			}
			tg := &target{p: &provider{typ: providerTypes[tr.provider], format: tr.provider}, model: "m-1"}
			path, out := tr.request(c, tg)
			var doc bytes.Buffer
			doc.WriteString("== request to " + path + " ==\n" + indent(t, out))

			whole, events := llmtest.Wire(tr.provider, "m-1", goldenReply, true)
			a, err := tr.answer([]byte(whole))
			if err != nil {
				t.Fatal(err)
			}
			doc.WriteString("== whole answer ==\n" + indent(t, tr.reply(a, 1700000000)))

			dec, enc := tr.decoder(), tr.encoder(c, 1700000000)
			var stream []byte
			var evs []event
			closed := false
			fr := framesOf(&http.Response{Body: io.NopCloser(strings.NewReader(strings.Join(events, "")))}, tr.provider)
			for {
				f, err := fr.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if evs, err = dec.decode(f.data, evs[:0]); err != nil {
					t.Fatal(err)
				}
				stream = encodeAll(enc, evs, stream, &closed)
			}
			if !closed {
				stream = encodeAll(enc, dec.finish(nil), stream, &closed)
			}
			doc.WriteString("== stream ==\n" + string(stream))
			golden(t, filepath.Join("testdata", "translate", tr.client+"_to_"+tr.provider+".golden"), doc.Bytes())

			got := reassemble(t, tr.client, stream)
			if got.text != goldenReply.Text {
				t.Errorf("text %q, want %q", got.text, goldenReply.Text)
			}
			if len(got.calls) != len(goldenReply.ToolCalls) {
				t.Fatalf("tool calls %v", got.calls)
			}
			for i, want := range goldenReply.ToolCalls {
				if got.calls[i].name != want.Name || !sameJSON(got.calls[i].args, want.Args) {
					t.Errorf("tool call %d: %s %s, want %s %s", i, got.calls[i].name, got.calls[i].args, want.Name, want.Args)
				}
			}
			if got.in != goldenReply.Usage.In || got.out != goldenReply.Usage.Out || got.cached != goldenReply.Usage.Cached {
				t.Errorf("usage in %d out %d cached %d, want %+v", got.in, got.out, got.cached, goldenReply.Usage)
			}
			if got.stop != map[string]string{FormatOpenAI: "tool_calls", FormatAnthropic: "tool_use", FormatResponses: "completed"}[tr.client] {
				t.Errorf("stop reason %q", got.stop)
			}
		})
	}
}

// TestTranslatorLossList: every translating pair says what it cannot
// carry (docs/llm.md lists them).
func TestTranslatorLossList(t *testing.T) {
	if len(translators) != 12 {
		t.Fatalf("%d pairs, want 3 client formats × 4 provider formats", len(translators))
	}
	for k, tr := range translators {
		same := k[0] == k[1] || k[0] == FormatResponses && k[1] == FormatOpenAI
		if tr.passthrough != same || (!tr.passthrough && len(tr.lost) == 0) {
			t.Errorf("%v: passthrough %v, lost %v", k, tr.passthrough, tr.lost)
		}
	}
}

type call0 struct{ name, args string }

type assembled struct {
	text            string
	calls           []call0
	in, out, cached int64
	stop            string
}

// reassemble reads a client's stream as an SDK would.
func reassemble(t *testing.T, format string, stream []byte) assembled {
	t.Helper()
	var a assembled
	blocks := map[int]int{} // Anthropic: block index → call
	for _, ev := range bytes.Split(stream, []byte("\n\n")) {
		data := eventData(ev)
		if len(data) == 0 || string(data) == "[DONE]" {
			continue
		}
		if format == FormatResponses {
			reassembleResponses(t, data, &a)
			continue
		}
		if format == FormatOpenAI {
			var c struct {
				Choices []struct {
					Delta struct {
						Content   string        `json:"content"`
						ToolCalls []oaiToolCall `json:"tool_calls"`
					} `json:"delta"`
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
				Usage *oaiUsage `json:"usage"`
			}
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatalf("%s: %v", data, err)
			}
			for _, ch := range c.Choices {
				a.text += ch.Delta.Content
				for _, tc := range ch.Delta.ToolCalls {
					for len(a.calls) <= *tc.Index {
						a.calls = append(a.calls, call0{})
					}
					a.calls[*tc.Index].name += tc.Function.Name
					a.calls[*tc.Index].args += tc.Function.Arguments
				}
				if ch.FinishReason != "" {
					a.stop = ch.FinishReason
				}
			}
			if u := c.Usage; u != nil {
				a.in, a.out = u.PromptTokens, u.CompletionTokens
				a.cached = u.PromptTokensDetails.CachedTokens
			}
			continue
		}
		var e struct {
			Type         string   `json:"type"`
			Index        int      `json:"index"`
			ContentBlock antBlock `json:"content_block"`
			Delta        struct {
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
				StopReason  string `json:"stop_reason"`
			} `json:"delta"`
			Usage *antUsage `json:"usage"`
		}
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		switch e.Type {
		case "content_block_start":
			if e.ContentBlock.Type == "tool_use" {
				blocks[e.Index] = len(a.calls)
				a.calls = append(a.calls, call0{name: e.ContentBlock.Name})
			}
		case "content_block_delta":
			if i, ok := blocks[e.Index]; ok {
				a.calls[i].args += e.Delta.PartialJSON
			} else {
				a.text += e.Delta.Text
			}
		case "message_delta":
			a.stop = e.Delta.StopReason
			a.in, a.out, a.cached = e.Usage.InputTokens+e.Usage.CacheReadInputTokens, e.Usage.OutputTokens, e.Usage.CacheReadInputTokens
		}
	}
	return a
}

// reassembleResponses reads one Responses API event, as an SDK would:
// text and arguments from their deltas, checked against the items' done
// events, and status and usage from the completed response.
func reassembleResponses(t *testing.T, data []byte, a *assembled) {
	t.Helper()
	var e struct {
		Type     string          `json:"type"`
		Seq      *int            `json:"sequence_number"`
		Delta    string          `json:"delta"`
		Text     string          `json:"text"`
		Args     string          `json:"arguments"`
		Item     respOutItem     `json:"item"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(data, &e); err != nil || e.Seq == nil {
		t.Fatalf("%s: %v (or no sequence_number)", data, err)
	}
	switch e.Type {
	case "response.output_text.delta":
		a.text += e.Delta
	case "response.output_text.done":
		if e.Text != a.text {
			t.Errorf("output_text.done %q after deltas %q", e.Text, a.text)
		}
	case "response.output_item.added":
		if e.Item.Type == "function_call" {
			a.calls = append(a.calls, call0{name: e.Item.Name})
		}
	case "response.function_call_arguments.delta":
		a.calls[len(a.calls)-1].args += e.Delta
	case "response.function_call_arguments.done":
		if e.Args != a.calls[len(a.calls)-1].args {
			t.Errorf("function_call_arguments.done %q after deltas %q", e.Args, a.calls[len(a.calls)-1].args)
		}
	case "response.completed", "response.incomplete":
		var r respObject
		if err := json.Unmarshal(e.Response, &r); err != nil || r.Usage == nil {
			t.Fatalf("%s: %v", e.Response, err)
		}
		a.stop = r.Status
		a.in, a.out, a.cached = r.Usage.InputTokens, r.Usage.OutputTokens, r.Usage.InputTokensDetails.CachedTokens
		// The completed response holds the whole output again.
		whole, err := decodeResponsesAnswer(e.Response)
		if err != nil || len(whole.parts) != 3 || whole.parts[0].text != goldenReply.Text {
			t.Fatalf("the completed response's output: %v %+v", err, whole)
		}
		for i, want := range goldenReply.ToolCalls {
			if p := whole.parts[i+1]; p.name != want.Name || !sameJSON(string(p.args), want.Args) {
				t.Errorf("the completed response's call %d: %s %s", i, p.name, p.args)
			}
		}
	}
}

func sameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && string(mustJSON(x)) == string(mustJSON(y))
}

func indent(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return out.String() + "\n"
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s", path, diffLines(string(want), string(got)))
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n- " + a + "\n+ " + b
		}
	}
	return ""
}

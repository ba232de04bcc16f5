package llm

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/llm/llmtest"
)

// FuzzTranslateRequest: whatever a client sends, masking keeps valid JSON
// valid, and a request that decodes is written for every provider format
// as valid JSON.
func FuzzTranslateRequest(f *testing.F) {
	clients := []string{FormatOpenAI, FormatAnthropic, FormatResponses}
	for i, client := range clients {
		b, err := os.ReadFile(filepath.Join("testdata", "translate", "request."+client+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(0), []byte(`{"messages":[{"role":"tool","content":[{"type":"text","text":"x"}]}],"stop":"s","tool_choice":{"function":{"name":"f"}}}`))
	f.Add(uint8(1), []byte(`{"system":"s","messages":[{"role":"user","content":[{"type":"tool_result","content":null}]}]}`))
	f.Add(uint8(2), []byte(`{"input":[{"type":"function_call","call_id":"c","arguments":"[1"},{"type":"function_call_output","output":[{"type":"input_text","text":"x"}]}],"tool_choice":{"type":"function","name":"f"}}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		client := clients[int(which)%len(clients)]
		if masked, _ := testMasker().mask(body); json.Valid(body) && !json.Valid(masked) {
			t.Fatalf("masking made %q of %q", masked, body)
		}
		c, err := decodeClient(client, body)
		if err != nil {
			return
		}
		for pf := range providerSides {
			tr := translators[[2]string{client, pf}]
			path, out := tr.request(c, &target{p: &provider{typ: providerTypes[pf], format: pf}, model: "m"})
			if path == "" || !json.Valid(out) {
				t.Fatalf("%s → %s: %s %q", client, pf, path, out)
			}
		}
	})
}

// FuzzTranslateStream: whatever a provider streams, every translator's
// decoder and encoder write only whole events whose data is valid JSON
// (or OpenAI's [DONE]).
func FuzzTranslateStream(f *testing.F) {
	for _, format := range []string{FormatOpenAI, FormatAnthropic, FormatGemini, FormatBedrock} {
		_, events := llmtest.Wire(format, "m", llmtest.Reply{Text: "a b", ToolCalls: []llmtest.ToolCall{{ID: "c", Name: "n", Args: `{"k":1}`}}}, true)
		fr := framesOf(&http.Response{Body: io.NopCloser(strings.NewReader(strings.Join(events, "")))}, format)
		for {
			fm, err := fr.next()
			if err != nil {
				break
			}
			f.Add(string(fm.data))
		}
	}
	f.Add(`{"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{"}}`)
	f.Add(`{"choices":[{"delta":{"tool_calls":[{"index":-1,"function":{"arguments":"x"}}]}}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		for _, tr := range translators {
			if tr.passthrough {
				continue
			}
			dec, enc := tr.decoder(), tr.encoder(&chat{includeUsage: true}, 1)
			evs, _ := dec.decode([]byte(data), nil)
			evs = dec.finish(evs)
			closed := false
			out := encodeAll(enc, evs, nil, &closed)
			out = enc.fail(out, data)
			for _, ev := range bytes.Split(bytes.TrimSuffix(out, []byte("\n\n")), []byte("\n\n")) {
				d := eventData(ev)
				if string(d) != "[DONE]" && !json.Valid(d) {
					t.Fatalf("%s → %s: event %q", tr.provider, tr.client, ev)
				}
			}
		}
	})
}

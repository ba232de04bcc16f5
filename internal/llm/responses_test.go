package llm

import (
	"bytes"
	"encoding/json"
	"testing"
)

// A stream whose text resumes after a tool call gets a second message
// item, with an id of its own, and every event a rising sequence number.
func TestResponsesStreamItems(t *testing.T) {
	t.Parallel()
	enc := clientSides[FormatResponses].encoder(nil, 1)
	var out []byte
	for _, ev := range []event{
		{kind: evStart, id: "a1", model: "m"},
		{kind: evText, text: "one"},
		{kind: evToolStart, index: 0, id: "c1", name: "f"},
		{kind: evToolArgs, index: 0, text: `{"x":1}`},
		{kind: evText, text: "two"},
		{kind: evStop, stop: stopEnd},
		{kind: evUsage, usage: usage{PromptTokens: 3, CompletionTokens: 2}},
		{kind: evEnd},
	} {
		out = enc.encode(ev, out)
	}
	ids := map[string]bool{}
	seq := -1
	var done respObject
	for _, raw := range bytes.Split(bytes.TrimSpace(out), []byte("\n\n")) {
		var e struct {
			Type     string      `json:"type"`
			Seq      int         `json:"sequence_number"`
			Item     respOutItem `json:"item"`
			Response respObject  `json:"response"`
		}
		if err := json.Unmarshal(eventData(raw), &e); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if e.Seq != seq+1 {
			t.Errorf("sequence %d after %d", e.Seq, seq)
		}
		seq = e.Seq
		if e.Type == "response.output_item.added" {
			if ids[e.Item.ID] {
				t.Errorf("item id %q twice", e.Item.ID)
			}
			ids[e.Item.ID] = true
		}
		if e.Type == "response.completed" {
			done = e.Response
		}
	}
	if len(done.Output) != 3 || done.Output[0].Type != "message" || done.Output[1].Type != "function_call" || done.Output[2].Type != "message" ||
		(*done.Output[2].Content)[0].Text != "two" || *done.Output[1].Arguments != `{"x":1}` || done.Usage == nil || done.Usage.TotalTokens != 5 {
		t.Fatalf("completed response: %+v", done)
	}
}

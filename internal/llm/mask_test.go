package llm

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

func testMasker() *masker {
	return newMasker([]config.LLMMask{{Type: "email"}, {Type: "card"}, {Type: "phone"}, {Name: "employee", Pattern: `EMP-[0-9]{6}`}})
}

// TestMask: what the rules match in the prompt becomes placeholders — the
// same value the same one, a card number only with a valid check digit —
// roles, ids and media are left alone, and an answer gets the values back.
func TestMask(t *testing.T) {
	m := testMasker()
	body := `{"model":"m","messages":[{"role":"system","content":"Reply to ann@example.com."},` +
		`{"role":"user","content":[{"type":"text","text":"I am EMP-123456, card 4111 1111 1111 1111, not 4111 1111 1111 1112; call +33 6 12 34 56 78 or mail ann@example.com"},` +
		`{"type":"image_url","image_url":{"url":"https://x/ann@example.com.png"}}]},` +
		`{"role":"assistant","tool_calls":[{"id":"call_ann@example.com","type":"function","function":{"name":"mail","arguments":"{\"to\":\"ann@example.com\"}"}}]}],"temperature":0.10}`
	out, st := m.mask([]byte(body))
	got := string(out)
	for _, secret := range []string{"EMP-123456", "4111 1111 1111 1111", "6 12 34 56 78", `"content":"Reply to ann@example.com."`, `mail ann@example.com`, `\"to\":\"ann@example.com\"`} {
		if strings.Contains(got, secret) {
			t.Errorf("%q reached the provider: %s", secret, got)
		}
	}
	for _, kept := range []string{"4111 1111 1111 1112", `"url":"https://x/ann@example.com.png"`, `"id":"call_ann@example.com"`, `"temperature":0.10`,
		"Reply to [EMAIL_1].", "I am [EMPLOYEE_1], card [CARD_1]", `\"to\":\"[EMAIL_1]\"`} {
		if !strings.Contains(got, kept) {
			t.Errorf("%q is missing: %s", kept, got)
		}
	}
	if !json.Valid(out) {
		t.Fatalf("not JSON: %s", out)
	}
	a := &answer{parts: []part{{kind: partText, text: "Mailing [EMAIL_1] about [CARD_1]"}, {kind: partToolCall, args: json.RawMessage(`{"who":"[EMPLOYEE_1]"}`)}}}
	st.restoreAnswer(a)
	if a.parts[0].text != "Mailing ann@example.com about 4111 1111 1111 1111" || string(a.parts[1].args) != `{"who":"EMP-123456"}` {
		t.Fatalf("restored: %q %s", a.parts[0].text, a.parts[1].args)
	}
	// Phone numbers, and what is not one.
	for text, want := range map[string]string{
		"+33 6 12 34 56 78":                 "[PHONE_1]",
		"call (555) 123-4567 now":           "call [PHONE_1] now",
		"06.12.34.56.78":                    "[PHONE_1]",
		"on 2026-11-27 10:30":               "on 2026-11-27 10:30",
		"host 192.168.100.100":              "host 192.168.100.100",
		"1 000 000 euros":                   "1 000 000 euros",
		"order 123456789012345678901234567": "order 123456789012345678901234567",
	} {
		if got := m.text(text, &masking{fwd: map[string]string{}, back: map[string]string{}, counts: map[string]int{}}); got != want {
			t.Errorf("%q masked as %q, want %q", text, got, want)
		}
	}
	// Nothing to mask: the body's bytes go as they came.
	plain := `{"model":"m",  "messages":[{"role":"user","content":"hello"}]}`
	if out, st := m.mask([]byte(plain)); string(out) != plain || st.on() {
		t.Fatalf("a body without PII changed: %s", out)
	}
}

// TestMaskStream: however the model's text is cut into pieces — a
// placeholder split anywhere — the client gets the value back, once.
func TestMaskStream(t *testing.T) {
	m := testMasker()
	_, st := m.mask([]byte(`{"messages":[{"role":"user","content":"ann@example.com and EMP-123456"}]}`))
	text := "Writing to [EMAIL_1] for [EMPLOYEE_1] [done]"
	want := "Writing to ann@example.com for EMP-123456 [done]"
	for cut1 := 1; cut1 < len(text); cut1++ {
		for cut2 := cut1 + 1; cut2 < len(text); cut2++ {
			s := st.stream()
			evs := s.events([]event{{kind: evText, text: text[:cut1]}, {kind: evText, text: text[cut1:cut2]}, {kind: evText, text: text[cut2:]}, {kind: evStop}, {kind: evEnd}})
			var b strings.Builder
			for _, e := range evs {
				b.WriteString(e.text)
			}
			if b.String() != want {
				t.Fatalf("cut at %d and %d: %q", cut1, cut2, b.String())
			}
		}
	}
	// Tool arguments: the value goes back JSON-escaped.
	_, st = m.mask([]byte(`{"messages":[{"role":"user","content":"EMP-123456"}]}`))
	s := st.stream()
	evs := s.events([]event{{kind: evToolStart, index: 0}, {kind: evToolArgs, index: 0, text: `{"id":"[EMPL`}, {kind: evToolArgs, index: 0, text: `OYEE_1]"}`}, {kind: evStop}})
	var args string
	for _, e := range evs {
		if e.kind == evToolArgs {
			args += e.text
		}
	}
	if args != `{"id":"EMP-123456"}` {
		t.Fatalf("arguments: %s", args)
	}
}

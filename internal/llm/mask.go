package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

// This file is the optional PII masking of an LLM API: before a request
// leaves for a provider, what the rules match in its prompt — system
// prompts, messages, tool calls and results — is replaced with
// placeholders ([EMAIL_1], [PHONE_2], …; the same value, the same
// placeholder); in the answer, whole or streamed, the placeholders the
// model wrote are put back. The provider never sees the values.

// MaskTypes are the built-in rules.
var MaskTypes = map[string]string{
	"email": `[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`,
	// Numbers are found loosely — a run of digits and separators — and
	// checked in code (checkPhone, checkCard): counted repetitions make
	// regular expressions large, and large ones slow.
	"phone": `\+?\(?[0-9][0-9 ().-]*[0-9]`,
	"card":  `[0-9][0-9 -]*[0-9]`,
	"ssn":   `\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b`,
	"ipv4":  `\b(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\b`,
}

type maskRule struct {
	label string
	re    *regexp.Regexp
	// check confirms a match (a card number's Luhn digit).
	check func(string) bool
	// digits: a match that more digits touch (through at most one
	// separator) is part of a longer number, and is left alone.
	digits bool
	// spans, when not nil, finds the stretches of a text where a match
	// can be — around an @, or runs of digits — so the regular expression
	// (slow on long texts) only reads those.
	spans func(s string) [][2]int
	// minDigits skips the spans with fewer digits than a match needs.
	minDigits int
}

// masker holds an API's rules.
type masker struct{ rules []maskRule }

// newMasker compiles the validated rules of apis[].llm.mask.
func newMasker(rules []config.LLMMask) *masker {
	m := &masker{}
	for _, r := range rules {
		pattern, label := r.Pattern, r.Name
		if r.Type != "" {
			pattern, label = MaskTypes[r.Type], r.Type
		}
		mr := maskRule{label: strings.ToUpper(strings.ReplaceAll(label, "-", "_")), re: regexp.MustCompile(pattern)}
		switch r.Type {
		case "email":
			mr.spans = emailSpans
		case "card":
			mr.check, mr.digits, mr.spans, mr.minDigits = checkCard, true, numberSpans, 13
		case "phone":
			mr.check, mr.digits, mr.spans, mr.minDigits = checkPhone, true, numberSpans, 9
		case "ssn":
			mr.digits, mr.spans, mr.minDigits = true, numberSpans, 9
		case "ipv4":
			mr.spans, mr.minDigits = numberSpans, 4
		}
		m.rules = append(m.rules, mr)
	}
	return m
}

var (
	ipv4 = regexp.MustCompile(`^` + MaskTypes["ipv4"] + `$`)
	date = regexp.MustCompile(`[0-9]{4}-[0-9]{2}-[0-9]{2}`)
)

// emailSpans are the stretches around each @ of the characters an
// address may have.
func emailSpans(s string) [][2]int {
	var out [][2]int
	end := 0 // where the last span ended: spans do not overlap
	for i := strings.IndexByte(s, '@'); i >= 0; {
		l, r := i, i+1
		for l > end && (isAlnum(s[l-1]) || strings.IndexByte("._%+-", s[l-1]) >= 0) {
			l--
		}
		for r < len(s) && (isAlnum(s[r]) || s[r] == '.' || s[r] == '-') {
			r++
		}
		if l < i && r > i+1 {
			out = append(out, [2]int{l, r})
			end = r
		}
		next := strings.IndexByte(s[i+1:], '@')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return out
}

// numberSpans are the runs of digits and the characters that separate
// them in numbers, addresses and phone numbers, with a digit in them.
func numberSpans(s string) [][2]int {
	var out [][2]int
	for i := 0; i < len(s); {
		if !isNumberChar(s[i]) {
			i++
			continue
		}
		j, digit := i, false
		for j < len(s) && isNumberChar(s[j]) {
			digit = digit || s[j] >= '0' && s[j] <= '9'
			j++
		}
		if digit {
			out = append(out, [2]int{i, j})
		}
		i = j
	}
	return out
}

func digitsIn(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

func isNumberChar(c byte) bool { return c >= '0' && c <= '9' || strings.IndexByte(" ().+-", c) >= 0 }

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// checkPhone takes 9 to 15 digits, separated by at most one space, dot or
// dash (an area code may be in parentheses, followed by a space), and
// not an IPv4 address nor a date.
func checkPhone(s string) bool {
	digits, seps := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits, seps = digits+1, 0
		case c == '+' && i == 0, c == '(' && i <= 1:
		case c == ')':
			if i+1 < len(s) && s[i+1] == ' ' {
				i++ // ") "
			}
			seps = 0
		default: // space, dot, dash, or a parenthesis elsewhere
			if c == '(' {
				return false
			}
			if seps++; seps > 1 {
				return false
			}
		}
	}
	return digits >= 9 && digits <= 15 && !ipv4.MatchString(s) && !date.MatchString(s)
}

// checkCard takes 13 to 19 digits, separated by single spaces or dashes,
// whose Luhn check digit is right.
func checkCard(s string) bool {
	prevSep := false
	for i := 0; i < len(s); i++ {
		sep := s[i] == ' ' || s[i] == '-'
		if sep && prevSep {
			return false
		}
		prevSep = sep
	}
	return luhn(s)
}

// touchesDigits says whether the match s[i:j] has digits beside it, next
// to it or past one separator.
func touchesDigits(s string, i, j int) bool {
	digit := func(k int) bool { return k >= 0 && k < len(s) && s[k] >= '0' && s[k] <= '9' }
	sep := func(k int) bool { return k >= 0 && k < len(s) && strings.IndexByte(" .-()", s[k]) >= 0 }
	return digit(i-1) || sep(i-1) && digit(i-2) || digit(j) || sep(j) && digit(j+1)
}

// luhn checks a card number's check digit.
func luhn(s string) bool {
	sum, n := 0, 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n >= 13 && n <= 19 && sum%10 == 0
}

// masking is one call's placeholders.
type masking struct {
	fwd    map[string]string // value → placeholder
	back   map[string]string // placeholder → value
	counts map[string]int
	maxLen int // of a placeholder
	text   *strings.Replacer
	json   *strings.Replacer // values escaped for a JSON string
}

func (m *masker) text(s string, st *masking) string {
	for _, r := range m.rules {
		var matches [][]int
		if r.spans == nil {
			matches = r.re.FindAllStringIndex(s, -1)
		} else {
			for _, sp := range r.spans(s) {
				if r.minDigits > 0 && digitsIn(s[sp[0]:sp[1]]) < r.minDigits {
					continue
				}
				for _, mt := range r.re.FindAllStringIndex(s[sp[0]:sp[1]], -1) {
					matches = append(matches, []int{mt[0] + sp[0], mt[1] + sp[0]})
				}
			}
		}
		if matches == nil {
			continue
		}
		var b strings.Builder
		last := 0
		for _, mt := range matches {
			i, j := mt[0], mt[1]
			v := s[i:j]
			if r.check != nil && !r.check(v) || r.digits && touchesDigits(s, i, j) {
				continue
			}
			p, ok := st.fwd[v]
			if !ok {
				st.counts[r.label]++
				p = fmt.Sprintf("[%s_%d]", r.label, st.counts[r.label])
				st.fwd[v], st.back[p] = p, v
				st.maxLen = max(st.maxLen, len(p))
			}
			b.WriteString(s[last:i])
			b.WriteString(p)
			last = j
		}
		b.WriteString(s[last:])
		s = b.String()
	}
	return s
}

// maskedKeys are the top-level fields whose text is masked; skipKeys the
// fields inside them that are not text (roles, ids, names, media).
var (
	maskedKeys = []string{"messages", "system", "input", "prompt", "instructions"}
	skipKeys   = map[string]bool{"role": true, "type": true, "id": true, "tool_call_id": true, "tool_use_id": true, "name": true,
		"media_type": true, "data": true, "url": true, "detail": true, "signature": true, "cache_control": true, "image_url": true, "source": true}
)

// mask replaces what the rules match in the body's prompt. A body that is
// not a JSON object is returned as it is (the handler refuses it).
func (m *masker) mask(body []byte) ([]byte, *masking) {
	st := &masking{fwd: map[string]string{}, back: map[string]string{}, counts: map[string]int{}}
	var doc map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&doc) != nil || doc == nil {
		return body, st
	}
	for _, k := range maskedKeys {
		if v, ok := doc[k]; ok {
			doc[k] = m.walk(v, st)
		}
	}
	if len(st.back) == 0 {
		return body, st
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if enc.Encode(doc) != nil {
		return body, st
	}
	pairs, escaped := make([]string, 0, 2*len(st.back)), make([]string, 0, 2*len(st.back))
	for p, v := range st.back {
		pairs = append(pairs, p, v)
		q, _ := json.Marshal(v)
		escaped = append(escaped, p, string(q[1:len(q)-1]))
	}
	st.text, st.json = strings.NewReplacer(pairs...), strings.NewReplacer(escaped...)
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), st
}

func (m *masker) walk(v any, st *masking) any {
	switch t := v.(type) {
	case string:
		return m.text(t, st)
	case []any:
		for i := range t {
			t[i] = m.walk(t[i], st)
		}
	case map[string]any:
		for k, x := range t {
			if !skipKeys[k] {
				t[k] = m.walk(x, st)
			}
		}
	}
	return v
}

// on says whether the call has placeholders to put back.
func (st *masking) on() bool { return st != nil && st.text != nil }

// restoreAnswer puts the values back in a whole answer.
func (st *masking) restoreAnswer(a *answer) {
	for i := range a.parts {
		p := &a.parts[i]
		p.text = st.text.Replace(p.text)
		if p.args != nil {
			p.args = json.RawMessage(st.json.Replace(string(p.args)))
		}
	}
}

// restorer puts the values back in a stream's pieces of text, holding
// back a piece's end that may be the start of a placeholder the next
// piece completes.
type restorer struct {
	st      *masking
	r       *strings.Replacer
	pending string
}

func (r *restorer) push(text string) string {
	s := r.r.Replace(r.pending + text)
	r.pending = ""
	if i := strings.LastIndexByte(s, '['); i >= 0 && !strings.Contains(s[i:], "]") && len(s)-i < r.st.maxLen {
		r.pending, s = s[i:], s[:i]
	}
	return s
}

func (r *restorer) flush() string {
	s := r.pending
	r.pending = ""
	return s
}

// streamRestore puts the values back in a stream's neutral events: text
// and each tool call's arguments, pieces held back and released as
// needed.
type streamRestore struct {
	st   *masking
	text *restorer
	args map[int]*restorer
}

func (st *masking) stream() *streamRestore {
	return &streamRestore{st: st, text: &restorer{st: st, r: st.text}, args: map[int]*restorer{}}
}

func (s *streamRestore) events(evs []event) []event {
	out := make([]event, 0, len(evs)+1)
	for _, e := range evs {
		switch e.kind {
		case evText:
			if e.text = s.text.push(e.text); e.text != "" {
				out = append(out, e)
			}
		case evToolArgs:
			r := s.args[e.index]
			if r == nil {
				r = &restorer{st: s.st, r: s.st.json}
				s.args[e.index] = r
			}
			if e.text = r.push(e.text); e.text != "" {
				out = append(out, e)
			}
		default:
			if rest := s.text.flush(); rest != "" {
				out = append(out, event{kind: evText, text: rest})
			}
			if e.kind == evStop || e.kind == evEnd {
				for i, r := range s.args {
					if rest := r.flush(); rest != "" {
						out = append(out, event{kind: evToolArgs, index: i, text: rest})
					}
				}
			}
			out = append(out, e)
		}
	}
	return out
}

package llm

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/store"
)

// This file is the traffic mirroring of a model alias: a share of its
// answered calls is sent again, in the background, to a candidate
// deployment — never streamed, never seen by the client, never billed to
// it. The candidate's call is recorded in the usage records of the API
// "mirror:<api>" (so the analytics set its tokens, cost, latency and
// errors beside the API's own), and the likeness of its answer to the one
// the client got is a metric.

// Mirrors receives what mirroring measures.
type Mirrors interface {
	// LLMMirror counts a mirrored call by outcome (ok, failed, skipped:
	// too many running) and, when ok, observes the likeness (0 to 1) of
	// the candidate's answer to the one the client got.
	LLMMirror(alias, candidate, outcome string, likeness float64)
}

// UsageSink receives usage records made outside a request (mirrored
// calls); usage.Recorder is one.
type UsageSink interface {
	Add(r *store.UsageRecord)
}

// mirror is an alias's candidate deployment and the share of calls it
// gets.
type mirror struct {
	t       target
	percent float64
}

// MaxMirrors bounds the mirrored calls running at once on a node; past
// it, calls are not mirrored (counted as skipped).
const MaxMirrors = 32

// maybeMirror sends the call to the alias's candidate, at its rate, once
// the client's answer is complete; text is what the client got.
func (c *call) maybeMirror(alias string, m *mirror, text string) {
	e := c.e
	if m == nil || rand.Float64()*100 >= m.percent { //nolint:gosec // sampling, not a secret
		return
	}
	candidate := m.t.p.name + "/" + m.t.model
	select {
	case e.mirrorSlots <- struct{}{}:
	default:
		e.mirrors.LLMMirror(alias, candidate, "skipped", 0)
		return
	}
	neutral, err := decodeClient(c.op.client, c.body)
	if err != nil {
		<-e.mirrorSlots
		return
	}
	mc := *neutral
	mc.stream = false
	api, route, requestID := c.x.API, c.x.Route, c.x.RequestID
	go func() {
		defer func() { <-e.mirrorSlots }()
		e.mirrorCall(alias, m, &mc, text, api, route, requestID)
	}()
}

// mirrorCall runs one mirrored call and records it.
func (e *Endpoint) mirrorCall(alias string, m *mirror, c *chat, text, api, route, requestID string) {
	t := m.t
	candidate := t.p.name + "/" + t.model
	tr := translators[[2]string{FormatOpenAI, t.p.format}] // any client side: only the provider's half is used
	path, body := tr.request(c, &t)
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	start := time.Now()
	x := &pipeline.Exchange{}
	rec := &store.UsageRecord{Time: start, API: "mirror:" + api, Route: route, Upstream: "llm:" + t.p.name, RequestID: requestID,
		BytesIn: int64(len(body))}
	defer func() {
		rec.Latency = time.Since(start)
		l := x.LLM
		rec.LLMModel, rec.TokensIn, rec.TokensOut, rec.TokensCached, rec.TokensReasoning = l.Model, l.TokensIn, l.TokensOut, l.TokensCached, l.TokensReasoning
		rec.CostPico, rec.Unpriced, rec.Estimated = l.CostPico, l.Unpriced, l.Estimated
		if e.usage != nil {
			e.usage.Add(rec)
		}
	}()
	resp, err := t.p.call(ctx, path, body, http.Header{})
	if err != nil {
		rec.Status = http.StatusBadGateway
		e.mirrors.LLMMirror(alias, candidate, "failed", 0)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	rec.Status = resp.StatusCode
	answerBody, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	rec.BytesOut = int64(len(answerBody))
	if err != nil || resp.StatusCode != http.StatusOK {
		e.mirrors.LLMMirror(alias, candidate, "failed", 0)
		return
	}
	a, err := tr.answer(answerBody)
	if err != nil {
		rec.Status = http.StatusBadGateway
		e.mirrors.LLMMirror(alias, candidate, "failed", 0)
		return
	}
	e.meterAnswer(x, candidate, a, func() int64 { return countTokens(string(body)) })
	e.mirrors.LLMMirror(alias, candidate, "ok", likeness(text, a.text()))
}

// likeness compares two answers by their words: twice the words they
// share (as multisets) over the words of both, from 0 (none shared) to 1
// (the same words).
func likeness(a, b string) float64 {
	wa, wb := strings.Fields(strings.ToLower(a)), strings.Fields(strings.ToLower(b))
	if len(wa)+len(wb) == 0 {
		return 1
	}
	counts := make(map[string]int, len(wa))
	for _, w := range wa {
		counts[strings.Trim(w, ".,;:!?\"'()[]{}")]++
	}
	shared := 0
	for _, w := range wb {
		w = strings.Trim(w, ".,;:!?\"'()[]{}")
		if counts[w] > 0 {
			counts[w]--
			shared++
		}
	}
	return 2 * float64(shared) / float64(len(wa)+len(wb))
}

// answerText is the text of a whole answer the client got in format.
func answerText(format string, body []byte) string {
	var a *answer
	var err error
	switch format {
	case FormatAnthropic:
		a, err = decodeAnthropicAnswer(body)
	case FormatResponses:
		a, err = decodeResponsesAnswer(body)
	default:
		a, err = decodeOpenAIAnswer(body)
	}
	if err != nil {
		return ""
	}
	return a.text()
}

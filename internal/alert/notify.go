package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// SignatureHeader carries a webhook notification's signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the
// secret>". A receiver recomputes it over the raw body and compares in
// constant time, and rejects a t too far from its clock.
const SignatureHeader = "X-Portico-Signature"

// Sign returns the signature header value of body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Payload is the JSON body of a webhook notification.
type Payload struct {
	// ID identifies the event (the same in every retry).
	ID    int64  `json:"id"`
	Alert string `json:"alert"`
	// State is "firing" or "resolved".
	State      string    `json:"state"`
	Group      string    `json:"group"`
	Metric     string    `json:"metric"`
	Value      float64   `json:"value"`
	Threshold  float64   `json:"threshold"`
	Comparison string    `json:"comparison,omitempty"`
	Window     string    `json:"window"`
	API        string    `json:"api,omitempty"`
	Route      string    `json:"route,omitempty"`
	Consumer   string    `json:"consumer,omitempty"`
	Upstream   string    `json:"upstream,omitempty"`
	At         time.Time `json:"at"`
	Node       string    `json:"node"`
	Summary    string    `json:"summary"`
}

func payload(e store.AlertEvent, a *config.Alert, window time.Duration) Payload {
	p := Payload{ID: e.ID, Alert: a.Name, State: "firing", Group: e.Group, Metric: e.Metric, Value: e.Value, Threshold: e.Threshold,
		Window: window.String(), API: a.API, Route: a.Route, Consumer: a.Consumer, Upstream: a.Upstream, At: e.At, Node: e.Node}
	if e.State == store.AlertOK {
		p.State = "resolved"
	}
	switch {
	case a.When.Above != nil:
		p.Comparison = "above"
	case a.When.Below != nil:
		p.Comparison = "below"
	}
	var scope []string
	for _, kv := range [][2]string{{"api", a.API}, {"route", a.Route}, {"consumer", a.Consumer}, {"upstream", a.Upstream}} {
		if kv[1] != "" {
			scope = append(scope, kv[0]+" "+kv[1])
		}
	}
	where := ""
	if len(scope) > 0 {
		where = " (" + strings.Join(scope, ", ") + ")"
	}
	if e.Metric == "circuit_open" {
		p.Summary = fmt.Sprintf("Portico alert %s is %s: the circuit of upstream %s is %s", a.Name, p.State, a.Upstream,
			map[string]string{"firing": "open", "resolved": "closed again"}[p.State])
	} else {
		p.Summary = fmt.Sprintf("Portico alert %s is %s%s: %s is %s (threshold: %s %s, over %s)", a.Name, p.State, where,
			e.Metric, format(e.Value), p.Comparison, format(e.Threshold), window)
	}
	return p
}

func format(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// deliver sends p to every destination of a, retrying each up to attempts
// times with a doubling pause, and returns a summary of how they fared.
func (ev *Evaluator) deliver(ctx context.Context, p Payload, a *config.Alert) string {
	body, _ := json.Marshal(p)
	slack, _ := json.Marshal(map[string]string{"text": p.Summary})
	var results []string
	for _, n := range a.Notify {
		target, b, secret := n.Webhook, body, n.Secret
		if n.Slack != "" {
			target, b, secret = n.Slack, slack, ""
		}
		err := ev.post(ctx, target, b, secret, p.ID)
		if err != nil {
			ev.o.Log.Error("an alert notification could not be delivered", "alert", a.Name, "state", p.State, "error", err.Error())
			results = append(results, "failed: "+err.Error())
		} else {
			results = append(results, "delivered")
		}
	}
	return strings.Join(results, "; ")
}

func (ev *Evaluator) post(ctx context.Context, target string, body []byte, secret string, id int64) error {
	pause := ev.o.RetryPause
	var last error
	for attempt := range ev.o.Attempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return last
			case <-time.After(pause):
			}
			pause *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Portico-Alerts/1")
		req.Header.Set("X-Portico-Event", strconv.FormatInt(id, 10))
		if secret != "" {
			req.Header.Set(SignatureHeader, Sign(secret, time.Now(), body))
		}
		resp, err := ev.o.Client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // without the URL, which may be a credential
			}
			last = fmt.Errorf("%s: %w", redact(target), err)
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		last = fmt.Errorf("%s answered %d", redact(target), resp.StatusCode)
	}
	return last
}

// redact keeps a webhook URL's secret path out of logs: Slack-style URLs
// are credentials.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			return u[:i+3+j] + "/…"
		}
	}
	return u
}

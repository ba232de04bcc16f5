// Package demo is what "portico serve --demo" adds: a built-in echo
// upstream and an API in front of it, so that a newcomer sees a working,
// authenticated API with one command.
package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

// Key is the demo consumer's API key. It exists only with --demo, which
// listens on loopback unless told otherwise.
const Key = "portico-demo-key-0001"

// Config returns the demo's upstream, API and consumer, pointing at an echo
// server listening at echoURL.
func Config(echoURL string) config.Config {
	return config.Config{
		Version:   1,
		Upstreams: []config.Upstream{{Name: "demo-echo", Targets: []config.Target{{URL: echoURL}}}},
		APIs: []config.API{{
			Name: "demo", BasePath: "/demo", Upstream: "demo-echo", Auth: []string{config.AuthAPIKey},
			Routes: []config.Route{
				{Name: "hello", Methods: []string{"GET"}, Path: "/hello"},
				{Name: "echo", Path: "/echo/{rest...}"},
				{Name: "events", Methods: []string{"GET"}, Path: "/events"},
				{Name: "health", Methods: []string{"GET"}, Path: "/health", Auth: []string{config.AuthNone}},
			},
		}},
		Consumers: []config.Consumer{{Name: "demo-user", APIKeys: []string{Key}}},
	}
}

// Merge adds the demo's entries to c.
func Merge(c *config.Config, echoURL string) {
	d := Config(echoURL)
	if c.Version == 0 {
		c.Version = 1
	}
	c.Upstreams = append(c.Upstreams, d.Upstreams...)
	c.APIs = append(c.APIs, d.APIs...)
	c.Consumers = append(c.Consumers, d.Consumers...)
}

// Echo answers every request with a JSON description of it, and
// /events with five server-sent events a quarter second apart.
func Echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			events(w, r)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method":     r.Method,
			"path":       r.URL.EscapedPath(),
			"query":      r.URL.RawQuery,
			"consumer":   r.Header.Get("X-Consumer"),
			"request_id": r.Header.Get("X-Request-Id"),
			"forwarded":  r.Header.Get("X-Forwarded-For"),
			"body_bytes": n,
			"message":    "Hello from the Portico demo upstream. The gateway checked your key and told me who you are.",
		})
	})
}

func events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(w, "id: %d\ndata: {\"tick\":%d,\"time\":%q}\n\n", i, i, time.Now().UTC().Format(time.RFC3339Nano))
		if rc.Flush() != nil {
			return
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
}

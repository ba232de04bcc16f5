// Command llmmock is the LLM benchmark's provider: it answers at once,
// from answers made when it starts (by internal/llm/llmtest, the tests'
// mock), OpenAI's chat completions on /v1/chat/completions and Anthropic's
// messages on /v1/messages — streamed or not, with fixed usage.
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/llm/llmtest"
)

type answers struct {
	whole  []byte
	events [][]byte
	// usage is OpenAI's usage chunk, sent when the request asks for it.
	usage []byte
}

func build(format string) answers {
	r := llmtest.Reply{Text: "Hello there, friend", Usage: llmtest.Usage{In: 12, Out: 4}}
	whole, events := llmtest.Wire(format, "m", r, true)
	a := answers{whole: []byte(whole)}
	for _, ev := range events {
		if format == "openai" && strings.Contains(ev, `"choices":[]`) {
			a.usage = []byte(ev)
			continue
		}
		a.events = append(a.events, []byte(ev))
	}
	return a
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9931", "listen address")
	flag.Parse()
	byPath := map[string]answers{"/v1/chat/completions": build("openai"), "/v1/messages": build("anthropic")}
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a, ok := byPath[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if !bytes.Contains(body, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(a.whole)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i, ev := range a.events {
			if i == len(a.events)-1 && a.usage != nil && bytes.Contains(body, []byte(`"include_usage":true`)) {
				_, _ = w.Write(a.usage) // before [DONE]
			}
			_, _ = w.Write(ev)
			fl.Flush()
		}
	})}
	log.Fatal(srv.ListenAndServe())
}

// Command llmmock is the LLM benchmark's provider: an OpenAI-protocol
// server that answers chat completions at once, streamed (three content
// events, the usage chunk when asked, [DONE]) or not, with fixed usage.
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"time"
)

var (
	answer = []byte(`{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, friend"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}`)
	events = [][]byte{
		[]byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n"),
		[]byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"}}]}\n\n"),
		[]byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"),
	}
	usage = []byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4,\"total_tokens\":16}}\n\n")
	done  = []byte("data: [DONE]\n\n")
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9931", "listen address")
	flag.Parse()
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !bytes.Contains(body, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, ev := range events {
			_, _ = w.Write(ev)
			fl.Flush()
		}
		if bytes.Contains(body, []byte(`"include_usage":true`)) {
			_, _ = w.Write(usage)
		}
		_, _ = w.Write(done)
	})}
	log.Fatal(srv.ListenAndServe())
}

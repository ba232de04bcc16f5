// Command upstream is the benchmark's backend: it answers every request
// with the same ~100-byte JSON document, as fast as net/http allows.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
)

var body = []byte(`{"id":"ord_7QX2","status":"shipped","amount":{"value":"129.90","currency":"EUR"},"items":3}` + "\n")

func main() {
	addr := flag.String("addr", "127.0.0.1:9901", "listen address")
	flag.Parse()
	n := strconv.Itoa(len(body))
	srv := &http.Server{Addr: *addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{n}
		_, _ = w.Write(body)
	})}
	log.Fatal(srv.ListenAndServe())
}

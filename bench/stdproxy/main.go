// Command stdproxy is a reference point for docs/adr/0001-http-engine.md:
// the smallest net/http server with httputil.ReverseProxy and a tuned
// Transport, doing no gateway work at all.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9903", "listen address")
	target := flag.String("target", "http://127.0.0.1:9901", "upstream URL")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil {
		log.Fatal(err)
	}
	tr := &http.Transport{
		MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second, DisableCompression: true,
	}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
		Transport: tr,
	}
	log.Fatal((&http.Server{Addr: *addr, Handler: rp, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe())
}

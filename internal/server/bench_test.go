package server_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/server"
)

// BenchmarkServer serves keep-alive GETs over loopback, 50 connections at
// once, on
// Portico's server and on net/http's, with the same small handler. The
// client writes fixed bytes and reads the response with a minimal parser,
// so nearly all allocations counted are the server's.
func BenchmarkServer(b *testing.B) {
	body := []byte(`{"id":"ord_7QX2","status":"shipped"}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
		_, _ = w.Write(body)
	})
	for _, tt := range []struct {
		name  string
		serve func(net.Listener) func()
	}{
		{"portico", func(ln net.Listener) func() {
			s := &server.Server{Handler: h, MaxHeaderBytes: 32 << 10, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
			go func() { _ = s.Serve(ln) }()
			return func() { _ = s.Close() }
		}},
		{"net/http", func(ln net.Listener) func() {
			s := &http.Server{Handler: h, MaxHeaderBytes: 32 << 10, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
			go func() { _ = s.Serve(ln) }()
			return func() { _ = s.Close() }
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer tt.serve(ln)()
			addr := ln.Addr().String()
			req := []byte("GET /orders/7 HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nX-API-Key: bench-key-0123456789abcdef\r\nAccept: */*\r\n\r\n")
			b.ReportAllocs()
			b.SetParallelism(25) // 50 connections on 2 cores, like the harness's wrk -c50
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				for pb.Next() {
					if _, err := c.Write(req); err != nil {
						b.Error(err)
						return
					}
					if err := readResponse(br, len(body)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// readResponse reads a response head and a body of n bytes.
func readResponse(br *bufio.Reader, n int) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) == 2 {
			break
		}
		if !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) && bytes.IndexByte(line, ':') < 0 {
			return io.ErrUnexpectedEOF
		}
	}
	_, err := br.Discard(n)
	return err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStalledStdout: a standard output that nobody reads (a log collector
// that stopped, a pipe into a stuck program) does not stop the traffic or
// a shutdown; the lines wait and reach the output once it is read again.
func TestStalledStdout(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"ok":true}`)
	}))
	defer upstream.Close()
	file := filepath.Join(t.TempDir(), "portico.yaml")
	os.WriteFile(file, []byte(strings.Replace(upstreamConfig(upstream.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1)), 0o644)
	// Each request writes a line of some 300 bytes: 2,000 of them are
	// ten times what a pipe holds.
	const requests = 2000
	send := func(t *testing.T, n *proc) {
		t.Helper()
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		defer client.CloseIdleConnections()
		for i := range requests {
			req, _ := http.NewRequest("GET", "http://"+n.proxy+"/api/x", nil)
			req.Header.Set("X-API-Key", "acme-key-0123456789")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("request %d of %d with standard output stalled: %v", i+1, requests, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d", i+1, resp.StatusCode)
			}
		}
	}
	pipe := func(t *testing.T) (*os.File, *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		return r, w
	}

	t.Run("lines wait", func(t *testing.T) {
		r, w := pipe(t)
		n := startNodeTo(t, w, t.TempDir(), nil, "--config", file)
		send(t, n)
		// Read again: every request's line arrives, whole.
		lines := make(chan int, 1)
		go func() {
			sc := bufio.NewScanner(r)
			got := 0
			for sc.Scan() {
				if strings.Contains(sc.Text(), `"request_id"`) {
					if !strings.HasPrefix(sc.Text(), "{") || !strings.HasSuffix(sc.Text(), "}") {
						lines <- -1
						return
					}
					if got++; got == requests {
						lines <- got
						return
					}
				}
			}
		}()
		select {
		case got := <-lines:
			if got != requests {
				t.Fatal("a line was cut")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the access log lines did not reach standard output once it was read")
		}
		go io.Copy(io.Discard, r)
		// Nothing was dropped: 2,000 lines are well under the bound.
		if _, metrics := get(t, "http://"+n.admin+"/metrics"); !strings.Contains(metrics, "\nportico_log_lines_dropped_total 0\n") {
			t.Errorf("/metrics does not count 0 dropped log lines:\n%s", metrics)
		}
		if err := n.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("exit: %v, want 0", err)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		_, w := pipe(t)
		n := startNodeTo(t, w, t.TempDir(), nil, "--config", file)
		send(t, n)
		began := time.Now()
		if err := n.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("exit with standard output stalled: %v, want 0\n%s", err, n.out.String())
		}
		t.Logf("stopped in %v", time.Since(began).Round(time.Millisecond))
		if !strings.Contains(n.out.String(), "access log: the output took nothing") {
			t.Errorf("standard error does not say lines were lost:\n%s", n.out.String())
		}
	})
}

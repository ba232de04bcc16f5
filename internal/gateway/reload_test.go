package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReloadsUnderLoad swaps in 100 configs while clients send a steady
// stream of requests; not one request may fail, and each answer must come
// from one of the two configs, whole.
func TestReloadsUnderLoad(t *testing.T) {
	t.Parallel()
	v1 := newRecorder(t)
	v2 := newRecorder(t)
	cfg := func(version int) string {
		return strings.Replace(baseConfig, "name: up\n", fmt.Sprintf("name: up\n    connect_timeout: %dms\n", 1000+version), 1)
	}
	e := start(t, cfg(0), v1.srv.URL)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", e.URL+"/api/orders/1", nil)
				req.Header.Set("X-API-Key", acmeKey)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "upstream saw /orders/1" {
					failed.Add(1)
					t.Errorf("during reload: %d %q", resp.StatusCode, body)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for i := 1; i <= 100; i++ {
		up := v1.srv.URL
		if i%2 == 1 {
			up = v2.srv.URL
		}
		e.load(cfg(i), up)
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during 100 reloads", failed.Load(), failed.Load()+ok.Load())
	}
	if ok.Load() < 100 || len(v1.all()) == 0 || len(v2.all()) == 0 {
		t.Fatalf("%d requests, %d to v1 and %d to v2: the test did not exercise the reloads", ok.Load(), len(v1.all()), len(v2.all()))
	}
}

// TestInvalidConfigKeepsServing checks that a config that fails to compile
// changes nothing.
func TestInvalidConfigKeepsServing(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := start(t, baseConfig, rec.srv.URL)
	before := e.gw.Snapshot()
	if _, err := e.compile(strings.Replace(baseConfig, "upstream: up", "upstream: missing", 1), rec.srv.URL); err == nil {
		t.Fatal("a config with a dangling upstream compiled")
	}
	if e.gw.Snapshot() != before {
		t.Fatal("a failed compile replaced the serving snapshot")
	}
	if resp, _ := e.do("GET", "/api/public/x", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("after a rejected config: %d", resp.StatusCode)
	}
}

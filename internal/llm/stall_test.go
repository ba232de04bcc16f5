package llm

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// TestStallGuard: over net/http's Transport, an answer that keeps coming
// is read whole however long it takes, and one that stops coming for
// longer than the timeout fails the read waiting for it at that timeout
// (never sooner), with an error that says so.
func TestStallGuard(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fl := w.(http.Flusher)
		for range 6 { // 6 parts, 100 ms apart: 500 ms in all, longer than the timeout
			_, _ = io.WriteString(w, "part\n")
			fl.Flush()
			select {
			case <-time.After(100 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		if r.URL.Path == "/stall" {
			select { // until the call is cancelled, or for long
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	get := func(path string) *http.Response {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		guardStalls(resp, timeout, cancel)
		return resp
	}

	resp := get("/trickle")
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(b) != 6*len("part\n") {
		t.Fatalf("an answer that kept coming: %d bytes, %v", len(b), err)
	}

	resp = get("/stall")
	began := time.Now()
	b, err = io.ReadAll(resp.Body)
	took := time.Since(began)
	resp.Body.Close()
	if !errors.Is(err, os.ErrDeadlineExceeded) || len(b) != 6*len("part\n") {
		t.Fatalf("an answer that stopped coming: %d bytes, %v; want its parts, then a timeout", len(b), err)
	}
	// The last part came at ~500 ms; the timeout counts from then.
	if took < 500*time.Millisecond+timeout || took > 500*time.Millisecond+timeout+time.Second {
		t.Fatalf("the stalled read failed after %v of reading; want at 500ms + %v", took, timeout)
	}
}

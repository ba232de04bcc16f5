package llm

import (
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/portico-gw/portico/internal/llm/llmtest"
)

// pending tells a whole next event in the buffer from a partial one (or
// none), for both stream framings, without waiting on the stream.
func TestFramesPending(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatOpenAI, FormatBedrock} {
		wire := "openai"
		if format == FormatBedrock {
			wire = "bedrock"
		}
		_, events := llmtest.Wire(wire, "m", llmtest.Reply{Text: "a b c", Usage: llmtest.Usage{In: 1, Out: 3}}, true)
		if len(events) < 3 {
			t.Fatalf("%s: %d events", format, len(events))
		}
		// Two whole events, then half of the third; the stream then stalls
		// (a read would block: the pipe's writer waits).
		last := events[2]
		pr, pw := io.Pipe()
		rest := last[:len(last)/2]
		if format != FormatBedrock {
			rest = "\n\n" + rest // blank lines before a partial event are no event
		}
		go func() {
			_, _ = io.WriteString(pw, events[0]+events[1]+rest)
		}()
		t.Cleanup(func() { _ = pw.Close() })
		fr := framesOf(&http.Response{Body: pr}, format)
		if fr.pending() {
			t.Errorf("%s: pending before anything was read", format)
		}
		if _, err := fr.next(); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if !fr.pending() {
			t.Errorf("%s: the second event is buffered whole, pending says no", format)
		}
		if _, err := fr.next(); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if fr.pending() {
			t.Errorf("%s: half an event buffered, pending says whole", format)
		}
	}
}

// queuedBody hands out what "arrived" one piece per Read, and says so in
// Ready; a Read with nothing queued waits, as a socket's would.
type queuedBody struct {
	mu     sync.Mutex
	queue  []string
	arrive chan struct{}
}

func (b *queuedBody) push(s string) {
	b.mu.Lock()
	b.queue = append(b.queue, s)
	b.mu.Unlock()
	b.arrive <- struct{}{}
}

func (b *queuedBody) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) > 0
}

func (b *queuedBody) Read(p []byte) (int, error) {
	for {
		b.mu.Lock()
		if len(b.queue) > 0 {
			n := copy(p, b.queue[0])
			b.queue[0] = b.queue[0][n:]
			if b.queue[0] == "" {
				b.queue = b.queue[1:]
			}
			b.mu.Unlock()
			return n, nil
		}
		b.mu.Unlock()
		<-b.arrive
	}
}

func (b *queuedBody) Close() error { return nil }

// Events that arrived in separate reads are still pending together: the
// relay sends them in one write. What has not arrived is not waited for.
func TestFramesPendingReadsWhatArrived(t *testing.T) {
	t.Parallel()
	_, events := llmtest.Wire("openai", "m", llmtest.Reply{Text: "a b c", Usage: llmtest.Usage{In: 1, Out: 3}}, true)
	body := &queuedBody{arrive: make(chan struct{}, 16)}
	body.push(events[0])
	body.push(events[1])
	fr := framesOf(&http.Response{Body: body}, FormatOpenAI)
	if _, err := fr.next(); err != nil {
		t.Fatal(err)
	}
	if !fr.pending() {
		t.Fatal("the second event has arrived (a read away), pending says no")
	}
	if _, err := fr.next(); err != nil {
		t.Fatal(err)
	}
	if fr.pending() {
		t.Fatal("nothing more arrived, pending says yes")
	}
	half := len(events[2]) / 2
	body.push(events[2][:half])
	if fr.pending() {
		t.Fatal("half an event arrived, pending says whole")
	}
	body.push(events[2][half:])
	if !fr.pending() {
		t.Fatal("the rest arrived, pending says no")
	}
	if f, err := fr.next(); err != nil || string(f.raw) != events[2] {
		t.Fatalf("third event %q, %v", f.raw, err)
	}
}

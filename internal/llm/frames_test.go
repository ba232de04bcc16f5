package llm

import (
	"io"
	"net/http"
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

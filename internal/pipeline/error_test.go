package pipeline

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
)

func TestWriteError(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	WriteError(w, "req-1", MethodNotAllowed("GET, HEAD"))
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d, headers %v", w.Code, w.Header())
	}
	var body struct {
		Error struct{ Code, Message, RequestID string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != "method_not_allowed" || body.Error.RequestID != "" && body.Error.RequestID != "req-1" {
		t.Fatalf("body %s", w.Body.String())
	}
	var raw map[string]map[string]string
	_ = json.Unmarshal(w.Body.Bytes(), &raw)
	if raw["error"]["request_id"] != "req-1" {
		t.Fatalf("request_id = %q, want req-1", raw["error"]["request_id"])
	}

	w = httptest.NewRecorder()
	if e := WriteError(w, "r", errors.New("dial tcp: refused")); e.Status != 502 || w.Code != 502 {
		t.Fatalf("a plain error rendered as %d, want 502", w.Code)
	}
	if json.Valid(w.Body.Bytes()) == false {
		t.Fatalf("not JSON: %s", w.Body.String())
	}
}

package telemetry

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendEntryIsJSON(t *testing.T) {
	t.Parallel()
	e := &Entry{
		Time: time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC), RequestID: "id-1",
		ClientIP: netip.MustParseAddr("203.0.113.7"), Method: "GET", Host: "api.example.com",
		Path: "/a/b", RawPath: "/a/./b", Status: 200, Duration: 1500 * time.Microsecond, BytesOut: 42,
		API: "orders", Route: "get", Consumer: "acme", Upstream: "up",
	}
	var m map[string]any
	line := AppendEntry(nil, e)
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	want := map[string]any{"time": "2026-11-27T10:00:00.123456789Z", "request_id": "id-1", "client_ip": "203.0.113.7",
		"method": "GET", "path": "/a/b", "raw_path": "/a/./b", "status": 200.0, "duration_ms": 1.5, "bytes_out": 42.0,
		"api": "orders", "route": "get", "consumer": "acme", "upstream": "up"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"uote\\", "\x00\x1f\x7f", "caf\xc3\xa9", "\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s, not a JSON string: %v", s, b, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}

func TestRouteMetricsAreLockFreeAfterFirstUse(t *testing.T) {
	m := NewMetrics()
	r := m.Route("api", "route")
	r.Observe(200, time.Millisecond)
	if n := testing.AllocsPerRun(100, func() { r.Observe(200, time.Millisecond) }); n != 0 {
		t.Fatalf("Observe allocates %v times per call, want 0", n)
	}
}

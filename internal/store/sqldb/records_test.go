package sqldb

import (
	"reflect"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

func sampleRecords() []store.UsageRecord {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123000, time.UTC)
	return []store.UsageRecord{
		{Time: at, Node: "n1", API: "shop", Route: "list", Consumer: "acme", Plan: "gold", Upstream: "shop", RequestID: "r-1",
			Status: 200, Latency: 1500 * time.Microsecond, BytesIn: 0, BytesOut: 512},
		// Out of order (a negative time step), Unicode, empty names.
		{Time: at.Add(-time.Second), Node: "n1", API: "shop", Route: "item", Consumer: "zoë", RequestID: "r-2",
			Status: 503, Latency: 30 * time.Second, BytesIn: 1 << 20, BytesOut: 0},
		{Time: at.Add(time.Hour), Node: "n1", API: "shop", Route: "list", Consumer: "acme", Plan: "gold", Upstream: "shop"},
		{Time: at, Node: "n1", API: "ai", Route: "chat-completions", Consumer: "acme", Upstream: "llm:openai", Status: 200,
			LLMModel: "openai/gpt-4.1", TokensIn: 1200, TokensOut: 340, TokensCached: 1000, TokensReasoning: 12, CostPico: 5_120_000_000, Unpriced: false},
		{Time: at, Node: "n1", API: "ai", Route: "chat-completions", LLMModel: "local/llama", TokensIn: 5, TokensOut: 7, Unpriced: true, Estimated: true},
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	recs := sampleRecords()
	var got []store.UsageRecord
	if err := decodeRecords(encodeRecords(recs), "n1", func(r *store.UsageRecord) error { got = append(got, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, recs)
	}
	if err := decodeRecords(encodeRecords(nil), "n1", func(*store.UsageRecord) error { t.Fatal("a record from nothing"); return nil }); err != nil {
		t.Fatal(err)
	}
	b := encodeRecords(recs)
	for _, bad := range [][]byte{nil, {3}, {0}, b[:len(b)-1], append(append([]byte{}, b...), 0)} {
		if err := decodeRecords(bad, "n", func(*store.UsageRecord) error { return nil }); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

// FuzzDecodeRecords: stored bytes that are not a valid encoding (a
// damaged database) are an error, never a panic or a huge allocation; a
// valid encoding decodes to what was encoded.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(encodeRecords(sampleRecords()))
	f.Add(encodeRecords(nil))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []store.UsageRecord
		if err := decodeRecords(b, "n", func(r *store.UsageRecord) error { got = append(got, *r); return nil }); err != nil {
			return
		}
		again := encodeRecords(got)
		var twice []store.UsageRecord
		if err := decodeRecords(again, "n", func(r *store.UsageRecord) error { twice = append(twice, *r); return nil }); err != nil {
			t.Fatalf("re-encoding of a decoded batch does not decode: %v", err)
		}
		if !reflect.DeepEqual(got, twice) {
			t.Fatalf("decode(encode(x)) != x")
		}
	})
}

// BenchmarkEncodeRecords: a second's batch of a busy node, most records
// on a few routes and consumers.
func BenchmarkEncodeRecords(b *testing.B) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	recs := make([]store.UsageRecord, 5000)
	for i := range recs {
		recs[i] = store.UsageRecord{Time: at.Add(time.Duration(i) * 100 * time.Microsecond), API: "orders",
			Route: []string{"get-order", "list-orders"}[i%7/6], Consumer: []string{"acme", "globex", "initech"}[i%3],
			Plan: "gold", Upstream: "orders", RequestID: "01JDQ7W3V5R6X8Y9Z0A1B2C3D4", Status: 200,
			Latency: time.Duration(300+i%97) * time.Microsecond, BytesOut: 92}
	}
	for b.Loop() {
		encodeRecords(recs)
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}

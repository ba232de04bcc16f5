package llm

import (
	"strings"
	"testing"
)

// BenchmarkMask masks a 64 KiB prompt of ordinary text with a few values
// to find (email, card, phone and a named pattern).
func BenchmarkMask(b *testing.B) {
	m := testMasker()
	text := strings.Repeat("The meeting on 2026-11-27 with ann@example.com about order 12345 went well; call +33 6 12 34 56 78. ", 640)
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"` + text + `"}]}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		m.mask(body)
	}
}

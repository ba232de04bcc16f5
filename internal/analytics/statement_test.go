package analytics

import (
	"math/big"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

// TestPrice checks the tier arithmetic on the product's own example:
// included 1000, 0.001 up to the 100,000th request, 0.0005 after.
func TestPrice(t *testing.T) {
	gold := &config.Pricing{Currency: "USD", Included: 1000, Tiers: []config.PriceTier{{UpTo: 100000, Price: "0.001"}, {Price: "0.0005"}}}
	for _, c := range []struct {
		billable int64
		amount   string
		lines    int
	}{
		{0, "0.0000", 1},
		{999, "0.0000", 1},
		{1000, "0.0000", 1},
		{1001, "0.0010", 2},
		{100000, "99.0000", 2},   // 99,000 × 0.001
		{100001, "99.0005", 3},   // + 1 × 0.0005
		{250000, "174.0000", 3},  // 99 + 150,000 × 0.0005
		{1234567, "666.2835", 3}, // 99 + 1,134,567 × 0.0005
	} {
		s := Statement{Billable: c.billable}
		Price(&s, gold)
		if s.Amount != c.amount || len(s.Lines) != c.lines || s.Currency != "USD" {
			t.Errorf("%d requests: %s in %d lines %+v, want %s in %d", c.billable, s.Amount, len(s.Lines), s.Lines, c.amount, c.lines)
		}
	}
	// Tiers below the included requests, and a monthly fee.
	p := &config.Pricing{Currency: "EUR", MonthlyFee: "49.90", Included: 50, Tiers: []config.PriceTier{{UpTo: 10, Price: "1"}, {UpTo: 100, Price: "0.25"}, {Price: "0.1"}}}
	s := Statement{Billable: 120}
	Price(&s, p)
	// 50 free; 51–100 at 0.25 = 12.50; 101–120 at 0.1 = 2.00; + 49.90.
	if s.Amount != "64.40" || len(s.Lines) != 4 || s.Lines[2].Description != "Requests 51–100" || s.Lines[2].Amount != "12.50" {
		t.Errorf("got %s %+v", s.Amount, s.Lines)
	}
	s = Statement{Billable: 5}
	Price(&s, nil)
	if s.Amount != "0.00" || len(s.Lines) != 0 {
		t.Errorf("no pricing: %+v", s)
	}
	// LLM calls are billed at their cost, on a line of their own, added
	// exactly to the requests' amount.
	s = Statement{Billable: 1001, LLMTokensIn: 1500, LLMTokensOut: 300}
	s.llmCost.SetInt64(919_950_000) // 0.00091995
	Price(&s, gold)
	if s.Amount != "0.00191995" || len(s.Lines) != 3 || s.Lines[2].Amount != "0.00091995" || s.Lines[2].Description != "LLM calls (1,500 tokens in, 300 out)" {
		t.Errorf("with LLM calls: %s %+v", s.Amount, s.Lines)
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string][2]int{"5xx": {500, 599}, "2XX": {200, 299}, "404": {404, 404}} {
		lo, hi, err := ParseStatus(in)
		if err != nil || lo != want[0] || hi != want[1] {
			t.Errorf("%s: %d %d %v", in, lo, hi, err)
		}
	}
	for _, bad := range []string{"6xx", "99", "abc", "600", ""} {
		if _, _, err := ParseStatus(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestExactCost(t *testing.T) {
	for in, want := range map[int64]string{0: "0.00", 919_950_000: "0.00091995", 12_500_000_000_000: "12.50", 1: "0.000000000001"} {
		if got := exact(new(big.Rat).SetFrac(big.NewInt(in), picoPerUnit)); got != want {
			t.Errorf("%d pico: %s, want %s", in, got, want)
		}
	}
}

// TestBillable: failures, refusals, sandboxes and mirrored LLM calls are
// not billed; everything else is.
func TestBillable(t *testing.T) {
	for _, c := range []struct {
		api    string
		status int
		want   bool
	}{
		{"ai", 200, true}, {"ai", 404, true}, {"ai", 429, false}, {"ai", 500, false}, {"ai", 503, false},
		{"sandbox:ai", 200, false}, {"mirror:ai", 200, false}, {"mirrors", 200, true},
	} {
		if got := Billable(c.api, c.status); got != c.want {
			t.Errorf("Billable(%q, %d) = %v, want %v", c.api, c.status, got, c.want)
		}
	}
}

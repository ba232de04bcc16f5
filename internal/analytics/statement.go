package analytics

import (
	"context"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// Statement is what a consumer owes for a calendar month, computed from
// the hour rollups. Amounts are exact decimal strings.
type Statement struct {
	Consumer string `json:"consumer"`
	// Month is YYYY-MM, in the time zone of the statement.
	Month    string    `json:"month"`
	TimeZone string    `json:"time_zone"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Plan     string    `json:"plan"`
	Currency string    `json:"currency"`
	// Requests are all the consumer's requests; Billable those that count
	// toward the price: every one but 429 refusals and 5xx failures.
	Requests int64 `json:"requests"`
	Billable int64 `json:"billable"`
	// LLM calls of the month: tokens, and their cost at the price table's
	// prices (billed on a line of its own).
	LLMTokensIn  int64  `json:"llm_tokens_in"`
	LLMTokensOut int64  `json:"llm_tokens_out"`
	Amount       string `json:"amount"`
	Lines        []Line `json:"lines"`
	llmCost      big.Int
}

// Line is one line of a statement.
type Line struct {
	Description string `json:"description"`
	Quantity    int64  `json:"quantity"`
	UnitPrice   string `json:"unit_price"`
	Amount      string `json:"amount"`
}

// Billable says whether a request to api answered status is billed:
// every one but 429 refusals, 5xx failures and calls to the portal's
// sandboxes ("sandbox:<api>").
func Billable(api string, status int) bool {
	return status < 500 && status != 429 && !strings.HasPrefix(api, "sandbox:") && !strings.HasPrefix(api, "mirror:")
}

// ParseMonth reads YYYY-MM as the month's first instant in loc and the
// next month's.
func ParseMonth(s string, loc *time.Location) (from, to time.Time, err error) {
	t, err := time.ParseInLocation("2006-01", s, loc)
	if err != nil || len(s) != 7 {
		return from, to, fmt.Errorf("month %q is not YYYY-MM", s)
	}
	return t, t.AddDate(0, 1, 0), nil
}

// Count returns the consumer's requests and billable requests in
// [from, to), from the hour rollups (whose buckets are whole UTC hours:
// exact for time zones whose offset is a whole number of hours).
func Count(ctx context.Context, st store.UsageStore, group, consumer string, from, to time.Time) (requests, billable int64, err error) {
	f := store.RollupFilter{Group: group, Granularity: store.Hour, From: from, To: to, Consumer: consumer}
	err = st.Rollups(ctx, f, func(r store.Rollup) error {
		if r.Consumer != consumer {
			return nil // the filter leaves "" out only when consumer is ""
		}
		requests += r.Requests
		if Billable(r.API, r.Status) {
			billable += r.Requests
		}
		return nil
	})
	return requests, billable, err
}

// Fill counts the consumer's requests, billable requests and LLM usage
// in [from, to) into s, from the hour rollups.
func Fill(ctx context.Context, st store.UsageStore, group string, s *Statement, from, to time.Time) error {
	f := store.RollupFilter{Group: group, Granularity: store.Hour, From: from, To: to, Consumer: s.Consumer}
	return st.Rollups(ctx, f, func(r store.Rollup) error {
		if r.Consumer != s.Consumer {
			return nil
		}
		s.Requests += r.Requests
		if Billable(r.API, r.Status) {
			s.Billable += r.Requests
			s.LLMTokensIn += r.TokensIn
			s.LLMTokensOut += r.TokensOut
			s.llmCost.Add(&s.llmCost, big.NewInt(r.CostPico))
		}
		return nil
	})
}

// Price fills in s's lines and amount for billable requests on pricing
// (nil: no price for requests), and a line for its LLM calls' cost.
func Price(s *Statement, pr *config.Pricing) {
	s.Lines = []Line{}
	llm := new(big.Rat).SetFrac(&s.llmCost, picoPerUnit)
	if pr == nil {
		s.Amount = "0.00"
		if llm.Sign() > 0 {
			s.Lines = append(s.Lines, llmLine(s, llm))
			s.Amount = exact(llm)
		}
		return
	}
	s.Currency = pr.Currency
	scale := 2
	for _, d := range append([]config.Decimal{pr.MonthlyFee}, tierPrices(pr)...) {
		if i := strings.IndexByte(string(d), '.'); i >= 0 {
			scale = max(scale, len(d)-i-1)
		}
	}
	total := new(big.Rat)
	add := func(desc string, qty int64, price config.Decimal) {
		p := rat(price)
		amount := new(big.Rat).Mul(p, new(big.Rat).SetInt64(qty))
		total.Add(total, amount)
		s.Lines = append(s.Lines, Line{Description: desc, Quantity: qty, UnitPrice: p.FloatString(scale), Amount: amount.FloatString(scale)})
	}
	if pr.MonthlyFee != "" {
		add("Monthly fee", 1, pr.MonthlyFee)
	}
	n := s.Billable
	if pr.Included > 0 {
		add("Included requests (1–"+group(pr.Included)+")", min(n, pr.Included), "0")
	}
	var prev int64 // the last request number priced by earlier tiers
	for _, t := range pr.Tiers {
		start := max(prev, pr.Included) // requests up to here are priced already
		end := n
		if t.UpTo > 0 {
			end = min(t.UpTo, n)
		}
		if end > start {
			desc := "Requests " + group(start+1) + "–" + group(end)
			add(desc, end-start, t.Price)
		}
		if t.UpTo == 0 {
			break
		}
		prev = t.UpTo
	}
	if llm.Sign() > 0 {
		l := llmLine(s, llm)
		s.Lines = append(s.Lines, l)
		total.Add(total, llm)
		scale = max(scale, len(l.Amount)-strings.IndexByte(l.Amount, '.')-1)
	}
	s.Amount = total.FloatString(scale)
}

// llmLine bills the month's LLM calls at their cost.
func llmLine(s *Statement, cost *big.Rat) Line {
	amount := exact(cost)
	return Line{Description: "LLM calls (" + group(s.LLMTokensIn) + " tokens in, " + group(s.LLMTokensOut) + " out)",
		Quantity: 1, UnitPrice: amount, Amount: amount}
}

func tierPrices(pr *config.Pricing) []config.Decimal {
	out := make([]config.Decimal, len(pr.Tiers))
	for i, t := range pr.Tiers {
		out[i] = t.Price
	}
	return out
}

// rat reads a validated decimal ("" is 0).
func rat(d config.Decimal) *big.Rat {
	r, ok := new(big.Rat).SetString(string(d))
	if !ok {
		return new(big.Rat)
	}
	return r
}

// group writes n with thousands separators: 100000 → 100,000.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// CSVHeader and CSVRows write statements as CSV: one row per line, with
// the statement's fields repeated, and a total row per statement.
var CSVHeader = []string{"month", "consumer", "plan", "currency", "requests", "billable", "line", "quantity", "unit_price", "amount"}

// CSVRows returns s's rows.
func (s *Statement) CSVRows() [][]string {
	base := []string{s.Month, s.Consumer, s.Plan, s.Currency, strconv.FormatInt(s.Requests, 10), strconv.FormatInt(s.Billable, 10)}
	var rows [][]string
	for _, l := range s.Lines {
		rows = append(rows, append(append([]string{}, base...), l.Description, strconv.FormatInt(l.Quantity, 10), l.UnitPrice, l.Amount))
	}
	return append(rows, append(append([]string{}, base...), "Total", "", "", s.Amount))
}

// Package analytics answers questions about metered usage from the
// store's rollups: totals with latency percentiles over any range,
// time series, top-N lists, and monthly statements priced by plans.
//
// Latency percentiles come from merged DDSketches (internal/sketch): each
// is within 1% of the true value at its rank, over any range, any filter
// and any number of nodes.
package analytics

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/sketch"
	"github.com/portico-gw/portico/internal/store"
)

// Query selects usage: a group's requests in [From, To) that match the
// set filters. Ranges are read from whole rollup buckets: the coarsest
// granularity whose buckets both ends fall on, else minutes (so an
// unaligned range is widened to whole minutes).
type Query struct {
	Group      string
	From, To   time.Time
	API, Route string
	Consumer   string
	// StatusMin and StatusMax bound the status, inclusive (0: no bound).
	StatusMin, StatusMax int
}

// ParseStatus reads a status filter: a code ("503") or a class ("5xx").
func ParseStatus(s string) (lo, hi int, err error) {
	if len(s) == 3 && (s[1:] == "xx" || s[1:] == "XX") && s[0] >= '1' && s[0] <= '5' {
		c := int(s[0]-'0') * 100
		return c, c + 99, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, 0, fmt.Errorf("status %q is not a status code (100-599) or class (1xx-5xx)", s)
	}
	return n, n, nil
}

// Stats are the numbers of a set of requests. Errors are responses with
// a 5xx status; latencies are the gateway's whole handling time.
type Stats struct {
	Requests  int64            `json:"requests"`
	Errors    int64            `json:"errors"`
	ErrorRate float64          `json:"error_rate"`
	Status    map[string]int64 `json:"status"`
	P50       float64          `json:"p50_ms"`
	P95       float64          `json:"p95_ms"`
	P99       float64          `json:"p99_ms"`
	Mean      float64          `json:"mean_ms"`
	BytesIn   int64            `json:"bytes_in"`
	BytesOut  int64            `json:"bytes_out"`
	// LLM calls: tokens in and out, their cost in the price table's
	// currency (an exact decimal string), and the calls without a price
	// (whose cost is unknown, not zero).
	LLMTokensIn  int64  `json:"llm_tokens_in"`
	LLMTokensOut int64  `json:"llm_tokens_out"`
	LLMCost      string `json:"llm_cost"`
	LLMUnpriced  int64  `json:"llm_unpriced"`
	// LLMEstimated counts the calls whose tokens were estimated (the
	// provider reported none: a stream the client left).
	LLMEstimated int64 `json:"llm_estimated"`
}

// acc adds rollups up.
type acc struct {
	s      Stats
	k      *sketch.Sketch
	latSum time.Duration
	cost   big.Int // 10⁻¹² units
}

func newAcc() *acc {
	return &acc{s: Stats{Status: map[string]int64{"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}}, k: sketch.New()}
}

func (a *acc) add(r *store.Rollup) error {
	a.s.Requests += r.Requests
	if r.Status >= 500 {
		a.s.Errors += r.Requests
	}
	a.s.Status[strconv.Itoa(r.Status/100)+"xx"] += r.Requests
	a.s.BytesIn += r.BytesIn
	a.s.BytesOut += r.BytesOut
	a.latSum += r.LatencySum
	a.s.LLMTokensIn += r.TokensIn
	a.s.LLMTokensOut += r.TokensOut
	a.s.LLMUnpriced += r.Unpriced
	a.s.LLMEstimated += r.Estimated
	a.cost.Add(&a.cost, big.NewInt(r.CostPico))
	return a.k.MergeEncoded(r.Sketch)
}

func (a *acc) stats() Stats {
	s := a.s
	s.LLMCost = exact(new(big.Rat).SetFrac(&a.cost, picoPerUnit))
	if s.Requests > 0 {
		s.ErrorRate = round(float64(s.Errors)/float64(s.Requests), 6)
		s.Mean = round(float64(a.latSum)/float64(time.Millisecond)/float64(s.Requests), 3)
		s.P50, s.P95, s.P99 = round(a.k.Quantile(0.5), 3), round(a.k.Quantile(0.95), 3), round(a.k.Quantile(0.99), 3)
	}
	return s
}

// exact writes r (a multiple of 10⁻¹²) with every decimal it has, and at
// least two: 0.00091995, 12.50.
func exact(r *big.Rat) string {
	s := strings.TrimRight(r.FloatString(12), "0")
	if i := strings.IndexByte(s, '.'); len(s)-i-1 < 2 {
		s += strings.Repeat("0", 2-(len(s)-i-1))
	}
	return s
}

// picoPerUnit is 10¹²: LLM costs are kept in 10⁻¹² units.
var picoPerUnit = big.NewInt(1_000_000_000_000)

func round(v float64, digits int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return f
}

// granularity picks the rollups that cover [from, to) exactly, and the
// range rounded out to their buckets.
func granularity(from, to time.Time) (string, time.Time, time.Time) {
	for _, g := range []struct {
		name string
		size time.Duration
	}{{store.Day, 24 * time.Hour}, {store.Hour, time.Hour}} {
		if from.Equal(from.Truncate(g.size)) && to.Equal(to.Truncate(g.size)) {
			return g.name, from, to
		}
	}
	f := from.Truncate(time.Minute)
	t := to.Truncate(time.Minute)
	if t.Before(to) {
		t = t.Add(time.Minute)
	}
	return store.Minute, f, t
}

func (q Query) filter(gran string, from, to time.Time) store.RollupFilter {
	return store.RollupFilter{Group: q.Group, Granularity: gran, From: from, To: to, API: q.API, Route: q.Route,
		Consumer: q.Consumer, StatusMin: q.StatusMin, StatusMax: q.StatusMax}
}

// Summary adds up the usage q selects.
func Summary(ctx context.Context, st store.UsageStore, q Query) (Stats, error) {
	gran, from, to := granularity(q.From, q.To)
	a := newAcc()
	err := st.Rollups(ctx, q.filter(gran, from, to), func(r store.Rollup) error { return a.add(&r) })
	return a.stats(), err
}

// Point is one bucket of a time series.
type Point struct {
	Time time.Time `json:"time"`
	Stats
}

// MaxPoints bounds a time series.
const MaxPoints = 5000

// ErrTooManyPoints is returned when the range holds more buckets than
// MaxPoints.
var ErrTooManyPoints = errors.New("the range holds more than 5000 buckets of this granularity; choose a coarser one")

// Sizes are the bucket lengths of the granularities.
var Sizes = map[string]time.Duration{store.Minute: time.Minute, store.Hour: time.Hour, store.Day: 24 * time.Hour}

// Timeseries returns one point per bucket of gran in q's range (rounded
// out to whole buckets), empty buckets included.
func Timeseries(ctx context.Context, st store.UsageStore, q Query, gran string) ([]Point, error) {
	size, ok := Sizes[gran]
	if !ok {
		return nil, fmt.Errorf("granularity %q is not minute, hour or day", gran)
	}
	from := q.From.Truncate(size)
	to := q.To.Truncate(size)
	if to.Before(q.To) {
		to = to.Add(size)
	}
	n := int(to.Sub(from) / size)
	if n > MaxPoints {
		return nil, ErrTooManyPoints
	}
	accs := make([]*acc, n)
	err := st.Rollups(ctx, q.filter(gran, from, to), func(r store.Rollup) error {
		i := int(r.Bucket.Sub(from) / size)
		if i < 0 || i >= n {
			return nil
		}
		if accs[i] == nil {
			accs[i] = newAcc()
		}
		return accs[i].add(&r)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Point, n)
	for i := range out {
		a := accs[i]
		if a == nil {
			a = newAcc()
		}
		out[i] = Point{Time: from.Add(time.Duration(i) * size), Stats: a.stats()}
	}
	return out, nil
}

// Entry is one line of a top-N list.
type Entry struct {
	Key string `json:"key"`
	Stats
}

// Top lists the usage q selects grouped by consumer, route ("api/route"),
// api or status, the largest first by order (requests or errors), at most
// limit entries.
func Top(ctx context.Context, st store.UsageStore, q Query, by, order string, limit int) ([]Entry, error) {
	var key func(r *store.Rollup) string
	switch by {
	case "consumer":
		key = func(r *store.Rollup) string { return r.Consumer }
	case "route":
		key = func(r *store.Rollup) string { return r.API + "/" + r.Route }
	case "api":
		key = func(r *store.Rollup) string { return r.API }
	case "status":
		key = func(r *store.Rollup) string { return strconv.Itoa(r.Status) }
	default:
		return nil, fmt.Errorf("by %q is not consumer, route, api or status", by)
	}
	if order != "requests" && order != "errors" {
		return nil, fmt.Errorf("order %q is not requests or errors", order)
	}
	gran, from, to := granularity(q.From, q.To)
	accs := map[string]*acc{}
	err := st.Rollups(ctx, q.filter(gran, from, to), func(r store.Rollup) error {
		k := key(&r)
		a := accs[k]
		if a == nil {
			a = newAcc()
			accs[k] = a
		}
		return a.add(&r)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(accs))
	for k, a := range accs {
		out = append(out, Entry{Key: k, Stats: a.stats()})
	}
	slices.SortFunc(out, func(a, b Entry) int {
		va, vb := a.Requests, b.Requests
		if order == "errors" {
			va, vb = a.Errors, b.Errors
		}
		if va != vb {
			if va > vb {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
	if order == "errors" {
		for len(out) > 0 && out[len(out)-1].Errors == 0 {
			out = out[:len(out)-1]
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

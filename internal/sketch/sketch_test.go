package sketch

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestQuantilesWithinAccuracy checks the promise analytics relies on:
// quantiles of sketches merged from parts (encoded and decoded, as the
// store keeps them) are within 1% of the exact value at rank ⌊q·(n−1)⌋.
func TestQuantilesWithinAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var all []float64
	merged := New()
	for part := range 7 {
		k := New()
		for range 1000 + part*300 {
			// Latencies from 0.05 ms to minutes, log-spread, with a slow tail.
			v := math.Exp(rng.NormFloat64()*1.5 + 2)
			if rng.IntN(50) == 0 {
				v *= 100
			}
			k.Add(v)
			all = append(all, v)
		}
		if err := merged.MergeEncoded(k.Encode(nil)); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(all)
	if merged.Count() != int64(len(all)) {
		t.Fatalf("count %d, want %d", merged.Count(), len(all))
	}
	for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		want := all[int(q*float64(len(all)-1))]
		got := merged.Quantile(q)
		if math.Abs(got-want) > RelativeAccuracy*want {
			t.Errorf("q%.3f = %.4f, exact %.4f: off by %.3f%%", q, got, want, 100*math.Abs(got-want)/want)
		}
	}
}

func TestEncoding(t *testing.T) {
	if k, err := Decode(nil); err != nil || k.Count() != 0 || k.Quantile(0.5) != 0 {
		t.Fatalf("empty: %v %v", k, err)
	}
	if _, err := Decode([]byte{9, 1, 2}); err == nil {
		t.Fatal("an unknown version decoded")
	}
	a, b := New(), New()
	a.Add(10)
	b.Add(20)
	b.Add(0) // a zero value is counted too
	m, err := MergeBytes(a.Encode(nil), b.Encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	k, err := Decode(m)
	if err != nil || k.Count() != 3 {
		t.Fatalf("merged count %d, %v", k.Count(), err)
	}
	if got := k.Quantile(1); math.Abs(got-20) > 0.2 {
		t.Fatalf("max %v", got)
	}
}

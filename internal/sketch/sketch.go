// Package sketch holds latency distributions that merge exactly: a
// DDSketch (github.com/DataDog/sketches-go) with a 1% relative accuracy.
//
// Every quantile the sketch answers is within 1% of the true value at that
// rank, whether the sketch saw the values itself or was merged from
// sketches of other minutes, nodes or routes: merging adds bucket counts,
// so merged quantiles are as accurate as a single sketch's. That is what
// lets analytics compute p95 over a month from per-minute rollups written
// by several nodes.
package sketch

import (
	"fmt"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// RelativeAccuracy is the bound on a quantile's relative error.
const RelativeAccuracy = 0.01

// version prefixes every encoded sketch, so that a later accuracy can be
// told apart from this one.
const version = 1

var indexMapping = func() mapping.IndexMapping {
	m, err := mapping.NewLogarithmicMapping(RelativeAccuracy)
	if err != nil {
		panic(err)
	}
	return m
}()

// Sketch is a distribution of non-negative values (milliseconds, for
// latencies). The zero value is not usable; call New.
type Sketch struct {
	s *ddsketch.DDSketch
}

// New returns an empty sketch.
func New() *Sketch {
	return &Sketch{s: ddsketch.NewDDSketch(indexMapping, store.NewDenseStore(), store.NewDenseStore())}
}

// Add records one value. Negative values count as 0.
func (k *Sketch) Add(v float64) {
	_ = k.s.Add(max(v, 0)) // fails only for values beyond the mapping's range (> 1e300)
}

// Count is the number of values recorded.
func (k *Sketch) Count() int64 { return int64(k.s.GetCount() + 0.5) }

// Quantile returns the value at quantile q (0 ≤ q ≤ 1): within
// RelativeAccuracy of the recorded value at rank ⌊q·(n−1)⌋ (0-based) of the
// sorted values. An empty sketch answers 0.
func (k *Sketch) Quantile(q float64) float64 {
	if k.s.IsEmpty() {
		return 0
	}
	v, err := k.s.GetValueAtQuantile(q)
	if err != nil {
		return 0
	}
	return v
}

// Merge adds o's values to k.
func (k *Sketch) Merge(o *Sketch) {
	_ = k.s.MergeWith(o.s) // both use the same mapping: cannot fail
}

// Encode appends the sketch's binary form to b.
func (k *Sketch) Encode(b []byte) []byte {
	b = append(b, version)
	k.s.Encode(&b, true)
	return b
}

// MergeEncoded adds the sketch encoded in b to k.
func (k *Sketch) MergeEncoded(b []byte) error {
	if len(b) == 0 {
		return nil // an empty distribution
	}
	if b[0] != version {
		return fmt.Errorf("sketch: unknown encoding version %d", b[0])
	}
	if err := k.s.DecodeAndMergeWith(b[1:]); err != nil {
		return fmt.Errorf("sketch: %w", err)
	}
	return nil
}

// Decode returns the sketch encoded in b.
func Decode(b []byte) (*Sketch, error) {
	k := New()
	if err := k.MergeEncoded(b); err != nil {
		return nil, err
	}
	return k, nil
}

// MergeBytes returns the encoding of the merge of two encoded sketches.
func MergeBytes(a, b []byte) ([]byte, error) {
	k, err := Decode(a)
	if err != nil {
		return nil, err
	}
	if err := k.MergeEncoded(b); err != nil {
		return nil, err
	}
	return k.Encode(nil), nil
}

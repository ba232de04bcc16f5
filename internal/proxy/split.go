package proxy

import (
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/portico-gw/portico/internal/pipeline"
)

// Side is one side of a route's traffic split.
type Side struct {
	Handler *Handler
	// Weight is the side's share of the requests no match claims.
	Weight int
	// Headers (all, exact values) or Consumers (any) claim a request for
	// this side.
	Headers   map[string]string
	Consumers []string
}

// Split sends each request to one side: the first whose match claims it,
// otherwise one chosen by weight — in a smooth weighted rotation, exact to
// the request over a cycle, or, when sticky, by a hash of the consumer, so
// a consumer stays on its side while the weights do not change.
type Split struct {
	sides    []Side
	schedule []uint16 // positions into weighted
	weighted []int    // indexes of sides with a weight
	weights  []uint64 // their weights
	total    uint64
	sticky   bool
	next     atomic.Uint64
}

// NewSplit returns the split over sides (at least one has a weight).
func NewSplit(sides []Side, sticky bool) *Split {
	s := &Split{sides: sides, sticky: sticky}
	var weights []int
	for i, side := range sides {
		if side.Weight > 0 {
			w := uint64(side.Weight) //nolint:gosec // positive here, at most 10000 by validation
			s.weighted = append(s.weighted, i)
			s.weights = append(s.weights, w)
			weights = append(weights, side.Weight)
			s.total += w
		}
	}
	s.schedule = smoothSchedule(slices.Clone(weights))
	return s
}

var _ pipeline.Handler = (*Split)(nil)

// Serve implements pipeline.Handler.
func (s *Split) Serve(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
	return s.choose(r, x).Handler.Serve(w, r, x)
}

func (s *Split) choose(r *http.Request, x *pipeline.Exchange) *Side {
	for i := range s.sides {
		if s.sides[i].claims(r, x) {
			return &s.sides[i]
		}
	}
	if s.sticky && x.Consumer != "" {
		// Walk the weights with the consumer's hash: the same consumer
		// lands on the same side; consumers spread by weight.
		at := fnv64(x.Consumer, "") % s.total
		for k, i := range s.weighted {
			if at < s.weights[k] {
				return &s.sides[i]
			}
			at -= s.weights[k]
		}
	}
	n := s.next.Add(1)
	return &s.sides[s.weighted[s.schedule[n%uint64(len(s.schedule))]]]
}

func (side *Side) claims(r *http.Request, x *pipeline.Exchange) bool {
	if len(side.Headers) == 0 && len(side.Consumers) == 0 {
		return false
	}
	if x.Consumer != "" && slices.Contains(side.Consumers, x.Consumer) {
		return true
	}
	if len(side.Headers) == 0 {
		return false
	}
	for name, want := range side.Headers {
		if vs := r.Header[http.CanonicalHeaderKey(name)]; len(vs) != 1 || vs[0] != want {
			return false
		}
	}
	return true
}

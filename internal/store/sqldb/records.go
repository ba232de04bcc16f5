package sqldb

import (
	"encoding/binary"
	"errors"
	"runtime"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// A usage batch's records are stored in one column, in this encoding, so
// that writing a batch is one row however many records it holds (a row
// per request cost SQLite more CPU than the request itself):
//
//	version byte (1)
//	uvarint n, then n strings (uvarint length, bytes): the batch's
//	        distinct API, route, consumer, plan and upstream names
//	uvarint count, then per record:
//	        varint   time in µs, as a difference from the previous record's
//	        uvarint  indexes of API, route, consumer, plan, upstream
//	        string   request ID (uvarint length, bytes)
//	        uvarint  status, latency in µs, bytes in, bytes out
//	        (version 2) uvarint index of the LLM model, tokens in, out,
//	        cached, reasoning, cost in 10⁻¹² units, flags (1 unpriced,
//	        2 estimated)
const recordsVersion = 2

// pause lets other goroutines run at every nth step of a loop. Usage
// batches of thousands of records are written by a background writer; on
// a node with two cores, a goroutine that kept its core for milliseconds
// would leave the requests queued behind it waiting as long: the Go
// scheduler takes a core from a running goroutine only after 10 ms
// (docs/performance.md).
func pause(i, n int) {
	if i%n == n-1 {
		runtime.Gosched()
	}
}

var errBadRecords = errors.New("store: malformed usage records")

// encodeRecords encodes recs.
func encodeRecords(recs []store.UsageRecord) []byte {
	index := map[string]uint64{}
	var names []string
	// Each field's last name and index: consecutive records mostly share
	// them, and comparing a string with itself is cheaper than hashing it.
	var last [6]struct {
		s   string
		id  uint64
		set bool
	}
	id := func(field int, s string) uint64 {
		l := &last[field]
		if l.set && l.s == s {
			return l.id
		}
		i, ok := index[s]
		if !ok {
			i = uint64(len(names))
			index[s] = i
			names = append(names, s)
		}
		l.s, l.id, l.set = s, i, true
		return i
	}
	body := make([]byte, 0, len(recs)*48)
	var prev int64
	for i := range recs {
		pause(i, 256)
		r := &recs[i]
		at := r.Time.UnixMicro()
		body = binary.AppendVarint(body, at-prev)
		prev = at
		for f, s := range [...]string{r.API, r.Route, r.Consumer, r.Plan, r.Upstream} {
			body = binary.AppendUvarint(body, id(f, s))
		}
		body = binary.AppendUvarint(body, uint64(len(r.RequestID)))
		body = append(body, r.RequestID...)
		body = binary.AppendUvarint(body, uint64(max(r.Status, 0)))
		body = binary.AppendUvarint(body, uint64(max(r.Latency.Microseconds(), 0)))
		body = binary.AppendUvarint(body, uint64(max(r.BytesIn, 0)))
		body = binary.AppendUvarint(body, uint64(max(r.BytesOut, 0)))
		body = binary.AppendUvarint(body, id(5, r.LLMModel))
		for _, n := range []int64{r.TokensIn, r.TokensOut, r.TokensCached, r.TokensReasoning, r.CostPico} {
			body = binary.AppendUvarint(body, uint64(max(n, 0)))
		}
		var flags uint64
		if r.Unpriced {
			flags |= 1
		}
		if r.Estimated {
			flags |= 2
		}
		body = binary.AppendUvarint(body, flags)
	}
	out := make([]byte, 0, len(body)+16*len(names)+16)
	out = append(out, recordsVersion)
	out = binary.AppendUvarint(out, uint64(len(names)))
	for _, s := range names {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	out = binary.AppendUvarint(out, uint64(len(recs)))
	return append(out, body...)
}

// decoder reads the encoding; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadRecords
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadRecords
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errBadRecords
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// decodeRecords decodes b, calling fn with each record (node set to
// node) until fn returns an error.
func decodeRecords(b []byte, node string, fn func(*store.UsageRecord) error) error {
	if len(b) == 0 || b[0] < 1 || b[0] > recordsVersion {
		return errBadRecords
	}
	version := b[0]
	d := &decoder{b: b[1:]}
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every name takes at least a byte
		return errBadRecords
	}
	names := make([]string, n)
	for i := range names {
		names[i] = d.str()
	}
	name := func() string {
		i := d.uvarint()
		if i >= uint64(len(names)) {
			d.err = errBadRecords
			return ""
		}
		return names[i]
	}
	count := d.uvarint()
	var at int64
	var r store.UsageRecord
	for range count {
		if d.err != nil {
			break
		}
		at += d.varint()
		r = store.UsageRecord{Time: time.UnixMicro(at).UTC(), Node: node}
		r.API, r.Route, r.Consumer, r.Plan, r.Upstream = name(), name(), name(), name(), name()
		r.RequestID = d.str()
		r.Status = int(min(d.uvarint(), 999))
		r.Latency = time.Duration(min(d.uvarint(), 1<<40)) * time.Microsecond
		r.BytesIn, r.BytesOut = int64(min(d.uvarint(), 1<<62)), int64(min(d.uvarint(), 1<<62))
		if version >= 2 {
			r.LLMModel = name()
			r.TokensIn, r.TokensOut = int64(min(d.uvarint(), 1<<62)), int64(min(d.uvarint(), 1<<62))
			r.TokensCached, r.TokensReasoning = int64(min(d.uvarint(), 1<<62)), int64(min(d.uvarint(), 1<<62))
			r.CostPico = int64(min(d.uvarint(), 1<<62))
			flags := d.uvarint()
			r.Unpriced, r.Estimated = flags&1 != 0, flags&2 != 0
		}
		if d.err != nil {
			break
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errBadRecords
	}
	return d.err
}

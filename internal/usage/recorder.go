// Package usage meters the gateway's traffic: every proxied request
// becomes one record, appended by the request path to a bounded buffer in
// memory; a background Writer takes the buffer every second, adds up the
// batch's minute, hour and day rollups and writes both to the store in one
// transaction. While the store is unreachable, batches are spooled to
// files in the data directory and delivered, in order, once it is back;
// each batch has an ID the store remembers, so a batch delivered twice
// counts once. On a graceful stop everything buffered is written (or
// spooled). A buffer that fills faster than it drains drops records and
// counts them (portico_usage_records_total{outcome="dropped"}); the
// request path never waits.
package usage

import (
	"sync"
	"sync/atomic"

	"github.com/portico-gw/portico/internal/store"
)

// Events receives what metrics show about usage metering.
type Events interface {
	// UsageRecords counts n records by outcome: written, dropped.
	UsageRecords(outcome string, n int)
	// UsageSpooled is the number of batches waiting in the spool.
	UsageSpooled(batches int)
}

// Recorder is the bounded buffer the request path appends to.
type Recorder struct {
	mu      sync.Mutex
	buf     []store.UsageRecord
	spare   []store.UsageRecord // a written buffer, to reuse
	limit   int
	batch   int
	kick    chan struct{}
	enabled atomic.Bool
	events  Events
}

// NewRecorder returns an enabled recorder holding at most limit records;
// the writer is woken early once batch records wait.
func NewRecorder(limit, batch int, events Events) *Recorder {
	r := &Recorder{limit: limit, batch: batch, kick: make(chan struct{}, 1), events: events,
		buf: make([]store.UsageRecord, 0, min(batch, limit))}
	r.enabled.Store(true)
	return r
}

// SetEnabled turns recording on or off (the config's analytics.record).
func (r *Recorder) SetEnabled(on bool) { r.enabled.Store(on) }

// Add appends rec, or counts it dropped when the buffer is full. It never
// blocks on anything but the buffer's short critical section.
func (r *Recorder) Add(rec *store.UsageRecord) {
	if r == nil || !r.enabled.Load() {
		return
	}
	r.mu.Lock()
	if len(r.buf) >= r.limit {
		r.mu.Unlock()
		r.events.UsageRecords("dropped", 1)
		return
	}
	r.buf = append(r.buf, *rec)
	n := len(r.buf)
	r.mu.Unlock()
	if n == r.batch {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// Take returns what is buffered and empties the buffer.
func (r *Recorder) Take() []store.UsageRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buf) == 0 {
		return nil
	}
	out := r.buf
	if r.spare != nil {
		r.buf, r.spare = r.spare, nil
	} else {
		r.buf = make([]store.UsageRecord, 0, min(max(len(out), r.batch), r.limit))
	}
	return out
}

// Recycle gives back a buffer Take returned, once its records are
// written, so the next one reuses its memory.
func (r *Recorder) Recycle(b []store.UsageRecord) {
	clear(b) // drop the strings it holds
	r.mu.Lock()
	if r.spare == nil {
		r.spare = b[:0]
	}
	r.mu.Unlock()
}

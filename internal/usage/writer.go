package usage

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// Defaults of a Writer.
const (
	// DefaultBuffer is how many records may wait in memory.
	DefaultBuffer = 200_000
	// DefaultBatch is the most records written in one transaction.
	DefaultBatch = 5_000
	// DefaultEvery is how often the buffer is written.
	DefaultEvery = time.Second
	// DefaultSpoolLimit bounds the spool on disk.
	DefaultSpoolLimit = 1 << 30
)

// Writer moves records from a Recorder to the store.
type Writer struct {
	rec    *Recorder
	st     store.UsageStore
	spool  *spool
	group  string
	node   string
	boot   string
	seq    int64
	every  time.Duration
	log    *slog.Logger
	events Events
	// failing is set while the store refuses batches: new batches go to
	// the spool behind the waiting ones, keeping their order.
	failing bool
}

// WriterOptions configure a Writer.
type WriterOptions struct {
	Group, Node string
	// SpoolDir holds batches while the store is unreachable.
	SpoolDir   string
	SpoolLimit int64
	Every      time.Duration
	Log        *slog.Logger
	Events     Events
}

// NewWriter returns a writer of rec's records into st, with the batches
// an earlier run left in the spool waiting to be delivered first.
func NewWriter(rec *Recorder, st store.UsageStore, o WriterOptions) (*Writer, error) {
	if o.Every == 0 {
		o.Every = DefaultEvery
	}
	if o.SpoolLimit == 0 {
		o.SpoolLimit = DefaultSpoolLimit
	}
	sp, err := openSpool(o.SpoolDir, o.SpoolLimit)
	if err != nil {
		return nil, err
	}
	w := &Writer{rec: rec, st: st, spool: sp, group: o.Group, node: o.Node, every: o.Every, log: o.Log, events: o.Events,
		boot: strconv.FormatInt(time.Now().UnixNano(), 36)}
	if len(sp.files) > 0 {
		w.log.Info("usage batches from an earlier run are waiting in the spool", "batches", len(sp.files), "dir", filepath.Clean(o.SpoolDir))
	}
	w.events.UsageSpooled(len(sp.files))
	return w, nil
}

// Run writes the buffer every interval (sooner when a batch is full) until
// ctx is done, then writes what is left, spooling it if the store fails
// within timeout.
func (w *Writer) Run(ctx context.Context, final time.Duration) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), final)
			w.Flush(fctx)
			cancel()
			return
		case <-t.C:
		case <-w.rec.kick:
		}
		w.Flush(ctx)
	}
}

// Flush delivers waiting spooled batches, then writes the buffer.
func (w *Writer) Flush(ctx context.Context) {
	w.drainSpool(ctx)
	taken := w.rec.Take()
	for recs := taken; len(recs) > 0; {
		n := min(len(recs), DefaultBatch)
		w.write(ctx, recs[:n:n])
		recs = recs[n:]
	}
	if taken != nil {
		w.rec.Recycle(taken)
	}
	w.events.UsageSpooled(len(w.spool.files))
}

func (w *Writer) nextBatch(recs []store.UsageRecord) store.UsageBatch {
	w.seq++
	return store.UsageBatch{ID: w.node + "-" + w.boot + "-" + strconv.FormatInt(w.seq, 10), Group: w.group, Node: w.node, Records: recs}
}

// write writes one batch, or spools it when the store fails (or when
// spooled batches still wait, which must arrive first).
func (w *Writer) write(ctx context.Context, recs []store.UsageRecord) {
	b := w.nextBatch(recs)
	if !w.failing {
		b.Rollups = Rollups(b.Records)
		_, err := w.st.WriteUsage(ctx, b)
		if err == nil {
			w.events.UsageRecords("written", len(recs))
			return
		}
		w.storeFailed(err)
	}
	if err := w.spool.put(w.seq, &b); err != nil {
		w.events.UsageRecords("dropped", len(recs))
		w.log.Error("usage records lost: the store failed and the spool could not keep them", "records", len(recs), "error", err.Error())
	}
}

// drainSpool delivers spooled batches, oldest first, until the spool is
// empty or the store fails.
func (w *Writer) drainSpool(ctx context.Context) {
	for {
		b, ok, err := w.spool.oldest()
		if err != nil {
			w.log.Error("a spooled usage batch cannot be read; it is set aside with a .bad suffix", "error", err.Error())
			w.spool.quarantineOldest()
			continue
		}
		if !ok {
			if w.failing {
				w.failing = false
				w.log.Info("usage records are written to the store again")
			}
			return
		}
		b.Rollups = Rollups(b.Records)
		if _, err := w.st.WriteUsage(ctx, b); err != nil {
			w.storeFailed(err)
			return
		}
		w.events.UsageRecords("written", len(b.Records))
		if err := w.spool.removeOldest(); err != nil {
			// Delivered, so a second delivery will be a no-op; keep going.
			w.log.Warn("a delivered usage batch could not be removed from the spool", "error", err.Error())
		}
	}
}

func (w *Writer) storeFailed(err error) {
	if !w.failing && !errors.Is(err, context.Canceled) {
		w.log.Error("writing usage records to the store failed; batches are spooled on disk and delivered when it is back", "error", err.Error())
	}
	w.failing = true
}

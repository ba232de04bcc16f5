package usage

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
)

// flaky is the real SQLite store, made to refuse usage batches while down
// is set, and to lose the answer of one successful write when
// loseAnswer is set (the batch is committed; the writer hears an error).
type flaky struct {
	store.Store
	down, loseAnswer atomic.Bool
}

func (f *flaky) WriteUsage(ctx context.Context, b store.UsageBatch) (bool, error) {
	if f.down.Load() {
		return false, errors.New("connection refused")
	}
	ok, err := f.Store.WriteUsage(ctx, b)
	if err == nil && f.loseAnswer.CompareAndSwap(true, false) {
		return false, errors.New("connection reset after commit")
	}
	return ok, err
}

type counts struct{ written, dropped, spooled atomic.Int64 }

func (c *counts) UsageRecords(outcome string, n int) {
	if outcome == "written" {
		c.written.Add(int64(n))
	} else {
		c.dropped.Add(int64(n))
	}
}
func (c *counts) UsageSpooled(n int) { c.spooled.Store(int64(n)) }

func records(st store.Store, t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	f := store.RollupFilter{Group: "default", From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}
	if err := st.UsageRecords(context.Background(), f, func(r store.UsageRecord) error { out[r.RequestID]++; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSpoolAcrossRestart: batches made while the store is down wait in the
// spool, survive the process (a new writer on the same directory), and
// are delivered in order exactly once — also the one whose commit
// succeeded but whose answer was lost.
func TestSpoolAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	real, err := sqlite.Open(context.Background(), filepath.Join(dir, "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	st := &flaky{Store: real}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	spoolDir := filepath.Join(dir, "spool")
	ev := &counts{}
	rec := NewRecorder(1000, 100, ev)
	w, err := NewWriter(rec, st, WriterOptions{Group: "default", Node: "n1", SpoolDir: spoolDir, Log: log, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	add := func(from, n int) {
		for i := from; i < from+n; i++ {
			rec.Add(&store.UsageRecord{Time: time.Now(), API: "a", Route: "r", Status: 200, RequestID: "req-" + strconv.Itoa(i)})
		}
	}
	ctx := context.Background()
	add(0, 10)
	w.Flush(ctx) // written
	st.loseAnswer.Store(true)
	add(10, 10)
	w.Flush(ctx) // committed, but spooled too: its answer was lost
	st.down.Store(true)
	add(20, 10)
	w.Flush(ctx) // spooled
	add(30, 10)
	w.Flush(ctx) // spooled behind it
	if ev.spooled.Load() != 3 {
		t.Fatalf("%d batches spooled, want 3", ev.spooled.Load())
	}
	if got := len(records(real, t)); got != 20 {
		t.Fatalf("%d records in the store while it is down, want 20", got)
	}
	// The process ends; a new one starts on the same directory with the
	// store back.
	st.down.Store(false)
	rec2 := NewRecorder(1000, 100, ev)
	w2, err := NewWriter(rec2, st, WriterOptions{Group: "default", Node: "n1", SpoolDir: spoolDir, Log: log, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	w2.Flush(ctx)
	got := records(real, t)
	if len(got) != 40 {
		t.Fatalf("%d distinct records after delivery, want 40", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s recorded %d times", id, n)
		}
	}
	if entries, _ := os.ReadDir(spoolDir); len(entries) != 0 || ev.spooled.Load() != 0 {
		t.Fatalf("spool not empty after delivery: %d files", len(entries))
	}
	var rolled int64
	f := store.RollupFilter{Group: "default", Granularity: store.Minute, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}
	_ = real.Rollups(ctx, f, func(r store.Rollup) error { rolled += r.Requests; return nil })
	if rolled != 40 {
		t.Fatalf("rollups count %d requests, want 40", rolled)
	}
}

// TestFullBufferDrops: a buffer that is full drops and counts, and never
// blocks.
func TestFullBufferDrops(t *testing.T) {
	ev := &counts{}
	rec := NewRecorder(5, 5, ev)
	for i := range 8 {
		rec.Add(&store.UsageRecord{RequestID: strconv.Itoa(i)})
	}
	if got := len(rec.Take()); got != 5 || ev.dropped.Load() != 3 {
		t.Fatalf("kept %d, dropped %d; want 5 and 3", got, ev.dropped.Load())
	}
	rec.SetEnabled(false)
	rec.Add(&store.UsageRecord{})
	if got := len(rec.Take()); got != 0 {
		t.Fatalf("a disabled recorder kept %d", got)
	}
}

// TestUnreadableSpoolFileIsSetAside: a damaged spool file does not stop
// the batches behind it.
func TestUnreadableSpoolFileIsSetAside(t *testing.T) {
	dir := t.TempDir()
	real, err := sqlite.Open(context.Background(), filepath.Join(dir, "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	spoolDir := filepath.Join(dir, "spool")
	_ = os.MkdirAll(spoolDir, 0o700)
	_ = os.WriteFile(filepath.Join(spoolDir, "00000000000000000001-x.batch"), []byte("{not json"), 0o600)
	_ = os.WriteFile(filepath.Join(spoolDir, "00000000000000000001-y.batch.tmp"), []byte("half"), 0o600)
	ev := &counts{}
	rec := NewRecorder(10, 10, ev)
	w, err := NewWriter(rec, real, WriterOptions{Group: "default", Node: "n", SpoolDir: spoolDir, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	rec.Add(&store.UsageRecord{Time: time.Now(), RequestID: "after"})
	w.Flush(context.Background())
	if got := records(real, t); got["after"] != 1 {
		t.Fatalf("records %v", got)
	}
	if _, err := os.Stat(filepath.Join(spoolDir, "00000000000000000001-x.batch.bad")); err != nil {
		t.Fatalf("the damaged file was not set aside: %v", err)
	}
	if _, err := os.Stat(filepath.Join(spoolDir, "00000000000000000001-y.batch.tmp")); err == nil {
		t.Fatal("a temporary file of an unfinished write was kept")
	}
}

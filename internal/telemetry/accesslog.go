package telemetry

import (
	"errors"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Entry is one access log line.
type Entry struct {
	Time      time.Time
	RequestID string
	ClientIP  netip.Addr
	Method    string
	Host      string
	// Path is the normalised path that routing saw; RawPath is what the
	// client sent, logged only when it differs.
	Path, RawPath string
	Status        int
	Duration      time.Duration
	BytesOut      int64
	API, Route    string
	Consumer      string
	Upstream      string
	// Error is the gateway error code, when the gateway answered the error.
	Error string
	// Filter names a request filter that matched in log-only mode.
	Filter string
}

// AccessLog writes one JSON object per request. Lines are encoded without
// reflection and appended to a buffer in memory; a writer goroutine takes
// the buffer every flushEvery, or as soon as it holds 64 KiB, and writes
// it to the output outside the lock, so a busy gateway makes a few large
// writes of whole lines and no request waits on the output. Like nginx's
// "buffer=" option, a crash can lose the last flushEvery of lines.
//
// An output that stops taking lines (a pipe nobody reads, a stalled log
// collector) must not stop the traffic: once 8 MiB wait, further lines
// are dropped and counted (Dropped) until the output takes some again.
type AccessLog struct {
	out  io.Writer
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	// closeWait bounds how long Close waits for a stalled output.
	closeWait time.Duration
	dropped   atomic.Uint64

	mu    sync.Mutex
	buf   []byte // whole lines waiting for the writer
	spare []byte // the buffer the writer wrote last, to reuse
}

const (
	// logWriteAt is how much waits before the writer is woken early.
	logWriteAt = 64 << 10
	// logMaxPending is how much may wait before lines are dropped.
	logMaxPending = 8 << 20
	// logKeepCap is the largest buffer kept for reuse after a write.
	logKeepCap = 1 << 20
)

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// NewAccessLog starts an access log writing to out.
func NewAccessLog(out io.Writer, flushEvery time.Duration) *AccessLog {
	l := &AccessLog{out: out, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		closeWait: 5 * time.Second, buf: make([]byte, 0, 2*logWriteAt)}
	go l.writer(flushEvery)
	return l
}

func (l *AccessLog) writer(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-l.kick:
		case <-l.stop:
			l.write()
			return
		}
		l.write()
	}
}

// write writes what waits.
func (l *AccessLog) write() {
	l.mu.Lock()
	b := l.buf
	if len(b) == 0 {
		l.mu.Unlock()
		return
	}
	if l.spare != nil {
		l.buf, l.spare = l.spare, nil
	} else {
		l.buf = make([]byte, 0, 2*logWriteAt)
	}
	l.mu.Unlock()
	_, _ = l.out.Write(b)
	if cap(b) <= logKeepCap {
		l.mu.Lock()
		l.spare = b[:0]
		l.mu.Unlock()
	}
}

// Close writes what waits and stops the writer. An output that takes
// nothing for closeWait is given up on, and Close says so.
func (l *AccessLog) Close() error {
	close(l.stop)
	select {
	case <-l.done:
		return nil
	case <-time.After(l.closeWait):
		return errors.New("access log: the output took nothing for " + l.closeWait.String() + "; lines still waiting are lost")
	}
}

// Dropped is how many lines were dropped because the output did not take
// them.
func (l *AccessLog) Dropped() uint64 { return l.dropped.Load() }

// Log writes e.
func (l *AccessLog) Log(e *Entry) {
	bp := linePool.Get().(*[]byte)
	b := AppendEntry((*bp)[:0], e)
	if n, ok := l.add(b); ok && n < logWriteAt && n+len(b) >= logWriteAt {
		l.wake()
	}
	*bp = b
	linePool.Put(bp)
}

// Write adds p, whole lines such as a slog handler writes, and wakes the
// writer at once. The node's own log lines go through here: they share
// the access log's output without ever landing inside one of its lines,
// and a stalled output blocks neither.
func (l *AccessLog) Write(p []byte) (int, error) {
	if _, ok := l.add(p); ok {
		l.wake()
	}
	return len(p), nil
}

// add appends b to what waits, or counts it dropped; n is how much waited
// before.
func (l *AccessLog) add(b []byte) (n int, ok bool) {
	l.mu.Lock()
	n = len(l.buf)
	if n+len(b) > logMaxPending {
		l.mu.Unlock()
		l.dropped.Add(1)
		return n, false
	}
	l.buf = append(l.buf, b...)
	l.mu.Unlock()
	return n, true
}

func (l *AccessLog) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// AppendEntry appends e as a JSON line to b.
func AppendEntry(b []byte, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","request_id":`...)
	b = appendString(b, e.RequestID)
	b = append(b, `,"client_ip":"`...)
	if e.ClientIP.IsValid() {
		b = e.ClientIP.AppendTo(b)
	}
	b = append(b, `","method":`...)
	b = appendString(b, e.Method)
	b = append(b, `,"host":`...)
	b = appendString(b, e.Host)
	b = append(b, `,"path":`...)
	b = appendString(b, e.Path)
	if e.RawPath != "" && e.RawPath != e.Path {
		b = append(b, `,"raw_path":`...)
		b = appendString(b, e.RawPath)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(e.Duration.Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = append(b, `,"api":`...)
	b = appendString(b, e.API)
	b = append(b, `,"route":`...)
	b = appendString(b, e.Route)
	b = append(b, `,"consumer":`...)
	b = appendString(b, e.Consumer)
	b = append(b, `,"upstream":`...)
	b = appendString(b, e.Upstream)
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, e.Error)
	}
	if e.Filter != "" {
		b = append(b, `,"filter":`...)
		b = appendString(b, e.Filter)
	}
	return append(b, "}\n"...)
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// so a hostile path cannot break the line.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

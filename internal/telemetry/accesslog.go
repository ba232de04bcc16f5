package telemetry

import (
	"bufio"
	"io"
	"net/netip"
	"strconv"
	"sync"
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
// reflection into a pooled buffer and written to a shared buffered writer
// that is flushed every flushEvery and on Close, so a busy gateway makes a
// few large writes instead of one syscall per request. Like nginx's
// "buffer=" option, a crash can lose the last flushEvery of lines.
type AccessLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// NewAccessLog starts an access log writing to out.
func NewAccessLog(out io.Writer, flushEvery time.Duration) *AccessLog {
	l := &AccessLog{w: bufio.NewWriterSize(out, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flusher(flushEvery)
	return l
}

func (l *AccessLog) flusher(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.mu.Lock()
			_ = l.w.Flush()
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

// Close flushes what is buffered and stops the flusher.
func (l *AccessLog) Close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// Log writes e.
func (l *AccessLog) Log(e *Entry) {
	bp := linePool.Get().(*[]byte)
	b := AppendEntry((*bp)[:0], e)
	l.mu.Lock()
	_, _ = l.w.Write(b)
	l.mu.Unlock()
	*bp = b
	linePool.Put(bp)
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

package llm

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// countingReader counts what is read of it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestReadBody: a body is read whole, declared or not, in pieces or at
// once, up to the limit and not a byte beyond; one declared over the
// limit is refused once the limit's worth of it has been read (and
// dropped).
func TestReadBody(t *testing.T) {
	const max = 100 << 10
	for _, c := range []struct {
		name     string
		size     int
		declared int64
		over     bool
	}{
		{"empty", 0, 0, false},
		{"empty, undeclared", 0, -1, false},
		{"small", 100, 100, false},
		{"small, undeclared", 100, -1, false},
		{"at ReadAll's first size", 512, -1, false},
		{"past it", 513, -1, false},
		{"past the preallocation", preallocMax + 10, preallocMax + 10, false},
		{"at the limit", max, max, false},
		{"at the limit, undeclared", max, -1, false},
		{"over the limit, undeclared", max + 1, -1, true},
		{"declared under what comes, over the limit", max + 5000, 10, true},
	} {
		want := bytes.Repeat([]byte("abcdefg"), c.size/7+1)[:c.size]
		for _, how := range []string{"whole", "byte by byte"} {
			var r io.Reader = bytes.NewReader(want)
			if how == "byte by byte" {
				r = iotest.OneByteReader(r)
			}
			got, err := readBody(r, c.declared, max)
			switch {
			case c.over && !errors.Is(err, errBodyOver):
				t.Errorf("%s, %s: %d bytes, %v; want errBodyOver", c.name, how, len(got), err)
			case !c.over && (err != nil || !bytes.Equal(got, want)):
				t.Errorf("%s, %s: %d bytes, %v; want the %d sent", c.name, how, len(got), err, len(want))
			}
		}
	}
	long := &countingReader{r: bytes.NewReader(make([]byte, 3*max))}
	if got, err := readBody(long, 3*max, max); !errors.Is(err, errBodyOver) || got != nil || long.n != max+1 {
		t.Errorf("declared over the limit: %d bytes, %v, %d read; want errBodyOver after %d read", len(got), err, long.n, max+1)
	}
	if _, err := readBody(iotest.ErrReader(io.ErrUnexpectedEOF), -1, max); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a broken body: %v", err)
	}
}

// BenchmarkReadBody reads a 16 KiB prompt: readBody against io.ReadAll
// behind http.MaxBytesReader (what the LLM handler did before).
func BenchmarkReadBody(b *testing.B) {
	body := strings.Repeat("x", 16<<10)
	b.Run("readBody", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := readBody(strings.NewReader(body), int64(len(body)), MaxRequestBody); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReadAll", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := io.ReadAll(http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(body)), MaxRequestBody)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

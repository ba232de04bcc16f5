// Package bodylimit rejects request bodies above a size with 413.
package bodylimit

import (
	"io"
	"net/http"

	"github.com/portico-gw/portico/internal/pipeline"
)

// New returns the middleware limiting bodies to max bytes. A declared
// Content-Length above max is refused before anything is sent upstream; a
// chunked body is cut off when it passes max, and the proxy answers 413.
func New(max int64) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			if r.ContentLength > max {
				return pipeline.ErrBodyTooLarge
			}
			if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
				r.Body = &limitedBody{ReadCloser: r.Body, left: max}
			}
			return next.Serve(w, r, x)
		})
	}
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, pipeline.ErrBodyTooLarge
	}
	return n, err
}

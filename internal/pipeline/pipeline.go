// Package pipeline defines what a compiled route is made of: Handlers that
// may return an error, Middlewares that wrap them, and the Exchange that
// carries one request's state through the chain.
//
// A handler returns an *Error instead of writing one itself, so that every
// error the gateway produces is rendered in one place, in one JSON shape
// (Caddy's error-returning handler, for the same reason).
package pipeline

import "net/http"

// Handler serves one request. It either writes a response and returns nil,
// or writes nothing and returns an error for the edge to render.
type Handler interface {
	Serve(w http.ResponseWriter, r *http.Request, x *Exchange) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, x *Exchange) error

// Serve calls f.
func (f HandlerFunc) Serve(w http.ResponseWriter, r *http.Request, x *Exchange) error {
	return f(w, r, x)
}

// Middleware wraps a Handler with one policy. Middlewares are built once,
// when a config is compiled, and must be safe for concurrent use.
type Middleware func(next Handler) Handler

// Chain wraps h in mws, the first middleware outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

package pipeline

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// Error is a gateway error: an HTTP status, a stable machine-readable code
// and a message for people. Messages must never contain secrets.
type Error struct {
	Status  int
	Code    string
	Message string
	// Header holds extra response headers, such as Allow on 405.
	Header http.Header
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// The errors for the statuses the gateway produces. The codes
// are part of the public surface: clients match on them.
var (
	ErrUnauthorized = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "missing or invalid credentials"}
	ErrForbidden    = &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "not allowed"}
	ErrNotFound     = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no route matches this request"}
	ErrBodyTooLarge = &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: "request body is too large"}
	ErrBadGateway   = &Error{Status: http.StatusBadGateway, Code: "upstream_failed", Message: "the upstream could not be reached or answered badly"}
	ErrNoUpstream   = &Error{Status: http.StatusServiceUnavailable, Code: "no_healthy_upstream", Message: "no upstream target is available"}
	ErrTimeout      = &Error{Status: http.StatusGatewayTimeout, Code: "upstream_timeout", Message: "the upstream did not answer in time"}
)

// BadRequest returns a 400 error with a message.
func BadRequest(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: msg}
}

// MethodNotAllowed returns a 405 error listing the allowed methods.
func MethodNotAllowed(allow string) *Error {
	return &Error{
		Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
		Message: "method not allowed; allowed: " + allow,
		Header:  http.Header{"Allow": {allow}},
	}
}

// WriteError renders err as the gateway's JSON error. An error that is not
// an *Error is answered as 502, since only the proxy returns plain errors.
func WriteError(w http.ResponseWriter, requestID string, err error) *Error {
	var e *Error
	if !errors.As(err, &e) {
		e = ErrBadGateway
	}
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	h["Content-Type"] = []string{"application/json"}
	h["Cache-Control"] = []string{"no-store"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	body, _ := json.Marshal(errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, RequestID: requestID}})
	body = append(body, '\n')
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
	return e
}

package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// MaxRequestIDLen is the longest client request ID that is kept.
const MaxRequestIDLen = 128

// requestIDs makes request IDs: a random per-process prefix and a counter,
// unique without coordination and cheap (one atomic add, one allocation).
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() requestIDs {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

// forRequest returns the client's request ID when it sent exactly one sane
// one, and a new ID otherwise.
func (ids *requestIDs) forRequest(sent []string) string {
	if len(sent) == 1 && saneRequestID(sent[0]) {
		return sent[0]
	}
	var buf [48]byte
	b := append(buf[:0], ids.prefix...)
	b = strconv.AppendUint(b, ids.n.Add(1), 36)
	return string(b)
}

// saneRequestID accepts 1 to MaxRequestIDLen characters that are safe in
// a header, a log line and a JSON string: letters, digits and -_.:+/=@.
func saneRequestID(s string) bool {
	if s == "" || len(s) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '+', c == '/', c == '=', c == '@':
		default:
			return false
		}
	}
	return true
}

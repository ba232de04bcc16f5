//go:build !linux

package proxy

// alive cannot peek portably; a stale connection then fails the request
// with a body, as with net/http's Transport.
func alive(*conn) bool { return true }

// readable cannot peek portably either: a stream's events are then sent
// as they are read, one write each when they came in separate reads.
func readable(*conn) bool { return false }

// peeker is the Linux build's; here a connection has none.
type peeker struct{}

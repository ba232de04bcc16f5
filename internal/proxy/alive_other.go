//go:build !linux

package proxy

import "net"

// alive cannot peek portably; a stale connection then fails the request
// with a body, as with net/http's Transport.
func alive(net.Conn) bool { return true }

// readable cannot peek portably either: a stream's events are then sent
// as they are read, one write each when they came in separate reads.
func readable(net.Conn) bool { return false }

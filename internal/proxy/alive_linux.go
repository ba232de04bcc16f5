package proxy

import (
	"crypto/tls"
	"net"
	"syscall"
)

// alive reports whether an idle connection is still open, by peeking at
// its socket without blocking. A request with a body cannot be replayed
// once sent, so it is only sent on a connection that passes this check;
// one without a body is simply retried when a stale connection fails.
func alive(nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, still open. n == 0: orderly close.
		// Data on an idle connection is a protocol error: treat as dead.
		open = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		_ = n
		return true
	})
	return err == nil && open
}

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
	// EAGAIN: nothing to read, still open. Anything else — the orderly
	// close (0 bytes), an error — is dead, and so is data on an idle
	// connection, a protocol error.
	errno, ok := peek(nc)
	return !ok || errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
}

// readable reports whether a read of nc returns at once — bytes, the
// end, or an error — rather than wait. Over TLS bytes are not enough (a
// record may be partial), so a TLS connection is never said readable.
func readable(nc net.Conn) bool {
	if _, ok := nc.(*tls.Conn); ok {
		return false
	}
	errno, ok := peek(nc)
	return ok && errno != syscall.EAGAIN && errno != syscall.EWOULDBLOCK
}

// peek looks at nc's socket without reading from it or waiting: the
// errno of a one-byte MSG_PEEK|MSG_DONTWAIT receive (0 when it returned
// a byte or the end). ok is false when nc has no socket to look at.
func peek(nc net.Conn) (errno syscall.Errno, ok bool) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return syscall.EBADF, true
	}
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		errno, _ = err.(syscall.Errno) //nolint:errorlint // Recvfrom returns a bare Errno
		return true
	})
	if err != nil {
		return syscall.EBADF, true
	}
	return errno, true
}

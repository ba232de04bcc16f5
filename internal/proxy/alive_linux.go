package proxy

import (
	"crypto/tls"
	"syscall"
)

// alive reports whether an idle connection is still open, by peeking at
// its socket without blocking. A request with a body cannot be replayed
// once sent, so it is only sent on a connection that passes this check;
// one without a body is simply retried when a stale connection fails.
func alive(c *conn) bool {
	// EAGAIN: nothing to read, still open. Anything else — the orderly
	// close (0 bytes), an error — is dead, and so is data on an idle
	// connection, a protocol error.
	errno, ok := c.peek()
	return !ok || errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
}

// readable reports whether a read of c returns at once — bytes, the end,
// or an error — rather than wait. Over TLS bytes are not enough (a record
// may be partial), so a TLS connection is never said readable.
func readable(c *conn) bool {
	if _, ok := c.nc.(*tls.Conn); ok {
		return false
	}
	errno, ok := c.peek()
	return ok && errno != syscall.EAGAIN && errno != syscall.EWOULDBLOCK
}

// peeker looks at a connection's socket: its raw connection and the
// function the runtime calls with the descriptor are made once per
// connection, so a peek allocates nothing.
type peeker struct {
	raw   syscall.RawConn
	recv  func(fd uintptr) bool
	errno syscall.Errno
	buf   [1]byte
}

// peek looks at c's socket (under TLS, the connection's own) without
// reading from it or waiting: the errno of a one-byte
// MSG_PEEK|MSG_DONTWAIT receive (0 when it returned a byte or the end). ok
// is false when c has no socket to look at. The connection's owner calls
// it, never two goroutines at once.
func (c *conn) peek() (errno syscall.Errno, ok bool) {
	p := c.peeker
	if p == nil {
		nc := c.nc
		if tc, ok := nc.(*tls.Conn); ok {
			nc = tc.NetConn()
		}
		sc, ok := nc.(syscall.Conn)
		if !ok {
			return 0, false
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return syscall.EBADF, true
		}
		p = &peeker{raw: raw}
		p.recv = p.peekFD
		c.peeker = p
	}
	if err := p.raw.Read(p.recv); err != nil {
		return syscall.EBADF, true
	}
	return p.errno, true
}

func (p *peeker) peekFD(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	p.errno, _ = err.(syscall.Errno) //nolint:errorlint // Recvfrom returns a bare Errno
	return true
}

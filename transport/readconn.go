package transport

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// bulkReadSize is the read-ahead buffer a connection borrows while data
// is waiting in its socket: one read takes up to 16 KiB (hundreds of small
// commands, or six full-universe arrays) where gorilla's small buffer
// would need a system call per 512 bytes.
const bulkReadSize = 16 << 10

// readConn is a client's socket as gorilla reads it. When a read fills
// gorilla's buffer, more data is probably waiting: the next read borrows
// a bulkReadSize buffer from the server's pool and takes what the socket
// holds without waiting; the buffer goes back to the pool as soon as it
// is drained. So a connection holds read-ahead only while data flows, and
// an idle one holds none.
//
// Concurrency: Read belongs to the read pump (gorilla's reader); the other
// methods are the net.Conn's own.
type readConn struct {
	net.Conn
	raw  syscall.RawConn // for reads that never wait; nil when not a socket
	pool *sync.Pool      // of *[]byte, bulkReadSize long
	buf  *[]byte         // borrowed read-ahead, nil when none
	r, w int             // the unread part of buf
	more bool            // the last read filled the caller's buffer
}

// Read serves p from the read-ahead, or reads more.
func (c *readConn) Read(p []byte) (int, error) {
	if c.buf == nil && c.more && c.raw != nil {
		c.readAhead()
	}
	if c.buf != nil {
		n := copy(p, (*c.buf)[c.r:c.w])
		c.r += n
		if c.r == c.w {
			c.pool.Put(c.buf)
			c.buf = nil
			c.more = true // it was filled: there may be more
		}
		return n, nil
	}
	n, err := c.Conn.Read(p)
	c.more = n == len(p)
	return n, err
}

// caughtUp reports whether the last read from the socket found nothing
// more waiting: dmxd has read everything the client sent so far (gorilla's
// own small buffer aside).
func (c *readConn) caughtUp() bool { return c.buf == nil && !c.more }

// readAhead borrows a buffer and fills it with what is waiting in the
// socket, without waiting for more. With nothing waiting (or an error,
// which the next ordinary read reports) it gives the buffer back.
func (c *readConn) readAhead() {
	b, _ := c.pool.Get().(*[]byte)
	if b == nil {
		b = new([]byte)
		*b = make([]byte, bulkReadSize)
	}
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		n, rerr = readNow(fd, *b)
		return true // never wait here: an empty socket is read the ordinary way
	})
	if err != nil || rerr != nil || n <= 0 {
		c.pool.Put(b)
		c.more = false
		return
	}
	c.buf, c.r, c.w = b, 0, n
}

// hijacker hands gorilla's upgrader the client's socket as a readConn.
type hijacker struct {
	http.ResponseWriter
	pool *sync.Pool
}

// Hijack takes the connection over from the HTTP server, wraps it, and
// bounds its kernel send buffer.
func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	rc := &readConn{Conn: nc, pool: h.pool}
	tcp := nc
	if lc, ok := nc.(*limitedConn); ok {
		tcp = lc.Conn // the socket under the Listener's slot
	}
	if tc, ok := tcp.(*net.TCPConn); ok {
		// A bounded kernel buffer: a desk that stops reading is noticed
		// (its queue fills) within seconds, not after megabytes.
		_ = tc.SetWriteBuffer(SocketSendBuffer)
		if raw, err := tc.SyscallConn(); err == nil {
			rc.raw = raw
		}
	}
	return rc, brw, nil
}

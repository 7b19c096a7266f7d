package transport

import (
	"errors"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Pauses between accepts that failed for want of file descriptors or
// memory: the first, doubling up to the last (as net/http pauses).
// warnEvery is the least time between two warnings of one kind, so that
// a crowd of clients does not flood the log.
const (
	minAcceptPause = 5 * time.Millisecond
	maxAcceptPause = time.Second
	warnEvery      = time.Minute
)

// Listener is a net.Listener that keeps at most a fixed number of the
// connections it accepted open at once — WebSockets, plain HTTP requests
// and idle keep-alive connections alike — so that clients cannot use up
// dmxd's open files.
//
// With every slot taken, Accept closes the keep-alive connection that has
// been idle longest and takes its slot, as nginx drains its idle
// keep-alive connections when it runs out (an HTTP client sends its
// request again on a new connection when the server closed an idle one,
// RFC 9112 section 9.3.1). With none idle it waits until a connection
// closes or goes idle, without accepting: new clients wait in the kernel's
// listen backlog, as at HAProxy's maxconn or with x/net's
// netutil.LimitListener, and are served in turn rather than refused.
//
// An accept that fails for want of file descriptors or kernel memory
// (EMFILE, ENFILE, ENOBUFS, ENOMEM) closes the longest-idle keep-alive
// connection too and is tried again after a pause (5 ms, doubling up to
// 1 s) instead of spinning. Both the limit and such failures are logged
// as warnings, at most once a minute each.
//
// The http.Server must report its connections' states to ConnState.
//
// Concurrency: Accept is called by one goroutine at a time (the server's
// Serve); ConnState, Close and the Close of accepted connections are safe
// for concurrent use.
type Listener struct {
	net.Listener
	log      zerolog.Logger
	slots    chan struct{} // holds one element per open connection
	idleNow  chan struct{} // a connection went idle (capacity 1)
	done     chan struct{} // closed by Close
	doneOnce sync.Once
	// Accept's own: when it last warned of the limit and of failed
	// accepts, and how many accepts failed since.
	limitWarned    time.Time
	acceptWarned   time.Time
	acceptFailures int

	mu   sync.Mutex
	idle map[*limitedConn]uint64 // keep-alive connections between requests: when they went idle
	seq  uint64                  // counts connections going idle
}

// NewListener returns ln limited to limit open connections (at least 1).
func NewListener(ln net.Listener, limit int, log zerolog.Logger) *Listener {
	return &Listener{
		Listener: ln,
		log:      log,
		slots:    make(chan struct{}, max(limit, 1)),
		idleNow:  make(chan struct{}, 1),
		done:     make(chan struct{}),
		idle:     map[*limitedConn]uint64{},
	}
}

// Limit returns how many connections may be open at once.
func (l *Listener) Limit() int { return cap(l.slots) }

// Accept waits for a free slot (see Listener), then for a connection.
func (l *Listener) Accept() (net.Conn, error) {
	if err := l.takeSlot(); err != nil {
		return nil, err
	}
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return &limitedConn{Conn: c, l: l}, nil
		}
		if !outOfResources(err) {
			<-l.slots
			return nil, err
		}
		pause = min(max(2*pause, minAcceptPause), maxAcceptPause)
		l.acceptFailures++
		if time.Since(l.acceptWarned) >= warnEvery {
			l.log.Warn().Err(err).Int("open", len(l.slots)-1).Int("failures", l.acceptFailures).
				Msg("cannot accept connections: out of file descriptors or memory; closing idle keep-alive connections and retrying")
			l.acceptWarned, l.acceptFailures = time.Now(), 0
		}
		l.closeIdle()
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-l.done: // closed: the accept above reports it
			t.Stop()
		}
	}
}

// takeSlot takes a slot for the next connection: a free one, else the
// one of the keep-alive connection idle longest, else the first slot a
// connection frees by closing or going idle.
func (l *Listener) takeSlot() error {
	if l.tryTake() || l.closeIdle() && l.tryTake() {
		return nil
	}
	if time.Since(l.limitWarned) >= warnEvery {
		l.limitWarned = time.Now()
		l.log.Warn().Int("limit", cap(l.slots)).Msg("connection limit reached: new connections wait until one closes or goes idle")
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return nil
		case <-l.idleNow:
			l.closeIdle()
		case <-l.done:
			return net.ErrClosed
		}
	}
}

// tryTake takes a free slot if there is one.
func (l *Listener) tryTake() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// closeIdle closes the keep-alive connection idle longest, which frees its
// slot; false when none is idle. A request the client sent just now on
// that connection is lost with it, as when any server closes an idle
// connection: the client sends it again.
func (l *Listener) closeIdle() bool {
	l.mu.Lock()
	var oldest *limitedConn
	var oldestSince uint64
	for c, since := range l.idle {
		if oldest == nil || since < oldestSince {
			oldest, oldestSince = c, since
		}
	}
	delete(l.idle, oldest)
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	_ = oldest.Close()
	return true
}

// ConnState is the http.Server's ConnState hook: it tracks which
// connections are idle keep-alive connections.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if state != http.StateIdle {
		delete(l.idle, c)
		return
	}
	l.seq++
	l.idle[c] = l.seq
	select {
	case l.idleNow <- struct{}{}:
	default:
	}
}

// Close closes the listener; an Accept waiting for a slot returns.
func (l *Listener) Close() error {
	l.doneOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// outOfResources reports whether an accept failed for want of file
// descriptors or kernel memory, which closing connections frees.
func outOfResources(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// limitedConn is a connection accepted by a Listener; closing it frees
// its slot.
type limitedConn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

// Close closes the connection and, the first time, frees its slot once
// the socket is closed.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.l.slots })
	return err
}

// errorLogWriter turns the lines of an http.Server's ErrorLog into
// zerolog events: a panic in a handler at error level, the rest (a
// handler's misuse of its ResponseWriter, a temporary accept error) at
// warn.
type errorLogWriter struct{ log zerolog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	ev := w.log.Warn()
	if strings.HasPrefix(msg, "http: panic") {
		ev = w.log.Error()
	}
	ev.Str("source", "net/http").Msg(msg)
	return len(p), nil
}

// newErrorLog returns a logger for http.Server.ErrorLog that writes
// through zl, so that the server's own errors are structured log lines
// like every other.
func newErrorLog(zl zerolog.Logger) *log.Logger {
	return log.New(errorLogWriter{zl}, "", 0)
}

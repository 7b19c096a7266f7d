package transport

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/dmxd/dmxd/actors"
)

// conn is one WebSocket connection: a read pump that turns frames into
// messages for the connection actor, and a write pump that is the only
// writer of the socket. The actor reaches the write pump through Send
// (a bounded queue) and Close, and gives the read pump its credit back
// through Release; it never touches the socket.
type conn struct {
	ws     *websocket.Conn
	srv    *Server
	out    chan any
	pongs  chan string   // pong payloads the read pump asks the write pump to send
	closed chan struct{} // closed by Close: the write pump says goodbye
	gone   chan struct{} // closed when the read pump ends
	once   sync.Once
	win    *window     // commands on their way to the universes
	pid    *actor.PID  // the connection actor, set before the pumps start
	behind atomic.Bool // a Send found the queue full; Drained is owed
	code   int         // close code, written before closed is closed
	reason string
	log    zerolog.Logger
}

func newConn(ws *websocket.Conn, srv *Server) *conn {
	return &conn{
		ws:     ws,
		srv:    srv,
		out:    make(chan any, srv.cfg.SendQueue),
		pongs:  make(chan string, 1),
		closed: make(chan struct{}),
		gone:   make(chan struct{}),
		win:    newWindow(srv.cfg.Window),
		log:    srv.cfg.Log,
	}
}

// Release gives n units of credit back to the read pump. It never blocks.
func (c *conn) Release(n int) { c.win.release(n) }

// Send queues msg for the write pump; false when the queue is full or the
// connection is closing. It never blocks.
func (c *conn) Send(msg any) bool {
	select {
	case <-c.closed:
		return false
	default:
	}
	select {
	case c.out <- msg:
		return true
	default:
		c.srv.cfg.Metrics.QueueDrops.Inc()
		c.behind.Store(true)
		return false
	}
}

// Close makes the write pump send a close frame with code and close the
// socket. Only the first call counts.
func (c *conn) Close(code int, reason string) {
	c.once.Do(func() {
		if code == actors.CloseTryAgain {
			c.srv.cfg.Metrics.SlowCloses.Inc()
		}
		c.code, c.reason = code, reason
		close(c.closed)
	})
}

// readPump reads frames until the connection ends and turns them into
// lifecycle messages for the connection actor. It decodes and rate-limits
// commands here, so that neither the actor nor the universes spend time on
// malformed or excess input.
func (c *conn) readPump() {
	pid := c.pid
	defer close(c.gone)
	cfg := &c.srv.cfg
	var lim *rate.Limiter
	if cfg.ConnRate > 0 {
		lim = rate.NewLimiter(rate.Limit(cfg.ConnRate), 2*cfg.ConnRate)
	}
	strikes, strikesSince := 0, time.Time{} // rate_limited refusals in the current window
	c.ws.SetReadLimit(MaxMessageSize)
	_ = c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
	})
	// The write pump is the only writer of the socket: pings are answered
	// through it, and a close from the client is answered by the close
	// the connection actor asks for when it hears of it.
	c.ws.SetPingHandler(func(data string) error {
		select {
		case <-c.pongs: // only the newest ping needs its pong (RFC 6455 5.5.3)
		default:
		}
		c.pongs <- data
		return nil
	})
	c.ws.SetCloseHandler(func(int, string) error { return nil })
	// deliver hands msg to the connection actor once the window has room
	// for weight; false when the connection is closing instead.
	deliver := func(msg any, weight int) bool {
		if !c.win.take(weight, c.closed) {
			return false
		}
		c.srv.eng.Deliver(pid, msg)
		return true
	}
	var msgBuf []byte
	for {
		kind, data, err := readMessage(c.ws, &msgBuf)
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.srv.eng.Deliver(pid, &actors.Closed{Code: ce.Code, Text: ce.Text})
			} else {
				c.srv.eng.Deliver(pid, &actors.Failed{Err: err})
			}
			return
		}
		if kind != websocket.TextMessage {
			if !c.refused(deliver, refuse(nil, CodeUnsupported, "binary frames are not supported; send JSON text")) {
				break
			}
			c.resetReadDeadline()
			continue
		}
		cmd, bad := DecodeCommand(data, c.srv.eng.Universes())
		if lim != nil && !lim.Allow() {
			var id actors.ID
			if cmd != nil {
				id = cmd.ID
			} else {
				id = bad.ID
			}
			if now := time.Now(); now.Sub(strikesSince) > RateStrikeWindow {
				strikes, strikesSince = 0, now
			}
			strikes++
			if strikes > MaxRateStrikes {
				// The actor closes after the acks of what was accepted.
				c.srv.eng.Deliver(pid, &actors.CloseConn{Code: actors.ClosePolicy, Reason: "rate limit exceeded"})
				c.drain()
				return
			}
			if !c.refused(deliver, refuse(id, CodeRateLimited, "more than %d commands per second", cfg.ConnRate)) {
				break
			}
			c.resetReadDeadline()
			continue
		}
		if bad != nil {
			if !c.refused(deliver, bad) {
				break
			}
			c.resetReadDeadline()
			continue
		}
		c.srv.cfg.Metrics.CommandsAccepted.Inc()
		if !deliver(&actors.Received{Cmd: cmd}, cmd.Weight()) {
			break
		}
		c.resetReadDeadline()
	}
	// The connection is closing while the pump waited for credit: read
	// until it ends, so that the close handshake completes, and tell the
	// actor (it may be waiting for the end of its client).
	c.drain()
	c.srv.eng.Deliver(pid, &actors.Failed{Err: errClosing})
}

// errClosing is why a read pump stopped taking commands: the connection
// was being closed.
var errClosing = errors.New("connection closing")

// resetReadDeadline gives the client PongWait more to send its next frame
// or pong, from now: waiting for credit does not count against it.
func (c *conn) resetReadDeadline() {
	_ = c.ws.SetReadDeadline(time.Now().Add(c.srv.cfg.PongWait))
}

// refused counts a refused command and has the actor answer it; false
// when the connection is closing instead.
func (c *conn) refused(deliver func(any, int) bool, e *actors.Error) bool {
	c.srv.cfg.Metrics.CommandsRefused.WithLabelValues(e.Code).Inc()
	return deliver(&actors.Refused{Err: e}, actors.RefusedWeight)
}

// drain reads and discards frames until the connection ends, so that the
// close handshake can complete after the reader stopped taking commands.
func (c *conn) drain() {
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}

// writePump is the only goroutine that writes to the socket: queued
// messages (all that are waiting, in one write), pongs, pings, and finally
// the close frame.
func (c *conn) writePump() {
	cfg := &c.srv.cfg
	ping := time.NewTicker(cfg.PingPeriod)
	defer func() {
		ping.Stop()
		_ = c.ws.Close() // ends the read pump if it still runs
	}()
	for {
		select {
		case msg := <-c.out:
			if err := c.writeQueued(msg, time.Now().Add(cfg.WriteWait)); err != nil {
				return
			}
			if len(c.out) == 0 && c.behind.CompareAndSwap(true, false) {
				c.srv.eng.Deliver(c.pid, &actors.Drained{})
			}
		case data := <-c.pongs:
			if err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(cfg.WriteWait)); err != nil {
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteWait)); err != nil {
				return
			}
		case <-c.closed:
			c.flush()
			c.writeClose()
			// Give the client a moment to answer the close frame.
			select {
			case <-c.gone:
			case <-time.After(closeGrace):
			}
			return
		case <-c.gone:
			// The client closed or the connection broke: the actor hears
			// of it and asks for the close; say it if the socket still
			// takes it.
			select {
			case <-c.closed:
				c.flush()
				c.writeClose()
			case <-time.After(closeGrace):
			}
			return
		}
	}
}

// writeQueued writes first and every message queued behind it, up to
// maxWriteBatch bytes, in one write. A message that cannot be encoded is
// logged and skipped; any other error is the socket's.
func (c *conn) writeQueued(first any, deadline time.Time) error {
	wb := c.srv.bufs.get()
	defer c.srv.bufs.put(wb)
	msg := first
	for {
		if err := wb.appendFrame(msg); err != nil {
			c.log.Error().Err(err).Msg("encode")
		}
		if len(wb.frames) >= maxWriteBatch {
			break
		}
		var ok bool
		select {
		case msg, ok = <-c.out:
		default:
		}
		if !ok {
			break
		}
	}
	if len(wb.frames) == 0 {
		return nil
	}
	nc := c.ws.NetConn()
	_ = nc.SetWriteDeadline(deadline)
	_, err := nc.Write(wb.frames)
	return err
}

// flush writes what is already queued (acks of applied commands among it)
// before the close frame, within closeGrace in all.
func (c *conn) flush() {
	deadline := time.Now().Add(closeGrace)
	for {
		select {
		case msg := <-c.out:
			if err := c.writeQueued(msg, deadline); err != nil {
				return
			}
		default:
			return
		}
	}
}

// writeClose sends the close frame asked for by Close.
func (c *conn) writeClose() {
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(c.code, c.reason), time.Now().Add(c.srv.cfg.WriteWait))
}

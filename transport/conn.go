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
// (a bounded queue) and Close; it never touches the socket.
type conn struct {
	ws     *websocket.Conn
	srv    *Server
	out    chan any
	closed chan struct{} // closed by Close: the write pump says goodbye
	gone   chan struct{} // closed when the read pump ends
	once   sync.Once
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
		closed: make(chan struct{}),
		gone:   make(chan struct{}),
		log:    srv.cfg.Log,
	}
}

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
		_ = c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
		if kind != websocket.TextMessage {
			c.refused(pid, refuse(nil, CodeUnsupported, "binary frames are not supported; send JSON text"))
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
			c.refused(pid, refuse(id, CodeRateLimited, "more than %d commands per second", cfg.ConnRate))
			continue
		}
		if bad != nil {
			c.refused(pid, bad)
			continue
		}
		c.srv.cfg.Metrics.CommandsAccepted.Inc()
		c.srv.eng.Deliver(pid, &actors.Received{Cmd: cmd})
	}
}

// refused counts a refused command and has the actor answer it.
func (c *conn) refused(pid *actor.PID, e *actors.Error) {
	c.srv.cfg.Metrics.CommandsRefused.WithLabelValues(e.Code).Inc()
	c.srv.eng.Deliver(pid, &actors.Refused{Err: e})
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
// messages, pings, and finally the close frame.
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
			if err := c.srv.bufs.write(c.ws, msg, time.Now().Add(cfg.WriteWait)); err != nil {
				if errors.Is(err, errEncode) {
					c.log.Error().Err(err).Msg("encode")
					continue
				}
				return
			}
			if len(c.out) == 0 && c.behind.CompareAndSwap(true, false) {
				c.srv.eng.Deliver(c.pid, &actors.Drained{})
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
			// The reader may have asked for a close code just before it
			// ended (rate limit); say it before closing.
			select {
			case <-c.closed:
				c.writeClose()
			default:
			}
			return
		}
	}
}

// flush writes what is already queued (acks of applied commands among it)
// before the close frame, within closeGrace in all.
func (c *conn) flush() {
	deadline := time.Now().Add(closeGrace)
	for {
		select {
		case msg := <-c.out:
			if err := c.srv.bufs.write(c.ws, msg, deadline); err != nil && !errors.Is(err, errEncode) {
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

package transport

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors"
)

// conn is one WebSocket connection: a read pump that turns frames into
// messages for the connection actor, and an outbox whose writer is the
// only goroutine that writes to the socket. The actor reaches the outbox
// through Send (a bounded queue) and Close, and gives the read pump its
// credit back through Release; it never touches the socket.
//
// The writer runs only while there is something to write (messages, a
// pong, the keepalive ping, the close), so an idle connection costs one
// goroutine, the read pump, and holds no write buffer. When only broadcasts
// wait (updates, blackout, output state, show, monitor), the connection
// takes a turn in the server's fan-out pool instead of starting a writer
// (see fanoutPool).
type conn struct {
	ws   *websocket.Conn
	srv  *Server
	gone chan struct{} // closed when the read pump ends
	quit chan struct{} // closed by Close or shut: the read pump stops waiting for credit
	win  *window       // commands on their way to the universes
	// readDeadline is the socket's read deadline; the read pump's own.
	readDeadline time.Time
	pid          *actor.PID  // the connection actor, set before start
	behind       atomic.Bool // a Send found the queue full; Drained is owed
	pinger       *time.Timer // makes the keepalive ping due
	log          zerolog.Logger

	mu      sync.Mutex // guards the outbox below
	started bool       // start was called: the writer may run
	queue   []any      // messages to write, at most cfg.SendQueue
	writer  writerState
	poolSeq uint64  // the connection's current turn in the fan-out pool
	pong    *string // the payload of the newest ping to answer
	ping    bool    // the keepalive ping is due
	closing bool    // Close was called: code and reason are set
	code    int
	reason  string
	dead    bool // the socket is closed or failed: nothing more is written
	// How the connection ended, noted by the read pump when its last read
	// failed (see noteEnd): the close code and who sent it first.
	ended   bool
	endCode int
	endBy   string
	endErr  error
}

// writerState says who writes a connection's outbox.
type writerState int

const (
	writerIdle    writerState = iota // nobody: the outbox is empty
	writerPooled                     // a turn in the fan-out pool is due
	writerRunning                    // a goroutine writes (its own writer, or a pool worker)
)

func newConn(ws *websocket.Conn, srv *Server) *conn {
	c := &conn{
		ws:   ws,
		srv:  srv,
		gone: make(chan struct{}),
		quit: make(chan struct{}),
		win:  newWindow(srv.cfg.Window),
		log:  srv.cfg.Log,
	}
	return c
}

// start lets the writer run (what the actor queued while it started, its
// hello among it, waits until then) and arms the keepalive. The server
// calls it once the connection is counted in its pumps and c.pid is set.
func (c *conn) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pinger = time.AfterFunc(pingDelay(c.srv.cfg.PingPeriod), func() {
		c.mu.Lock()
		c.ping = true
		c.wakeWriter(true)
		c.mu.Unlock()
	})
	c.started = true
	c.wakeWriter(c.urgent())
}

// pingDelay is how long the keepalive waits before its next ping: a time
// drawn anew for every ping in [3/4, 1] of the period. Desks that
// connected together (every desk after a restart or a Wi-Fi drop) would
// otherwise be pinged, and answer, in the same instant every period: with
// 1,000 desks, 1,000 pings and 1,000 pongs at once on two cores, which
// showed in `just bench`'s idle-desks phase (see README, Performance).
func pingDelay(period time.Duration) time.Duration {
	return period - rand.N(period/4+1)
}

// Release gives n units of credit back to the read pump. It never blocks.
func (c *conn) Release(n int) { c.win.release(n) }

// Send queues msg for the writer; false when the queue is full or the
// connection is closing. It never blocks.
func (c *conn) Send(msg any) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.dead {
		return false
	}
	if len(c.queue) >= c.srv.cfg.SendQueue {
		c.srv.cfg.Metrics.QueueDrops.Inc()
		c.behind.Store(true)
		return false
	}
	c.queue = append(c.queue, msg)
	c.wakeWriter(!broadcast(msg))
	return true
}

// Close makes the writer send what is queued, then a close frame with
// code, and close the socket. Only the first call counts.
func (c *conn) Close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if code == actors.CloseTryAgain {
		c.srv.cfg.Metrics.SlowCloses.Inc()
	}
	c.closing, c.code, c.reason = true, code, reason
	c.stopReading()
	c.wakeWriter(true)
}

// stopReading tells a read pump that waits for credit to give up. c.mu
// must be held.
func (c *conn) stopReading() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
}

// answerPing has the writer answer a ping from the client; only the
// newest ping needs its pong (RFC 6455 section 5.5.3).
func (c *conn) answerPing(data string) {
	c.mu.Lock()
	c.pong = &data
	c.wakeWriter(true)
	c.mu.Unlock()
}

// wakeWriter has the outbox written unless a writer runs or the
// connection has not started: by a writer of its own when urgent (and
// then also when it waits in the fan-out pool), else by a turn in the
// pool. c.mu must be held.
func (c *conn) wakeWriter(urgent bool) {
	if !c.started || c.dead {
		return
	}
	if len(c.queue) == 0 && c.pong == nil && !c.ping && !c.closing {
		return // nothing to write: no writer, no turn in the pool
	}
	switch {
	case c.writer == writerRunning:
	case urgent:
		c.writer = writerRunning // a pool turn due is now stale
		go c.write()
	case c.writer == writerIdle:
		c.writer = writerPooled
		c.poolSeq++
		c.srv.fanout.push(c, c.poolSeq)
	}
}

// readPump reads frames until the connection ends and turns them into
// lifecycle messages for the connection actor. It decodes and rate-limits
// commands here, so that neither the actor nor the universes spend time on
// malformed or excess input.
func (c *conn) readPump() {
	pid := c.pid
	defer close(c.gone)
	cfg := &c.srv.cfg
	var lim *connLimit
	if cfg.ConnRate > 0 {
		lim = newConnLimit(cfg.ConnRate, time.Now())
	}
	rc, _ := c.ws.NetConn().(*readConn)
	strikes, strikesSince := 0, time.Time{} // rate_limited refusals in the current window
	c.resetReadDeadline()
	c.ws.SetPongHandler(func(string) error {
		c.resetReadDeadline()
		return nil
	})
	// The write pump is the only writer of the socket: pings are answered
	// through it, and a close from the client is answered by the close
	// the connection actor asks for when it hears of it.
	c.ws.SetPingHandler(func(data string) error {
		c.answerPing(data)
		return nil
	})
	c.ws.SetCloseHandler(func(int, string) error { return nil })
	// deliver hands msg to the connection actor once the window has room
	// for weight; false when the connection is closing instead.
	deliver := func(msg any, weight int) bool {
		ok, waited := c.win.take(weight, c.quit)
		if waited {
			c.srv.cfg.Metrics.WindowWaits.Inc()
		}
		if !ok {
			return false
		}
		c.srv.eng.Deliver(pid, msg)
		return true
	}
	var msgBuf []byte
	for {
		if lim != nil {
			lim.readStarts(time.Now())
		}
		kind, data, err := readMessage(c.ws, &msgBuf, MaxMessageSize)
		readAt := time.Now()
		if lim != nil {
			lim.readEnds(readAt)
		}
		if errors.Is(err, errTooBig) {
			// Close with 1009 at once (what is queued goes out first),
			// then read and drop the rest of the message and whatever
			// follows until the client answers the close, so that it
			// reads the close rather than a reset (RFC 6455 7.1.1). The
			// actor hears of it when the connection has ended.
			c.Close(actors.CloseTooBig, "message over 64 KiB")
			c.drain()
			c.srv.eng.Deliver(pid, &actors.Failed{Err: errTooBig})
			return
		}
		if err != nil {
			c.noteEnd(err)
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
		// A big message from a connection with commands in flight (ahead
		// of its universe) is bulk work: its decoding waits its turn at
		// the bulk gate.
		bulk := len(data) >= bulkMessageSize && c.win.inUse(cfg.Window) > 0
		if bulk && !c.srv.bulk.enter(len(data), c.quit) {
			break
		}
		cmd, bad := DecodeCommand(data, c.srv.eng.Universes())
		if bulk {
			c.srv.bulk.leave()
		}
		if lim != nil && !lim.allow(time.Now(), rc == nil || rc.caughtUp()) {
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
		cmd.ReadAt = readAt
		quiet := c.win.inUse(cfg.Window) == 0
		if !deliver(&actors.Received{Cmd: cmd, Quiet: quiet}, cmd.Weight()) {
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
// or pong, from now: waiting for credit does not count against it. Moving
// a socket's deadline costs a timer update, so it moves only once
// PongWait/deadlineSlack has passed since the last move: a client that
// sends a command every few microseconds pays it a few times a second.
func (c *conn) resetReadDeadline() {
	wait := c.srv.cfg.PongWait
	now := time.Now()
	if c.readDeadline.Sub(now) > wait-wait/deadlineSlack {
		return
	}
	c.readDeadline = now.Add(wait)
	_ = c.ws.SetReadDeadline(c.readDeadline)
}

// deadlineSlack: the read deadline may be up to PongWait/deadlineSlack
// earlier than PongWait after the client's last frame.
const deadlineSlack = 16

// refused counts a refused command and has the actor answer it; false
// when the connection is closing instead.
func (c *conn) refused(deliver func(any, int) bool, e *actors.Error) bool {
	c.srv.cfg.Metrics.CommandsRefused.WithLabelValues(e.Code).Inc()
	return deliver(&actors.Refused{Err: e}, actors.RefusedWeight)
}

// drain reads and discards frames until the connection ends, so that the
// close handshake can complete after the reader stopped taking commands.
// The writer bounds it: it closes the socket a moment after its close
// frame whether or not the client answered.
func (c *conn) drain() {
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			c.noteEnd(err)
			return
		}
	}
}

// noteEnd notes how the connection ended when the read pump's last read
// failed with err, before the connection actor hears of it (it may close
// the connection at once, in the pump's goroutine): a close frame from the
// client that came first (not an answer to dmxd's own), dmxd's close, or
// neither (a dropped link, a keepalive timeout: 1006, abnormal closure).
// Only the first call counts.
func (c *conn) noteEnd(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	c.ended, c.endErr = true, err
	var ce *websocket.CloseError
	switch {
	case c.closing:
		c.endCode, c.endBy = c.code, "server"
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure:
		// gorilla reports a connection cut without a close frame as 1006.
		c.endCode, c.endBy = ce.Code, "client"
	default:
		c.endCode = websocket.CloseAbnormalClosure
	}
}

// closeInfo returns how the connection ended (see noteEnd), once its read
// pump has returned: the close code, who sent it first ("client",
// "server" or "" for neither) and, for neither, the read error.
func (c *conn) closeInfo() (code int, by string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endCode, c.endBy, c.endErr
}

// maxKeptQueue is the largest queue capacity a connection keeps between
// writes; a larger one (after a burst) is dropped.
const maxKeptQueue = 8

// write is the writer: it writes what the outbox holds until it is empty,
// then ends. Queued messages go out together, in one write per
// maxWriteBatch bytes. After a close it writes the close frame, waits a
// moment for the client's answer and closes the socket.
func (c *conn) write() {
	cfg := &c.srv.cfg
	for {
		c.mu.Lock()
		msgs, pong, ping, closing := c.queue, c.pong, c.ping, c.closing
		c.queue, c.pong, c.ping = nil, nil, false
		if len(msgs) == 0 && pong == nil && !ping && !closing {
			c.writer = writerIdle
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()

		deadline := time.Now().Add(cfg.WriteWait)
		if closing {
			// One deadline for the whole goodbye: what is queued, the
			// close frame and the client's answer.
			deadline = time.Now().Add(closeGrace)
		}
		err := c.writeMessages(msgs, deadline)
		updatesDone(msgs) // written, or lost with the connection
		if err == nil && pong != nil {
			err = c.ws.WriteControl(websocket.PongMessage, []byte(*pong), deadline)
		}
		if err == nil && ping {
			err = c.ws.WriteControl(websocket.PingMessage, nil, deadline)
			c.pinger.Reset(pingDelay(cfg.PingPeriod))
		}
		if err != nil || closing {
			if err == nil {
				c.writeClose(deadline)
				// Give the client until the deadline to answer the close
				// frame.
				select {
				case <-c.gone:
				case <-time.After(time.Until(deadline)):
				}
			}
			c.shut()
			return
		}
		c.afterWrite(msgs)
	}
}

// afterWrite keeps the written queue's array for the next messages when
// it is small, and tells the actor when a connection that fell behind has
// caught up.
func (c *conn) afterWrite(msgs []any) {
	c.mu.Lock()
	if cap(msgs) <= maxKeptQueue && c.queue == nil {
		clear(msgs)
		c.queue = msgs[:0]
	}
	drained := len(c.queue) == 0
	c.mu.Unlock()
	if drained && c.behind.CompareAndSwap(true, false) {
		c.srv.eng.Deliver(c.pid, &actors.Drained{})
	}
}

// shut closes the socket (which ends the read pump) and retires the
// outbox: nothing more is queued or written.
func (c *conn) shut() {
	c.mu.Lock()
	updatesDone(c.queue)
	c.dead, c.writer, c.queue = true, writerIdle, nil
	c.stopReading()
	c.mu.Unlock()
	c.pinger.Stop()
	_ = c.ws.Close()
	c.srv.pumps.Done()
}

// updatesDone tells the universes that the updates among msgs are done
// with for this connection (see actors.Update.Done).
func updatesDone(msgs []any) {
	for _, m := range msgs {
		if up, ok := m.(*actors.Update); ok {
			up.Done()
		}
	}
}

// writeMessages writes msgs as text frames, as few writes as
// maxWriteBatch allows. A message that cannot be encoded is logged and
// skipped; any other error is the socket's.
func (c *conn) writeMessages(msgs []any, deadline time.Time) error {
	if len(msgs) == 0 {
		return nil
	}
	wb := c.srv.bufs.get()
	defer c.srv.bufs.put(wb)
	nc := c.ws.NetConn()
	_ = nc.SetWriteDeadline(deadline)
	for i, msg := range msgs {
		if err := wb.appendFrame(msg); err != nil {
			c.log.Error().Err(err).Msg("encode")
		}
		if len(wb.frames) >= maxWriteBatch || i == len(msgs)-1 {
			if _, err := nc.Write(wb.frames); err != nil {
				return err
			}
			wb.frames = wb.frames[:0]
		}
	}
	return nil
}

// writeClose sends the close frame asked for by Close.
func (c *conn) writeClose(deadline time.Time) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.code, c.reason), deadline)
}

// drop closes the socket at once, whatever is under way: a write blocked
// on a client that reads nothing fails, and both pumps end.
func (c *conn) drop() { _ = c.ws.NetConn().Close() }

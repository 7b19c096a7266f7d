package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// Slow clients: a client whose queue is full is "behind". Its updates and
// states are dropped (it gets a fresh state per universe when it catches
// up); acks, errors and output states are held, up to maxHeld. A client
// behind for longer than SlowClientTimeout is closed with 1013.
const (
	SlowClientTimeout = 5 * time.Second
	maxHeld           = 1024
)

// WebSocket close codes used by the connection actor.
const (
	CloseNormal       = 1000
	CloseGoingAway    = 1001
	ClosePolicy       = 1008
	CloseTooBig       = 1009
	CloseInternal     = 1011
	CloseTryAgain     = 1013 // CloseServiceRestart (1012) is in edge.go
	closeReasonFailed = "internal error"
)

// connectionActor is one client connection. It receives the connection's
// lifecycle as actor messages: *actor.Started when it opens, *Received
// for each command, *Closed when the client closes it and *Failed when it
// breaks.
type connectionActor struct {
	peer      Peer
	hello     *Hello
	universes []*actor.PID // index u-1
	closeCode int          // the close code sent when the actor stops
	closeText string
	behind    bool                // the client's queue overflowed; see Drained
	since     time.Time           // when it fell behind
	held      []any               // acks, errors and output states held while behind
	closing   bool                // CloseConn arrived; stopping after the barrier
	deadline  time.Time           // the CloseConn's deadline, zero when none
	syncs     int                 // barrier answers still awaited
	waiting   bool                // closing, waiting for a behind client to drain
	missed    []showParts         // per universe: show messages dropped while behind
	fans      map[uint64]*fanning // commands for every universe, by sequence
	fanSeq    uint64
	log       zerolog.Logger
}

// fanning is a command for every universe on its way: its ack and its
// credit wait for every universe's part. Each holds credit, so the window
// bounds how many there are.
type fanning struct {
	left   int
	id     ID
	weight int
}

func (c *connectionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.closeCode, c.closeText = CloseInternal, closeReasonFailed
		c.send(c.hello)
		for _, u := range c.universes {
			ctx.Send(u, &attach{conn: ctx.Self()})
		}
	case *Received:
		w := m.Cmd.Weight()
		if c.closing {
			c.peer.Release(w)
			return // not applied, never acked: the client is being closed
		}
		if m.Cmd.Kind.AllUniverses() {
			c.fanOut(ctx, m.Cmd, w)
			return
		}
		ctx.Send(c.universes[m.Cmd.Universe-1], &apply{from: ctx.Self(), cmd: m.Cmd, weight: w, quiet: m.Quiet})
	case *applied:
		for _, r := range m.replies {
			if f, ok := r.(*fanDone); ok {
				c.fanDone(f.seq)
				continue
			}
			c.send(r)
		}
		if m.weight > 0 {
			c.peer.Release(m.weight)
		}
	case *Refused:
		c.send(m.Err)
		c.peer.Release(RefusedWeight)
	case *Closed:
		c.log.Debug().Int("code", m.Code).Msg("client closed")
		c.closeCode, c.closeText = CloseNormal, ""
		ctx.Stop(ctx.Self())
	case *Failed:
		c.log.Debug().Err(m.Err).Msg("connection failed")
		c.closeCode, c.closeText = CloseNormal, ""
		ctx.Stop(ctx.Self())
	case *CloseConn:
		// Close after the acks of every command already forwarded have
		// come back: a barrier through each universe.
		if c.closing {
			return
		}
		c.closing = true
		c.closeCode, c.closeText = m.Code, m.Reason
		c.deadline = m.Deadline
		c.syncs = len(c.universes)
		for _, u := range c.universes {
			ctx.Request(u, &syncReq{})
		}
	case *syncDone:
		c.syncs--
		c.stopIfDone(ctx)
	case *closeNow:
		ctx.Stop(ctx.Self())
	case *dropConn:
		// The edge's core is lost: the client hears why, then the close,
		// without a barrier (the universes may never answer one).
		c.peer.Send(m.err)
		c.closeCode, c.closeText = m.code, m.reason
		ctx.Stop(ctx.Self())
	case *State, *Update, *Blackout, *OutputStatus, *Ack, *Error,
		*Looks, *Cues, *Masters, *Labels, *MonitorState:
		c.send(m)
	case *Drained:
		c.catchUp(ctx)
	case *actor.Stopping:
		c.peer.Close(c.closeCode, c.closeText)
	}
}

// send queues msg for the client, or holds it while the client is behind.
func (c *connectionActor) send(msg any) {
	if !c.behind {
		if c.peer.Send(msg) {
			return
		}
		c.behind, c.since = true, time.Now()
		c.log.Debug().Msg("client fell behind")
	}
	switch m := msg.(type) {
	case *Update:
		m.Done() // replaced by a fresh state when the client catches up
	case *Looks, *Cues, *Masters, *Labels:
		// Replaced by fresh ones when the client catches up: the parts it
		// missed are sent again even if they are now empty.
		c.noteMissed(msg)
	case *State, *Blackout, *MonitorState:
		// Replaced by fresh ones when the client catches up.
	default:
		c.held = append(c.held, msg)
	}
	if len(c.held) > maxHeld || time.Since(c.since) > SlowClientTimeout {
		c.closeCode, c.closeText = CloseTryAgain, "too slow to read updates"
		c.peer.Close(c.closeCode, c.closeText)
	}
}

// catchUp sends what was held back and a fresh state of every universe.
func (c *connectionActor) catchUp(ctx actor.Context) {
	if !c.behind {
		return
	}
	c.behind = false
	held := c.held
	c.held = nil
	for _, m := range held {
		c.send(m)
	}
	if c.closing {
		c.stopIfDone(ctx)
		return
	}
	for i, u := range c.universes {
		var missed showParts
		if c.missed != nil {
			missed = c.missed[i]
		}
		ctx.Send(u, &apply{from: ctx.Self(), cmd: &Command{Kind: kindResync, Universe: i + 1}, missed: missed})
	}
	c.missed = nil
}

// noteMissed notes the part of the show a dropped show message was about,
// for the resync when the client catches up.
func (c *connectionActor) noteMissed(msg any) {
	if c.missed == nil {
		c.missed = make([]showParts, len(c.universes))
	}
	var u int
	var part showParts
	switch m := msg.(type) {
	case *Looks:
		u, part = m.Universe, partLooks
	case *Cues:
		u, part = m.Universe, partCues
	case *Masters:
		u, part = m.Universe, partMasters
	case *Labels:
		u, part = m.Universe, partLabels
	}
	if u >= 1 && u <= len(c.missed) {
		c.missed[u-1] |= part
	}
}

// fanOut sends a command for every universe to each of them; its ack and
// credit wait for all their answers (fanDone).
func (c *connectionActor) fanOut(ctx actor.Context, cmd *Command, weight int) {
	c.fanSeq++
	if c.fans == nil {
		c.fans = map[uint64]*fanning{}
	}
	c.fans[c.fanSeq] = &fanning{left: len(c.universes), id: cmd.ID, weight: weight}
	for i, u := range c.universes {
		part := *cmd
		part.Universe, part.ID = i+1, nil
		ctx.Send(u, &apply{from: ctx.Self(), cmd: &part, fan: c.fanSeq})
	}
}

// fanDone counts one universe's part of a command for every universe; the
// last one acks it and gives its credit back.
func (c *connectionActor) fanDone(seq uint64) {
	f := c.fans[seq]
	if f == nil {
		return
	}
	if f.left--; f.left > 0 {
		return
	}
	delete(c.fans, seq)
	if f.id != nil {
		c.send(&Ack{ID: f.id})
	}
	c.peer.Release(f.weight)
}

// stopIfDone stops a closing connection actor once the acks of every
// command it forwarded are back (the barrier) and have reached the client's
// queue. A client that is behind gets SlowClientTimeout to read them, but
// not past the close's deadline: then it is dropped with what it did not
// read.
func (c *connectionActor) stopIfDone(ctx actor.Context) {
	if c.syncs > 0 {
		return
	}
	wait := SlowClientTimeout
	if !c.deadline.IsZero() {
		wait = min(wait, time.Until(c.deadline))
	}
	if !c.behind || wait <= 0 {
		ctx.Stop(ctx.Self())
		return
	}
	if !c.waiting {
		c.waiting = true
		self, root := ctx.Self(), ctx.ActorSystem().Root
		time.AfterFunc(wait, func() { root.Send(self, &closeNow{}) })
	}
}

// closeNow ends the wait of a closing connection for a client that is
// behind.
type closeNow struct{}

func (*closeNow) IgnoreDeadLetterLogging() {}

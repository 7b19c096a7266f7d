package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// WebSocket close codes used by the connection actor.
const (
	CloseNormal       = 1000
	CloseGoingAway    = 1001
	ClosePolicy       = 1008
	CloseTooBig       = 1009
	CloseInternal     = 1011
	CloseTryAgain     = 1013
	closeReasonFailed = "internal error"
)

// connectionActor is one client connection. It turns the connection's
// lifecycle into actor messages: *actor.Started is onOpen, *Received is
// onMessage, *Closed is onClose and *Failed is onError.
type connectionActor struct {
	peer      Peer
	hello     *Hello
	universes []*actor.PID // index u-1
	closeCode int          // the close code sent when the actor stops
	closeText string
	log       zerolog.Logger
}

func (c *connectionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started: // onOpen
		c.closeCode, c.closeText = CloseInternal, closeReasonFailed
		c.send(c.hello)
		for _, u := range c.universes {
			ctx.Send(u, &attach{conn: ctx.Self()})
		}
	case *Received: // onMessage
		ctx.Send(c.universes[m.Cmd.Universe-1], &apply{from: ctx.Self(), cmd: m.Cmd})
	case *Refused:
		c.send(m.Err)
	case *Closed: // onClose
		c.log.Debug().Int("code", m.Code).Msg("client closed")
		c.closeCode, c.closeText = CloseNormal, ""
		ctx.Stop(ctx.Self())
	case *Failed: // onError
		c.log.Debug().Err(m.Err).Msg("connection failed")
		c.closeCode, c.closeText = CloseNormal, ""
		ctx.Stop(ctx.Self())
	case *CloseConn:
		c.closeCode, c.closeText = m.Code, m.Reason
		ctx.Stop(ctx.Self())
	case *State, *Update, *Blackout, *OutputStatus, *Ack, *Error:
		c.send(m)
	case *actor.Stopping:
		c.peer.Close(c.closeCode, c.closeText)
	}
}

// send queues msg for the client. A client whose queue is full is too slow
// to follow the show: it is closed with 1013 rather than let it hold
// memory or delay anyone else.
func (c *connectionActor) send(msg any) {
	if !c.peer.Send(msg) {
		c.peer.Close(CloseTryAgain, "too slow to read updates")
	}
}

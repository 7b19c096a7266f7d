package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// lobbyConn is a connection actor the lobby watches, with the generation
// of the edge view it was spawned with.
type lobbyConn struct {
	pid *actor.PID
	gen uint64
}

// Messages of the lobby actor.
type (
	// join spawns a connection actor for peer; answered with its *actor.PID.
	join struct{ peer Peer }
	// closeAll closes every connection with code, by deadline.
	closeAll struct {
		code     int
		reason   string
		deadline time.Time
	}
)

// lobbyActor spawns and tracks every connection actor. Connection actors
// are spawned from the root with a guardian that stops, never restarts, a
// failed one: its client is closed and the universes it watched release
// it. The lobby watches them in a map of its own rather than parenting
// them: protoactor's child set (a PIDSet) keeps removed PIDs in its slice's
// spare capacity, and a PID caches its process, so a parent would keep the
// memory of its busiest moment's connections alive forever.
type lobbyActor struct {
	// newConn returns the props of a connection actor for a peer and the
	// generation of the edge's view it was made with (0 outside an edge;
	// see dropConns); nil props while an edge's core is away.
	newConn func(Peer) (*actor.Props, uint64)
	conns   map[string]lobbyConn
	closing *closeAll  // set by closeAll: every connection is being closed
	waiter  *actor.PID // answered when the last connection has stopped
}

func (l *lobbyActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *join:
		props, gen := l.newConn(m.peer)
		if props == nil {
			ctx.Respond(ErrCoreUnavailable)
			return
		}
		pid := ctx.ActorSystem().Root.Spawn(props)
		l.conns[pid.Id] = lobbyConn{pid: pid, gen: gen}
		ctx.Watch(pid)
		if l.closing != nil {
			ctx.Send(pid, &CloseConn{Code: l.closing.code, Reason: l.closing.reason, Deadline: l.closing.deadline})
		}
		ctx.Respond(pid)
	case *closeAll:
		l.closing, l.waiter = m, ctx.Sender()
		for _, c := range l.conns {
			ctx.Send(c.pid, &CloseConn{Code: m.code, Reason: m.reason, Deadline: m.deadline})
		}
		l.answerWhenEmpty(ctx)
	case *dropConns:
		for _, c := range l.conns {
			if c.gen < m.below {
				ctx.Send(c.pid, &dropConn{code: m.code, reason: m.reason, err: m.err})
			}
		}
	case *actor.Terminated:
		delete(l.conns, m.Who.Id)
		l.answerWhenEmpty(ctx)
	}
}

// answerWhenEmpty tells the closeAll requester once no connection is left.
// Each connection actor stops itself after its CloseConn, so that it
// closes its client with the right code (stopping it from here would
// overtake the CloseConn in its mailbox).
func (l *lobbyActor) answerWhenEmpty(ctx actor.Context) {
	if l.waiter != nil && len(l.conns) == 0 {
		ctx.Send(l.waiter, closedAll{})
		l.waiter = nil
	}
}

// closedAll answers closeAll.
type closedAll struct{}

// stopOnFailure is the guardian strategy of connection actors. Make it
// once: protoactor spawns one guardian per strategy value.
func stopOnFailure() actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(0, 0, func(reason any) actor.Directive {
		return actor.StopDirective
	})
}

// resumeOnFailure keeps an actor and its state after a failed message:
// a universe must not lose its levels, an output its device.
func resumeOnFailure() actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(0, 0, func(reason any) actor.Directive {
		return actor.ResumeDirective
	})
}

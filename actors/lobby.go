package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// Messages of the lobby actor.
type (
	// join spawns a connection actor for peer; answered with its *actor.PID.
	join struct{ peer Peer }
	// closeAll closes every connection with code.
	closeAll struct {
		code   int
		reason string
	}
)

// lobbyActor is the parent of every connection actor. A connection actor
// that fails is stopped, never restarted: its client is closed and the
// universes it watched release it.
type lobbyActor struct {
	newConn func(Peer) *actor.Props
}

func (l *lobbyActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *join:
		ctx.Respond(ctx.Spawn(l.newConn(m.peer)))
	case *closeAll:
		for _, c := range ctx.Children() {
			ctx.Send(c, &CloseConn{Code: m.code, Reason: m.reason})
		}
		ctx.Respond(len(ctx.Children()))
	}
}

// stopOnFailure is the supervisor strategy of connection actors.
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

package actors

import (
	"slices"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
)

// Broadcasts to the desks of an edge. A universe sends a broadcast (an
// update, a state, a show message…) to an edge's desks as one message to
// the edge's edge-fanout actor, which hands it to each of them: one remote
// message per edge instead of one per desk, and one encoding of the
// message for all the edge's desks (they share its WireCache).

// edgeFanoutName is the well-known name of an edge's fan-out actor.
const edgeFanoutName = "edge-fanout"

// fanout carries msg to the connection actors conns (ids) of one edge.
// conns is never modified after it is sent.
type fanout struct {
	conns []string
	msg   any
}

func (*fanout) IgnoreDeadLetterLogging() {}

// Serialize ends a broadcast update's way to each desk of the edge (see
// Update.Serialize).
func (f *fanout) Serialize() (remote.RootSerialized, error) {
	if up, ok := f.msg.(*Update); ok {
		for range f.conns {
			up.Done()
		}
	}
	return &WireFanout{Conns: f.conns, Msg: wireReply(f.msg)}, nil
}

// Deserialize drops empty connection ids; a fan-out without a usable
// message is dropped.
func (w *WireFanout) Deserialize() (remote.RootSerializable, error) {
	m := w.Msg.message()
	if m == nil {
		return &dropped{what: "fanout"}, nil
	}
	if _, ok := m.(*fanDone); ok {
		return &dropped{what: "fanout"}, nil
	}
	conns := make([]string, 0, len(w.Conns))
	for _, c := range w.Conns {
		if c != "" {
			conns = append(conns, c)
		}
	}
	return &fanout{conns: conns, msg: m}, nil
}

// edgeFanoutActor runs on an edge: it hands each fan-out's message to the
// edge's connection actors it names.
type edgeFanoutActor struct{}

func (edgeFanoutActor) Receive(ctx actor.Context) {
	if f, ok := ctx.Message().(*fanout); ok {
		addr := ctx.Self().Address
		for _, id := range f.conns {
			ctx.Send(actor.NewPID(addr, id), f.msg)
		}
	}
}

// edgeDesks are the desks of one edge that a universe's subscribers hold.
// ids is replaced, never modified, when a desk comes or goes: a fan-out
// sent carries the slice of its moment.
type edgeDesks struct {
	fanout *actor.PID
	ids    []string
}

// addEdgeDesk notes a subscriber in another process.
func (u *universeActor) addEdgeDesk(pid *actor.PID) {
	if u.edges == nil {
		u.edges = map[string]*edgeDesks{}
	}
	g := u.edges[pid.Address]
	if g == nil {
		g = &edgeDesks{fanout: actor.NewPID(pid.Address, edgeFanoutName)}
		u.edges[pid.Address] = g
	}
	g.ids = append(slices.Clip(g.ids), pid.Id)
}

// removeEdgeDesk forgets a subscriber in another process.
func (u *universeActor) removeEdgeDesk(pid *actor.PID) {
	g := u.edges[pid.Address]
	if g == nil {
		return
	}
	g.ids = slices.DeleteFunc(slices.Clone(g.ids), func(id string) bool { return id == pid.Id })
	if len(g.ids) == 0 {
		delete(u.edges, pid.Address)
	}
}

// remote reports whether a subscriber runs in another process (an edge).
func (u *universeActor) remote(pid *actor.PID) bool { return pid.Address != u.address }

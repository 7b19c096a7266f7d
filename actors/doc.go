// Package actors holds dmxd's actors and the wiring that spawns and stops
// them:
//
//   - a connection actor per WebSocket connection, which receives the
//     connection's lifecycle (open, message, close, error) as actor
//     messages and forwards decoded commands to universe actors (a
//     command for every universe to each, acked once all applied it);
//   - a universe actor per universe, which owns its levels (a dmx.Mixer),
//     applies commands in batches (everything waiting when the batch's
//     first command arrived), hands one frame per batch and per fade step
//     to its output actor, answers each connection once per batch and
//     sends coalesced updates, at most one per period and on its tick
//     (a period after the frame, never with it), to the connections
//     that watch it — and fewer while the previous update is still on its
//     way to most of them or the engine's update budget is spent;
//     it also owns the universe's show (looks, cue list, labels, master,
//     the desks' flashes and monitors; see show.go) and scales what goes
//     out by its master and its copy of the grand master;
//   - an output actor per universe, which owns the output device through a
//     single writer goroutine (it runs the C refresh loop of dmx/refresh on
//     its own OS thread), reopens it with backoff when it fails and reports
//     its state;
//   - with Config.Cluster, a nodes actor (well-known name "nodes"), which
//     answers the joins and pings of output nodes (dmxd node) and keeps a
//     link actor per node output: the link is one more output of its
//     universe (added while it runs), keeps the newest frame, has at most
//     one in flight to the node and sends nothing to a lost one (see
//     nodes.go); a node runs output actors and refresh loops fed by its
//     agent actor (StartNode, node.go);
//   - a lobby actor, which spawns every connection actor, watches it and
//     closes all of them at shutdown. It is not their parent: they are
//     spawned from the root, with a guardian that stops a failed
//     connection actor instead of restarting it (see lobbyActor).
//
// An engine started with Config.Core is a desk edge (edge.go): it runs a
// lobby and connection actors only, whose universes are a core's, reached
// through protoactor's remote as remote PIDs; the messages that cross are
// edge.proto's (edgewire.go). A core answers its edges with its edges
// actor, and sends each edge's desks their broadcasts in one message to
// the edge's edge-fanout actor (edgefanout.go). The edge's link actor pings
// the core and closes every desk at once when the core is lost.
//
// A command without a connection (plain HTTP) reaches its universe through
// Engine.Apply: a protoactor future is its source for one batch, and the
// caller's goroutine, never an actor, waits for the universe's answer.
//
// The package knows no WebSockets: it talks to a connection through Peer,
// which the transport package implements. Every message a connection's
// reader hands over holds credit in that connection's window (see
// DefaultWindow) until the universe answered it, so what waits in a
// universe's mailbox is bounded by the connections times their window.
//
// Concurrency: Engine's methods are safe for concurrent use. Everything else
// is owned by one actor; messages carry copies or values that are never
// modified after they are sent. Two exceptions are safe for concurrent use
// by design: an Update's delivery count (each desk's writer calls Done) and
// the update budget the universes share.
package actors

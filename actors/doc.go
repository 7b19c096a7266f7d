// Package actors holds dmxd's actors and the wiring that spawns and stops
// them:
//
//   - a connection actor per WebSocket connection, which turns the
//     connection's lifecycle (open, message, close, error — the callbacks of
//     the old Ratchet Application) into actor messages and forwards decoded
//     commands to universe actors;
//   - a universe actor per universe, which owns its levels (a dmx.Mixer),
//     applies commands, sends coalesced updates to the connections that
//     watch it and, on every tick of its clock, hands a frame to its output
//     actor;
//   - an output actor per universe, which owns the output device through a
//     single writer goroutine (it runs the C refresh loop of dmx/refresh on
//     its own OS thread), reopens it with backoff when it fails and reports
//     its state;
//   - a lobby actor, parent of every connection actor, which stops a failed
//     connection instead of restarting it and closes all of them at
//     shutdown.
//
// The package knows no WebSockets: it talks to a connection through Peer,
// which the transport package implements.
//
// Concurrency: Engine's methods are safe for concurrent use. Everything else
// is owned by one actor; messages carry copies or values that are never
// modified after they are sent.
package actors

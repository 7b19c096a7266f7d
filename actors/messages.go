package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmxd/dmxd/dmx"
)

// ID is the raw JSON of a request's "id" (a string or a number), echoed
// back verbatim; nil when the request had none.
type ID []byte

// Kind is the kind of a client command.
type Kind uint8

// Command kinds.
const (
	KindDMX Kind = iota + 1
	KindFade
	KindBlackout
	KindGet
	// Show control (see show.go).
	KindLookSave
	KindLookRecall
	KindLookRename
	KindLookDelete
	KindLookList
	KindCueList
	KindGo
	KindBack
	KindMaster
	KindGrandMaster // every universe
	KindBlackoutAll // every universe
	KindFlash
	KindLabel
	KindUniverseName
	KindMonitor
	// kindResync asks for everything a desk that fell behind may have
	// missed: state, show and monitor. Never decoded from a client.
	kindResync
)

// AllUniverses reports whether the command kind applies to every
// universe at once (the command's Universe is then meaningless).
func (k Kind) AllUniverses() bool { return k == KindGrandMaster || k == KindBlackoutAll }

// Label is one channel's label in a KindLabel command ("" removes it).
type Label struct {
	Channel uint16
	Text    string
}

// Command is one decoded, validated client command.
type Command struct {
	Kind     Kind
	Universe int
	ID       ID
	// ReadAt is when a desk's read pump read the command (zero for other
	// sources): dmxd_command_latency_seconds runs from it.
	ReadAt time.Time
	// Changes are the channels set or faded by KindDMX and KindFade.
	Changes []dmx.Change
	// Duration is the fade time of KindFade.
	Duration time.Duration
	// On is the switch of KindBlackout, KindBlackoutAll and KindMonitor.
	On bool
	// Name is the look of KindLookSave, KindLookRecall, KindLookRename and
	// KindLookDelete, and the universe's name of KindUniverseName.
	Name string
	// To is the new name of KindLookRename.
	To string
	// Level is the master of KindMaster and KindGrandMaster.
	Level uint8
	// Channels are the channels of KindFlash, and of KindLookSave when
	// chosen (nil: all 512).
	Channels []uint16
	// Cues is the cue list of KindCueList (each look's fade in Fade).
	Cues []dmx.Cue
	// Labels are the channel labels of KindLabel.
	Labels []Label
}

// Credit windows. Every message a connection's reader hands to its
// connection actor (a Received or a Refused) holds credit in that
// connection's window until the universe applied it (or the actor answered
// the refusal); a reader whose window is used up stops reading its socket,
// so TCP pushes back on that one client.
const (
	// DefaultWindow is the credit of one connection's window: up to 32
	// small commands, or 3 that set all 512 channels.
	DefaultWindow = 32
	// RefusedWeight is the credit a refused message holds.
	RefusedWeight = 1
	// channelsPerWeight is how many channels of a command cost one more
	// unit of credit.
	channelsPerWeight = 64
)

// Weight is the credit a command holds in its connection's window: one
// unit, and one more per 64 channels it carries, so that the window bounds
// the memory of the commands in flight as well as their number. It is at
// most 9 (512 channels, 512 labels or 256 cues).
func (c *Command) Weight() int {
	return 1 + (len(c.Changes)+len(c.Channels)+len(c.Labels)+2*len(c.Cues))/channelsPerWeight
}

// Peer is the outbound side of one client connection, implemented by the
// transport. Its methods never block and are safe for concurrent use.
type Peer interface {
	// Send queues a server message; it returns false when the queue is full
	// or the connection is closing. After a false, the transport delivers
	// *Drained to the connection actor once the client has read its queue.
	Send(msg any) bool
	// Close closes the connection with a WebSocket close code; later calls
	// do nothing.
	Close(code int, reason string)
	// Release gives n units of credit back to the connection's window:
	// the messages that held them were applied or answered.
	Release(n int)
}

// Messages from the transport to a connection actor: the lifecycle of the
// connection. Opening is the actor's own *actor.Started.

// Received carries a command the client sent. It
// holds Cmd.Weight() units of the connection's window. Quiet says that
// the connection had nothing else in flight when it was read: its
// universe applies it ahead of other connections' queued commands (see
// quietPriority).
type Received struct {
	Cmd   *Command
	Quiet bool
}

// Refused is a message the transport could not accept; the actor answers
// it with an error. It holds RefusedWeight units of the window.
type Refused struct{ Err *Error }

// Closed reports that the client closed the connection.
type Closed struct {
	Code int
	Text string
}

// Failed reports that the connection broke.
type Failed struct{ Err error }

// Drained reports that a client which had fallen behind has read its whole
// queue; the actor resends what it held back.
type Drained struct{}

// CloseConn asks a connection actor to close its client with Code, once
// the acks of what it already forwarded are back and delivered. A client
// that is behind gets SlowClientTimeout to read them, but never past
// Deadline when it is set (shutdown).
type CloseConn struct {
	Code     int
	Reason   string
	Deadline time.Time
}

// These messages may reach a connection actor after it stopped; that is
// expected and not worth a dead-letter log line.
func (*Received) IgnoreDeadLetterLogging()  {}
func (*Refused) IgnoreDeadLetterLogging()   {}
func (*Closed) IgnoreDeadLetterLogging()    {}
func (*Failed) IgnoreDeadLetterLogging()    {}
func (*CloseConn) IgnoreDeadLetterLogging() {}
func (*Drained) IgnoreDeadLetterLogging()   {}

// Server messages, sent to clients through Peer.Send. They are never
// modified after they are sent.

// Hello is the first message on every connection.
type Hello struct {
	Version   string
	Universes int
	Rate      int
	Merge     string
	Features  []string // the show features the server has (see ShowFeatures)
}

// ShowFeatures returns the show features of this server, as hello lists
// them.
func ShowFeatures() []string {
	return []string{"looks", "cues", "masters", "flash", "labels", "monitor"}
}

// State is the full state of one universe.
type State struct {
	Universe int
	Values   dmx.Frame
	Blackout bool
}

// Update carries the latest level of every channel that changed since
// the previous update, in ascending channel order. One Update goes to
// every desk: Wire lets the transport encode it once for all of them.
//
// Whoever ends its way to one desk calls Done once for that desk: the
// transport when it has written it to the socket or lost it with the
// connection, the connection actor when the transport did not take it.
// The universe sends its next update only when most desks have this one
// (see universeActor.sendUpdate): the fan-out is paced by how fast the
// desks are really written to, not by the clock alone.
type Update struct {
	Universe int
	// Monitor marks the changes of a universe's output (a monitor
	// message) rather than of its levels.
	Monitor bool
	Changes []dmx.Change
	Wire    WireCache
	pending *atomic.Int64 // deliveries not done yet; nil outside a broadcast
}

// NewUpdate returns an update of changes broadcast to deliveries desks,
// each of which will call Done once.
func NewUpdate(universe int, changes []dmx.Change, deliveries int) *Update {
	up := &Update{Universe: universe, Changes: changes, pending: new(atomic.Int64)}
	up.pending.Store(int64(deliveries))
	return up
}

// Pending returns how many of a broadcast update's deliveries are not
// done yet (0 for an update that was not broadcast).
func (u *Update) Pending() int64 {
	if u.pending == nil {
		return 0
	}
	return u.pending.Load()
}

// Done ends this update's way to one desk. It is safe for concurrent use
// and does nothing for an update that was not broadcast.
func (u *Update) Done() {
	if u.pending != nil {
		u.pending.Add(-1)
	}
}

// WireCache holds a broadcast message's encoding, made by whichever
// connection writes it first and shared by the others (as gorilla's
// PreparedMessage does). Its zero value is empty; it is safe for
// concurrent use.
type WireCache struct {
	once sync.Once
	b    []byte
	err  error
}

// Get returns the cached encoding, calling encode the first time.
func (w *WireCache) Get(encode func() ([]byte, error)) ([]byte, error) {
	w.once.Do(func() { w.b, w.err = encode() })
	return w.b, w.err
}

// Blackout reports that a universe's blackout was switched.
type Blackout struct {
	Universe int
	On       bool
}

// OutputStatus reports that an output went down or came back.
type OutputStatus struct {
	Universe int
	Driver   string
	Target   string // the output's device or destinations ("" for null)
	Up       bool
	Error    string
	slot     int // which of the universe's outputs (in patch order)
}

// Ack confirms that the command with ID was applied.
type Ack struct{ ID ID }

// Error refuses a command.
type Error struct {
	ID      ID
	Code    string
	Message string
}

func (*State) IgnoreDeadLetterLogging()        {}
func (*Update) IgnoreDeadLetterLogging()       {}
func (*Blackout) IgnoreDeadLetterLogging()     {}
func (*OutputStatus) IgnoreDeadLetterLogging() {}
func (*Ack) IgnoreDeadLetterLogging()          {}
func (*Error) IgnoreDeadLetterLogging()        {}

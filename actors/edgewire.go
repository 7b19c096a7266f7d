package actors

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/dmxd/dmxd/dmx"
)

// The conversions of the messages that cross between an edge's connection
// actors and a core's universe actors (edge.proto). protoactor's remote
// calls Serialize on a Go message as it hands it to the link, and
// Deserialize on the Wire message it read, before delivering the result.
//
// A Deserialize error would end the whole gRPC stream between the two
// processes, so Deserialize never fails: it accepts everything Serialize
// makes and repairs or drops what no Serialize makes —
//
//   - a channel outside 1..512 (a change, a flash or look channel, a
//     label) is dropped; a level, a master above 255 is clamped to 255;
//   - a fade or cue time below 0 is 0, above wireMaxFade it is wireMaxFade;
//   - 512-level frames (State, MonitorState) shorter than 512 are padded
//     with zeros, longer ones cut;
//   - a universe outside 1..MaxUniverses, or a PID without address or id,
//     drops the whole message: it arrives as *dropped, which every actor
//     ignores;
//   - strings are UTF-8 on the wire (protobuf checks it): Serialize
//     replaces invalid bytes with U+FFFD.

// wireMaxFade is the longest fade a Wire message carries (transport's
// MaxFadeMs).
const wireMaxFade = 10 * time.Minute

// dropped stands for a Wire message whose content was unusable (see
// above). No actor handles it.
type dropped struct{ what string }

func (*dropped) IgnoreDeadLetterLogging() {}

// Serialize never happens: a dropped message is never sent.
func (d *dropped) Serialize() (remote.RootSerialized, error) {
	return nil, errDropped
}

var errDropped = errorString("actors: a dropped wire message is not sent")

type errorString string

func (e errorString) Error() string { return string(e) }

// --- helpers ---

func validUniverse(u int32) bool { return u >= 1 && u <= MaxUniverses }

func clampLevel(v uint32) uint8 { return uint8(min(v, dmx.MaxLevel)) }

func clampFade(ns int64) time.Duration { return min(max(time.Duration(ns), 0), wireMaxFade) }

func utf8String(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func wirePid(p *actor.PID) *WirePid {
	if p == nil {
		return nil
	}
	return &WirePid{Address: p.Address, Id: p.Id}
}

func (w *WirePid) pid() *actor.PID {
	if w == nil || w.Address == "" || w.Id == "" {
		return nil
	}
	return actor.NewPID(w.Address, w.Id)
}

func wireChanges(cs []dmx.Change) *WireChanges {
	if cs == nil {
		return nil
	}
	w := &WireChanges{Channels: make([]uint32, len(cs)), Levels: make([]byte, len(cs))}
	for i, c := range cs {
		w.Channels[i], w.Levels[i] = uint32(c.Channel), c.Level
	}
	return w
}

// changes returns the valid changes of w (nil for a nil w); a channel
// without a level is dropped.
func (w *WireChanges) changes() []dmx.Change {
	if w == nil {
		return nil
	}
	n := min(len(w.Channels), len(w.Levels))
	cs := make([]dmx.Change, 0, n)
	for i := range n {
		if ch := w.Channels[i]; ch >= 1 && ch <= dmx.Slots {
			cs = append(cs, dmx.Change{Channel: uint16(ch), Level: w.Levels[i]})
		}
	}
	return cs
}

func wireFrame(f *dmx.Frame) []byte { return f[:] }

func frameOf(b []byte) (f dmx.Frame) {
	copy(f[:], b)
	return f
}

func wireCues(cs []dmx.Cue) []*WireCue {
	if len(cs) == 0 {
		return nil
	}
	w := make([]*WireCue, len(cs))
	for i, c := range cs {
		w[i] = &WireCue{Look: utf8String(c.Look), FadeNs: int64(c.Fade)}
	}
	return w
}

func cuesOf(w []*WireCue) []dmx.Cue {
	if len(w) == 0 {
		return nil
	}
	cs := make([]dmx.Cue, 0, len(w))
	for _, c := range w {
		if c != nil {
			cs = append(cs, dmx.Cue{Look: c.Look, Fade: clampFade(c.FadeNs)})
		}
	}
	return cs
}

func wireLabels(ls []Label) []*WireLabel {
	if len(ls) == 0 {
		return nil
	}
	w := make([]*WireLabel, len(ls))
	for i, l := range ls {
		w[i] = &WireLabel{Channel: uint32(l.Channel), Text: utf8String(l.Text)}
	}
	return w
}

func labelsOf(w []*WireLabel) []Label {
	if len(w) == 0 {
		return nil
	}
	ls := make([]Label, 0, len(w))
	for _, l := range w {
		if l != nil && l.Channel >= 1 && l.Channel <= dmx.Slots {
			ls = append(ls, Label{Channel: uint16(l.Channel), Text: l.Text})
		}
	}
	return ls
}

func wireChannels(cs []uint16) []uint32 {
	if len(cs) == 0 {
		return nil
	}
	w := make([]uint32, len(cs))
	for i, c := range cs {
		w[i] = uint32(c)
	}
	return w
}

func channelsOf(w []uint32, set bool) []uint16 {
	if !set {
		return nil
	}
	cs := make([]uint16, 0, len(w))
	for _, c := range w {
		if c >= 1 && c <= dmx.Slots {
			cs = append(cs, uint16(c))
		}
	}
	return cs
}

// --- commands ---

func wireCommand(c *Command) *WireCommand {
	w := &WireCommand{
		Kind:        uint32(c.Kind),
		Universe:    int32(c.Universe),
		Id:          c.ID,
		Changes:     wireChanges(c.Changes),
		DurationNs:  int64(c.Duration),
		On:          c.On,
		Name:        utf8String(c.Name),
		To:          utf8String(c.To),
		Level:       uint32(c.Level),
		Channels:    wireChannels(c.Channels),
		ChannelsSet: c.Channels != nil,
		Cues:        wireCues(c.Cues),
		Labels:      wireLabels(c.Labels),
	}
	if !c.ReadAt.IsZero() {
		w.ReadAtUnixNs = c.ReadAt.UnixNano()
	}
	return w
}

// command returns the command of w, or nil when its universe is outside
// 1..MaxUniverses. A kind this process does not know is kept: the universe
// applies nothing for it.
func (w *WireCommand) command() *Command {
	if w == nil || !validUniverse(w.Universe) {
		return nil
	}
	c := &Command{
		Kind:     Kind(min(w.Kind, 255)),
		Universe: int(w.Universe),
		ID:       ID(w.Id),
		Changes:  w.Changes.changes(),
		Duration: clampFade(w.DurationNs),
		On:       w.On,
		Name:     w.Name,
		To:       w.To,
		Level:    clampLevel(w.Level),
		Channels: channelsOf(w.Channels, w.ChannelsSet),
		Cues:     cuesOf(w.Cues),
		Labels:   labelsOf(w.Labels),
	}
	if w.ReadAtUnixNs != 0 {
		c.ReadAt = time.Unix(0, w.ReadAtUnixNs)
	}
	return c
}

// --- universe messages ---

func (m *attach) Serialize() (remote.RootSerialized, error) {
	return &WireAttach{Conn: wirePid(m.conn)}, nil
}

func (w *WireAttach) Deserialize() (remote.RootSerializable, error) {
	p := w.Conn.pid()
	if p == nil {
		return &dropped{what: "attach without a connection"}, nil
	}
	return &attach{conn: p}, nil
}

func (m *apply) Serialize() (remote.RootSerialized, error) {
	return &WireApply{From: wirePid(m.from), Cmd: wireCommand(m.cmd), Weight: int32(m.weight),
		Quiet: m.quiet, Fan: m.fan, Missed: uint32(m.missed)}, nil
}

// allShowParts are the show parts a resync may name.
const allShowParts = partLooks | partCues | partMasters | partLabels

func (w *WireApply) Deserialize() (remote.RootSerializable, error) {
	from, cmd := w.From.pid(), w.Cmd.command()
	if from == nil || cmd == nil {
		return &dropped{what: "apply without a source or a valid universe"}, nil
	}
	return &apply{from: from, cmd: cmd, weight: int(max(w.Weight, 0)), quiet: w.Quiet, fan: w.Fan,
		missed: showParts(w.Missed) & allShowParts}, nil
}

func (m *applied) Serialize() (remote.RootSerialized, error) {
	w := &WireApplied{Weight: int32(m.weight), Replies: make([]*WireReply, 0, len(m.replies))}
	for _, r := range m.replies {
		if wr := wireReply(r); wr != nil {
			w.Replies = append(w.Replies, wr)
		}
	}
	return w, nil
}

func (w *WireApplied) Deserialize() (remote.RootSerializable, error) {
	a := &applied{weight: int(max(w.Weight, 0))}
	if len(w.Replies) > 0 {
		a.replies = make([]any, 0, len(w.Replies))
	}
	for _, r := range w.Replies {
		if m := r.message(); m != nil {
			a.replies = append(a.replies, m)
		}
	}
	return a, nil
}

func (*syncReq) Serialize() (remote.RootSerialized, error)         { return &WireSyncReq{}, nil }
func (*WireSyncReq) Deserialize() (remote.RootSerializable, error) { return &syncReq{}, nil }

func (*syncDone) Serialize() (remote.RootSerialized, error)         { return &WireSyncDone{}, nil }
func (*WireSyncDone) Deserialize() (remote.RootSerializable, error) { return &syncDone{}, nil }

// --- replies and broadcasts ---

// wireReply wraps a server message (or a fanDone) for a WireReply; nil
// for a type that does not cross.
func wireReply(m any) *WireReply {
	switch m := m.(type) {
	case *State:
		return &WireReply{Reply: &WireReply_State{State: m.wire()}}
	case *Ack:
		return &WireReply{Reply: &WireReply_Ack{Ack: m.wire()}}
	case *Error:
		return &WireReply{Reply: &WireReply_Error{Error: m.wire()}}
	case *fanDone:
		return &WireReply{Reply: &WireReply_FanDone{FanDone: m.seq}}
	case *Looks:
		return &WireReply{Reply: &WireReply_Looks{Looks: m.wire()}}
	case *Cues:
		return &WireReply{Reply: &WireReply_Cues{Cues: m.wire()}}
	case *Masters:
		return &WireReply{Reply: &WireReply_Masters{Masters: m.wire()}}
	case *Labels:
		return &WireReply{Reply: &WireReply_Labels{Labels: m.wire()}}
	case *MonitorState:
		return &WireReply{Reply: &WireReply_MonitorState{MonitorState: m.wire()}}
	case *Update:
		return &WireReply{Reply: &WireReply_Update{Update: m.wire()}}
	case *Blackout:
		return &WireReply{Reply: &WireReply_Blackout{Blackout: m.wire()}}
	case *OutputStatus:
		return &WireReply{Reply: &WireReply_OutputStatus{OutputStatus: m.wire()}}
	}
	return nil
}

// message returns the Go message of r, or nil when it is empty or
// unusable.
func (r *WireReply) message() any {
	var m remote.RootSerializable
	switch r := r.GetReply().(type) {
	case *WireReply_State:
		m, _ = r.State.Deserialize()
	case *WireReply_Ack:
		m, _ = r.Ack.Deserialize()
	case *WireReply_Error:
		m, _ = r.Error.Deserialize()
	case *WireReply_FanDone:
		return &fanDone{seq: r.FanDone}
	case *WireReply_Looks:
		m, _ = r.Looks.Deserialize()
	case *WireReply_Cues:
		m, _ = r.Cues.Deserialize()
	case *WireReply_Masters:
		m, _ = r.Masters.Deserialize()
	case *WireReply_Labels:
		m, _ = r.Labels.Deserialize()
	case *WireReply_MonitorState:
		m, _ = r.MonitorState.Deserialize()
	case *WireReply_Update:
		m, _ = r.Update.Deserialize()
	case *WireReply_Blackout:
		m, _ = r.Blackout.Deserialize()
	case *WireReply_OutputStatus:
		m, _ = r.OutputStatus.Deserialize()
	default:
		return nil
	}
	if _, bad := m.(*dropped); bad || m == nil {
		return nil
	}
	return m
}

func (m *State) wire() *WireState {
	return &WireState{Universe: int32(m.Universe), Values: wireFrame(&m.Values), Blackout: m.Blackout}
}

func (m *State) Serialize() (remote.RootSerialized, error) { return m.wire(), nil }

func (w *WireState) Deserialize() (remote.RootSerializable, error) {
	if w == nil || !validUniverse(w.Universe) {
		return &dropped{what: "state"}, nil
	}
	return &State{Universe: int(w.Universe), Values: frameOf(w.Values), Blackout: w.Blackout}, nil
}

func (m *Update) wire() *WireUpdate {
	return &WireUpdate{Universe: int32(m.Universe), Monitor: m.Monitor, Changes: wireChanges(m.Changes)}
}

// Serialize ends the update's way to the desk it is sent to: a remote desk
// has it once it is handed to the link (see Update.Done), so the
// universe's fan-out pace never waits for a desk in another process.
func (m *Update) Serialize() (remote.RootSerialized, error) {
	m.Done()
	return m.wire(), nil
}

func (w *WireUpdate) Deserialize() (remote.RootSerializable, error) {
	if w == nil || !validUniverse(w.Universe) {
		return &dropped{what: "update"}, nil
	}
	return &Update{Universe: int(w.Universe), Monitor: w.Monitor, Changes: w.Changes.changes()}, nil
}

func (m *Blackout) wire() *WireBlackout {
	return &WireBlackout{Universe: int32(m.Universe), On: m.On}
}

func (m *Blackout) Serialize() (remote.RootSerialized, error) { return m.wire(), nil }

func (w *WireBlackout) Deserialize() (remote.RootSerializable, error) {
	if w == nil || !validUniverse(w.Universe) {
		return &dropped{what: "blackout"}, nil
	}
	return &Blackout{Universe: int(w.Universe), On: w.On}, nil
}

func (m *OutputStatus) wire() *WireOutputStatus {
	return &WireOutputStatus{Universe: int32(m.Universe), Driver: utf8String(m.Driver), Target: utf8String(m.Target),
		Up: m.Up, Error: utf8String(m.Error), Slot: int32(m.slot)}
}

func (m *OutputStatus) Serialize() (remote.RootSerialized, error) { return m.wire(), nil }

func (w *WireOutputStatus) Deserialize() (remote.RootSerializable, error) {
	if w == nil || !validUniverse(w.Universe) {
		return &dropped{what: "output status"}, nil
	}
	return &OutputStatus{Universe: int(w.Universe), Driver: w.Driver, Target: w.Target, Up: w.Up, Error: w.Error,
		slot: int(w.Slot)}, nil
}

func (m *Ack) wire() *WireAck { return &WireAck{Id: m.ID} }

func (m *Ack) Serialize() (remote.RootSerialized, error) { return m.wire(), nil }

func (w *WireAck) Deserialize() (remote.RootSerializable, error) {
	if w == nil {
		return &dropped{what: "ack"}, nil
	}
	return &Ack{ID: ID(w.Id)}, nil
}

func (m *Error) wire() *WireError {
	return &WireError{Id: m.ID, Code: utf8String(m.Code), Message: utf8String(m.Message)}
}

func (m *Error) Serialize() (remote.RootSerialized, error) { return m.wire(), nil }

func (w *WireError) Deserialize() (remote.RootSerializable, error) {
	if w == nil {
		return &dropped{what: "error"}, nil
	}
	return &Error{ID: ID(w.Id), Code: w.Code, Message: w.Message}, nil
}

func (m *Looks) wire() *WireLooks {
	w := &WireLooks{Universe: int32(m.Universe)}
	if len(m.Looks) > 0 {
		w.Looks = make([]*WireLookInfo, len(m.Looks))
		for i, l := range m.Looks {
			w.Looks[i] = &WireLookInfo{Name: utf8String(l.Name), Channels: int32(l.Channels)}
		}
	}
	return w
}

func (m *Looks) Serialize() (remote.RootSerialized, error) { return m.wire(), nil }

func (w *WireLooks) Deserialize() (remote.RootSerializable, error) {
	if w == nil || !validUniverse(w.Universe) {
		return &dropped{what: "looks"}, nil
	}
	m := &Looks{Universe: int(w.Universe)}
	if len(w.Looks) > 0 {
		m.Looks = make([]LookInfo, 0, len(w.Looks))
	}
	for _, l := range w.Looks {
		if l != nil {
			m.Looks = append(m.Looks, LookInfo{Name: l.Name, Channels: int(min(max(l.Channels, 0), dmx.Slots))})
		}
	}
	return m, nil
}

func (m *Cues) wire() *WireCues {
	return &WireCues{Universe: int32(m.Universe), Cues: wireCues(m.Cues), Current: int32(m.Current), Next: int32(m.Next)}
}

func (m *Cues) Serialize() (remote.RootSerialized, error) { return m.wire(), nil }

func (w *WireCues) Deserialize() (remote.RootSerializable, error) {
	if w == nil || !validUniverse(w.Universe) {
		return &dropped{what: "cues"}, nil
	}
	return &Cues{Universe: int(w.Universe), Cues: cuesOf(w.Cues), Current: int(max(w.Current, 0)), Next: int(max(w.Next, 0))}, nil
}

func (m *Masters) wire() *WireMasters {
	return &WireMasters{Universe: int32(m.Universe), Master: uint32(m.Master), GrandMaster: uint32(m.GrandMaster)}
}

func (m *Masters) Serialize() (remote.RootSerialized, error) { return m.wire(), nil }

func (w *WireMasters) Deserialize() (remote.RootSerializable, error) {
	if w == nil || !validUniverse(w.Universe) {
		return &dropped{what: "masters"}, nil
	}
	return &Masters{Universe: int(w.Universe), Master: clampLevel(w.Master), GrandMaster: clampLevel(w.GrandMaster)}, nil
}

func (m *Labels) wire() *WireLabels {
	return &WireLabels{Universe: int32(m.Universe), Name: utf8String(m.Name), Channels: wireLabels(m.Channels)}
}

func (m *Labels) Serialize() (remote.RootSerialized, error) { return m.wire(), nil }

func (w *WireLabels) Deserialize() (remote.RootSerializable, error) {
	if w == nil || !validUniverse(w.Universe) {
		return &dropped{what: "labels"}, nil
	}
	return &Labels{Universe: int(w.Universe), Name: w.Name, Channels: labelsOf(w.Channels)}, nil
}

func (m *MonitorState) wire() *WireMonitorState {
	return &WireMonitorState{Universe: int32(m.Universe), Values: wireFrame(&m.Values)}
}

func (m *MonitorState) Serialize() (remote.RootSerialized, error) { return m.wire(), nil }

func (w *WireMonitorState) Deserialize() (remote.RootSerializable, error) {
	if w == nil || !validUniverse(w.Universe) {
		return &dropped{what: "monitor state"}, nil
	}
	return &MonitorState{Universe: int(w.Universe), Values: frameOf(w.Values)}, nil
}

package actors

import (
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/dmxd/dmxd/dmx"
)

// Show control: each universe actor owns its universe's show (looks, cue
// list, name and labels, master), the grand master's copy it scales its
// output by, the flash sets of its desks and the monitor subscriptions.
// Nothing of it changes the levels except a recalled look, which fades in
// the base layer like restored levels.

// Error codes the universe answers show commands with; the transport uses
// the same names for the refusals of its decoder.
const (
	CodeBadRequest = "bad_request"
	CodeBadValue   = "bad_value"
)

// Server messages of the show. They are never modified after they are
// sent.

// LookInfo is one look of a Looks message.
type LookInfo struct {
	Name     string
	Channels int
}

// Looks lists a universe's looks, in the order they were first saved.
type Looks struct {
	Universe int
	Looks    []LookInfo
}

// Cues is a universe's cue list and where it stands.
type Cues struct {
	Universe int
	Cues     []dmx.Cue
	Current  int // the cue last gone to, 1-based; 0 before the first
	Next     int // the cue GO goes to; 0 when none
}

// Masters reports a universe's master and the grand master.
type Masters struct {
	Universe    int
	Master      uint8
	GrandMaster uint8
}

// Labels is a universe's name and every channel label, in channel order.
type Labels struct {
	Universe int
	Name     string
	Channels []Label
}

// MonitorState is the whole output of a universe, as it goes out (after
// merge, flash, masters and blackout). Its changes come as an *Update
// with Monitor set.
type MonitorState struct {
	Universe int
	Values   dmx.Frame
}

func (*Looks) IgnoreDeadLetterLogging()        {}
func (*Cues) IgnoreDeadLetterLogging()         {}
func (*Masters) IgnoreDeadLetterLogging()      {}
func (*Labels) IgnoreDeadLetterLogging()       {}
func (*MonitorState) IgnoreDeadLetterLogging() {}

// showParts marks which show messages a universe owes its desks.
type showParts uint8

const (
	partLooks showParts = 1 << iota
	partCues
	partMasters
	partLabels
)

// fanDone answers one universe's part of a command for every universe
// (see connectionActor.fanOut) in place of its ack.
type fanDone struct{ seq uint64 }

// refusal is a show command the universe refuses: nothing of it applied.
func refusal(cmd *Command, code, format string, args ...any) *Error {
	return &Error{ID: cmd.ID, Code: code, Message: fmt.Sprintf(format, args...)}
}

// applyShow applies a show command from m.from, or returns its refusal
// with nothing applied. Replies other than the ack go into r.
func (u *universeActor) applyShow(ctx actor.Context, m *apply, r *applied) *Error {
	cmd := m.cmd
	key := u.key(m.from)
	sub, isSub := u.subs[key]
	sh := &u.show
	switch cmd.Kind {
	case KindLookSave:
		i := sh.Look(cmd.Name)
		if i < 0 && len(sh.Looks) >= dmx.MaxLooks {
			return refusal(cmd, CodeBadValue, "universe %d already holds %d looks: delete one first", u.number, dmx.MaxLooks)
		}
		l := dmx.Look{Name: cmd.Name}
		levels := u.mixer.Levels()
		if cmd.Channels == nil {
			for c := range dmx.Slots {
				l.Channels.Add(c)
			}
		} else {
			for _, c := range cmd.Channels {
				l.Channels.Add(int(c) - 1)
			}
		}
		l.Channels.Each(func(c int) { l.Levels[c] = levels[c] })
		if i < 0 {
			sh.Looks = append(sh.Looks, l)
		} else {
			sh.Looks[i] = l
		}
		u.showChanged(ctx, partLooks)
	case KindLookRecall:
		i := sh.Look(cmd.Name)
		if i < 0 {
			return noLook(cmd, u.number, cmd.Name)
		}
		u.recall(ctx, &sh.Looks[i], cmd.Duration)
	case KindLookRename:
		i := sh.Look(cmd.Name)
		if i < 0 {
			return noLook(cmd, u.number, cmd.Name)
		}
		if j := sh.Look(cmd.To); j >= 0 && j != i {
			return refusal(cmd, CodeBadValue, "universe %d already has a look named %s", u.number, dmx.Quote(cmd.To))
		}
		sh.Looks[i].Name = cmd.To
		parts := partLooks
		for k := range sh.Cues {
			if sh.Cues[k].Look == cmd.Name {
				sh.Cues[k].Look = cmd.To
				parts |= partCues
			}
		}
		u.showChanged(ctx, parts)
	case KindLookDelete:
		i := sh.Look(cmd.Name)
		if i < 0 {
			return noLook(cmd, u.number, cmd.Name)
		}
		for k, c := range sh.Cues {
			if c.Look == cmd.Name {
				return refusal(cmd, CodeBadValue, "look %s is cue %d of universe %d: change the cue list first", dmx.Quote(cmd.Name), k+1, u.number)
			}
		}
		sh.Looks = slices.Delete(sh.Looks, i, i+1)
		u.showChanged(ctx, partLooks)
	case KindLookList:
		r.replies = append(r.replies, u.looksMsg())
	case KindCueList:
		for k, c := range cmd.Cues {
			if sh.Look(c.Look) < 0 {
				return refusal(cmd, CodeBadValue, "cue %d: universe %d has no look named %s", k+1, u.number, dmx.Quote(c.Look))
			}
		}
		sh.Cues = slices.Clone(cmd.Cues)
		sh.Current = 0
		u.showChanged(ctx, partCues)
	case KindGo:
		if sh.Current < len(sh.Cues) {
			sh.Current++
			u.goToCue(ctx)
		}
	case KindBack:
		if sh.Current > 1 {
			sh.Current--
			u.goToCue(ctx)
		}
	case KindMaster:
		if sh.Master != cmd.Level {
			sh.Master = cmd.Level
			u.outputChanged(ctx)
			u.showChanged(ctx, partMasters)
		}
	case KindGrandMaster:
		if u.grand != cmd.Level {
			u.grand = cmd.Level
			u.outputChanged(ctx)
			u.showChanged(ctx, partMasters)
		}
	case KindFlash:
		if !isSub {
			return refusal(cmd, CodeBadRequest, "flash needs a WebSocket connection: it is released with it")
		}
		var set dmx.ChannelSet
		for _, c := range cmd.Channels {
			set.Add(int(c) - 1)
		}
		u.setFlash(ctx, key, set)
	case KindLabel:
		for _, l := range cmd.Labels {
			if l.Text == "" {
				delete(sh.Labels, l.Channel)
				continue
			}
			if sh.Labels == nil {
				sh.Labels = map[uint16]string{}
			}
			sh.Labels[l.Channel] = l.Text
		}
		u.showChanged(ctx, partLabels)
	case KindUniverseName:
		sh.Name = cmd.Name
		u.showChanged(ctx, partLabels)
	case KindMonitor:
		if !isSub {
			return refusal(cmd, CodeBadRequest, "monitor needs a WebSocket connection")
		}
		if sub.monitor != cmd.On {
			sub.monitor = cmd.On
			u.subs[key] = sub
			if cmd.On {
				u.monitors++
			} else {
				u.monitors--
			}
		}
		if cmd.On {
			// Filled at the end of the batch (see fillMonitor).
			r.replies = append(r.replies, &MonitorState{Universe: u.number})
		}
	case kindResync:
		r.replies = append(r.replies, u.state())
		// The parts that differ from an empty show, as at attach, and
		// those whose messages the client missed (they may have emptied).
		r.replies = append(r.replies, u.showMsgs(u.attachParts()|m.missed)...)
		if isSub && sub.monitor {
			r.replies = append(r.replies, &MonitorState{Universe: u.number})
		}
	}
	return nil
}

func noLook(cmd *Command, universe int, name string) *Error {
	return refusal(cmd, CodeBadValue, "universe %d has no look named %s", universe, dmx.Quote(name))
}

// goToCue recalls the current cue's look with its fade.
func (u *universeActor) goToCue(ctx actor.Context) {
	c := u.show.Cues[u.show.Current-1]
	if i := u.show.Look(c.Look); i >= 0 { // always: a look named by a cue cannot be deleted
		u.recall(ctx, &u.show.Looks[i], c.Fade)
	}
	u.showChanged(ctx, partCues)
}

// recall fades the look's channels in the base layer from what is on
// stage, as a fade command does.
func (u *universeActor) recall(ctx actor.Context, l *dmx.Look, d time.Duration) {
	u.mixer.Fade(dmx.BaseSource, l.Changes(), d, time.Now())
	u.changed(ctx)
}

// setFlash makes set the flash of connection id (empty: none) and
// recomputes what every desk's flashes hold together.
func (u *universeActor) setFlash(ctx actor.Context, id string, set dmx.ChannelSet) {
	old, had := u.flashes[id]
	if set.Empty() {
		if !had {
			return
		}
		delete(u.flashes, id)
	} else {
		if had && old == set {
			return
		}
		if u.flashes == nil {
			u.flashes = map[string]dmx.ChannelSet{}
		}
		u.flashes[id] = set
	}
	u.flashAll = dmx.ChannelSet{}
	for _, s := range u.flashes {
		for w := range s {
			u.flashAll[w] |= s[w]
		}
	}
	u.outputChanged(ctx)
}

// outputChanged marks what goes out changed while the levels did not
// (masters, flash): the batch ends with a frame.
func (u *universeActor) outputChanged(ctx actor.Context) {
	u.dirty = true
	u.openBatch(ctx)
}

// showChanged marks parts of the show changed: persistence hears of it,
// and the desks get the parts' messages with the next show broadcast.
func (u *universeActor) showChanged(ctx actor.Context, parts showParts) {
	u.showDirty |= parts
	u.openBatch(ctx)
	if u.onChange != nil {
		u.onChange()
	}
}

// sendShow broadcasts the show messages owed, at most one of each a
// period and within the update budget: a desk that floods show commands
// costs the others one message of each kind a frame.
func (u *universeActor) sendShow(ctx actor.Context) {
	if u.showDirty == 0 || !u.budget.ready(time.Now()) || !u.showPace.Allow() {
		return
	}
	for _, msg := range u.showMsgs(u.showDirty) {
		u.budget.charge(len(u.subs))
		u.broadcast(ctx, msg)
	}
	u.showDirty = 0
}

// showMsgs returns the messages of the parts of the show.
func (u *universeActor) showMsgs(parts showParts) []any {
	var msgs []any
	if parts&partLooks != 0 {
		msgs = append(msgs, u.looksMsg())
	}
	if parts&partCues != 0 {
		msgs = append(msgs, u.cuesMsg())
	}
	if parts&partMasters != 0 {
		msgs = append(msgs, &Masters{Universe: u.number, Master: u.show.Master, GrandMaster: u.grand})
	}
	if parts&partLabels != 0 {
		msgs = append(msgs, u.labelsMsg())
	}
	return msgs
}

// attachParts are the parts of the show a new desk gets after its state:
// those that differ from an empty show, so that a desk of many universes
// is not sent thousands of empty lists at connect.
func (u *universeActor) attachParts() showParts {
	var p showParts
	if len(u.show.Looks) > 0 {
		p |= partLooks
	}
	if len(u.show.Cues) > 0 {
		p |= partCues
	}
	if u.show.Master != dmx.FullMaster || u.grand != dmx.FullMaster {
		p |= partMasters
	}
	if u.show.Name != "" || len(u.show.Labels) > 0 {
		p |= partLabels
	}
	return p
}

func (u *universeActor) looksMsg() *Looks {
	ls := make([]LookInfo, len(u.show.Looks))
	for i := range u.show.Looks {
		ls[i] = LookInfo{Name: u.show.Looks[i].Name, Channels: u.show.Looks[i].Channels.Len()}
	}
	return &Looks{Universe: u.number, Looks: ls}
}

func (u *universeActor) cuesMsg() *Cues {
	next := 0
	if u.show.Current < len(u.show.Cues) {
		next = u.show.Current + 1
	}
	return &Cues{Universe: u.number, Cues: slices.Clone(u.show.Cues), Current: u.show.Current, Next: next}
}

func (u *universeActor) labelsMsg() *Labels {
	ls := make([]Label, 0, len(u.show.Labels))
	for ch, t := range u.show.Labels {
		ls = append(ls, Label{Channel: ch, Text: t})
	}
	slices.SortFunc(ls, func(a, b Label) int { return int(a.Channel) - int(b.Channel) })
	return &Labels{Universe: u.number, Name: u.show.Name, Channels: ls}
}

// computeOut brings u.out, what goes out, up to date.
func (u *universeActor) computeOut() {
	dmx.OutputLevels(&u.out, u.mixer.Levels(), &u.flashAll, u.show.Master, u.grand, u.blackout)
}

// monitorPending reports whether the desks that monitor the universe have
// not seen its output yet.
func (u *universeActor) monitorPending() bool { return u.monitors > 0 && u.out != u.monSent }

// sendMonitor sends the monitoring desks the output's changes since the
// last monitor message; sendUpdate paces it.
func (u *universeActor) sendMonitor(ctx actor.Context) {
	var changes []dmx.Change
	for i := range u.out {
		if u.out[i] != u.monSent[i] {
			changes = append(changes, dmx.Change{Channel: uint16(i + 1), Level: u.out[i]})
		}
	}
	u.monSent = u.out
	up := NewUpdate(u.number, changes, u.monitors)
	up.Monitor = true
	u.budget.charge(u.monitors)
	var edges map[string][]string // monitoring desks of edges, by address
	for _, s := range u.subs {
		switch {
		case !s.monitor:
		case u.remote(s.pid):
			if edges == nil {
				edges = map[string][]string{}
			}
			edges[s.pid.Address] = append(edges[s.pid.Address], s.pid.Id)
		default:
			ctx.Send(s.pid, up)
		}
	}
	for addr, ids := range edges {
		ctx.Send(actor.NewPID(addr, edgeFanoutName), &fanout{conns: ids, msg: up})
	}
}

// fillMonitor gives the monitor snapshots among replies the output the
// monitoring desks have been sent so far, just before they go: the
// monitor messages after them then carry every change since.
func (u *universeActor) fillMonitor(r *applied) {
	for _, x := range r.replies {
		if ms, ok := x.(*MonitorState); ok {
			ms.Values = u.monSent
		}
	}
}

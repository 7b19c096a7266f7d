package actors

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
)

// answer sends cmd with an id and returns the error code it is answered
// with, "" for an ack.
func (c *client) answer(t *testing.T, cmd *Command) string {
	t.Helper()
	cmd.ID = ID(`"q"`)
	c.send(cmd)
	switch m := c.peer.next(t, "ack or error", func(m any) bool {
		switch m.(type) {
		case *Ack, *Error:
			return true
		}
		return false
	}).(type) {
	case *Error:
		return m.Code
	default:
		return ""
	}
}

func lookSave(name string, chs ...uint16) *Command {
	return &Command{Kind: KindLookSave, Universe: 1, Name: name, Channels: chs}
}
func lookRecall(name string) *Command {
	return &Command{Kind: KindLookRecall, Universe: 1, Name: name}
}
func cueList(looks ...string) *Command {
	cs := make([]dmx.Cue, len(looks))
	for i, l := range looks {
		cs[i] = dmx.Cue{Look: l}
	}
	return &Command{Kind: KindCueList, Universe: 1, Cues: cs}
}
func set1(lv ...uint8) *Command {
	cs := make([]dmx.Change, len(lv))
	for i, v := range lv {
		cs[i] = chg(uint16(i+1), v)
	}
	return dmxCmd(1, cs...)
}
func kind(k Kind) *Command { return &Command{Kind: k, Universe: 1} }

// TestShowCommands runs sequences of commands on one desk: each is acked
// or refused with the code given, and a refused one changes nothing (the
// levels and show at the end are checked).
func TestShowCommands(t *testing.T) {
	type step struct {
		cmd  *Command
		code string // "" when acked
	}
	fullLooks := make([]step, 0, dmx.MaxLooks+2)
	for i := range dmx.MaxLooks {
		fullLooks = append(fullLooks, step{lookSave(fmt.Sprintf("L%d", i), 1), ""})
	}
	fullLooks = append(fullLooks, step{lookSave("one too many", 1), CodeBadValue}, step{lookSave("L3", 2), ""})
	tests := []struct {
		name    string
		steps   []step
		levels  []uint8 // channels 1.. at the end
		looks   []string
		cues    []string
		current int
	}{
		{"save all, recall", []step{{set1(200, 100), ""}, {lookSave("A"), ""}, {set1(0, 0), ""}, {lookRecall("A"), ""}},
			[]uint8{200, 100}, []string{"A"}, nil, 0},
		{"save chosen channels", []step{{set1(10, 20, 30), ""}, {lookSave("B", 2), ""}, {set1(0, 0, 0), ""}, {lookRecall("B"), ""}},
			[]uint8{0, 20, 0}, []string{"B"}, nil, 0},
		{"save over a name replaces", []step{{set1(10), ""}, {lookSave("A"), ""}, {set1(90), ""}, {lookSave("A"), ""}, {set1(0), ""}, {lookRecall("A"), ""}},
			[]uint8{90}, []string{"A"}, nil, 0},
		{"recall unknown", []step{{set1(5), ""}, {lookRecall("nope"), CodeBadValue}}, []uint8{5}, nil, nil, 0},
		{"rename", []step{{lookSave("A"), ""}, {&Command{Kind: KindLookRename, Universe: 1, Name: "A", To: "Z"}, ""}},
			nil, []string{"Z"}, nil, 0},
		{"rename onto another", []step{{lookSave("A"), ""}, {lookSave("B"), ""}, {&Command{Kind: KindLookRename, Universe: 1, Name: "A", To: "B"}, CodeBadValue}},
			nil, []string{"A", "B"}, nil, 0},
		{"rename unknown", []step{{&Command{Kind: KindLookRename, Universe: 1, Name: "A", To: "B"}, CodeBadValue}}, nil, nil, nil, 0},
		{"rename follows into cues", []step{{lookSave("A"), ""}, {cueList("A", "A"), ""}, {&Command{Kind: KindLookRename, Universe: 1, Name: "A", To: "Z"}, ""}},
			nil, []string{"Z"}, []string{"Z", "Z"}, 0},
		{"delete", []step{{lookSave("A"), ""}, {lookSave("B"), ""}, {&Command{Kind: KindLookDelete, Universe: 1, Name: "A"}, ""}},
			nil, []string{"B"}, nil, 0},
		{"delete a look of a cue", []step{{lookSave("A"), ""}, {cueList("A"), ""}, {&Command{Kind: KindLookDelete, Universe: 1, Name: "A"}, CodeBadValue}},
			nil, []string{"A"}, []string{"A"}, 0},
		{"cue list of an unknown look", []step{{lookSave("A"), ""}, {cueList("A"), ""}, {kind(KindGo), ""}, {cueList("A", "X"), CodeBadValue}},
			nil, []string{"A"}, []string{"A"}, 1},
		{"full list", fullLooks, nil, nil, nil, 0},
		{"go and back", []step{
			{set1(100), ""}, {lookSave("A"), ""}, {set1(200), ""}, {lookSave("B"), ""}, {set1(0), ""},
			{cueList("A", "B"), ""},
			{kind(KindBack), ""}, // before the first cue: nothing
			{kind(KindGo), ""}, {kind(KindGo), ""},
			{kind(KindGo), ""}, // at the last cue: nothing
			{kind(KindBack), ""},
			{kind(KindBack), ""}, // at the first cue: nothing
		}, []uint8{100}, []string{"A", "B"}, []string{"A", "B"}, 1},
		{"new cue list starts over", []step{{lookSave("A"), ""}, {cueList("A"), ""}, {kind(KindGo), ""}, {cueList("A"), ""}},
			nil, []string{"A"}, []string{"A"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEngine(t, Config{})
			a := connect(t, e)
			for i, s := range tt.steps {
				if got := a.answer(t, s.cmd); got != s.code {
					t.Fatalf("step %d (kind %d %q): answer %q, want %q", i+1, s.cmd.Kind, s.cmd.Name, got, s.code)
				}
			}
			st := snapshot(t, e, 1)
			for i, lv := range tt.levels {
				if st.Values[i] != lv {
					t.Errorf("channel %d = %d, want %d", i+1, st.Values[i], lv)
				}
			}
			if tt.name == "full list" {
				if len(st.Show.Looks) != dmx.MaxLooks || st.Show.Looks[3].Channels.Has(1) != true {
					t.Errorf("full list: %d looks, L3 not replaced", len(st.Show.Looks))
				}
				return
			}
			var looks, cues []string
			for _, l := range st.Show.Looks {
				looks = append(looks, l.Name)
			}
			for _, c := range st.Show.Cues {
				cues = append(cues, c.Look)
			}
			if fmt.Sprint(looks) != fmt.Sprint(tt.looks) || fmt.Sprint(cues) != fmt.Sprint(tt.cues) || st.Show.Current != tt.current {
				t.Errorf("looks %v cues %v current %d, want %v %v %d", looks, cues, st.Show.Current, tt.looks, tt.cues, tt.current)
			}
		})
	}
}

// TestLookRecallCrossfades: a recall with a fade starts from what is on
// stage and is stepped like a fade command, on every output frame.
func TestLookRecallCrossfades(t *testing.T) {
	drv := newRecordingDriver(time.Millisecond)
	e := startEngine(t, Config{Outputs: map[int]dmx.Driver{1: drv}})
	a := connect(t, e)
	a.apply(t, set1(250))
	a.apply(t, lookSave("up"))
	a.apply(t, set1(50))
	drv.waitFrame(t, "50 on stage", func(f *dmx.Frame) bool { return f[0] == 50 })
	a.apply(t, &Command{Kind: KindLookRecall, Universe: 1, Name: "up", Duration: 400 * time.Millisecond})
	var seen []uint8
	drv.waitFrame(t, "250 after the crossfade", func(f *dmx.Frame) bool {
		seen = append(seen, f[0])
		return f[0] == 250
	})
	between := false
	for i, v := range seen {
		if i > 0 && v < seen[i-1] {
			t.Fatalf("crossfade not monotonic: %v", seen)
		}
		between = between || (v > 50 && v < 250)
	}
	if !between {
		t.Errorf("no step between 50 and 250: %v", seen)
	}
}

// TestMastersScaleWhatGoesOut: masters and the grand master scale the
// frames and the monitor, never the levels; blackout_all darkens every
// universe.
func TestMastersScaleWhatGoesOut(t *testing.T) {
	d1, d2 := newRecordingDriver(time.Millisecond), newRecordingDriver(time.Millisecond)
	e := startEngine(t, Config{Universes: 2, Outputs: map[int]dmx.Driver{1: d1, 2: d2}})
	a, b := connect(t, e), connect(t, e)
	a.apply(t, set1(200, 255))
	a.apply(t, dmxCmd(2, chg(1, 200)))
	tests := []struct {
		cmd          *Command
		out1, out2   [2]uint8 // universe 1 channels 1, 2; universe 2 channel 1, 2
		master, gm   uint8
		universeSeen int
	}{
		{&Command{Kind: KindMaster, Universe: 1, Level: 128}, [2]uint8{100, 128}, [2]uint8{200, 0}, 128, 255, 1},
		{&Command{Kind: KindGrandMaster, Level: 128}, [2]uint8{50, 64}, [2]uint8{100, 0}, 128, 128, 2},
		{&Command{Kind: KindMaster, Universe: 1, Level: 255}, [2]uint8{100, 128}, [2]uint8{100, 0}, 255, 128, 1},
		{&Command{Kind: KindGrandMaster, Level: 0}, [2]uint8{0, 0}, [2]uint8{0, 0}, 255, 0, 2},
		{&Command{Kind: KindGrandMaster, Level: 255}, [2]uint8{200, 255}, [2]uint8{200, 0}, 255, 255, 2},
	}
	for _, tt := range tests {
		a.apply(t, tt.cmd)
		d1.waitFrame(t, fmt.Sprintf("universe 1 at %v", tt.out1), func(f *dmx.Frame) bool { return f[0] == tt.out1[0] && f[1] == tt.out1[1] })
		d2.waitFrame(t, fmt.Sprintf("universe 2 at %v", tt.out2), func(f *dmx.Frame) bool { return f[0] == tt.out2[0] && f[1] == tt.out2[1] })
		b.peer.next(t, fmt.Sprintf("masters of universe %d: %d, grand %d", tt.universeSeen, tt.master, tt.gm), func(m any) bool {
			ms, ok := m.(*Masters)
			return ok && ms.Universe == tt.universeSeen && ms.GrandMaster == tt.gm && (tt.universeSeen != 1 || ms.Master == tt.master)
		})
		if st := snapshot(t, e, 1); st.Values[0] != 200 || st.Values[1] != 255 {
			t.Errorf("levels %d %d changed by a master", st.Values[0], st.Values[1])
		}
	}
	// One command darkens every universe; each desk hears of each.
	a.apply(t, &Command{Kind: KindBlackoutAll, On: true})
	d1.waitFrame(t, "universe 1 dark", func(f *dmx.Frame) bool { return *f == dmx.Frame{} })
	d2.waitFrame(t, "universe 2 dark", func(f *dmx.Frame) bool { return *f == dmx.Frame{} })
	heard := map[int]bool{}
	b.peer.next(t, "blackout of both universes", func(m any) bool {
		if bo, ok := m.(*Blackout); ok && bo.On {
			heard[bo.Universe] = true
		}
		return heard[1] && heard[2]
	})
	a.apply(t, &Command{Kind: KindBlackoutAll, On: false})
	d2.waitFrame(t, "universe 2 back", func(f *dmx.Frame) bool { return f[0] == 200 })
}

// TestCommandForEveryUniverseAckedOnce: a command for every universe is
// acked once, after every universe applied it, and gives back all its
// credit.
func TestCommandForEveryUniverseAckedOnce(t *testing.T) {
	e := startEngine(t, Config{Universes: 5})
	a := connect(t, e)
	cmd := &Command{Kind: KindGrandMaster, Level: 10, ID: ID("77")}
	a.send(cmd)
	a.peer.next(t, "ack", func(m any) bool { ack, ok := m.(*Ack); return ok && string(ack.ID) == "77" })
	for u := 1; u <= 5; u++ {
		if gm := *snapshot(t, e, u).GrandMaster; gm != 10 {
			t.Errorf("universe %d grand master %d after the ack", u, gm)
		}
	}
	if got := a.peer.credit.Load(); got != int64(cmd.Weight()) {
		t.Errorf("credit back %d, want %d", got, cmd.Weight())
	}
	a.apply(t, &Command{Kind: KindGet, Universe: 1})
	for {
		select {
		case m := <-a.peer.msgs:
			if ack, ok := m.(*Ack); ok && string(ack.ID) == "77" {
				t.Fatal("second ack")
			}
			continue
		default:
		}
		break
	}
}

// TestFlashReleased: a desk's flash holds its channels at full and is
// released when the desk lets go, however it ends.
func TestFlashReleased(t *testing.T) {
	ends := []struct {
		name string
		end  func(e *Engine, c *client)
	}{
		{"button released", func(e *Engine, c *client) {
			c.send(&Command{Kind: KindFlash, Universe: 1, Channels: []uint16{}})
		}},
		{"clean close", func(e *Engine, c *client) { e.Deliver(c.pid, &Closed{Code: CloseNormal}) }},
		{"connection failed", func(e *Engine, c *client) { e.Deliver(c.pid, &Failed{Err: errors.New("reset by peer")}) }},
	}
	for _, merge := range []dmx.Merge{dmx.LTP, dmx.HTP} {
		for _, end := range ends {
			t.Run(merge.String()+"/"+end.name, func(t *testing.T) {
				drv := newRecordingDriver(time.Millisecond)
				e := startEngine(t, Config{Merge: merge, Outputs: map[int]dmx.Driver{1: drv}})
				a, b := connect(t, e), connect(t, e)
				b.apply(t, set1(10, 20, 30))
				a.apply(t, &Command{Kind: KindFlash, Universe: 1, Channels: []uint16{1, 3}})
				drv.waitFrame(t, "flash at full", func(f *dmx.Frame) bool { return f[0] == 255 && f[1] == 20 && f[2] == 255 })
				if st := snapshot(t, e, 1); st.Values[0] != 10 {
					t.Errorf("flash changed the level: %d", st.Values[0])
				}
				end.end(e, a)
				drv.waitFrame(t, "flash released", func(f *dmx.Frame) bool { return f[0] == 10 && f[1] == 20 && f[2] == 30 })
			})
		}
	}
}

// TestFlashAndMonitorNeedADesk: plain HTTP commands have no connection to
// release a flash with or to follow.
func TestFlashAndMonitorNeedADesk(t *testing.T) {
	e := startEngine(t, Config{})
	for _, k := range []Kind{KindFlash, KindMonitor} {
		replies, err := e.Apply(&Command{Kind: k, Universe: 1, Channels: []uint16{1}, On: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(replies) != 1 {
			t.Fatalf("kind %d: replies %v", k, replies)
		}
		if er, ok := replies[0].(*Error); !ok || er.Code != CodeBadRequest {
			t.Errorf("kind %d: reply %+v, want bad_request", k, replies[0])
		}
	}
}

// TestMonitorFollowsOutput: a monitoring desk gets the output as it goes
// out, after masters and flash, and its changes; the levels stay.
func TestMonitorFollowsOutput(t *testing.T) {
	e := startEngine(t, Config{})
	a, m := connect(t, e), connect(t, e)
	a.apply(t, set1(200))
	m.send(&Command{Kind: KindMonitor, Universe: 1, On: true})
	ms := m.peer.next(t, "monitor state", func(x any) bool { _, ok := x.(*MonitorState); return ok }).(*MonitorState)
	view := ms.Values
	follow := func(what string, ok func(*dmx.Frame) bool) {
		t.Helper()
		m.peer.next(t, what, func(x any) bool {
			up, isUp := x.(*Update)
			if !isUp || !up.Monitor {
				return false
			}
			for _, c := range up.Changes {
				view[c.Channel-1] = c.Level
			}
			return ok(&view)
		})
	}
	if view[0] != 200 {
		follow("monitor 200", func(f *dmx.Frame) bool { return f[0] == 200 })
	}
	a.apply(t, &Command{Kind: KindMaster, Universe: 1, Level: 51})
	follow("monitor 40 at master 51", func(f *dmx.Frame) bool { return f[0] == 40 })
	a.apply(t, &Command{Kind: KindFlash, Universe: 1, Channels: []uint16{2}})
	follow("monitor flash 51", func(f *dmx.Frame) bool { return f[1] == 51 && f[0] == 40 })
	a.apply(t, &Command{Kind: KindBlackout, Universe: 1, On: true})
	follow("monitor dark", func(f *dmx.Frame) bool { return *f == dmx.Frame{} })
	// The desk that does not monitor gets no monitor messages.
	a.apply(t, &Command{Kind: KindGet, Universe: 1})
	for {
		select {
		case x := <-a.peer.msgs:
			if up, ok := x.(*Update); ok && up.Monitor {
				t.Fatal("a desk that does not monitor got a monitor message")
			}
			if _, ok := x.(*MonitorState); ok {
				t.Fatal("a desk that does not monitor got a monitor state")
			}
			continue
		default:
		}
		break
	}
}

// TestShowBroadcastAndRestore: every desk hears of show changes; the show
// is in the snapshot and a new engine restored from it has it, masters
// applied to the first frame.
func TestShowBroadcastAndRestore(t *testing.T) {
	e := startEngine(t, Config{})
	a, b := connect(t, e), connect(t, e)
	a.apply(t, set1(100))
	a.apply(t, lookSave("Warm"))
	b.peer.next(t, "looks", func(m any) bool {
		l, ok := m.(*Looks)
		return ok && len(l.Looks) == 1 && l.Looks[0] == LookInfo{Name: "Warm", Channels: dmx.Slots}
	})
	a.apply(t, &Command{Kind: KindLabel, Universe: 1, Labels: []Label{{Channel: 1, Text: "Front"}, {Channel: 2, Text: "Back"}}})
	a.apply(t, &Command{Kind: KindLabel, Universe: 1, Labels: []Label{{Channel: 2}}})
	a.apply(t, &Command{Kind: KindUniverseName, Universe: 1, Name: "Stage"})
	b.peer.next(t, "labels", func(m any) bool {
		l, ok := m.(*Labels)
		return ok && l.Name == "Stage" && len(l.Channels) == 1 && l.Channels[0] == Label{Channel: 1, Text: "Front"}
	})
	a.apply(t, cueList("Warm"))
	a.apply(t, kind(KindGo))
	b.peer.next(t, "cues", func(m any) bool { c, ok := m.(*Cues); return ok && c.Current == 1 && c.Next == 0 })
	a.apply(t, &Command{Kind: KindMaster, Universe: 1, Level: 51})

	st := snapshot(t, e, 1)
	drv := newRecordingDriver(time.Millisecond)
	e2 := startEngine(t, Config{Restore: []dmx.UniverseState{st}, Outputs: map[int]dmx.Driver{1: drv}})
	drv.waitFrame(t, "restored level at the restored master", func(f *dmx.Frame) bool { return f[0] == 20 })
	p := newFakePeer()
	if _, err := e2.Connect(p); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for !got["looks"] || !got["labels"] || !got["cues"] || !got["masters"] {
		switch m := p.next(t, "show messages at connect", func(any) bool { return true }).(type) {
		case *Looks:
			got["looks"] = len(m.Looks) == 1 && m.Looks[0].Name == "Warm"
		case *Labels:
			got["labels"] = m.Name == "Stage"
		case *Cues:
			got["cues"] = len(m.Cues) == 1 && m.Current == 1
		case *Masters:
			got["masters"] = m.Master == 51
		}
	}
}

// TestShowBroadcastsCoalesce: while a desk floods label commands, the
// broadcasts are coalesced, and the last labels message the other desks
// get is the final set.
func TestShowBroadcastsCoalesce(t *testing.T) {
	e := startEngine(t, Config{})
	a, b := connect(t, e), connect(t, e)
	const n = 200
	for i := range n {
		a.send(&Command{Kind: KindLabel, Universe: 1, Labels: []Label{{Channel: 1, Text: fmt.Sprint(i)}}})
	}
	a.apply(t, kind(KindLookList))
	b.peer.next(t, "final labels", func(m any) bool {
		l, ok := m.(*Labels)
		return ok && len(l.Channels) == 1 && l.Channels[0].Text == fmt.Sprint(n-1)
	})
}

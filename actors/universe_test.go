package actors

import (
	"log/slog"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/dmxd/dmxd/dmx"
)

func TestHelloAndStateOnConnect(t *testing.T) {
	e := startEngine(t, Config{Universes: 3, Rate: 20, Merge: dmx.HTP, Version: "t1"})
	p := newFakePeer()
	if _, err := e.Connect(p); err != nil {
		t.Fatal(err)
	}
	h, ok := p.next(t, "hello", func(any) bool { return true }).(*Hello)
	if !ok {
		t.Fatal("first message is not hello")
	}
	if !reflect.DeepEqual(*h, Hello{Version: "t1", Universes: 3, Rate: 20, Merge: "htp", Features: ShowFeatures()}) {
		t.Errorf("hello %+v", *h)
	}
	seen := map[int]bool{}
	for range 3 {
		st := p.next(t, "state", func(m any) bool { _, ok := m.(*State); return ok }).(*State)
		if st.Values != (dmx.Frame{}) || st.Blackout {
			t.Errorf("state of universe %d is not dark", st.Universe)
		}
		seen[st.Universe] = true
	}
	if !seen[1] || !seen[2] || !seen[3] {
		t.Errorf("states for universes %v, want 1..3", seen)
	}
}

func TestLTP(t *testing.T) {
	e := startEngine(t, Config{Universes: 2})
	a, b := connect(t, e), connect(t, e)

	a.send(dmxCmd(1, chg(1, 255), chg(2, 128)))
	up := b.peer.updateOf(t, 1, "update 1=255 2=128", func(u *Update) bool {
		l1, ok1 := levelOf(u, 1)
		l2, ok2 := levelOf(u, 2)
		return ok1 && ok2 && l1 == 255 && l2 == 128
	})
	if len(up.Changes) != 2 {
		t.Errorf("update %v carries other channels", up.Changes)
	}
	a.peer.updateOf(t, 1, "the sender's own update", func(u *Update) bool { return len(u.Changes) == 2 })

	// The latest command wins, also with a lower level.
	b.send(dmxCmd(1, chg(1, 10)))
	a.peer.updateOf(t, 1, "update 1=10", func(u *Update) bool { l, ok := levelOf(u, 1); return ok && l == 10 })
	// Universe 2 is untouched and sends no update for universe 1's changes.
	b.send(dmxCmd(2, chg(512, 1)))
	a.peer.updateOf(t, 2, "update of universe 2", func(u *Update) bool { l, ok := levelOf(u, 512); return ok && l == 1 })

	s1, s2 := snapshot(t, e, 1), snapshot(t, e, 2)
	if s1.Values[0] != 10 || s1.Values[1] != 128 || s1.Values[511] != 0 {
		t.Errorf("universe 1 = %d %d .. %d, want 10 128 .. 0", s1.Values[0], s1.Values[1], s1.Values[511])
	}
	if s2.Values[511] != 1 || s2.Values[0] != 0 {
		t.Errorf("universe 2 = %d .. %d, want 0 .. 1", s2.Values[0], s2.Values[511])
	}

	// LTP keeps a departed client's levels.
	e.Deliver(a.pid, &Closed{Code: CloseNormal})
	if code := a.peer.waitClosed(t); code != CloseNormal {
		t.Errorf("close code %d, want %d", code, CloseNormal)
	}
	b.send(&Command{Kind: KindGet, Universe: 1})
	st := b.peer.next(t, "state", func(m any) bool { _, ok := m.(*State); return ok }).(*State)
	if st.Values[0] != 10 || st.Values[1] != 128 {
		t.Errorf("after the sender left: %d %d, want 10 128", st.Values[0], st.Values[1])
	}
}

// TestAtomicity: a command applies whole. One client flips all 512
// channels between 0 and 255; no update, snapshot or output frame ever
// shows a mix of the two.
func TestAtomicity(t *testing.T) {
	drv := newRecordingDriver(time.Millisecond)
	e := startEngine(t, Config{Outputs: map[int]dmx.Driver{1: drv}})
	a, b := connect(t, e), connect(t, e)

	uniform := func(vs []uint8) bool {
		for _, v := range vs {
			if v != vs[0] {
				return false
			}
		}
		return true
	}
	const flips = 60
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range flips {
			a.send(dmxCmd(1, all(uint8(255*(i%2^1)))...))
		}
	}()
	for i := 0; ; i++ {
		s := snapshot(t, e, 1)
		if !uniform(s.Values[:]) {
			t.Fatalf("snapshot %d mixes levels: %v", i, s.Values[:8])
		}
		select {
		case <-done:
		default:
			continue
		}
		break
	}
	// The last command set 0 (flips is even): wait until it shows.
	a.send(&Command{Kind: KindGet, Universe: 1, ID: ID("1")})
	a.peer.next(t, "ack", func(m any) bool { _, ok := m.(*Ack); return ok })
	if s := snapshot(t, e, 1); !uniform(s.Values[:]) || s.Values[0] != 0 {
		t.Fatalf("final levels %v, want all 0", s.Values[:8])
	}
	// Every update the other client gets carries all 512 channels at one
	// level; read them up to one that shows the final level.
	n := 0
	b.peer.updateOf(t, 1, "update to 0", func(up *Update) bool {
		n++
		lv := make([]uint8, 0, len(up.Changes))
		for _, c := range up.Changes {
			lv = append(lv, c.Level)
		}
		if len(up.Changes) != dmx.Slots || !uniform(lv) {
			t.Fatalf("update %d of %d channels mixes levels or misses channels", n, len(up.Changes))
		}
		return lv[0] == 0
	})
	// The same for the output frames, up to the final level.
	drv.waitFrame(t, "all channels at 0", func(f *dmx.Frame) bool {
		if !uniform(f[:]) {
			t.Fatalf("output frame mixes levels: %v", f[:8])
		}
		return f[0] == 0
	})
}

// TestCoalescing: sets that come faster than the frame period reach a
// client as at most one update a period (after a burst of two), the last
// one carrying the latest levels within a period of the last set. In a
// synctest bubble, so times are exact: a set every millisecond for 200 ms,
// each applied on its own, brings about ten updates, not 200.
func TestCoalescing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = MaxRate
		period := time.Second / rate
		b := newBubbleUniverse(t, rate, dmx.LTP)
		const sets = 200
		t0 := time.Now()
		for i := range sets {
			if i > 0 {
				time.Sleep(time.Millisecond)
			}
			b.send(dmxCmd(1, chg(1, uint8(i+1)), chg(uint16(2+i%3), uint8(i))))
		}
		lastSet := time.Now()
		var updates []*Update
		var at []time.Time
		for {
			when, up := b.update(t)
			updates, at = append(updates, up), append(at, when)
			if l, ok := levelOf(up, 1); ok && l == sets {
				break
			}
		}
		if late := at[len(at)-1].Sub(lastSet); late > period {
			t.Errorf("the last level went out %v after the last set, want within a period (%v)", late, period)
		}
		time.Sleep(10 * period)
		synctest.Wait()
		for len(b.sent) > 0 {
			if up, ok := b.next(t).msg.(*Update); ok {
				t.Errorf("update %v after the one with the last level", up.Changes)
			}
		}
		// Between any two updates, at most the burst plus one a period.
		for i := range at {
			for j := i + 1; j < len(at); j++ {
				if n, most := j-i+1, updateBurst+int(at[j].Sub(at[i])/period); n > most {
					t.Fatalf("%d updates from %v to %v after the first set, want at most %d", n, at[i].Sub(t0), at[j].Sub(t0), most)
				}
			}
		}
		t.Logf("%d sets over %v: %d updates", sets, lastSet.Sub(t0), len(updates))
		for _, up := range updates {
			seen := map[uint16]bool{}
			for _, c := range up.Changes {
				if seen[c.Channel] {
					t.Errorf("update names channel %d twice", c.Channel)
				}
				seen[c.Channel] = true
			}
		}
		// The latest level of every channel touched: 2, 3, 4 were last set
		// at i = 197, 198, 199.
		want := map[uint16]uint8{1: sets, 2: 198, 3: 199, 4: 197}
		got := map[uint16]uint8{}
		for _, up := range updates {
			for _, c := range up.Changes {
				got[c.Channel] = c.Level
			}
		}
		var frame dmx.Frame
		for len(b.frames) > 0 {
			frame = (<-b.frames).frame
		}
		for ch, w := range want {
			if got[ch] != w || frame[ch-1] != w {
				t.Errorf("channel %d: updates leave %d, the last frame %d, want %d", ch, got[ch], frame[ch-1], w)
			}
		}
		b.stop(t)
	})
}

func TestAckOnlyWithID(t *testing.T) {
	e := startEngine(t, Config{})
	a := connect(t, e)
	// No id: no ack. The get that follows is answered after the dmx, so
	// an ack for the dmx would come before its state.
	a.send(dmxCmd(1, chg(1, 1)))
	a.send(&Command{Kind: KindGet, Universe: 1})
	a.peer.next(t, "state", func(m any) bool {
		if _, ok := m.(*Ack); ok {
			t.Fatalf("ack for a command without id")
		}
		_, ok := m.(*State)
		return ok
	})
	for _, tt := range []struct {
		cmd *Command
		id  string
	}{
		{dmxCmd(1, chg(2, 2)), `7`},
		{&Command{Kind: KindFade, Universe: 1, Changes: []dmx.Change{chg(3, 3)}, Duration: time.Millisecond}, `"cue 5"`},
		{&Command{Kind: KindBlackout, Universe: 1, On: true}, `-1.5`},
		{&Command{Kind: KindBlackout, Universe: 1, On: true}, `8`}, // no change, still applied
		{&Command{Kind: KindGet, Universe: 1}, `9`},
	} {
		tt.cmd.ID = ID(tt.id)
		a.send(tt.cmd)
		ack := a.peer.next(t, "ack "+tt.id, func(m any) bool { _, ok := m.(*Ack); return ok }).(*Ack)
		if string(ack.ID) != tt.id {
			t.Errorf("ack id %s, want %s", ack.ID, tt.id)
		}
	}
}

func TestGetAnswersState(t *testing.T) {
	e := startEngine(t, Config{Universes: 2})
	a := connect(t, e)
	a.send(dmxCmd(2, chg(5, 55)))
	a.send(&Command{Kind: KindBlackout, Universe: 2, On: true})
	a.send(&Command{Kind: KindGet, Universe: 2, ID: ID(`"g"`)})
	st := a.peer.next(t, "state", func(m any) bool { _, ok := m.(*State); return ok }).(*State)
	if st.Universe != 2 || st.Values[4] != 55 || !st.Blackout {
		t.Errorf("state universe %d ch5 %d blackout %v, want 2 55 true", st.Universe, st.Values[4], st.Blackout)
	}
	// The state comes before the ack of the same get.
	a.peer.next(t, "ack", func(m any) bool { _, ok := m.(*Ack); return ok })
}

// TestRefusedBecomesError: the transport's refusals reach the client as
// they are, and the connection stays open.
func TestRefusedBecomesError(t *testing.T) {
	e := startEngine(t, Config{})
	a := connect(t, e)
	e.Deliver(a.pid, &Refused{Err: &Error{ID: ID(`3`), Code: "bad_channel", Message: "m"}})
	er := a.peer.next(t, "error", func(m any) bool { _, ok := m.(*Error); return ok }).(*Error)
	if er.Code != "bad_channel" || string(er.ID) != "3" {
		t.Errorf("error %+v", er)
	}
	a.send(&Command{Kind: KindGet, Universe: 1})
	a.peer.next(t, "state after an error", func(m any) bool { _, ok := m.(*State); return ok })
}

// TestBlackoutKeepsLevels: blackout forces the output frames to 0 while the
// levels are kept and reported.
func TestBlackoutKeepsLevels(t *testing.T) {
	drv := newRecordingDriver(time.Millisecond)
	e := startEngine(t, Config{Outputs: map[int]dmx.Driver{1: drv}})
	a, b := connect(t, e), connect(t, e)
	a.send(dmxCmd(1, chg(1, 200)))
	drv.waitFrame(t, "channel 1 at 200", func(f *dmx.Frame) bool { return f[0] == 200 })
	a.send(&Command{Kind: KindBlackout, Universe: 1, On: true})
	bo := b.peer.next(t, "blackout", func(m any) bool { _, ok := m.(*Blackout); return ok }).(*Blackout)
	if !bo.On || bo.Universe != 1 {
		t.Errorf("blackout message %+v", bo)
	}
	drv.waitFrame(t, "a dark frame", func(f *dmx.Frame) bool { return *f == dmx.Frame{} })
	if s := snapshot(t, e, 1); s.Values[0] != 200 || !s.Blackout {
		t.Errorf("levels during blackout: %d blackout %v, want 200 true", s.Values[0], s.Blackout)
	}
	a.send(dmxCmd(1, chg(2, 20))) // changes during blackout are kept too
	a.send(&Command{Kind: KindBlackout, Universe: 1, On: false})
	drv.waitFrame(t, "levels back", func(f *dmx.Frame) bool { return f[0] == 200 && f[1] == 20 })
}

// TestFadeSteps: a fade is stepped once a frame period, each step a frame
// and an update, rising, and lands exactly on its target at the first tick
// at or after its end. In a synctest bubble, so the steps' times are exact.
func TestFadeSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = MaxRate
		period := time.Second / rate
		const fade = 300 * time.Millisecond
		b := newBubbleUniverse(t, rate, dmx.LTP)
		t0 := time.Now()
		b.send(&Command{Kind: KindFade, Universe: 1, Changes: []dmx.Change{chg(1, 255)}, Duration: fade})
		var steps []uint8
		for {
			at, up := b.update(t)
			l, ok := levelOf(up, 1)
			if !ok {
				t.Fatalf("update %v without the fading channel", up.Changes)
			}
			steps = append(steps, l)
			if want := t0.Add(time.Duration(len(steps)) * period); !at.Equal(want) {
				t.Errorf("step %d at %v, want %v (one a period)", len(steps), at.Sub(t0), want.Sub(t0))
			}
			if l == 255 {
				break
			}
		}
		// ⌈300 ms / 22.7 ms⌉ = 14 ticks.
		if want := int((fade + period - 1) / period); len(steps) != want {
			t.Errorf("%d steps %v, want %d", len(steps), steps, want)
		}
		for i := 1; i < len(steps); i++ {
			if steps[i] <= steps[i-1] {
				t.Fatalf("steps %v are not rising", steps)
			}
		}
		// Each step went to the output as a frame at the same instant: once
		// every goroutine in the bubble waits, the output actor has
		// recorded the last one too.
		synctest.Wait()
		stepAt := map[time.Duration]uint8{}
		for i, l := range steps {
			stepAt[time.Duration(i+1)*period] = l
		}
		for len(b.frames) > 0 {
			f := <-b.frames
			if l, ok := stepAt[f.at.Sub(t0)]; ok {
				if f.frame[0] != l {
					t.Errorf("frame at %v has channel 1 = %d, the step's update %d", f.at.Sub(t0), f.frame[0], l)
				}
				delete(stepAt, f.at.Sub(t0))
			}
		}
		if len(stepAt) > 0 {
			t.Errorf("no frame for the steps at %v", stepAt)
		}
		b.stop(t)
	})
}

// TestHTPReleaseOnDeath: with HTP, a connection's layer is released when
// its actor stops, however that happens, and the level falls back to the
// other layers.
func TestHTPReleaseOnDeath(t *testing.T) {
	tests := []struct {
		name string
		kill func(e *Engine, pid *actor.PID)
		code int // the close code the dead client gets
	}{
		{"client closed", func(e *Engine, pid *actor.PID) { e.Deliver(pid, &Closed{Code: CloseNormal}) }, CloseNormal},
		{"connection broke", func(e *Engine, pid *actor.PID) { e.Deliver(pid, &Failed{Err: errTest}) }, CloseNormal},
		{"closed by the server", func(e *Engine, pid *actor.PID) { e.Deliver(pid, &CloseConn{Code: ClosePolicy, Reason: "x"}) }, ClosePolicy},
		// A universe that does not exist makes the actor panic: its
		// guardian stops it, as it stops any failed connection actor.
		{"actor failed", func(e *Engine, pid *actor.PID) { e.Deliver(pid, &Received{Cmd: dmxCmd(99, chg(1, 1))}) }, CloseInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEngine(t, Config{Merge: dmx.HTP})
			a, b := connect(t, e), connect(t, e)
			a.apply(t, dmxCmd(1, chg(1, 200), chg(2, 50)))
			b.apply(t, dmxCmd(1, chg(1, 100), chg(3, 30)))
			if s := snapshot(t, e, 1); s.Values[0] != 200 || s.Values[1] != 50 || s.Values[2] != 30 {
				t.Fatalf("HTP levels %v, want 200 50 30", s.Values[:3])
			}
			tt.kill(e, a.pid)
			if code := a.peer.waitClosed(t); code != tt.code {
				t.Errorf("close code %d, want %d", code, tt.code)
			}
			up := b.peer.updateOf(t, 1, "fall back", func(u *Update) bool { l, ok := levelOf(u, 1); return ok && l == 100 })
			if l, ok := levelOf(up, 2); !ok || l != 0 {
				t.Errorf("channel 2 in the fall-back update: %d %v, want 0", l, ok)
			}
			if s := snapshot(t, e, 1); s.Values[0] != 100 || s.Values[1] != 0 || s.Values[2] != 30 {
				t.Errorf("after release %v, want 100 0 30", s.Values[:3])
			}
		})
	}
}

// TestUniverseForgetsDeadConnections runs a universe actor on its own and
// checks its subscribers and layers after connections die in LTP and HTP.
func TestUniverseForgetsDeadConnections(t *testing.T) {
	for _, mode := range []dmx.Merge{dmx.LTP, dmx.HTP} {
		t.Run(mode.String(), func(t *testing.T) {
			sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
				return slog.New(slog.DiscardHandler)
			}))
			defer sys.Shutdown()
			u := newUniverseActor(1, time.Second, mode, []outLink{{pid: sys.NewLocalPID("nowhere"), frames: newFramePool()}})
			upid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return u }))
			var conns []*actor.PID
			for i := range 5 {
				c := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
				conns = append(conns, c)
				sys.Root.Send(upid, &attach{conn: c})
				sys.Root.Send(upid, &apply{from: c, cmd: dmxCmd(1, chg(uint16(i+1), 100))})
			}
			// A snapshot answered means every attach and apply before it is done.
			if _, err := sys.Root.RequestFuture(upid, &snapshotQuery{}, waitTimeout).Result(); err != nil {
				t.Fatal(err)
			}
			for _, c := range conns[:4] {
				if err := sys.Root.PoisonFuture(c).Wait(); err != nil {
					t.Fatal(err)
				}
			}
			res, err := sys.Root.RequestFuture(upid, &snapshotQuery{}, waitTimeout).Result()
			if err != nil {
				t.Fatal(err)
			}
			levels := res.(*dmx.UniverseState).Values
			if err := sys.Root.PoisonFuture(upid).Wait(); err != nil {
				t.Fatal(err)
			}
			// The actor has stopped: its state can be read.
			if len(u.subs) != 1 {
				t.Errorf("%d subscribers left, want the one live connection", len(u.subs))
			}
			if _, ok := u.subs[conns[4].Id]; !ok {
				t.Errorf("the live connection was dropped")
			}
			wantSources, want := 1, dmx.Frame{0: 100, 1: 100, 2: 100, 3: 100, 4: 100}
			if mode == dmx.HTP {
				wantSources, want = 2, dmx.Frame{4: 100}
			}
			if n := u.mixer.Sources(); n != wantSources {
				t.Errorf("%d mixer layers, want %d", n, wantSources)
			}
			if levels != want {
				t.Errorf("levels %v, want %v", levels[:6], want[:6])
			}
		})
	}
}

var errTest = errTestType{}

type errTestType struct{}

func (errTestType) Error() string { return "test: connection reset" }

// TestCreditComesBack: every command a connection's reader hands over
// holds its weight in the connection's window until the universe applied
// it, and a refusal holds one unit until it is answered; all of it comes
// back through Release, commands on several universes included.
func TestCreditComesBack(t *testing.T) {
	e := startEngine(t, Config{Universes: 2})
	c := connect(t, e)
	want := 0
	for i := range 40 {
		cmd := dmxCmd(1+i%2, chg(uint16(1+i), 9))
		if i%5 == 0 {
			cmd = dmxCmd(1+i%2, all(uint8(i))...) // 512 channels: weight 9
		}
		want += cmd.Weight()
		c.send(cmd)
	}
	for range 3 {
		e.Deliver(c.pid, &Refused{Err: &Error{Code: "bad_json", Message: "x"}})
		want += RefusedWeight
	}
	c.apply(t, dmxCmd(2, chg(512, 1))) // waits for its ack: everything before is applied
	want += dmxCmd(2, chg(512, 1)).Weight()
	deadline := time.Now().Add(waitTimeout)
	for c.peer.credit.Load() != int64(want) {
		if time.Now().After(deadline) {
			t.Fatalf("credit given back: %d units, want %d", c.peer.credit.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	if w := dmxCmd(1, all(0)...).Weight(); w != 9 {
		t.Errorf("a 512-channel command weighs %d, want 9", w)
	}
}

// TestUpdateFollowsTheFrame: a command's frame and ack go out at once,
// its update a period later, on the universe's tick, with every change made
// meanwhile (see universeActor.tick). In a bubble, so the times are exact.
func TestUpdateFollowsTheFrame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		period := time.Second / MaxRate
		b := newBubbleUniverse(t, MaxRate, dmx.LTP)
		t0 := time.Now()
		cmd := dmxCmd(1, chg(1, 10))
		cmd.ID = ID(`"a"`)
		b.send(cmd)
		synctest.Wait()
		f := <-b.frames
		if !f.at.Equal(t0) || f.frame[0] != 10 {
			t.Errorf("frame at %v with channel 1 at %d, want at once with 10", f.at.Sub(t0), f.frame[0])
		}
		s := b.next(t)
		a, ok := s.msg.(*applied)
		if !ok || !s.at.Equal(t0) || len(a.replies) != 1 {
			t.Fatalf("first answer %T at %v, want the applied ack at once", s.msg, s.at.Sub(t0))
		}
		if ack, ok := a.replies[0].(*Ack); !ok || string(ack.ID) != `"a"` {
			t.Errorf("reply %#v, want the ack of \"a\"", a.replies[0])
		}
		// Half a period later, another change: it rides the same update.
		time.Sleep(period / 2)
		b.send(dmxCmd(1, chg(2, 20)))
		at, up := b.update(t)
		if !at.Equal(t0.Add(period)) {
			t.Errorf("update at %v, want at the tick, a period (%v) after the first command", at.Sub(t0), period)
		}
		l1, _ := levelOf(up, 1)
		l2, _ := levelOf(up, 2)
		if len(up.Changes) != 2 || l1 != 10 || l2 != 20 {
			t.Errorf("update %v, want channels 1 at 10 and 2 at 20", up.Changes)
		}
		b.stop(t)
	})
}

// TestUpdatesWaitForTheirFanout: the next update waits while the previous
// one is still on its way to more desks than the pace allows (here 10
// desks, none done), goes out within a period of enough desks being done
// with it, and never waits longer than fanoutMaxWait.
func TestUpdatesWaitForTheirFanout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		period := time.Second / MaxRate
		b := newBubbleUniverse(t, MaxRate, dmx.LTP)
		// Nine more desks that never finish an update: with b's own, ten
		// deliveries are pending after each fan-out.
		var others []*actor.PID
		for range 9 {
			pid := b.sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
			b.sys.Root.Send(b.pid, &attach{conn: pid})
			others = append(others, pid)
		}
		synctest.Wait()
		t0 := time.Now()
		b.send(dmxCmd(1, chg(1, 10)))
		at, first := b.update(t)
		if !at.Equal(t0.Add(period)) {
			t.Fatalf("first update at %v, want at the next tick (%v)", at.Sub(t0), period)
		}
		// A change two periods later is held: 10 deliveries pending.
		time.Sleep(2 * period)
		b.send(dmxCmd(1, chg(1, 20)))
		time.Sleep(10 * period)
		synctest.Wait()
		for len(b.sent) > 0 {
			if up, ok := b.next(t).msg.(*Update); ok {
				t.Fatalf("update %v at %v while the previous one was pending for 10 desks", up.Changes, time.Since(t0))
			}
		}
		// Two desks done: 8 pending, within fanoutSlack. The next tick sends it.
		first.Done()
		first.Done()
		done := time.Now()
		at2, second := b.update(t)
		if l, _ := levelOf(second, 1); l != 20 {
			t.Errorf("second update %v, want channel 1 at 20", second.Changes)
		}
		if wait := at2.Sub(done); wait > period {
			t.Errorf("second update %v after enough desks were done, want within a period (%v)", wait, period)
		}
		// Nobody finishes the second: the third still goes after fanoutMaxWait.
		b.send(dmxCmd(1, chg(1, 30)))
		at, third := b.update(t)
		if l, _ := levelOf(third, 1); l != 30 {
			t.Errorf("third update %v, want channel 1 at 30", third.Changes)
		}
		if wait := at.Sub(at2); wait < fanoutMaxWait || wait > fanoutMaxWait+period {
			t.Errorf("third update %v after the second, want after fanoutMaxWait (%v), within a period", wait, fanoutMaxWait)
		}
		for _, pid := range others {
			if err := b.sys.Root.PoisonFuture(pid).Wait(); err != nil {
				t.Errorf("stop %s: %v", pid.Id, err)
			}
		}
		b.stop(t)
	})
}

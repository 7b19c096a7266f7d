package actors

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// fakeAgent stands in for a node's agent, in the engine's own actor
// system (the links do not care where their node is): it hands every
// frame a link sends to frames, and acknowledges them only on ackAll.
type fakeAgent struct {
	frames chan *WireNodeFrame
	held   []heldAck
}

type heldAck struct {
	link *actor.PID
	seq  uint64
}

type ackAll struct{}

func (f *fakeAgent) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *WireNodeFrame:
		f.held = append(f.held, heldAck{link: ctx.Sender(), seq: m.Seq})
		f.frames <- m
	case *ackAll:
		for _, h := range f.held {
			ctx.Send(h.link, &WireNodeFrameAck{Seq: h.seq})
		}
		f.held = nil
	}
}

// nodeHealth returns the engine's one node output.
func nodeHealth(t *testing.T, e *Engine) OutputHealth {
	t.Helper()
	hs, err := e.Health()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.Node != "" {
			return h
		}
	}
	t.Fatalf("no node output in %+v", hs)
	return OutputHealth{}
}

// takeFrames returns the frames the fake agent got so far. Call it after
// a barrier (Engine.Health asks every link, after the frames already in
// its mailbox).
func takeFrames(ch chan *WireNodeFrame) []*WireNodeFrame {
	var fs []*WireNodeFrame
	for {
		select {
		case f := <-ch:
			fs = append(fs, f)
		default:
			return fs
		}
	}
}

// nextFrame waits for the fake agent's next frame.
func nextFrame(t *testing.T, ch chan *WireNodeFrame) *WireNodeFrame {
	t.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(waitTimeout):
		t.Fatal("no frame reached the node")
		return nil
	}
}

// TestNodeLinkKeepsOneFrameInFlight drives a link through a node that
// acknowledges late and one that is lost: the link has one frame in
// flight and sends the newest when the ack comes; while its node is lost
// it sends nothing, its output is down for the desks and in Health, and
// the node's return brings the newest frame at once and the output up.
func TestNodeLinkKeepsOneFrameInFlight(t *testing.T) {
	e := startEngine(t, Config{Universes: 1})
	na := newNodesActor(e.universes, zerolog.Nop())
	na.ackWait = time.Hour // no resend of a frame whose ack the test holds
	nodes, err := e.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return na }), "nodes-test")
	if err != nil {
		t.Fatal(err)
	}
	e.nodes = nodes // Health lists its links, Stop stops it
	fake := &fakeAgent{frames: make(chan *WireNodeFrame, 1000)}
	agent := e.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return fake }))
	c := connect(t, e)

	e.sys.Root.RequestWithCustomSender(nodes, &WireNodeJoin{
		Version: 1, Name: "stage", Instance: "run-1",
		Outputs: []*WireNodeOutput{{Universe: 1, Driver: "enttec-pro", Target: "/dev/ttyUSB0", Up: true}},
	}, agent)
	ping := func() {
		if _, err := e.sys.Root.RequestFuture(nodes, &WireNodePing{Name: "stage", Instance: "run-1"}, waitTimeout).Result(); err != nil {
			t.Error(err)
		}
	}
	stopPings := make(chan struct{})
	var pinger sync.WaitGroup
	pinger.Add(1)
	go func() {
		defer pinger.Done()
		watchEvery(100*time.Millisecond, stopPings, ping)
	}()
	defer func() {
		select {
		case <-stopPings:
		default:
			close(stopPings)
		}
		pinger.Wait()
	}()

	h := nodeHealth(t, e)
	if h.State != "up" || h.Target != "stage:/dev/ttyUSB0" || h.Output != "enttec-pro" || h.Universe != 1 {
		t.Fatalf("node output %+v", h)
	}
	first := nextFrame(t, fake.frames) // the current frame, as soon as the node joined
	if len(first.Levels) != 0 || first.Universe != 1 || first.Slot != 0 {
		t.Fatalf("first frame %+v, want universe 1, slot 0, dark", first)
	}
	// The ack is held: twenty commands later the node still has only the
	// first frame.
	for i := 1; i <= 20; i++ {
		c.apply(t, dmxCmd(1, chg(1, uint8(i))))
	}
	nodeHealth(t, e)
	if fs := takeFrames(fake.frames); len(fs) != 0 {
		t.Fatalf("%d frames sent while one waits for its ack, want 0", len(fs))
	}
	// The ack brings the newest frame, and only it.
	e.sys.Root.Send(agent, &ackAll{})
	next := nextFrame(t, fake.frames)
	if len(next.Levels) != 1 || next.Levels[0] != 20 || next.Seq != first.Seq+1 {
		t.Fatalf("frame after the ack: levels %v seq %d, want [20] and %d", next.Levels, next.Seq, first.Seq+1)
	}
	nodeHealth(t, e)
	if fs := takeFrames(fake.frames); len(fs) != 0 {
		t.Fatalf("%d more frames after the ack, want 0", len(fs))
	}
	e.sys.Root.Send(agent, &ackAll{})

	// The node goes silent: lost, its output down, nothing sent to it.
	close(stopPings)
	pinger.Wait()
	c.peer.next(t, "output down", func(m any) bool {
		s, ok := m.(*OutputStatus)
		return ok && !s.Up && s.Target == "stage:/dev/ttyUSB0" && strings.Contains(s.Error, "node stage lost")
	})
	if h := nodeHealth(t, e); h.State != "down" || h.Node != "stage" {
		t.Fatalf("node output after the node went silent: %+v", h)
	}
	for i := 1; i <= 20; i++ {
		c.apply(t, dmxCmd(1, chg(2, uint8(i))))
	}
	nodeHealth(t, e)
	if fs := takeFrames(fake.frames); len(fs) != 0 {
		t.Fatalf("%d frames sent to a lost node, want 0", len(fs))
	}
	// Its ping brings it back: the newest frame at once, the output up.
	ping()
	back := nextFrame(t, fake.frames)
	if len(back.Levels) != 2 || back.Levels[0] != 20 || back.Levels[1] != 20 {
		t.Fatalf("frame when the node came back: %v, want [20 20]", back.Levels)
	}
	c.peer.next(t, "output up", func(m any) bool {
		s, ok := m.(*OutputStatus)
		return ok && s.Up && s.Target == "stage:/dev/ttyUSB0"
	})
	if h := nodeHealth(t, e); h.State != "up" {
		t.Fatalf("node output after the node came back: %+v", h)
	}
}

// TestNodeJoinRefused: joins the core cannot feed are refused with a
// reason; a name held by another live node is refused for a retry.
func TestNodeJoinRefused(t *testing.T) {
	out := func(u int32) []*WireNodeOutput {
		return []*WireNodeOutput{{Universe: u, Driver: "null"}}
	}
	n := newNodesActor(make([]*actor.PID, 2), zerolog.Nop())
	for _, tc := range []struct {
		name string
		join *WireNodeJoin
		want string
	}{
		{"old version", &WireNodeJoin{Version: 0, Name: "a", Instance: "i", Outputs: out(1)}, "version"},
		{"no name", &WireNodeJoin{Version: 1, Instance: "i", Outputs: out(1)}, "node name"},
		{"bad name", &WireNodeJoin{Version: 1, Name: "a:b", Instance: "i", Outputs: out(1)}, "letters"},
		{"no instance", &WireNodeJoin{Version: 1, Name: "a", Outputs: out(1)}, "instance"},
		{"no outputs", &WireNodeJoin{Version: 1, Name: "a", Instance: "i"}, "outputs"},
		{"universe 3 of 2", &WireNodeJoin{Version: 1, Name: "a", Instance: "i", Outputs: out(3)}, "universes are 1..2"},
		{"universe 0", &WireNodeJoin{Version: 1, Name: "a", Instance: "i", Outputs: out(0)}, "universes are 1..2"},
		{"no driver", &WireNodeJoin{Version: 1, Name: "a", Instance: "i", Outputs: []*WireNodeOutput{{Universe: 1}}}, "driver"},
		{"twice", &WireNodeJoin{Version: 1, Name: "a", Instance: "i", Outputs: append(out(1), out(1)...)}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := n.checkJoin(tc.join)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("checkJoin = %v, want an error with %q", err, tc.want)
			}
		})
	}
	if err := n.checkJoin(&WireNodeJoin{Version: 2, Name: "a.b-c_1", Instance: "i", Outputs: out(2)}); err != nil {
		t.Fatalf("a later version with a good join: %v", err)
	}

	e := startEngine(t, Config{Universes: 1})
	nodes, err := e.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return newNodesActor(e.universes, zerolog.Nop())
	}), "nodes-test")
	if err != nil {
		t.Fatal(err)
	}
	e.nodes = nodes
	joinMsg := func(instance string) *WireNodeJoin {
		return &WireNodeJoin{Version: 1, Name: "stage", Instance: instance, Outputs: out(1)}
	}
	answers := make(chan *WireNodeJoined, 10)
	agent := e.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if j, ok := ctx.Message().(*WireNodeJoined); ok {
			answers <- j
		}
	}))
	join := func(instance string) *WireNodeJoined {
		t.Helper()
		e.sys.Root.RequestWithCustomSender(nodes, joinMsg(instance), agent)
		select {
		case j := <-answers:
			return j
		case <-time.After(waitTimeout):
			t.Fatal("no answer to the join")
			return nil
		}
	}
	known := func(instance string) bool {
		t.Helper()
		res, err := e.sys.Root.RequestFuture(nodes, &WireNodePing{Name: "stage", Instance: instance}, waitTimeout).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res.(*WireNodePong).Known
	}
	if j := join("run-1"); !j.Ok {
		t.Fatalf("first join: %+v", j)
	}
	// Another node under the name, at another address, while the first
	// pings: refused (its answer goes nowhere here), the first stays.
	e.sys.Root.RequestWithCustomSender(nodes, joinMsg("run-2"), actor.NewPID("192.0.2.7:7000", nodeAgentName))
	if !known("run-1") || known("run-2") {
		t.Fatal("a second node took the name of a live one")
	}
	// A new run at the same address is the node restarted: taken at once.
	if j := join("run-3"); !j.Ok {
		t.Fatalf("a new run of the node at its address: %+v", j)
	}
	if known("run-1") || !known("run-3") {
		t.Fatal("the restarted node did not replace its previous run")
	}
	if hs, err := e.Health(); err != nil || len(hs) != 2 {
		t.Fatalf("Health %+v %v: want the null output and one node output (the same link for every run)", hs, err)
	}
}

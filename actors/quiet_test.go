package actors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/dmxd/dmxd/dmx"
)

// heldDispatcher runs the mailbox only when the test says so, so that
// messages pile up in it first.
type heldDispatcher struct{ run func() }

func (d *heldDispatcher) Schedule(fn func()) { d.run = fn }
func (*heldDispatcher) Throughput() int      { return 1000 }

// recordingInvoker notes the user messages in the order the mailbox hands
// them over.
type recordingInvoker struct{ got []string }

func (*recordingInvoker) InvokeSystemMessage(any)  {}
func (*recordingInvoker) EscalateFailure(any, any) {}
func (r *recordingInvoker) InvokeUserMessage(m any) {
	switch m := m.(type) {
	case *apply:
		r.got = append(r.got, fmt.Sprintf("apply %s quiet=%v", m.cmd.ID, m.quiet))
	case *endBatch:
		r.got = append(r.got, "endBatch")
	case *endQuietBatch:
		r.got = append(r.got, "endQuietBatch")
	default:
		r.got = append(r.got, fmt.Sprintf("%T", m))
	}
}

// TestQuietCommandsOvertake checks, on the mailbox the engine gives every
// universe, that a quiet command and the batch end it asks for are handed
// over before commands other connections queued earlier, and that the
// order within each lane is kept: the mailbox really reorders (a priority
// mailbox whose messages have no GetPriority would not).
func TestQuietCommandsOvertake(t *testing.T) {
	mb := actor.UnboundedPriorityMpsc()()
	inv, disp := &recordingInvoker{}, &heldDispatcher{}
	mb.RegisterHandlers(inv, disp)
	mb.Start()
	cmd := func(id string, quiet bool) *apply {
		return &apply{cmd: &Command{Kind: KindDMX, ID: ID(`"` + id + `"`)}, quiet: quiet}
	}
	mb.PostUserMessage(cmd("f1", false))
	mb.PostUserMessage(endBatchMsg)
	mb.PostUserMessage(cmd("f2", false))
	mb.PostUserMessage(&tick{})
	mb.PostUserMessage(cmd("q1", true))
	mb.PostUserMessage(endQuietBatchMsg)
	mb.PostUserMessage(cmd("f3", false))
	mb.PostUserMessage(cmd("q2", true))
	if disp.run == nil {
		t.Fatal("the mailbox scheduled no run")
	}
	disp.run()
	want := []string{
		`apply "q1" quiet=true`, "endQuietBatch", `apply "q2" quiet=true`,
		`apply "f1" quiet=false`, "endBatch", `apply "f2" quiet=false`, "*actors.tick", `apply "f3" quiet=false`,
	}
	if !slices.Equal(inv.got, want) {
		t.Errorf("handed over\n  %q\nwant\n  %q", inv.got, want)
	}
}

// TestQuietCommandGoesFirst: a universe busy with one connection's
// command, with twenty more of that connection queued behind it, takes a
// quiet command from another connection (a get) first: its answer shows
// the levels after the first command only, and the frame carrying it is
// published before the twenty are applied. Without the priority mailbox
// the get would wait behind all twenty.
func TestQuietCommandGoesFirst(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	uu := newUniverseActor(1, time.Second/44, dmx.LTP, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	uu.onChange = func() { // runs in the universe's goroutine
		if first {
			first = false
			close(entered)
			<-release
		}
	}
	upid := sys.Root.Spawn(universeProps(uu))
	states := make(chan *State, 1)
	desk := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*applied); ok {
			for _, r := range m.replies {
				if st, ok := r.(*State); ok {
					states <- st
				}
			}
		}
	}))
	flooder := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	set := func(level uint8) {
		sys.Root.Send(upid, &apply{from: flooder, weight: 1,
			cmd: &Command{Kind: KindDMX, Universe: 1, Changes: []dmx.Change{{Channel: 1, Level: level}}}})
	}
	set(1)
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("the universe never applied the first command")
	}
	for level := uint8(2); level <= 21; level++ {
		set(level)
	}
	sys.Root.Send(upid, &apply{from: desk, weight: 1, quiet: true, cmd: &Command{Kind: KindGet, Universe: 1}})
	close(release)
	select {
	case st := <-states:
		if st.Values[0] != 1 {
			t.Errorf("the quiet get saw channel 1 at %d, want 1: it waited behind %d queued commands", st.Values[0], st.Values[0]-1)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the quiet get was never answered")
	}
}

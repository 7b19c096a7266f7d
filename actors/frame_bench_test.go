package actors

import (
	"runtime"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors/metrics"
	"github.com/dmxd/dmxd/dmx"
)

// frameCtx is the part of actor.Context that publish uses: Send hands
// frames to the output actor's send, as the actor system would. The
// embedded interface is nil; any other method would panic.
type frameCtx struct {
	actor.Context
	o *outputActor
}

func (c *frameCtx) Send(_ *actor.PID, msg any) {
	if f, ok := msg.(*frameBuf); ok {
		c.o.send(f)
	}
}

// framePath is one universe's frame path outside the actor system:
// universe render → frame buffer → output actor (encode, publish to the
// refresh loop, metrics). The loop itself runs on /dev/null meanwhile.
type framePath struct {
	u   *universeActor
	o   *outputActor
	ctx *frameCtx
}

func newFramePath(tb testing.TB) *framePath {
	pool := newFramePool()
	drv := dmx.EnttecPro{Path: "/unused"} // encodes like a real output
	w, err := newWriter(dmx.Null{}, time.Second/44, zerolog.Nop())
	if err != nil {
		tb.Fatal(err)
	}
	w.report = func(writerEvent) {}
	go w.run()
	tb.Cleanup(func() {
		w.loop.Stop()
		close(w.stop)
		<-w.done
	})
	o := &outputActor{universe: 1, drv: drv, w: w, pool: pool, metrics: metrics.New().Output(metrics.OutputSpec{Universe: 1, Driver: drv.Name(), First: true})}
	o.observe = o.observeTiming
	u := newUniverseActor(1, time.Second/44, dmx.LTP, []outLink{{frames: pool}})
	u.mixer.Set(dmx.BaseSource, []dmx.Change{{Channel: 1, Level: 255}})
	u.mixer.TakeChanged()
	return &framePath{u: u, o: o, ctx: &frameCtx{o: o}}
}

// frame publishes one frame of changed levels and hands it to the
// refresh loop.
func (p *framePath) frame() {
	p.u.dirty = true
	p.u.publish(p.ctx)
}

// TestFramePathAllocatesNothing asserts that the per-frame work of a
// universe and its output allocates nothing.
func TestFramePathAllocatesNothing(t *testing.T) {
	p := newFramePath(t)
	pool := newFramePool()
	buf := make([]byte, 0, dmx.EnttecFrameSize)
	var f dmx.Frame
	cases := []struct {
		name string
		fn   func()
	}{
		{"framePool get/put", func() { pool.put(pool.get()) }},
		{"AppendEnttecFrame", func() { buf = dmx.AppendEnttecFrame(buf[:0], &f) }},
		{"universe publish + output send", p.frame},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(1000, c.fn); n != 0 {
			t.Errorf("%s: %v allocations per frame, want 0", c.name, n)
		}
	}
	if got := p.o.w.loop.Stats().Published; got < 1000 {
		t.Errorf("the refresh loop got %d frames, want ≥ 1000", got)
	}
}

// BenchmarkFramePath measures the frame path of one universe outside the
// actor system (see TestFramePathAllocatesNothing).
func BenchmarkFramePath(b *testing.B) {
	p := newFramePath(b)
	b.ReportAllocs()
	for b.Loop() {
		p.frame()
	}
}

// BenchmarkFramePathThroughActors measures one frame through the running
// actor system: a frame request to the universe actor, the frame to the
// output actor, published to the refresh loop. The allocations it reports are
// protoactor's mailbox scheduling (one closure per message to an idle
// actor).
func BenchmarkFramePathThroughActors(b *testing.B) {
	e, err := Start(Config{Universes: 1, Rate: 1, Merge: dmx.LTP, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.Stop() }()
	loop := e.outputs[0].w.loop
	t := &frameRequest{}
	b.ReportAllocs()
	for b.Loop() {
		n := loop.Stats().Published
		e.sys.Root.Send(e.universes[0], t)
		for loop.Stats().Published == n {
			runtime.Gosched()
		}
	}
}

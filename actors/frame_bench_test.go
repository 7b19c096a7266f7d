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

// frameCtx is the part of actor.Context that render uses: Send hands
// frames to a writer as the output actor would. The embedded interface is
// nil; any other method would panic.
type frameCtx struct {
	actor.Context
	w *writer
}

func (c *frameCtx) Send(_ *actor.PID, msg any) {
	if f, ok := msg.(*frameBuf); ok {
		c.w.put(f)
	}
}

// framePath is one universe's frame path outside the actor system:
// universe render → frame buffer → writer put → writer write (null device).
type framePath struct {
	u   *universeActor
	w   *writer
	ctx *frameCtx
	fw  dmx.FrameWriter
}

func newFramePath(tb testing.TB) *framePath {
	pool := newFramePool()
	w := newWriter(dmx.Null{}, pool, time.Second/44, metrics.New().Output(1, dmx.DriverNull), zerolog.Nop())
	fw, err := dmx.Null{}.Open()
	if err != nil {
		tb.Fatal(err)
	}
	u := newUniverseActor(1, time.Second/44, time.Millisecond, dmx.LTP, nil, pool)
	u.mixer.Set(dmx.BaseSource, []dmx.Change{{Channel: 1, Level: 255}})
	u.mixer.TakeChanged()
	return &framePath{u: u, w: w, ctx: &frameCtx{w: w}, fw: fw}
}

// frame renders one unchanged frame and writes it.
func (p *framePath) frame() {
	p.u.render(p.ctx)
	p.w.take(<-p.w.slot)
	_ = p.w.write(p.fw)
}

// TestFramePathAllocatesNothing asserts that the per-frame work of a
// universe and its writer allocates nothing.
func TestFramePathAllocatesNothing(t *testing.T) {
	p := newFramePath(t)
	pool := newFramePool()
	w := newWriter(dmx.Null{}, pool, time.Second/44, metrics.New().Output(2, dmx.DriverNull), zerolog.Nop())
	buf := make([]byte, 0, dmx.EnttecFrameSize)
	var f dmx.Frame
	cases := []struct {
		name string
		fn   func()
	}{
		{"framePool get/put", func() { pool.put(pool.get()) }},
		{"writer put (slot free)", func() { w.put(pool.get()); pool.put(<-w.slot) }},
		{"writer put (replacing an unsent frame)", func() { w.put(pool.get()); w.put(pool.get()); pool.put(<-w.slot) }},
		{"AppendEnttecFrame", func() { buf = dmx.AppendEnttecFrame(buf[:0], &f) }},
		{"universe render + writer write", p.frame},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(1000, c.fn); n != 0 {
			t.Errorf("%s: %v allocations per frame, want 0", c.name, n)
		}
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
// actor system: a tick to the universe actor, the frame to the output
// actor, the writer's write on the null device. The allocations it reports
// are protoactor's mailbox scheduling (one closure per message to an idle
// actor).
func BenchmarkFramePathThroughActors(b *testing.B) {
	e, err := Start(Config{Universes: 1, Rate: 1, Merge: dmx.LTP, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.Stop() }()
	w := e.writers[0]
	deadline := time.Now().Add(5 * time.Second)
	for w.frames.Load() == 0 { // wait for the device to open
		if time.Now().After(deadline) {
			b.Fatal("no frame within 5 s")
		}
		runtime.Gosched()
	}
	t := &tick{}
	b.ReportAllocs()
	for b.Loop() {
		n := w.frames.Load()
		e.sys.Root.Send(e.universes[0], t)
		for w.frames.Load() == n {
			runtime.Gosched()
		}
	}
}

package actors

import (
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/dmxd/dmxd/dmx"
)

// bubbleUniverse is a universe actor on its own, for tests that run in a
// testing/synctest bubble: its output and one connection are recording
// actors, so no goroutine leaves the bubble (an engine's writer runs the
// refresh loop in C, which fake time cannot wait for). Everything is
// stamped with the bubble's clock, which moves only when every goroutine
// in it waits: the stamps are exact.
type bubbleUniverse struct {
	sys    *actor.ActorSystem
	pid    *actor.PID
	conn   *actor.PID // attached: gets the updates and the answers
	out    *actor.PID // the universe's output
	sent   chan stamped
	frames chan stampedFrame
}

// stamped is a message the universe sent the connection, and when.
type stamped struct {
	at  time.Time
	msg any
}

// stampedFrame is a frame the universe handed its output, and when.
type stampedFrame struct {
	at    time.Time
	frame dmx.Frame
}

// bubbleQueue holds what the recording actors receive until the test
// reads it.
const bubbleQueue = 10000

// newBubbleUniverse starts universe 1 at rate, with one attached
// connection. Call it inside synctest.Test, and stop it before the
// bubble ends.
func newBubbleUniverse(t *testing.T, rate int, mode dmx.Merge) *bubbleUniverse {
	t.Helper()
	b := &bubbleUniverse{
		sys: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.DiscardHandler)
		})),
		sent:   make(chan stamped, bubbleQueue),
		frames: make(chan stampedFrame, bubbleQueue),
	}
	b.conn = b.sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started, *actor.Stopping, *actor.Stopped:
		default:
			b.sent <- stamped{at: time.Now(), msg: m}
		}
	}))
	b.out = b.sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if f, ok := c.Message().(*frameBuf); ok {
			b.frames <- stampedFrame{at: time.Now(), frame: f.frame}
		}
	}))
	u := newUniverseActor(1, time.Second/time.Duration(rate), mode, []outLink{{pid: b.out, frames: newFramePool()}})
	b.pid = b.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return u }))
	b.sys.Root.Send(b.pid, &attach{conn: b.conn})
	if _, ok := b.next(t).msg.(*State); !ok {
		t.Fatal("the attached connection got no state first")
	}
	return b
}

// send hands the universe a command from the connection.
func (b *bubbleUniverse) send(cmd *Command) {
	b.sys.Root.Send(b.pid, &apply{from: b.conn, cmd: cmd, weight: cmd.Weight()})
}

// next returns the next message the universe sent the connection. In the
// bubble a wait for a message that never comes fails the test as a
// deadlock.
func (b *bubbleUniverse) next(t *testing.T) stamped {
	t.Helper()
	return <-b.sent
}

// update returns the next update the universe sent the connection.
func (b *bubbleUniverse) update(t *testing.T) (time.Time, *Update) {
	t.Helper()
	for {
		s := b.next(t)
		if up, ok := s.msg.(*Update); ok {
			return s.at, up
		}
	}
}

// stop stops the actors and lets the bubble's timers run out.
func (b *bubbleUniverse) stop(t *testing.T) {
	t.Helper()
	for _, pid := range []*actor.PID{b.pid, b.conn, b.out} {
		if err := b.sys.Root.PoisonFuture(pid).Wait(); err != nil {
			t.Errorf("stop %s: %v", pid.Id, err)
		}
	}
	b.sys.Shutdown()
	// protoactor's dead-letter throttle keeps a goroutine for a second
	// after a message to a stopped actor (a tick that was on its way).
	time.Sleep(2 * time.Second)
}

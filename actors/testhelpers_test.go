package actors

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/dmx"
)

// waitTimeout bounds every wait of these tests; the conditions they wait
// for normally hold within a few frames.
const waitTimeout = 5 * time.Second

// fakePeer is a test double of the transport's Peer: it records every
// message and the close code.
type fakePeer struct {
	credit atomic.Int64 // units given back through Release
	msgs   chan any
	once   sync.Once
	closed chan struct{}
	code   int // written once, before closed is closed
}

func newFakePeer() *fakePeer {
	return &fakePeer{msgs: make(chan any, 100000), closed: make(chan struct{})}
}

func (p *fakePeer) Send(msg any) bool {
	select {
	case p.msgs <- msg:
		return true
	default:
		return false
	}
}

func (p *fakePeer) Close(code int, _ string) {
	p.once.Do(func() {
		p.code = code
		close(p.closed)
	})
}

func (p *fakePeer) Release(n int) { p.credit.Add(int64(n)) }

// waitClosed waits for Close and returns its code.
func (p *fakePeer) waitClosed(t *testing.T) int {
	t.Helper()
	select {
	case <-p.closed:
		return p.code
	case <-time.After(waitTimeout):
		t.Fatal("peer not closed")
		return 0
	}
}

// next returns the first message for which ok is true, dropping the
// others, or fails the test after waitTimeout.
func (p *fakePeer) next(t *testing.T, what string, ok func(any) bool) any {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		select {
		case m := <-p.msgs:
			if ok(m) {
				return m
			}
		case <-deadline.C:
			t.Fatalf("no %s within %v", what, waitTimeout)
			return nil
		}
	}
}

// updateOf waits for an update of universe u that satisfies ok.
func (p *fakePeer) updateOf(t *testing.T, u int, what string, ok func(*Update) bool) *Update {
	t.Helper()
	return p.next(t, what, func(m any) bool {
		up, isUp := m.(*Update)
		return isUp && up.Universe == u && ok(up)
	}).(*Update)
}

// levelOf returns the level of ch in up, and whether up has it.
func levelOf(up *Update, ch uint16) (uint8, bool) {
	for _, c := range up.Changes {
		if c.Channel == ch {
			return c.Level, true
		}
	}
	return 0, false
}

// recordingDriver is an output driver test double: its device is a real
// pipe, read by a goroutine that hands every frame (512 raw slots) to a
// channel (dropping when the test does not read); its MinGap is
// configurable.
type recordingDriver struct {
	gap    time.Duration
	frames chan dmx.Frame
}

func newRecordingDriver(gap time.Duration) *recordingDriver {
	return &recordingDriver{gap: gap, frames: make(chan dmx.Frame, 1024)}
}

func (d *recordingDriver) Name() string                  { return "recording" }
func (d *recordingDriver) Target() string                { return "" }
func (d *recordingDriver) MinGap() time.Duration         { return d.gap }
func (d *recordingDriver) Break() time.Duration          { return 0 }
func (d *recordingDriver) MarkAfterBreak() time.Duration { return 0 }
func (d *recordingDriver) AppendFrame(dst []byte, f *dmx.Frame) []byte {
	return append(dst, f[:]...)
}

// Open returns the write end of a new pipe; the read end is read until
// the writer closes it.
func (d *recordingDriver) Open() (dmx.Device, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	go func() {
		defer r.Close()
		var f dmx.Frame
		for {
			if _, err := io.ReadFull(r, f[:]); err != nil {
				return
			}
			select {
			case d.frames <- f:
			default:
			}
		}
	}()
	return w, nil
}

// waitFrame waits for a frame that satisfies ok.
func (d *recordingDriver) waitFrame(t *testing.T, what string, ok func(*dmx.Frame) bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		select {
		case f := <-d.frames:
			if ok(&f) {
				return
			}
		case <-deadline.C:
			t.Fatalf("no frame with %s within %v", what, waitTimeout)
		}
	}
}

// startEngine starts an engine and stops it when the test ends.
func startEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	if cfg.Universes == 0 {
		cfg.Universes = 1
	}
	if cfg.Rate == 0 {
		cfg.Rate = MaxRate
	}
	cfg.Log = zerolog.Nop()
	e, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.CloseConnections(CloseGoingAway, "test over", time.Now().Add(waitTimeout)); err != nil {
			t.Errorf("close connections: %v", err)
		}
		if err := e.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return e
}

// client is one connection actor with its fake peer.
type client struct {
	e    *Engine
	pid  *actor.PID
	peer *fakePeer
}

// connect connects a fake client and waits for its hello and the state of
// every universe.
func connect(t *testing.T, e *Engine) *client {
	t.Helper()
	p := newFakePeer()
	pid, err := e.Connect(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.next(t, "hello", func(any) bool { return true }).(*Hello); !ok {
		t.Fatal("first message is not hello")
	}
	for range e.Universes() {
		p.next(t, "state", func(m any) bool { _, ok := m.(*State); return ok })
	}
	return &client{e: e, pid: pid, peer: p}
}

// dmxCmd is a dmx command on universe u.
func dmxCmd(u int, changes ...dmx.Change) *Command {
	return &Command{Kind: KindDMX, Universe: u, Changes: changes}
}

func (c *client) send(cmd *Command) { c.e.Deliver(c.pid, &Received{Cmd: cmd}) }

// apply sends cmd with an id and waits for its ack: the universe has
// applied it.
func (c *client) apply(t *testing.T, cmd *Command) {
	t.Helper()
	cmd.ID = ID(`"sync"`)
	c.send(cmd)
	c.peer.next(t, "ack", func(m any) bool { _, ok := m.(*Ack); return ok })
}

// snapshot returns universe u's levels through the engine.
func snapshot(t *testing.T, e *Engine, u int) dmx.UniverseState {
	t.Helper()
	ss, err := e.Snapshots()
	if err != nil {
		t.Fatal(err)
	}
	return ss[u-1]
}

func chg(ch uint16, lv uint8) dmx.Change { return dmx.Change{Channel: ch, Level: lv} }

func all(lv uint8) []dmx.Change {
	cs := make([]dmx.Change, dmx.Slots)
	for i := range cs {
		cs[i] = dmx.Change{Channel: uint16(i + 1), Level: lv}
	}
	return cs
}

package dmx_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/test/testkit"
)

// call is one call on a recordingPort.
type call struct {
	op    string // "drain", "break", "write", "close"
	dur   time.Duration
	bytes []byte
}

// recordingPort is a dmx.BreakPort test double that records every call and
// can fail the nth call of one kind.
type recordingPort struct {
	calls  []call
	failOp string
	err    error
	short  int // Write accepts at most this many bytes a call when > 0
}

func (p *recordingPort) fail(op string) error {
	if p.failOp == op {
		return p.err
	}
	return nil
}

func (p *recordingPort) Write(b []byte) (int, error) {
	if err := p.fail("write"); err != nil {
		return 0, err
	}
	n := len(b)
	if p.short > 0 && n > p.short {
		n = p.short
	}
	p.calls = append(p.calls, call{op: "write", bytes: append([]byte(nil), b[:n]...)})
	return n, nil
}

func (p *recordingPort) Break(d time.Duration) error {
	p.calls = append(p.calls, call{op: "break", dur: d})
	return p.fail("break")
}

func (p *recordingPort) Drain() error {
	p.calls = append(p.calls, call{op: "drain"})
	return p.fail("drain")
}

func (p *recordingPort) Close() error {
	p.calls = append(p.calls, call{op: "close"})
	return p.fail("close")
}

// written joins the bytes of consecutive writes from calls[i] on.
func written(calls []call) []byte {
	var b []byte
	for _, c := range calls {
		if c.op != "write" {
			break
		}
		b = append(b, c.bytes...)
	}
	return b
}

func TestOpenDMXWriterSequence(t *testing.T) {
	p := &recordingPort{}
	w := dmx.NewOpenDMXWriter(p)
	var f1, f2 dmx.Frame
	for i := range f1 {
		f1[i] = byte(i + 1)
	}
	f2[0], f2[511] = 255, 128
	for _, f := range []*dmx.Frame{&f1, &f2} {
		p.calls = nil
		if err := w.WriteFrame(f); err != nil {
			t.Fatalf("WriteFrame: %v", err)
		}
		var ops []string
		for _, c := range p.calls {
			ops = append(ops, c.op)
		}
		if got := strings.Join(ops, " "); got != "drain break write" {
			t.Fatalf("calls %q, want drain break write", got)
		}
		if d := p.calls[1].dur; d < 88*time.Microsecond {
			t.Errorf("break of %v, want at least 88µs", d)
		}
		b := p.calls[2].bytes
		if len(b) != 513 || b[0] != 0 {
			t.Fatalf("wrote %d bytes starting %#x, want 513 starting with start code 0", len(b), b[0])
		}
		if string(b[1:]) != string(f[:]) {
			t.Errorf("slots differ from the frame")
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := p.calls[len(p.calls)-1].op; got != "close" {
		t.Errorf("last call %q, want close", got)
	}
}

// TestOpenDMXWriterShortWrites: a port that takes a few bytes at a time
// still gets the whole frame, with one break before it.
func TestOpenDMXWriterShortWrites(t *testing.T) {
	p := &recordingPort{short: 100}
	w := dmx.NewOpenDMXWriter(p)
	var f dmx.Frame
	for i := range f {
		f[i] = byte(255 - i)
	}
	if err := w.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	if p.calls[0].op != "drain" || p.calls[1].op != "break" {
		t.Fatalf("calls start %q %q, want drain break", p.calls[0].op, p.calls[1].op)
	}
	b := written(p.calls[2:])
	if len(b) != 513 || b[0] != 0 || string(b[1:]) != string(f[:]) {
		t.Fatalf("wrote %d bytes, want start code 0 and the 512 slots", len(b))
	}
	if len(p.calls) != 2+6 {
		t.Errorf("%d calls, want drain, break and 6 writes of at most 100 bytes", len(p.calls))
	}
}

// TestOpenDMXWriterErrors: a failing step stops the frame and says which
// step failed; nothing is written after a failed break.
func TestOpenDMXWriterErrors(t *testing.T) {
	boom := errors.New("input/output error")
	for _, op := range []string{"drain", "break", "write"} {
		t.Run(op, func(t *testing.T) {
			p := &recordingPort{failOp: op, err: boom}
			err := dmx.NewOpenDMXWriter(p).WriteFrame(&dmx.Frame{})
			if !errors.Is(err, boom) {
				t.Fatalf("error %v, want it to wrap %v", err, boom)
			}
			if !strings.HasPrefix(err.Error(), op+":") {
				t.Errorf("error %q does not name the step %q", err, op)
			}
			for _, c := range p.calls {
				if c.op == "write" {
					t.Errorf("wrote %d bytes after a failed %s", len(c.bytes), op)
				}
			}
		})
	}
}

// TestOpenDMXTiming checks the constants the driver's rate rests on.
func TestOpenDMXTiming(t *testing.T) {
	if dmx.OpenDMXBreak < 88*time.Microsecond {
		t.Errorf("OpenDMXBreak %v < 88µs", dmx.OpenDMXBreak)
	}
	// 513 slots of 11 bits at 250 kbaud.
	if want := 22572 * time.Microsecond; dmx.OpenDMXFrameTime != want {
		t.Errorf("OpenDMXFrameTime %v, want %v", dmx.OpenDMXFrameTime, want)
	}
	// The frame time plus what a break costs (~1.1 ms measured): ~42 Hz.
	if got := (dmx.OpenDMX{Path: "/dev/x"}).MinGap(); got <= dmx.OpenDMXFrameTime || got > dmx.OpenDMXFrameTime+2*time.Millisecond {
		t.Errorf("MinGap %v, want the frame time plus the break", got)
	}
}

// TestOpenDMXOnPTY drives the real open-dmx driver (go.bug.st/serial) on a
// pseudo-terminal and decodes the bytes on the master. A pty cannot show a
// break on the line; this test proves the driver works against a real
// kernel tty (break and drain ioctls included) and puts the right bytes out.
//
// Measured on Linux 6.x: TIOCSBRK, TIOCCBRK and TCSBRK(1) (drain) all
// succeed on a pty slave and do nothing (a pty has no break_ctl), so no
// byte of a break reaches the master and the frames arrive intact.
// go.bug.st/serial's Break(100µs) returns after ~1.1 ms (it sleeps between
// the two ioctls; see BenchmarkOpenDMXBreakOnPTY).
func TestOpenDMXOnPTY(t *testing.T) {
	p, err := testkit.NewRawPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, err := dmx.OpenDMX{Path: p.Path}.Open()
	if err != nil {
		t.Fatalf("open %s: %v", p.Path, err)
	}
	defer w.Close()
	for n := range 3 {
		var f dmx.Frame
		f[0], f[1], f[511] = 255, byte(n), 7
		if err := w.WriteFrame(&f); err != nil {
			t.Fatalf("frame %d: open-dmx WriteFrame on a pty failed (drain or break ioctl refused by this kernel?): %v", n, err)
		}
		got, err := p.WaitFrame(2*time.Second, func(testkit.Frame) bool { return true })
		if err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		if got.Values != f {
			t.Fatalf("frame %d on the master: %s", n, diffFrames(&got.Values, &f))
		}
	}
}

// BenchmarkOpenDMXBreakOnPTY measures one open-dmx frame on a pty: drain,
// break (go.bug.st/serial sleeps for it) and the 513-byte write. On a real
// FTDI adapter the drain also waits for the previous frame's 22.6 ms on
// the line, so the frame period is about this plus OpenDMXFrameTime.
func BenchmarkOpenDMXBreakOnPTY(b *testing.B) {
	p, err := testkit.NewRawPTY()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	w, err := dmx.OpenDMX{Path: p.Path}.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var f dmx.Frame
	for b.Loop() {
		if err := w.WriteFrame(&f); err != nil {
			b.Fatal(err)
		}
		p.Drain()
	}
}

// TestEnttecProOnPTY is the same for the enttec-pro driver.
func TestEnttecProOnPTY(t *testing.T) {
	p, err := testkit.NewPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, err := dmx.EnttecPro{Path: p.Path}.Open()
	if err != nil {
		t.Fatalf("open %s: %v", p.Path, err)
	}
	defer w.Close()
	for n := range 3 {
		var f dmx.Frame
		f[0], f[1], f[511] = 0x7E, byte(n), 0xE7
		if err := w.WriteFrame(&f); err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		got, err := p.WaitFrame(2*time.Second, func(testkit.Frame) bool { return true })
		if err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		if got.Values != f {
			t.Fatalf("frame %d on the master: %s", n, diffFrames(&got.Values, &f))
		}
	}
}

func diffFrames(got, want *dmx.Frame) string {
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("channel %d is %d, want %d", i+1, got[i], want[i])
		}
	}
	return "equal"
}

// TestOpenMissingDevice: a path that does not exist fails Open with the
// path in the message (the output then starts down and is retried).
func TestOpenMissingDevice(t *testing.T) {
	path := t.TempDir() + "/ttyUSB9"
	for _, d := range []dmx.Driver{dmx.EnttecPro{Path: path}, dmx.OpenDMX{Path: path}} {
		w, err := d.Open()
		if err == nil {
			_ = w.Close()
			t.Fatalf("%s: Open of a missing device succeeded", d.Name())
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the path", d.Name(), err)
		}
	}
}

package dmx_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/dmx/refresh"
	"github.com/dmxd/dmxd/test/testkit"
)

// DMX512-A (ANSI E1.11) timing a transmitter must keep, independent of
// the driver's constants: break and mark after break at least this long,
// and a slot of 11 bits at 250 kbaud (44 µs), 513 of them a frame.
const (
	e111MinBreak          = 92 * time.Microsecond
	e111MinMarkAfterBreak = 12 * time.Microsecond
	e111FrameTime         = 513 * 44 * time.Microsecond
)

// TestOpenDMXTiming checks the open-dmx driver's timing against the
// standard: the break and mark it asks for, and a minimum gap that leaves
// room for a whole frame, its break and its mark (~43.7 Hz at most).
func TestOpenDMXTiming(t *testing.T) {
	d := dmx.OpenDMX{Path: "/dev/x"}
	if d.Break() < e111MinBreak {
		t.Errorf("break %v, want at least %v", d.Break(), e111MinBreak)
	}
	if d.MarkAfterBreak() < e111MinMarkAfterBreak {
		t.Errorf("mark after break %v, want at least %v", d.MarkAfterBreak(), e111MinMarkAfterBreak)
	}
	if got, least := d.MinGap(), e111FrameTime+e111MinBreak+e111MinMarkAfterBreak; got < least || got > least+time.Millisecond {
		t.Errorf("MinGap %v, want the frame, break and mark (%v) plus less than 1 ms", got, least)
	}
}

// TestOpenDMXBreakOnPTY runs the open-dmx driver's refresh loop, set up
// as an output sets it up, on a real pseudo-terminal: the frames arrive
// whole (start code 0, then the slots), and the break and the mark after
// it that the loop measured between its ioctls last at least what the
// standard asks of a transmitter. A pty shows no break on the line, but
// the drain and break ioctls run against a real kernel tty.
func TestOpenDMXBreakOnPTY(t *testing.T) {
	p, err := testkit.NewRawPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	drv := dmx.OpenDMX{Path: p.Path}
	dev, err := drv.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	const period = 20 * time.Millisecond
	l, err := refresh.New(refresh.Config{Period: period, MinGap: min(drv.MinGap(), period), Break: drv.Break(), MarkAfterBreak: drv.MarkAfterBreak()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Free()
	done := make(chan error, 1)
	go func() { done <- l.Run(dev.Fd()) }()
	var minBreak, minMark time.Duration
	var buf []byte
	for n := range 5 {
		var f dmx.Frame
		f[0], f[1], f[511] = byte(n+1), 0x7E, byte(255-n)
		buf = drv.AppendFrame(buf[:0], &f)
		l.Publish(buf, true)
		if _, err := p.WaitFrame(5*time.Second, func(got testkit.Frame) bool { return got.Values == f }); err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		// The loop records the break before the frame's first write.
		s := l.Stats()
		if n == 0 || s.LastBreak < minBreak {
			minBreak = s.LastBreak
		}
		if n == 0 || s.LastMarkAfterBreak < minMark {
			minMark = s.LastMarkAfterBreak
		}
	}
	l.Stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if minBreak < e111MinBreak {
		t.Errorf("a break held the line %v, want at least %v", minBreak, e111MinBreak)
	}
	if minMark < e111MinMarkAfterBreak {
		t.Errorf("a mark after break lasted %v, want at least %v", minMark, e111MinMarkAfterBreak)
	}
	t.Logf("shortest break %v, shortest mark after break %v", minBreak, minMark)
}

// TestOpenSerialFd: the serial drivers open the device through
// go.bug.st/serial and hand the refresh loop the descriptor it opened (read
// from the library's port by reflection, which a library upgrade could
// break).
func TestOpenSerialFd(t *testing.T) {
	p, err := testkit.NewPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, d := range []dmx.Driver{dmx.EnttecPro{Path: p.Path}, dmx.OpenDMX{Path: p.Path}} {
		dev, err := d.Open()
		if err != nil {
			t.Fatalf("%s: open %s: %v", d.Name(), p.Path, err)
		}
		target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", dev.Fd()))
		if err != nil || target != p.Path {
			t.Errorf("%s: descriptor %d is %q (%v), want %s", d.Name(), dev.Fd(), target, err, p.Path)
		}
		if err := dev.Close(); err != nil {
			t.Errorf("%s: close: %v", d.Name(), err)
		}
	}
}

// TestAppendFrame checks each driver's encoding of a frame.
func TestAppendFrame(t *testing.T) {
	var f dmx.Frame
	for i := range f {
		f[i] = byte(i * 7)
	}
	raw := append([]byte{0}, f[:]...)
	cases := []struct {
		drv  dmx.Driver
		want []byte
	}{
		{dmx.Null{}, f[:]},
		{dmx.OpenDMX{Path: "/dev/x"}, raw},
		{dmx.EnttecPro{Path: "/dev/x"}, dmx.AppendEnttecFrame(nil, &f)},
	}
	for _, c := range cases {
		got := c.drv.AppendFrame([]byte{1, 2}, &f)
		if string(got[:2]) != "\x01\x02" || string(got[2:]) != string(c.want) {
			t.Errorf("%s: AppendFrame does not append the frame's %d bytes", c.drv.Name(), len(c.want))
		}
	}
	for _, d := range []dmx.Driver{dmx.EnttecPro{}, dmx.Null{}} {
		if b, m := d.Break(), d.MarkAfterBreak(); b != 0 || m != 0 {
			t.Errorf("%s makes no break, got break %v and mark %v", d.Name(), b, m)
		}
	}
}

// TestOpenMissingDevice: a path that does not exist fails Open with the
// path in the message (the output then starts down and is retried).
func TestOpenMissingDevice(t *testing.T) {
	path := t.TempDir() + "/ttyUSB9"
	for _, d := range []dmx.Driver{dmx.EnttecPro{Path: path}, dmx.OpenDMX{Path: path}} {
		dev, err := d.Open()
		if err == nil {
			_ = dev.Close()
			t.Fatalf("%s: Open of a missing device succeeded", d.Name())
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the path", d.Name(), err)
		}
	}
}

package dmx_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// TestOpenDMXBreakOnPTY runs the open-dmx driver's refresh loop (the C
// loop where it is built in, and the Go loop), set up as an output sets it
// up, on a real pseudo-terminal: the frames arrive whole (start code 0,
// then the slots), and the break and the mark after it that the loop
// measured between its ioctls last at least what the standard asks of a
// transmitter. A pty shows no break on the line, but the drain and break
// ioctls run against a real kernel tty.
func TestOpenDMXBreakOnPTY(t *testing.T) {
	for _, portable := range []bool{false, true} {
		name := "c"
		if portable {
			name = "go"
		}
		t.Run(name, func(t *testing.T) {
			if !portable && !refresh.NativeLoop {
				t.Skip("the C loop is not built in (needs Linux and cgo)")
			}
			testOpenDMXBreakOnPTY(t, portable)
		})
	}
}

func testOpenDMXBreakOnPTY(t *testing.T, portable bool) {
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
	l, err := refresh.New(refresh.Config{Period: period, MinGap: min(drv.MinGap(), period), Break: drv.Break(), MarkAfterBreak: drv.MarkAfterBreak(), Portable: portable})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Free()
	done := make(chan error, 1)
	go func() { done <- l.Run(dev) }()
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

// TestOpenSerial: the serial drivers open the device themselves and hand
// the refresh loop its descriptor, set to 250000 baud 8N2 in raw mode
// without flow control (read back with TCGETS2), for this process alone
// (TIOCEXCL: a second open fails, except for root, whom the kernel lets
// through).
func TestOpenSerial(t *testing.T) {
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
		fd := fdOf(t, dev)
		target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil || target != p.Path {
			t.Errorf("%s: descriptor %d is %q (%v), want %s", d.Name(), fd, target, err, p.Path)
		}
		tio, err := unix.IoctlGetTermios(int(fd), unix.TCGETS2)
		if err != nil {
			t.Fatalf("%s: TCGETS2: %v", d.Name(), err)
		}
		checks := []struct {
			what string
			ok   bool
		}{
			{"250000 baud out", tio.Ospeed == 250000 && tio.Cflag&unix.CBAUD == unix.BOTHER},
			{"8 data bits", tio.Cflag&unix.CSIZE == unix.CS8},
			{"no parity", tio.Cflag&unix.PARENB == 0},
			{"2 stop bits", tio.Cflag&unix.CSTOPB != 0},
			{"no RTS/CTS", tio.Cflag&unix.CRTSCTS == 0},
			{"no XON/XOFF", tio.Iflag&(unix.IXON|unix.IXOFF) == 0},
			{"no output processing", tio.Oflag&unix.OPOST == 0},
			{"no line discipline", tio.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) == 0},
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf("%s: not %s: termios %+v", d.Name(), c.what, tio)
			}
		}
		if os.Geteuid() != 0 {
			if again, err := d.Open(); err == nil {
				_ = again.Close()
				t.Errorf("%s: a second open of %s succeeded", d.Name(), p.Path)
			}
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

package dmx_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/test/testkit"
)

// TestOpenDMXTiming checks the constants the driver's rate rests on.
func TestOpenDMXTiming(t *testing.T) {
	if dmx.OpenDMXBreak < 88*time.Microsecond {
		t.Errorf("OpenDMXBreak %v < 88µs", dmx.OpenDMXBreak)
	}
	// 513 slots of 11 bits at 250 kbaud.
	if want := 22572 * time.Microsecond; dmx.OpenDMXFrameTime != want {
		t.Errorf("OpenDMXFrameTime %v, want %v", dmx.OpenDMXFrameTime, want)
	}
	// The frame time plus what a break costs: ~43.7 Hz.
	if got := (dmx.OpenDMX{Path: "/dev/x"}).MinGap(); got <= dmx.OpenDMXFrameTime || got > dmx.OpenDMXFrameTime+time.Millisecond {
		t.Errorf("MinGap %v, want the frame time plus the break", got)
	}
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
	if b := (dmx.OpenDMX{}).Break(); b != dmx.OpenDMXBreak {
		t.Errorf("open-dmx break %v, want %v", b, dmx.OpenDMXBreak)
	}
	if b := (dmx.EnttecPro{}).Break() + (dmx.Null{}).Break(); b != 0 {
		t.Errorf("enttec-pro and null make no break, got %v", b)
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

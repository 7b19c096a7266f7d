package test

import (
	"net"
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// any frame
func anyFrame(testkit.Frame) bool { return true }

// TestFadeSteppedAtOutputRate fades a channel up over 600 ms: the frames
// climb monotonically through intermediate levels and end exactly at the
// target; updates carry the steps; a dmx on the channel cancels a fade.
// How many steps a fade takes (one a period) is actors.TestFadeSteps's,
// with exact times: here a step is an intermediate level at all.
func TestFadeSteppedAtOutputRate(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	a, b := dial(t, p), dial(t, p)
	if _, err := pty.WaitFrame(5*time.Second, anyFrame); err != nil {
		t.Fatal(err)
	}
	pty.Drain()
	if err := a.Send(`{"fade": {"1": 255}, "ms": 600}`); err != nil {
		t.Fatal(err)
	}
	var levels []byte
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool {
		levels = append(levels, f.Values[0])
		return f.Values[0] == 255
	}); err != nil {
		t.Fatalf("fade never reached 255: %v (levels %v)", err, levels)
	}
	between := 0
	for i, v := range levels {
		if i > 0 && v < levels[i-1] {
			t.Fatalf("fade not monotonic: %v", levels)
		}
		if v > 0 && v < 255 {
			between++
		}
	}
	if between == 0 {
		t.Errorf("no frame between 0 and 255 in a 600 ms fade: %v", levels)
	}
	steps := 0
	if _, err := b.Until(5*time.Second, func(m testkit.Message) bool {
		if m.Type == "update" {
			if v, ok := m.Changes["1"]; ok && v > 0 && v < 255 {
				steps++
			}
			return m.Changes["1"] == 255
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	if steps == 0 {
		t.Errorf("desk B saw no intermediate fade step in updates")
	}
	// A long fade down, cancelled by a dmx on the same channel.
	if err := a.Send(`{"fade": [0], "ms": 60000}`); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(`{"dmx": {"1": 77}, "id": "stop"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" }); err != nil {
		t.Fatal(err)
	}
	pty.Drain()
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 77 }); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		f, err := pty.WaitFrame(5*time.Second, anyFrame)
		if err != nil {
			t.Fatal(err)
		}
		if f.Values[0] != 77 {
			t.Fatalf("channel 1 = %d after the dmx that cancelled the fade, want 77", f.Values[0])
		}
	}
}

// TestBlackout forces the output to 0 while levels are kept and reported.
func TestBlackout(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	a, b := dial(t, p), dial(t, p)
	if err := a.Send(`{"dmx": {"5": 200}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[4] == 200 }); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(`{"blackout": true}`); err != nil {
		t.Fatal(err)
	}
	bo, err := b.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "blackout" })
	if err != nil || !bo.On || bo.Universe != 1 {
		t.Fatalf("blackout message: %s %v", bo.Raw, err)
	}
	pty.Drain()
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values == [512]byte{} }); err != nil {
		t.Fatalf("frames not dark during blackout: %v", err)
	}
	if st := getState(t, b, 1); !st.Blackout || st.Values[4] != 200 {
		t.Fatalf("state during blackout: %s; want blackout true and channel 5 kept at 200", st.Raw)
	}
	if err := a.Send(`{"blackout": false}`); err != nil {
		t.Fatal(err)
	}
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[4] == 200 }); err != nil {
		t.Fatalf("levels not restored after blackout: %v", err)
	}
}

// TestHTPReleasesDepartedDesks checks HTP merge: the highest layer wins;
// when a desk leaves — cleanly or by a dropped TCP connection — its layer
// is released and the output falls back.
func TestHTPReleasesDepartedDesks(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--merge", "htp", "--output", "1=enttec-pro:"+pty.Path)
	low, clean, abrupt := dial(t, p), dial(t, p), dial(t, p)
	send := func(d *testkit.Desk, msg string) {
		t.Helper()
		if err := d.Send(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" }); err != nil {
			t.Fatal(err)
		}
	}
	send(low, `{"dmx": {"1": 100, "2": 100}, "id": 1}`)
	send(clean, `{"dmx": {"1": 200}, "id": 1}`)
	send(abrupt, `{"dmx": {"2": 220}, "id": 1}`)
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 200 && f.Values[1] == 220 }); err != nil {
		t.Fatalf("HTP max not on the output: %v", err)
	}
	if err := clean.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 100 && f.Values[1] == 220 }); err != nil {
		t.Fatalf("channel 1 did not fall back after a clean close: %v", err)
	}
	// Drop the TCP connection without a close frame.
	if err := abrupt.Conn.NetConn().(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := abrupt.Conn.NetConn().Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 100 && f.Values[1] == 100 }); err != nil {
		t.Fatalf("channel 2 did not fall back after a dropped connection: %v", err)
	}
}

// TestMultipleUniverses patches two universes to two ptys.
func TestMultipleUniverses(t *testing.T) {
	one, two := newPTY(t), newPTY(t)
	p := startDMXD(t, "--universes", "2", "--output", "1=enttec-pro:"+one.Path, "--output", "2=enttec-pro:"+two.Path)
	d, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Send(`{"dmx": {"3": 33}, "universe": 2}`); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(`{"dmx": {"3": 11}, "universe": 1}`); err != nil {
		t.Fatal(err)
	}
	if _, err := two.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[2] == 33 }); err != nil {
		t.Fatal(err)
	}
	if _, err := one.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[2] == 11 }); err != nil {
		t.Fatal(err)
	}
}

// TestOpenDMXOnAPty drives the open-dmx driver on a real pty: each frame
// is start code 0 and 512 slots (the break itself cannot show on a pty;
// the call sequence is checked in dmx's unit tests).
func TestOpenDMXOnAPty(t *testing.T) {
	pty, err := testkit.NewRawPTY()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pty.Close() })
	p := startDMXD(t, "--output", "1=open-dmx:"+pty.Path)
	d := dial(t, p)
	if err := d.Send(`{"dmx": [1, 2, 3], "start": 510}`); err != nil {
		t.Fatal(err)
	}
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool {
		return f.Values[509] == 1 && f.Values[510] == 2 && f.Values[511] == 3
	}); err != nil {
		t.Fatal(err)
	}
}

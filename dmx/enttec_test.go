package dmx_test

import (
	"bytes"
	"testing"

	"github.com/dmxd/dmxd/dmx"
)

// enttecFrame builds the expected label 6 message byte by byte, straight
// from the Enttec API document: 0x7E, label 6, data length 513 as LSB MSB,
// start code 0, 512 slots, 0xE7.
func enttecFrame(slots *dmx.Frame) []byte {
	b := []byte{0x7E, 0x06, 0x01, 0x02, 0x00}
	b = append(b, slots[:]...)
	return append(b, 0xE7)
}

func TestAppendEnttecFrame(t *testing.T) {
	var dark, full, ramp, edges dmx.Frame
	for i := range full {
		full[i] = 0xFF
		ramp[i] = byte(i)
	}
	// Slots equal to the framing bytes must go out unescaped: label 6
	// messages are length-delimited.
	edges[0], edges[1], edges[510], edges[511] = 0x7E, 0xE7, 0xE7, 0x7E
	tests := []struct {
		name  string
		frame *dmx.Frame
	}{
		{"dark", &dark},
		{"full", &full},
		{"ramp", &ramp},
		{"framing bytes in slots", &edges},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dmx.AppendEnttecFrame(nil, tt.frame)
			want := enttecFrame(tt.frame)
			if len(got) != 518 || dmx.EnttecFrameSize != 518 {
				t.Fatalf("frame is %d bytes (EnttecFrameSize %d), want 518", len(got), dmx.EnttecFrameSize)
			}
			if !bytes.Equal(got[:5], []byte{0x7E, 6, 0x01, 0x02, 0}) {
				t.Errorf("header % x, want 7e 06 01 02 00", got[:5])
			}
			if got[517] != 0xE7 {
				t.Errorf("end byte %#x, want 0xe7", got[517])
			}
			if !bytes.Equal(got, want) {
				t.Errorf("frame differs from the expected bytes")
			}
		})
	}
}

// TestAppendEnttecFrameAppends: frames go after what dst holds, and a
// reused buffer carries nothing over from the previous frame.
func TestAppendEnttecFrameAppends(t *testing.T) {
	var a, b dmx.Frame
	a[0], b[511] = 1, 2
	buf := dmx.AppendEnttecFrame([]byte("xy"), &a)
	if string(buf[:2]) != "xy" || !bytes.Equal(buf[2:], enttecFrame(&a)) {
		t.Fatalf("append after prefix: % x", buf[:8])
	}
	buf = dmx.AppendEnttecFrame(buf[:0], &a)
	buf = dmx.AppendEnttecFrame(buf, &b)
	if want := append(enttecFrame(&a), enttecFrame(&b)...); !bytes.Equal(buf, want) {
		t.Fatalf("two frames in one buffer differ from the expected bytes")
	}
	buf = dmx.AppendEnttecFrame(buf[:0], &b)
	if !bytes.Equal(buf, enttecFrame(&b)) {
		t.Fatalf("reused buffer differs from the expected bytes")
	}
}

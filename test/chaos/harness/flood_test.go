package harness

import (
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/test/testkit"
)

// TestFloodCommandSparesOwnersAndProbe: a flood command is valid JSON
// that covers exactly the noise channels of the flood universe below the
// probe channel, with levels that are never 0 (a frame of zeros is a
// blackout), and every owner's block lies below it.
func TestFloodCommandSparesOwnersAndProbe(t *testing.T) {
	for _, id := range []int64{0, 41} {
		var cmd struct {
			DMX      []int  `json:"dmx"`
			Start    int    `json:"start"`
			Universe int    `json:"universe"`
			ID       *int64 `json:"id"`
		}
		data := appendFloodCommand(nil, id)
		if err := json.Unmarshal(data, &cmd); err != nil {
			t.Fatalf("flood command %s: %v", data, err)
		}
		if cmd.Universe != floodUniverse || cmd.Start != noiseFirst || cmd.Start+len(cmd.DMX)-1 != probeChannel-1 {
			t.Errorf("flood command covers universe %d channels %d..%d, want %d channels %d..%d", cmd.Universe, cmd.Start, cmd.Start+len(cmd.DMX)-1, floodUniverse, noiseFirst, probeChannel-1)
		}
		for i, v := range cmd.DMX {
			if v < 1 || v > 255 {
				t.Errorf("channel %d level %d, want 1..255", cmd.Start+i, v)
			}
		}
		if (id != 0) != (cmd.ID != nil) || (cmd.ID != nil && *cmd.ID != id) {
			t.Errorf("flood command with id %d: %s", id, data)
		}
	}
	for i := range maxOwners {
		if b := blockOf(i); b.first+ownedPer-1 >= noiseFirst {
			t.Errorf("owner %d writes channels %d..%d of universe %d, into the flood's", i, b.first, b.first+ownedPer-1, b.universe)
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of four", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"median of five", ms(1, 2, 3, 4, 5), 0.5, 3 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p99 of 10", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
		{"max", ms(1, 5, 9), 1, 9 * time.Millisecond},
	}
	for _, c := range cases {
		if got := percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: percentile(%v) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

// TestCarryingFindsTheFirstFrameAndSeesBlackouts: the probe's frame is
// the first after the send that carries its level, a blacked-out frame on
// the way marks the probe as held back, and a level never shown is an
// error only when no blackout could have hidden it.
func TestCarryingFindsTheFirstFrameAndSeesBlackouts(t *testing.T) {
	start := time.Unix(1000, 0)
	frame := func(ms int, probe uint8, dark bool) testkit.Frame {
		var v dmx.Frame
		if !dark {
			v[noiseFirst-1] = 9
			v[probeChannel-1] = probe
		}
		return testkit.Frame{At: start.Add(time.Duration(ms) * time.Millisecond), Values: v}
	}
	l := &frameLog{universe: floodUniverse, frames: []testkit.Frame{
		frame(0, 5, false),
		frame(10, 6, false),
		frame(20, 6, false),
		frame(30, 0, true),
		frame(40, 7, false),
	}}
	cases := []struct {
		name    string
		sentMs  int
		level   uint8
		atMs    int // the frame found; -1 for none
		dark    bool
		wantErr bool
	}{
		{"next frame", 5, 6, 10, false, false},
		{"behind a blackout", 25, 7, 40, true, false},
		{"a level seen before the send does not count; replaced behind a blackout", 15, 5, -1, true, false},
		{"never shown, replaced behind a blackout", 0, 8, -1, true, false},
		{"never shown, no blackout: an error", 35, 8, -1, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, dark, err := l.carrying(start.Add(time.Duration(c.sentMs)*time.Millisecond), probeChannel, c.level, time.Millisecond)
			found := !f.At.IsZero()
			if (err != nil) != c.wantErr || dark != c.dark || found != (c.atMs >= 0) || (found && !f.At.Equal(start.Add(time.Duration(c.atMs)*time.Millisecond))) {
				t.Errorf("frame at %v (found %t), dark %t, err %v; want at %d ms, dark %t, error %t", f.At.Sub(start), found, dark, err, c.atMs, c.dark, c.wantErr)
			}
		})
	}
}

// TestAppendMaskedFrame decodes the frames a flood desk writes by the
// rules of RFC 6455 section 5.2, for each length encoding.
func TestAppendMaskedFrame(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	cases := []struct {
		name   string
		size   int
		header int // bytes before the payload, mask key included
	}{
		{"7-bit length", 125, 2 + 4},
		{"16-bit length", 126, 4 + 4},
		{"a flood command", len(appendFloodCommand(nil, 12345)), 4 + 4},
		{"64-bit length", 1 << 16, 10 + 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := make([]byte, c.size)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			f := appendMaskedFrame([]byte("x"), payload, key)[1:] // appends
			if len(f) != c.header+c.size {
				t.Fatalf("frame of %d bytes, want %d", len(f), c.header+c.size)
			}
			if f[0] != 0x81 || f[1]&0x80 == 0 {
				t.Fatalf("first bytes %#x %#x, want a final text frame, masked", f[0], f[1])
			}
			n := int(f[1] & 0x7f)
			switch n {
			case 126:
				n = int(binary.BigEndian.Uint16(f[2:4]))
			case 127:
				n = int(binary.BigEndian.Uint64(f[2:10]))
			}
			if n != c.size || [4]byte(f[c.header-4:c.header]) != key {
				t.Fatalf("length %d, key %x; want %d, %x", n, f[c.header-4:c.header], c.size, key)
			}
			for i, b := range f[c.header:] {
				if b^key[i%4] != payload[i] {
					t.Fatalf("payload byte %d: %#x unmasked, want %#x", i, b^key[i%4], payload[i])
				}
			}
		})
	}
}

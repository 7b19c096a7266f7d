package sacn

import (
	"encoding/binary"
	"errors"
	"testing"
)

// short returns a valid data packet of h carrying the first n slots.
func short(h *Header, seq, options uint8, slots *[Slots]byte, n int) []byte {
	p := AppendData(nil, h, seq, options, slots)[:OffSlots+n]
	be := binary.BigEndian
	be.PutUint16(p[OffRootFlagsLen:], flagsHigh|uint16(len(p)-OffRootFlagsLen))
	be.PutUint16(p[OffFrameFlagLen:], flagsHigh|uint16(len(p)-OffFrameFlagLen))
	be.PutUint16(p[OffDMPFlagsLen:], flagsHigh|uint16(len(p)-OffDMPFlagsLen))
	be.PutUint16(p[OffValueCount:], uint16(1+n))
	return p
}

func testHeader() *Header {
	return &Header{CID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SourceName: "desk-OLA Server", Priority: 150, Universe: 7}
}

func TestDecodeFullAndShort(t *testing.T) {
	h := testHeader()
	var slots [Slots]byte
	for i := range slots {
		slots[i] = byte(i*7 + 1)
	}
	for _, n := range []int{0, 1, 3, 511, 512} {
		var pkt Packet
		if err := Decode(short(h, 42, OptionTerminated, &slots, n), &pkt); err != nil {
			t.Fatalf("%d slots: %v", n, err)
		}
		if pkt.CID != h.CID || pkt.SourceName != h.SourceName || pkt.Priority != 150 || pkt.Universe != 7 ||
			pkt.Sequence != 42 || !pkt.Terminated() || pkt.Count != n {
			t.Fatalf("%d slots: decoded %+v", n, pkt)
		}
		for i := range Slots {
			want := byte(0)
			if i < n {
				want = slots[i]
			}
			if pkt.Slots[i] != want {
				t.Fatalf("%d slots: slot %d = %d, want %d", n, i+1, pkt.Slots[i], want)
			}
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	h := testHeader()
	var slots [Slots]byte
	good := func() []byte { return AppendData(nil, h, 1, 0, &slots) }
	set := func(off int, v byte) []byte { p := good(); p[off] = v; return p }
	for _, tc := range []struct {
		name    string
		p       []byte
		ignored bool
	}{
		{"empty", nil, false},
		{"truncated root", good()[:20], false},
		{"truncated DMP", good()[:OffSlots-1], false},
		{"truncated slots", good()[:DataPacketLen-1], false},
		{"oversized", append(good(), 0), false},
		{"preamble", set(OffPreamble+1, 0x11), false},
		{"identifier", set(OffPacketID, 'X'), false},
		{"root flags", set(OffRootFlagsLen, 0x60), false},
		{"root vector", set(OffRootVector+3, 5), false},
		{"framing vector", set(OffFrameVector+3, 1), false},
		{"framing length", set(OffFrameFlagLen+1, 0), false},
		{"DMP vector", set(OffDMPVector, 1), false},
		{"address type", set(OffAddrType, 0xa2), false},
		{"first address", set(OffFirstAddr+1, 1), false},
		{"increment", set(OffAddrInc+1, 2), false},
		{"value count", set(OffValueCount+1, 0), false},
		{"priority", set(OffPriority, 201), false},
		{"universe 0", func() []byte { p := good(); binary.BigEndian.PutUint16(p[OffUniverse:], 0); return p }(), false},
		{"universe 64000", func() []byte { p := good(); binary.BigEndian.PutUint16(p[OffUniverse:], 64000); return p }(), false},
		{"start code", set(OffStartCode, 0xdd), true},
		{"preview", set(OffOptions, OptionPreview), true},
		{"sync", set(OffRootVector+3, vectorRootExtended), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pkt Packet
			err := Decode(tc.p, &pkt)
			if err == nil {
				t.Fatal("decoded")
			}
			if errors.Is(err, ErrIgnored) != tc.ignored {
				t.Fatalf("error %v: ignored %v, want %v", err, !tc.ignored, tc.ignored)
			}
		})
	}
}

func TestSequenceLate(t *testing.T) {
	for _, tc := range []struct {
		last, seq uint8
		late      bool
	}{{10, 11, false}, {10, 10, true}, {10, 9, true}, {10, 247, true}, {10, 246, false}, {255, 0, false}, {0, 255, true}, {30, 11, true}, {30, 10, false}} {
		if got := SequenceLate(tc.last, tc.seq); got != tc.late {
			t.Errorf("SequenceLate(%d, %d) = %v, want %v", tc.last, tc.seq, got, tc.late)
		}
	}
}

// FuzzDecodeSACN checks that Decode never panics, and that what it
// accepts is a packet it could have written: the counts agree with the
// length and the slots past Count are dark.
func FuzzDecodeSACN(f *testing.F) {
	h := testHeader()
	var slots [Slots]byte
	slots[0], slots[511] = 255, 9
	f.Add(AppendData(nil, h, 0, 0, &slots))
	f.Add(short(h, 1, OptionTerminated, &slots, 3))
	f.Add(short(h, 2, 0, &slots, 0))
	f.Add(AppendData(nil, h, 0, OptionPreview, &slots)[:200])
	f.Fuzz(func(t *testing.T, p []byte) {
		var pkt Packet
		if err := Decode(p, &pkt); err != nil {
			return
		}
		if pkt.Count != len(p)-OffSlots || pkt.Count > Slots || pkt.Priority > MaxPriority {
			t.Fatalf("accepted %d bytes as %d slots, priority %d", len(p), pkt.Count, pkt.Priority)
		}
		for i := pkt.Count; i < Slots; i++ {
			if pkt.Slots[i] != 0 {
				t.Fatalf("slot %d past the count is %d", i+1, pkt.Slots[i])
			}
		}
	})
}

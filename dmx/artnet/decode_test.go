package artnet

import (
	"encoding/binary"
	"slices"
	"testing"
)

func TestDecodeDmx(t *testing.T) {
	data := make([]byte, 512)
	for i := range data {
		data[i] = byte(i + 3)
	}
	for _, n := range []int{2, 3, 24, 512} {
		var d Dmx
		if err := DecodeDmx(AppendDmx(nil, 0x7fff, 9, 1, data[:n]), &d); err != nil {
			t.Fatalf("%d slots: %v", n, err)
		}
		if d.PortAddress != 0x7fff || d.Sequence != 9 || d.Physical != 1 || d.Length != n ||
			!slices.Equal(d.Data[:n], data[:n]) || slices.ContainsFunc(d.Data[n:], func(b byte) bool { return b != 0 }) {
			t.Fatalf("%d slots: decoded %+v", n, d)
		}
	}
}

func TestDecodeDmxRefuses(t *testing.T) {
	good := func() []byte { return AppendDmx(nil, 1, 1, 0, make([]byte, 512)) }
	set := func(off int, v byte) []byte { p := good(); p[off] = v; return p }
	withLen := func(n int) []byte {
		p := AppendDmx(nil, 1, 1, 0, make([]byte, n))
		return p
	}
	for name, p := range map[string][]byte{
		"empty":         nil,
		"short header":  good()[:11],
		"truncated":     good()[:HeaderLen+511],
		"oversized":     append(good(), 0),
		"id":            set(OffID+3, '_'),
		"opcode":        set(OffOpCode+1, 0x51),
		"old version":   set(OffProtVer+1, 13),
		"net bit 7":     set(OffNet, 0x80),
		"length 0":      withLen(0),
		"length 1":      withLen(1),
		"length 514":    append(withLen(512), 0, 0),
		"length header": func() []byte { p := good(); binary.BigEndian.PutUint16(p[OffLength:], 600); return p }(),
		"poll":          AppendPoll(nil),
	} {
		t.Run(name, func(t *testing.T) {
			var d Dmx
			if err := DecodeDmx(p, &d); err == nil {
				t.Fatal("decoded")
			}
		})
	}
}

func TestDecodePoll(t *testing.T) {
	if err := DecodePoll(AppendPoll(nil)); err != nil {
		t.Fatal(err)
	}
	if err := DecodePoll(append(AppendPoll(nil), make([]byte, 8)...)); err != nil {
		t.Fatalf("Art-Net 4's longer ArtPoll: %v", err)
	}
	if err := DecodePoll(AppendPoll(nil)[:12]); err == nil {
		t.Fatal("a 12-byte ArtPoll decoded")
	}
	if op, err := OpCode(AppendPollReply(nil, &Reply{Outputs: []uint16{1}})); err != nil || op != OpPollReply {
		t.Fatalf("OpCode of a reply: %#x, %v", op, err)
	}
}

func TestGroupPorts(t *testing.T) {
	got := GroupPorts([]uint16{0, 1, 2, 3, 4, 15, 16, 0x100})
	want := [][]uint16{{0, 1, 2, 3}, {4, 15}, {16}, {0x100}}
	if len(got) != len(want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("groups %v, want %v", got, want)
		}
	}
}

func TestPollReplyLayout(t *testing.T) {
	p := AppendPollReply(nil, &Reply{IP: [4]byte{10, 0, 0, 7}, ShortName: "dmxd", LongName: "dmxd lighting server", BindIndex: 2, Outputs: []uint16{0x123, 0x125}})
	if len(p) != PollReplyLen {
		t.Fatalf("%d bytes", len(p))
	}
	if binary.LittleEndian.Uint16(p[OffReplyPort:]) != Port || p[OffReplyNetSwitch] != 1 || p[OffReplySubSwitch] != 2 ||
		p[OffReplySwOut] != 3 || p[OffReplySwOut+1] != 5 || p[OffReplyPortTypes] != PortTypeOutput ||
		p[OffReplyPortTypes+2] != 0 || binary.BigEndian.Uint16(p[OffReplyNumPorts:]) != 2 || p[OffReplyBindIndex] != 2 {
		t.Fatalf("reply % x", p)
	}
}

// FuzzDecodeArtNet checks that the decoders never panic and that an
// accepted ArtDmx's length matches the datagram.
func FuzzDecodeArtNet(f *testing.F) {
	f.Add(AppendDmx(nil, 1, 1, 0, make([]byte, 512)))
	f.Add(AppendDmx(nil, 0x7fff, 0, 0, []byte{1, 2, 3}))
	f.Add(AppendPoll(nil))
	f.Add(AppendPollReply(nil, &Reply{Outputs: []uint16{0}}))
	f.Fuzz(func(t *testing.T, p []byte) {
		var d Dmx
		if err := DecodeDmx(p, &d); err == nil {
			if d.Length != len(p)-HeaderLen || d.Length < MinData || d.Length > MaxData || d.PortAddress > MaxPortAddress {
				t.Fatalf("accepted %d bytes as length %d, port-address %d", len(p), d.Length, d.PortAddress)
			}
		}
		if DecodePoll(p) == nil && len(p) < PollMinLen {
			t.Fatalf("accepted a %d-byte ArtPoll", len(p))
		}
	})
}

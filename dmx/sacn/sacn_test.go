package sacn

import (
	"encoding/binary"
	"testing"
)

// TestAppendData: every field at its E1.31-2018 offset (Table 4-1).
func TestAppendData(t *testing.T) {
	var slots [Slots]byte
	slots[0], slots[511] = 7, 9
	h := Header{CID: NameCID("x"), SourceName: "src", Priority: 100, Universe: 0x0102}
	p := AppendData(nil, &h, 5, OptionTerminated, &slots)
	be := binary.BigEndian
	checks := []struct {
		name      string
		got, want uint32
	}{
		{"length", uint32(len(p)), 638},
		{"preamble", uint32(be.Uint16(p[0:])), 0x10},
		{"root flags+length", uint32(be.Uint16(p[16:])), 0x7000 | 622},
		{"root vector", be.Uint32(p[18:]), 4},
		{"framing flags+length", uint32(be.Uint16(p[38:])), 0x7000 | 600},
		{"framing vector", be.Uint32(p[40:]), 2},
		{"name", uint32(p[44]), 's'},
		{"name NUL", uint32(p[47]), 0},
		{"priority", uint32(p[108]), 100},
		{"sync", uint32(be.Uint16(p[109:])), 0},
		{"sequence", uint32(p[111]), 5},
		{"options", uint32(p[112]), 0x40},
		{"universe", uint32(be.Uint16(p[113:])), 0x0102},
		{"dmp flags+length", uint32(be.Uint16(p[115:])), 0x7000 | 523},
		{"dmp vector", uint32(p[117]), 2},
		{"address type", uint32(p[118]), 0xa1},
		{"increment", uint32(be.Uint16(p[121:])), 1},
		{"count", uint32(be.Uint16(p[123:])), 513},
		{"start code", uint32(p[125]), 0},
		{"slot 1", uint32(p[126]), 7},
		{"slot 512", uint32(p[637]), 9},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if !IsData(p) || FormatCID(h.CID) == "" || MulticastGroup(0x0102) != [4]byte{239, 255, 1, 2} {
		t.Error("IsData, FormatCID or MulticastGroup")
	}
	if u, err := ParseCID(FormatCID(h.CID)); err != nil || u != h.CID {
		t.Errorf("ParseCID(FormatCID) = %v, %v", u, err)
	}
}

func TestHeaderCheck(t *testing.T) {
	for _, tt := range []struct {
		h  Header
		ok bool
	}{
		{Header{Priority: 200, Universe: 1}, true},
		{Header{Priority: 201, Universe: 1}, false},
		{Header{Universe: 0}, false},
		{Header{Universe: 64000}, false},
		{Header{Universe: 1, SourceName: string(make([]byte, 64))}, false},
		{Header{Universe: 1, SourceName: "\xff"}, false},
	} {
		if err := tt.h.Check(); (err == nil) != tt.ok {
			t.Errorf("Check(%+v) = %v", tt.h, err)
		}
	}
}

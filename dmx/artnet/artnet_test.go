package artnet

import (
	"bytes"
	"testing"
)

// TestAppendDmx: the port-address splits into SubUni (low byte) and Net
// (high 7 bits); OpCode is little-endian, version and length big-endian.
func TestAppendDmx(t *testing.T) {
	tests := []struct {
		pa          uint16
		subUni, net byte
	}{{0, 0, 0}, {1, 1, 0}, {299, 0x2b, 1}, {MaxPortAddress, 0xff, 0x7f}}
	data := []byte{1, 2, 3, 4}
	for _, tt := range tests {
		p := AppendDmx(nil, tt.pa, 9, 0, data)
		want := append([]byte("Art-Net\x00\x00\x50\x00\x0e\x09\x00"), tt.subUni, tt.net, 0, 4, 1, 2, 3, 4)
		if !bytes.Equal(p, want) || !IsDmx(p) {
			t.Errorf("port-address %d: % x, want % x", tt.pa, p, want)
		}
	}
}

func TestCheckDmx(t *testing.T) {
	for _, tt := range []struct {
		pa uint16
		n  int
		ok bool
	}{{0, 512, true}, {0, 2, true}, {0, 0, false}, {0, 3, false}, {0, 514, false}, {MaxPortAddress + 1, 512, false}} {
		if err := CheckDmx(tt.pa, tt.n); (err == nil) != tt.ok {
			t.Errorf("CheckDmx(%d, %d) = %v", tt.pa, tt.n, err)
		}
	}
}

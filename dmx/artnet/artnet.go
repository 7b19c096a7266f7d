// Package artnet encodes Art-Net 4 ArtDmx packets: the "Art-Net" ID,
// OpCode 0x5000 (little-endian), protocol version 14 (big-endian), the
// sequence number, the physical port, the 15-bit port-address (SubUni,
// then Net) and the DMX data (an even length 2..512, big-endian). The
// offsets are named constants so that a decoder can be written beside the
// encoder from the same definitions.
//
// Concurrency: the functions are pure and safe for concurrent use.
package artnet

import (
	"encoding/binary"
	"fmt"
)

// Protocol constants of Art-Net 4.
const (
	// Port is the UDP port of Art-Net.
	Port = 6454
	// OpDmx is ArtDmx's OpCode.
	OpDmx = 0x5000
	// ProtocolVersion is the Art-Net protocol version sent.
	ProtocolVersion = 14
	// MaxPortAddress is the highest 15-bit port-address.
	MaxPortAddress = 1<<15 - 1
	// MaxData is the largest DMX data length.
	MaxData = 512
	// HeaderLen is the length of an ArtDmx packet before its data.
	HeaderLen = OffData
)

// ID is the packet identifier every Art-Net packet starts with.
var ID = [8]byte{'A', 'r', 't', '-', 'N', 'e', 't', 0}

// Offsets of an ArtDmx packet's fields.
const (
	OffID       = 0  // 8 bytes, ID
	OffOpCode   = 8  // uint16 little-endian
	OffProtVer  = 10 // uint16 big-endian
	OffSequence = 12 // uint8: 1..255, 0 disables reordering
	OffPhysical = 13 // uint8
	OffSubUni   = 14 // uint8: the port-address's low byte (sub-net, universe)
	OffNet      = 15 // uint8: the port-address's high 7 bits
	OffLength   = 16 // uint16 big-endian
	OffData     = 18
)

// AppendDmx appends an ArtDmx packet for port-address pa with sequence
// seq and data to dst. data must have an even length 2..MaxData and pa be
// at most MaxPortAddress (CheckDmx).
func AppendDmx(dst []byte, pa uint16, seq, physical uint8, data []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderLen)...)
	p := dst[start:]
	copy(p[OffID:], ID[:])
	binary.LittleEndian.PutUint16(p[OffOpCode:], OpDmx)
	binary.BigEndian.PutUint16(p[OffProtVer:], ProtocolVersion)
	p[OffSequence] = seq
	p[OffPhysical] = physical
	p[OffSubUni] = byte(pa)
	p[OffNet] = byte(pa>>8) & 0x7f
	binary.BigEndian.PutUint16(p[OffLength:], uint16(len(data)))
	return append(dst, data...)
}

// CheckDmx reports a port-address or data length ArtDmx does not allow.
func CheckDmx(pa uint16, n int) error {
	if pa > MaxPortAddress {
		return fmt.Errorf("artnet: port-address %d is outside 0..%d", pa, MaxPortAddress)
	}
	if n < 2 || n > MaxData || n%2 != 0 {
		return fmt.Errorf("artnet: data length %d is not even in 2..%d", n, MaxData)
	}
	return nil
}

// IsDmx reports whether p looks like an ArtDmx packet AppendDmx wrote (its
// ID, OpCode and length), so that a sender may patch its sequence number
// in place.
func IsDmx(p []byte) bool {
	return len(p) >= HeaderLen &&
		[8]byte(p[OffID:OffID+8]) == ID &&
		binary.LittleEndian.Uint16(p[OffOpCode:]) == OpDmx &&
		int(binary.BigEndian.Uint16(p[OffLength:])) == len(p)-HeaderLen
}

// NextSequence returns the sequence number after s: 1..255, skipping 0,
// which tells receivers not to reorder.
func NextSequence(s uint8) uint8 {
	if s == 255 {
		return 1
	}
	return s + 1
}

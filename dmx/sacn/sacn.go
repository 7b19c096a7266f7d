// Package sacn encodes ANSI E1.31-2018 (sACN, streaming DMX over ACN) data
// packets: a root layer (ACN packet identifier, CID), a framing layer
// (source name, priority, sequence number, options, universe) and a DMP
// layer (start code and slots). The offsets are named constants so that a
// decoder can be written beside the encoder from the same definitions.
//
// Concurrency: the functions are pure; a Header is a value and may be
// shared read-only.
package sacn

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Protocol constants of E1.31-2018.
const (
	// Port is the UDP port of E1.31 (ACN_SDT_MULTICAST_PORT).
	Port = 5568
	// MinUniverse and MaxUniverse bound the universe numbers of data packets.
	MinUniverse = 1
	MaxUniverse = 63999
	// MaxPriority is the highest priority; DefaultPriority the usual one.
	MaxPriority     = 200
	DefaultPriority = 100
	// SourceNameLen is the size of the source name field, NUL padded.
	SourceNameLen = 64
	// Slots is how many DMX slots a full data packet carries.
	Slots = 512
	// DataPacketLen is the length of a data packet with 512 slots.
	DataPacketLen = OffSlots + Slots

	// Option bits of the framing layer.
	OptionPreview    = 0x80
	OptionTerminated = 0x40
	OptionForceSync  = 0x20

	vectorRootData    = 0x00000004 // VECTOR_ROOT_E131_DATA
	vectorFramingData = 0x00000002 // VECTOR_E131_DATA_PACKET
	vectorDMPSetProp  = 0x02       // VECTOR_DMP_SET_PROPERTY
	dmpAddrDataType   = 0xa1
	flagsHigh         = 0x7000 // the flags of every PDU's flags & length
	preambleSize      = 0x0010
)

// ACNPacketIdentifier is the root layer's packet identifier.
var ACNPacketIdentifier = [12]byte{'A', 'S', 'C', '-', 'E', '1', '.', '1', '7', 0, 0, 0}

// Offsets of a data packet's fields.
const (
	OffPreamble     = 0   // uint16, 0x0010
	OffPostamble    = 2   // uint16, 0
	OffPacketID     = 4   // 12 bytes, ACNPacketIdentifier
	OffRootFlagsLen = 16  // uint16, 0x7000 | length from here
	OffRootVector   = 18  // uint32
	OffCID          = 22  // 16 bytes
	OffFrameFlagLen = 38  // uint16
	OffFrameVector  = 40  // uint32
	OffSourceName   = 44  // 64 bytes
	OffPriority     = 108 // uint8
	OffSyncAddress  = 109 // uint16
	OffSequence     = 111 // uint8
	OffOptions      = 112 // uint8
	OffUniverse     = 113 // uint16
	OffDMPFlagsLen  = 115 // uint16
	OffDMPVector    = 117 // uint8
	OffAddrType     = 118 // uint8, 0xa1
	OffFirstAddr    = 119 // uint16, 0
	OffAddrInc      = 121 // uint16, 1
	OffValueCount   = 123 // uint16, 1 + slots
	OffStartCode    = 125 // uint8
	OffSlots        = 126 // the slots
)

// Header is what a source puts in every data packet of one universe
// besides the slots, the sequence number and the options.
type Header struct {
	CID        [16]byte
	SourceName string // at most 63 bytes of UTF-8 (the field ends with NUL)
	Priority   uint8  // 0..MaxPriority
	Universe   uint16 // MinUniverse..MaxUniverse
}

// Check reports a header that E1.31 does not allow.
func (h *Header) Check() error {
	switch {
	case len(h.SourceName) >= SourceNameLen:
		return fmt.Errorf("sacn: source name %q is longer than %d bytes", h.SourceName, SourceNameLen-1)
	case !utf8.ValidString(h.SourceName):
		return fmt.Errorf("sacn: source name %q is not UTF-8", h.SourceName)
	case h.Priority > MaxPriority:
		return fmt.Errorf("sacn: priority %d is outside 0..%d", h.Priority, MaxPriority)
	case h.Universe < MinUniverse || h.Universe > MaxUniverse:
		return fmt.Errorf("sacn: universe %d is outside %d..%d", h.Universe, MinUniverse, MaxUniverse)
	}
	return nil
}

// AppendData appends a data packet of h with start code 0, the given
// sequence number and options, and the 512 slots to dst. h must pass Check.
func AppendData(dst []byte, h *Header, seq, options uint8, slots *[Slots]byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, DataPacketLen)...)
	p := dst[start:]
	be := binary.BigEndian
	be.PutUint16(p[OffPreamble:], preambleSize)
	copy(p[OffPacketID:], ACNPacketIdentifier[:])
	be.PutUint16(p[OffRootFlagsLen:], flagsHigh|uint16(DataPacketLen-OffRootFlagsLen))
	be.PutUint32(p[OffRootVector:], vectorRootData)
	copy(p[OffCID:], h.CID[:])
	be.PutUint16(p[OffFrameFlagLen:], flagsHigh|uint16(DataPacketLen-OffFrameFlagLen))
	be.PutUint32(p[OffFrameVector:], vectorFramingData)
	copy(p[OffSourceName:OffSourceName+SourceNameLen-1], h.SourceName)
	p[OffPriority] = h.Priority
	p[OffSequence] = seq
	p[OffOptions] = options
	be.PutUint16(p[OffUniverse:], h.Universe)
	be.PutUint16(p[OffDMPFlagsLen:], flagsHigh|uint16(DataPacketLen-OffDMPFlagsLen))
	p[OffDMPVector] = vectorDMPSetProp
	p[OffAddrType] = dmpAddrDataType
	be.PutUint16(p[OffAddrInc:], 1)
	be.PutUint16(p[OffValueCount:], 1+Slots)
	copy(p[OffSlots:], slots[:])
	return dst
}

// IsData reports whether p looks like a data packet AppendData wrote (its
// length, identifier and vectors), so that a sender may patch its
// sequence number and options in place.
func IsData(p []byte) bool {
	be := binary.BigEndian
	return len(p) == DataPacketLen &&
		[12]byte(p[OffPacketID:OffPacketID+12]) == ACNPacketIdentifier &&
		be.Uint32(p[OffRootVector:]) == vectorRootData &&
		be.Uint32(p[OffFrameVector:]) == vectorFramingData
}

// MulticastGroup returns the IPv4 multicast group of universe u:
// 239.255.hi.lo.
func MulticastGroup(u uint16) [4]byte { return [4]byte{239, 255, byte(u >> 8), byte(u)} }

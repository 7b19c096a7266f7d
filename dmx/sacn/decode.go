package sacn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Receiving limits of E1.31 data packets.
const (
	// MinDataPacketLen is the length of a data packet that carries only
	// the start code (a DMP property value count of 1).
	MinDataPacketLen = OffSlots
	// MaxValueCount is the largest DMP property value count: the start
	// code and 512 slots.
	MaxValueCount = 1 + Slots
	// vectorRootExtended is VECTOR_ROOT_E131_EXTENDED (synchronization
	// and universe discovery packets), which a receiver of data ignores.
	vectorRootExtended = 0x00000008
)

// ErrIgnored wraps the reasons of a well-formed packet that a receiver of
// levels skips on purpose: a synchronization or discovery packet, a start
// code other than 0, preview data. Such packets are not malformed.
var ErrIgnored = errors.New("sacn: packet ignored")

// Packet is one decoded data packet. Slots[:Count] are the levels it
// carries (a short packet applies to the first Count slots only).
type Packet struct {
	CID        [16]byte
	SourceName string
	Priority   uint8
	Sequence   uint8
	Options    uint8
	Universe   uint16
	Count      int // slots carried, 0..512
	Slots      [Slots]byte
}

// Terminated reports the stream-terminated option: the source stops
// sending this universe and its levels are released at once.
func (p *Packet) Terminated() bool { return p.Options&OptionTerminated != 0 }

// Decode decodes an E1.31 data packet into pkt. It checks every layer's
// vector, the ACN packet identifier, each PDU's flags and length against
// the datagram's length, the DMP addressing, the priority and universe
// ranges and a property value count of 1..513. A synchronization or
// discovery packet, a non-zero start code or a preview packet returns an
// error wrapping ErrIgnored; anything else out of spec returns another
// error. On an error pkt may hold part of the packet and must not be
// used. Decode never reads past p and keeps no reference to it.
func Decode(p []byte, pkt *Packet) error {
	be := binary.BigEndian
	if len(p) < OffRootVector+4 {
		return fmt.Errorf("sacn: %d bytes is too short for a root layer", len(p))
	}
	if be.Uint16(p[OffPreamble:]) != preambleSize || be.Uint16(p[OffPostamble:]) != 0 {
		return errors.New("sacn: bad preamble or postamble size")
	}
	if [12]byte(p[OffPacketID:OffPacketID+12]) != ACNPacketIdentifier {
		return errors.New("sacn: not an ACN packet identifier")
	}
	if err := checkFlagsLen(p, OffRootFlagsLen, "root"); err != nil {
		return err
	}
	switch v := be.Uint32(p[OffRootVector:]); v {
	case vectorRootData:
	case vectorRootExtended:
		return fmt.Errorf("%w: synchronization or discovery packet", ErrIgnored)
	default:
		return fmt.Errorf("sacn: unknown root vector %#x", v)
	}
	if len(p) < MinDataPacketLen {
		return fmt.Errorf("sacn: %d bytes is too short for a data packet (at least %d)", len(p), MinDataPacketLen)
	}
	if len(p) > DataPacketLen {
		return fmt.Errorf("sacn: %d bytes is longer than a data packet (at most %d)", len(p), DataPacketLen)
	}
	if err := checkFlagsLen(p, OffFrameFlagLen, "framing"); err != nil {
		return err
	}
	if v := be.Uint32(p[OffFrameVector:]); v != vectorFramingData {
		return fmt.Errorf("sacn: unknown framing vector %#x", v)
	}
	if err := checkFlagsLen(p, OffDMPFlagsLen, "DMP"); err != nil {
		return err
	}
	if p[OffDMPVector] != vectorDMPSetProp || p[OffAddrType] != dmpAddrDataType ||
		be.Uint16(p[OffFirstAddr:]) != 0 || be.Uint16(p[OffAddrInc:]) != 1 {
		return errors.New("sacn: bad DMP vector or addressing")
	}
	count := int(be.Uint16(p[OffValueCount:]))
	if count < 1 || count > MaxValueCount || count != len(p)-OffStartCode {
		return fmt.Errorf("sacn: property value count %d does not match %d bytes of values", count, len(p)-OffStartCode)
	}
	pkt.Priority = p[OffPriority]
	if pkt.Priority > MaxPriority {
		return fmt.Errorf("sacn: priority %d is outside 0..%d", pkt.Priority, MaxPriority)
	}
	pkt.Universe = be.Uint16(p[OffUniverse:])
	if pkt.Universe < MinUniverse || pkt.Universe > MaxUniverse {
		return fmt.Errorf("sacn: universe %d is outside %d..%d", pkt.Universe, MinUniverse, MaxUniverse)
	}
	pkt.Options = p[OffOptions]
	if pkt.Options&OptionPreview != 0 {
		return fmt.Errorf("%w: preview data", ErrIgnored)
	}
	if sc := p[OffStartCode]; sc != 0 {
		return fmt.Errorf("%w: start code %#x", ErrIgnored, sc)
	}
	copy(pkt.CID[:], p[OffCID:OffCID+16])
	name := p[OffSourceName : OffSourceName+SourceNameLen]
	if i := strings.IndexByte(string(name), 0); i >= 0 {
		name = name[:i]
	}
	pkt.SourceName = strings.ToValidUTF8(string(name), "\uFFFD")
	pkt.Sequence = p[OffSequence]
	pkt.Count = count - 1
	copy(pkt.Slots[:], p[OffSlots:])
	clear(pkt.Slots[pkt.Count:])
	return nil
}

// checkFlagsLen checks the flags and length of the PDU at off: the flags
// are 0x7 and the length runs to the end of the datagram.
func checkFlagsLen(p []byte, off int, layer string) error {
	fl := binary.BigEndian.Uint16(p[off:])
	if fl&0xf000 != flagsHigh {
		return fmt.Errorf("sacn: %s layer flags %#x are not 0x7", layer, fl>>12)
	}
	if n := int(fl & 0x0fff); n != len(p)-off {
		return fmt.Errorf("sacn: %s layer length %d does not match %d bytes", layer, n, len(p)-off)
	}
	return nil
}

// SequenceLate reports whether a packet with sequence seq is out of order
// after one with last (E1.31 6.7.2): the difference, as a signed byte, is
// in -19..0.
func SequenceLate(last, seq uint8) bool {
	d := int8(seq - last)
	return d <= 0 && d > -20
}

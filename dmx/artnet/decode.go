package artnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Receiving constants of Art-Net 4.
const (
	// OpPoll is ArtPoll's OpCode; OpPollReply ArtPollReply's.
	OpPoll      = 0x2000
	OpPollReply = 0x2100
	// MinProtocolVersion is the oldest protocol version accepted.
	MinProtocolVersion = 14
	// MinData is the shortest DMX data length of an ArtDmx.
	MinData = 2
	// PollMinLen is the length of the shortest ArtPoll a node must accept.
	PollMinLen = 14
	// MaxPacket bounds any Art-Net datagram this package decodes.
	MaxPacket = HeaderLen + MaxData
	// offHeaderEnd is where the common header (ID, OpCode, version) ends.
	offHeaderEnd = OffProtVer + 2
)

// Dmx is a decoded ArtDmx packet. Data[:Length] are the levels of the
// first Length slots.
type Dmx struct {
	Sequence    uint8
	Physical    uint8
	PortAddress uint16
	Length      int
	Data        [MaxData]byte
}

// OpCode decodes the common header of an Art-Net packet: the ID, the
// OpCode and a protocol version of at least MinProtocolVersion. It
// returns the OpCode, or an error for anything else.
func OpCode(p []byte) (uint16, error) {
	if len(p) < offHeaderEnd {
		return 0, fmt.Errorf("artnet: %d bytes is too short for a header", len(p))
	}
	if len(p) > MaxPacket {
		return 0, fmt.Errorf("artnet: %d bytes is longer than any packet decoded (%d)", len(p), MaxPacket)
	}
	if [8]byte(p[OffID:OffID+8]) != ID {
		return 0, errors.New(`artnet: not an "Art-Net" packet`)
	}
	op := binary.LittleEndian.Uint16(p[OffOpCode:])
	if v := binary.BigEndian.Uint16(p[OffProtVer:]); v < MinProtocolVersion && op != OpPollReply {
		// ArtPollReply carries no protocol version at this offset.
		return 0, fmt.Errorf("artnet: protocol version %d is older than %d", v, MinProtocolVersion)
	}
	return op, nil
}

// DecodeDmx decodes an ArtDmx packet into d: the header (OpCode must be
// OpDmx), a port-address whose Net byte has bit 7 clear, and a data
// length 2..512 that matches the datagram exactly. On an error d must not
// be used. DecodeDmx keeps no reference to p.
func DecodeDmx(p []byte, d *Dmx) error {
	op, err := OpCode(p)
	if err != nil {
		return err
	}
	if op != OpDmx {
		return fmt.Errorf("artnet: OpCode %#04x is not ArtDmx", op)
	}
	if len(p) < HeaderLen {
		return fmt.Errorf("artnet: %d bytes is too short for ArtDmx", len(p))
	}
	if p[OffNet]&0x80 != 0 {
		return fmt.Errorf("artnet: Net %#x has bit 7 set", p[OffNet])
	}
	n := int(binary.BigEndian.Uint16(p[OffLength:]))
	if n < MinData || n > MaxData {
		return fmt.Errorf("artnet: data length %d is outside %d..%d", n, MinData, MaxData)
	}
	if n != len(p)-HeaderLen {
		return fmt.Errorf("artnet: data length %d does not match %d bytes of data", n, len(p)-HeaderLen)
	}
	d.Sequence = p[OffSequence]
	d.Physical = p[OffPhysical]
	d.PortAddress = uint16(p[OffNet])<<8 | uint16(p[OffSubUni])
	d.Length = n
	copy(d.Data[:], p[HeaderLen:])
	clear(d.Data[n:])
	return nil
}

// DecodePoll checks an ArtPoll packet: the header with OpCode OpPoll and
// at least PollMinLen bytes (later fields, such as the targeted
// port-address range of Art-Net 4, are accepted and not used).
func DecodePoll(p []byte) error {
	op, err := OpCode(p)
	if err != nil {
		return err
	}
	if op != OpPoll {
		return fmt.Errorf("artnet: OpCode %#04x is not ArtPoll", op)
	}
	if len(p) < PollMinLen {
		return fmt.Errorf("artnet: %d bytes is too short for ArtPoll (at least %d)", len(p), PollMinLen)
	}
	return nil
}

// ArtPollReply layout (Art-Net 4; OLA's plugins/artnet/ArtNetPackets.h
// has the same fields). Multi-byte fields are big-endian unless noted.
const (
	PollReplyLen      = 239
	OffReplyIP        = 10  // 4 bytes
	OffReplyPort      = 14  // uint16 little-endian, 6454
	OffReplyVersion   = 16  // uint16, firmware version
	OffReplyNetSwitch = 18  // uint8: port-address bits 14-8
	OffReplySubSwitch = 19  // uint8: port-address bits 7-4
	OffReplyOEM       = 20  // uint16
	OffReplyUBEA      = 22  // uint8
	OffReplyStatus1   = 23  // uint8
	OffReplyESTA      = 24  // uint16 little-endian
	OffReplyShortName = 26  // 18 bytes, NUL terminated
	OffReplyLongName  = 44  // 64 bytes, NUL terminated
	OffReplyReport    = 108 // 64 bytes, NUL terminated
	OffReplyNumPorts  = 172 // uint16
	OffReplyPortTypes = 174 // 4 bytes
	OffReplyGoodIn    = 178 // 4 bytes
	OffReplyGoodOut   = 182 // 4 bytes
	OffReplySwIn      = 186 // 4 bytes
	OffReplySwOut     = 190 // 4 bytes: port-address bits 3-0
	OffReplyStyle     = 200 // uint8
	OffReplyMAC       = 201 // 6 bytes
	OffReplyBindIP    = 207 // 4 bytes
	OffReplyBindIndex = 211 // uint8
	OffReplyStatus2   = 212 // uint8

	ShortNameLen = 18
	LongNameLen  = 64
	// PortsPerReply is how many ports one ArtPollReply describes.
	PortsPerReply = 4
	// PortTypeOutput marks a port that outputs what it receives from
	// Art-Net (a receiver, seen from the network); the protocol bits 0 say DMX512.
	PortTypeOutput = 0x80
	// GoodOutputData says that a port is sending data.
	GoodOutputData = 0x80
	// StyleNode is a DMX to/from Art-Net device.
	StyleNode = 0x00
	// status2PortAddr15 (Status2 bit 3) says the node takes 15-bit
	// port-addresses (Art-Net 3 and 4).
	status2PortAddr15 = 0x08
	// oemUnknown is the OEM code of "unknown" products (0x00ff).
	oemUnknown = 0x00ff
)

// Reply is what an ArtPollReply says about a node.
type Reply struct {
	IP        [4]byte
	ShortName string // at most 17 bytes
	LongName  string // at most 63 bytes
	Report    string // at most 63 bytes
	// BindIndex numbers the replies of one node that has more than
	// PortsPerReply ports, or ports on several Net/Sub-Net: 1, 2, …
	BindIndex uint8
	// Outputs are up to PortsPerReply port-addresses that share their Net
	// and Sub-Net (bits 14-4): the universes the node takes from Art-Net.
	Outputs []uint16
}

// AppendPollReply appends an ArtPollReply of r to dst. r.Outputs must
// hold 1..PortsPerReply port-addresses that share their bits 14-4
// (GroupPorts makes such groups).
func AppendPollReply(dst []byte, r *Reply) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, PollReplyLen)...)
	p := dst[start:]
	copy(p[OffID:], ID[:])
	binary.LittleEndian.PutUint16(p[OffOpCode:], OpPollReply)
	copy(p[OffReplyIP:], r.IP[:])
	binary.LittleEndian.PutUint16(p[OffReplyPort:], Port)
	binary.BigEndian.PutUint16(p[OffReplyVersion:], 1)
	binary.BigEndian.PutUint16(p[OffReplyOEM:], oemUnknown)
	putString(p[OffReplyShortName:OffReplyShortName+ShortNameLen], r.ShortName)
	putString(p[OffReplyLongName:OffReplyLongName+LongNameLen], r.LongName)
	putString(p[OffReplyReport:OffReplyReport+LongNameLen], r.Report)
	if len(r.Outputs) > 0 {
		p[OffReplyNetSwitch] = byte(r.Outputs[0]>>8) & 0x7f
		p[OffReplySubSwitch] = byte(r.Outputs[0]>>4) & 0x0f
	}
	binary.BigEndian.PutUint16(p[OffReplyNumPorts:], uint16(len(r.Outputs)))
	for i, pa := range r.Outputs {
		p[OffReplyPortTypes+i] = PortTypeOutput
		p[OffReplyGoodOut+i] = GoodOutputData
		p[OffReplySwOut+i] = byte(pa) & 0x0f
	}
	p[OffReplyStyle] = StyleNode
	copy(p[OffReplyBindIP:], r.IP[:])
	p[OffReplyBindIndex] = r.BindIndex
	p[OffReplyStatus2] = status2PortAddr15
	return dst
}

// putString copies s into the NUL-terminated field f, cut to fit.
func putString(f []byte, s string) {
	if len(s) >= len(f) {
		s = strings.ToValidUTF8(s[:len(f)-1], "")
	}
	copy(f, s)
}

// GroupPorts splits port-addresses into the groups of ArtPollReplies: at
// most PortsPerReply each, sharing Net and Sub-Net, in ascending order.
// pas must be sorted and hold no duplicates.
func GroupPorts(pas []uint16) [][]uint16 {
	var groups [][]uint16
	for _, pa := range pas {
		n := len(groups)
		if n == 0 || len(groups[n-1]) == PortsPerReply || groups[n-1][0]>>4 != pa>>4 {
			groups = append(groups, nil)
			n++
		}
		groups[n-1] = append(groups[n-1], pa)
	}
	return groups
}

// AppendPoll appends a minimal ArtPoll (14 bytes: no flags, diagnostics
// priority 0) to dst.
func AppendPoll(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, PollMinLen)...)
	p := dst[start:]
	copy(p[OffID:], ID[:])
	binary.LittleEndian.PutUint16(p[OffOpCode:], OpPoll)
	binary.BigEndian.PutUint16(p[OffProtVer:], ProtocolVersion)
	return dst
}

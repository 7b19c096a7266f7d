package dmx

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dmxd/dmxd/dmx/artnet"
	"github.com/dmxd/dmxd/dmx/sacn"
)

// Network output drivers.
const (
	DriverSACN   = "sacn"
	DriverArtNet = "artnet"
	// netMinGap is the shortest time between two packets of one network
	// output: an early frame for a change goes out 1 ms after the last
	// packet at the soonest, so a flood of changes stays at most 1000
	// packets a second per universe and destination.
	netMinGap = time.Millisecond
	// terminatePackets is how many stream-terminated packets an sACN
	// output sends when it closes (E1.31 6.2.6 asks for three).
	terminatePackets = 3
)

// NetConfig is what every sACN output of one dmxd puts in its packets.
type NetConfig struct {
	CID        [16]byte // the component identifier, stable per install
	SourceName string   // at most 63 bytes of UTF-8
	Priority   uint8    // 0..200
}

// DefaultNetConfig returns the source name and CID derived from the host
// name (see sacn.NameCID) and priority 100.
func DefaultNetConfig() NetConfig {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "dmxd"
	}
	return NetConfig{CID: sacn.NameCID(host), SourceName: TruncName(host), Priority: sacn.DefaultPriority}
}

// TruncName cuts name to the 63 bytes of an sACN source name, at a rune
// boundary.
func TruncName(name string) string {
	for len(name) >= sacn.SourceNameLen {
		name = name[:len(name)-1]
	}
	return strings.ToValidUTF8(name, "")
}

// NetStats counts the datagrams of one network output. Its counters are
// safe for concurrent use: the output's writer adds, anyone reads.
type NetStats struct {
	Sent   atomic.Uint64 // datagrams sent (one per destination per frame)
	Errors atomic.Uint64 // datagrams the socket refused
}

// netOutput is what the sACN and Art-Net drivers share: the destinations
// and the state that outlives a reopened socket (the sequence number, so
// that receivers never see it jump back, and the counters).
type netOutput struct {
	dests  []string // HOST:PORT, resolved at each Open
	target string
	seq    *atomic.Uint32
	stats  *NetStats
}

func newNetOutput(dests []string, target string) netOutput {
	return netOutput{dests: dests, target: target, seq: new(atomic.Uint32), stats: new(NetStats)}
}

// Target returns the destinations.
func (n netOutput) Target() string { return n.target }

// MinGap returns 1 ms.
func (netOutput) MinGap() time.Duration { return netMinGap }

// Break returns 0.
func (netOutput) Break() time.Duration { return 0 }

// MarkAfterBreak returns 0.
func (netOutput) MarkAfterBreak() time.Duration { return 0 }

// Portable reports that the output's refresh loop is the Go loop on an
// ordinary goroutine: a datagram is written at once and needs no thread
// of its own.
func (netOutput) Portable() bool { return true }

// Stats returns the output's datagram counters.
func (n netOutput) Stats() *NetStats { return n.stats }

// open resolves the destinations and opens an unconnected UDP socket, so
// that an unreachable receiver's ICMP answers never fail a later write.
func (n netOutput) open(stamp func(p []byte, seq *atomic.Uint32), final func(p []byte)) (*udpDevice, error) {
	addrs := make([]*net.UDPAddr, 0, len(n.dests))
	for _, d := range n.dests {
		a, err := net.ResolveUDPAddr("udp", d)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", d, err)
		}
		addrs = append(addrs, a)
	}
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("open UDP socket: %w", err)
	}
	return &udpDevice{conn: conn, dests: addrs, seq: n.seq, stats: n.stats, stamp: stamp, final: final}, nil
}

// udpDevice sends each frame the refresh loop writes as one datagram to
// every destination, with the next sequence number stamped in: the loop
// repeats the same encoded frame, receivers want a new number each time.
// It has no Fd method, so the Go loop calls Write.
type udpDevice struct {
	conn  *net.UDPConn
	dests []*net.UDPAddr
	seq   *atomic.Uint32
	stats *NetStats
	stamp func(p []byte, seq *atomic.Uint32) // writes the next sequence number into p
	final func(p []byte)                     // makes p a last packet, or nil
	buf   []byte                             // the last frame, stamped
}

// Write sends p to every destination. It fails only when no destination
// took it, so that one unreachable node does not take the others down.
func (d *udpDevice) Write(p []byte) (int, error) {
	d.buf = append(d.buf[:0], p...)
	if err := d.send(); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (d *udpDevice) send() error {
	d.stamp(d.buf, d.seq)
	var first error
	ok := 0
	for _, a := range d.dests {
		if _, err := d.conn.WriteToUDP(d.buf, a); err != nil {
			d.stats.Errors.Add(1)
			if first == nil {
				first = fmt.Errorf("send to %s: %w", a, err)
			}
			continue
		}
		d.stats.Sent.Add(1)
		ok++
	}
	if ok == 0 && first != nil {
		return first
	}
	return nil
}

// Close sends the last packets (sACN's stream-terminated ones) and closes
// the socket.
func (d *udpDevice) Close() error {
	var errs []error
	if d.final != nil && len(d.buf) > 0 {
		d.final(d.buf)
		for range terminatePackets {
			if err := d.send(); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	errs = append(errs, d.conn.Close())
	return errors.Join(errs...)
}

// SACN sends E1.31 data packets of one universe: to the universe's
// multicast group, or unicast to a list of hosts. It is immutable but for
// its sequence number and counters, which only the output's one open
// device advances.
type SACN struct {
	netOutput
	hdr sacn.Header
}

// Name returns "sacn".
func (SACN) Name() string { return DriverSACN }

// Header returns what every packet carries besides slots, sequence and
// options.
func (s SACN) Header() sacn.Header { return s.hdr }

// AppendFrame appends a data packet of f (sequence and options are
// stamped when it is sent).
func (s SACN) AppendFrame(dst []byte, f *Frame) []byte {
	return sacn.AppendData(dst, &s.hdr, 0, 0, (*[sacn.Slots]byte)(f))
}

// Open opens a UDP socket to the destinations. Closing it sends three
// stream-terminated packets of the last frame.
func (s SACN) Open() (Device, error) {
	stamp := func(p []byte, seq *atomic.Uint32) {
		if sacn.IsData(p) {
			n := seq.Add(1) - 1 // 0, 1, …, 255, 0, …
			p[sacn.OffSequence] = byte(n)
		}
	}
	final := func(p []byte) {
		if sacn.IsData(p) {
			p[sacn.OffOptions] |= sacn.OptionTerminated
		}
	}
	return s.open(stamp, final)
}

// ArtNet sends ArtDmx packets of one universe to a list of nodes (unicast,
// as Art-Net 4 asks). It is immutable but for its sequence number and
// counters, which only the output's one open device advances.
type ArtNet struct {
	netOutput
	PortAddress uint16
}

// Name returns "artnet".
func (ArtNet) Name() string { return DriverArtNet }

// AppendFrame appends an ArtDmx packet of f's 512 slots (the sequence is
// stamped when it is sent).
func (a ArtNet) AppendFrame(dst []byte, f *Frame) []byte {
	return artnet.AppendDmx(dst, a.PortAddress, 0, 0, f[:])
}

// Open opens a UDP socket to the nodes.
func (a ArtNet) Open() (Device, error) {
	stamp := func(p []byte, seq *atomic.Uint32) {
		if artnet.IsDmx(p) {
			// 1..255: sequence 0 would tell receivers not to reorder.
			// Only the output's one device advances seq.
			n := artnet.NextSequence(uint8(seq.Load()))
			seq.Store(uint32(n))
			p[artnet.OffSequence] = n
		}
	}
	return a.open(stamp, nil)
}

// parseNetOutput parses the target of a network driver:
// [HOST[:PORT][,HOST[:PORT]…]][@N], where N is the sACN universe or the
// Art-Net port-address (defaults: the dmxd universe, and universe-1).
func parseNetOutput(name, target string, universe int, nc NetConfig) (Driver, error) {
	hostList, num, hasNum := strings.Cut(target, "@")
	var n int
	if hasNum {
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("%q after @ is not a number", num)
		}
		n = v
	}
	var hosts []string
	if hostList != "" {
		hosts = strings.Split(hostList, ",")
	}
	port := sacn.Port
	if name == DriverArtNet {
		port = artnet.Port
	}
	dests := make([]string, 0, len(hosts))
	for _, h := range hosts {
		d, err := hostPort(h, port)
		if err != nil {
			return nil, err
		}
		dests = append(dests, d)
	}
	switch name {
	case DriverSACN:
		u := universe
		if hasNum {
			u = n
		}
		hdr := sacn.Header{CID: nc.CID, SourceName: nc.SourceName, Priority: nc.Priority, Universe: uint16(min(max(u, 0), 1<<16-1))}
		if u < sacn.MinUniverse || u > sacn.MaxUniverse {
			return nil, fmt.Errorf("sACN universe %d is outside %d..%d", u, sacn.MinUniverse, sacn.MaxUniverse)
		}
		if err := hdr.Check(); err != nil {
			return nil, err
		}
		if len(dests) == 0 {
			g := sacn.MulticastGroup(hdr.Universe)
			dests = []string{net.JoinHostPort(net.IP(g[:]).String(), strconv.Itoa(sacn.Port))}
		}
		t := strings.Join(dests, ",")
		if hasNum {
			t += "@" + strconv.Itoa(u)
		}
		return SACN{netOutput: newNetOutput(dests, t), hdr: hdr}, nil
	default: // DriverArtNet
		if len(dests) == 0 {
			return nil, errors.New("artnet needs the nodes' addresses (artnet:HOST[,HOST…]): Art-Net 4 sends ArtDmx unicast")
		}
		pa := universe - 1
		if hasNum {
			pa = n
		}
		if pa < 0 || pa > artnet.MaxPortAddress {
			return nil, fmt.Errorf("Art-Net port-address %d is outside 0..%d", pa, artnet.MaxPortAddress)
		}
		t := strings.Join(dests, ",") + "@" + strconv.Itoa(pa)
		return ArtNet{netOutput: newNetOutput(dests, t), PortAddress: uint16(pa)}, nil
	}
}

// hostPort returns h as HOST:PORT, with port when h names none. An IPv6
// address takes brackets when it has a port ([::1]:5568).
func hostPort(h string, port int) (string, error) {
	if h == "" {
		return "", errors.New("empty host in the list")
	}
	if host, p, err := net.SplitHostPort(h); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || !validHost(host) {
			return "", fmt.Errorf("host %q: want HOST or HOST:PORT with a port 1..65535", h)
		}
		return h, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if !validHost(host) {
		return "", fmt.Errorf("host %q: want HOST or HOST:PORT", h)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// validHost reports whether h may be a host name or an IP address
// (letters, digits, '.', '-', '_', ':' and an IPv6 zone's '%').
func validHost(h string) bool {
	for _, r := range h {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(".-_:%", r)) {
			return false
		}
	}
	return h != ""
}

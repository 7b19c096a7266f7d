package dmx

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dmxd/dmxd/dmx/artnet"
	"github.com/dmxd/dmxd/dmx/sacn"
)

// Network inputs: dmxd listens for sACN and Art-Net senders.
const (
	InputSACN   = "sacn"
	InputArtNet = "artnet"
	// SACNTimeout is E1.31's network data loss timeout (6.7.1): a source
	// silent for 2.5 s is gone.
	SACNTimeout = 2500 * time.Millisecond
	// ArtNetTimeout is how long an Art-Net sender may stay silent before
	// its levels are released: Art-Net 4's data loss time of 4 s (a node
	// falls back to its fail-safe state after it; merging ends after 10 s).
	ArtNetTimeout = 4 * time.Second
)

// Input is one network input: a protocol, the UDP address it listens on
// and the map from the protocol's universe numbers (sACN universes,
// Art-Net port-addresses) to dmxd's universes.
type Input struct {
	Proto string // InputSACN or InputArtNet
	Addr  string // HOST:PORT to listen on; ":5568" or ":6454" by default
	// Universes maps a network universe to a dmxd universe.
	Universes map[uint16]int
}

// Timeout returns the protocol's source timeout.
func (in *Input) Timeout() time.Duration {
	if in.Proto == InputArtNet {
		return ArtNetTimeout
	}
	return SACNTimeout
}

// NetUniverses returns the network universes of the input, ascending.
func (in *Input) NetUniverses() []uint16 {
	us := make([]uint16, 0, len(in.Universes))
	for n := range in.Universes {
		us = append(us, n)
	}
	slices.Sort(us)
	return us
}

// ParseInput parses an --input: PROTO[@HOST:PORT][:U[=N],…] where PROTO
// is sacn or artnet, HOST:PORT the UDP address to listen on (default all
// addresses, port 5568 or 6454) and each U a dmxd universe 1..universes,
// taking the sACN universe N (default U) or the Art-Net port-address N
// (default U-1, as --output does). Without universes the input takes
// every dmxd universe.
func ParseInput(spec string, universes int) (Input, error) {
	proto, rest, _ := strings.Cut(spec, ":")
	var in Input
	if p, addr, ok := strings.Cut(proto, "@"); ok {
		// The address holds colons: the universes follow its port.
		proto, rest = p, strings.TrimPrefix(spec, p+"@")
		addr = rest
		rest = ""
		if _, _, err := net.SplitHostPort(addr); err != nil {
			if i := strings.LastIndexByte(addr, ':'); i >= 0 {
				addr, rest = addr[:i], addr[i+1:]
			}
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || !validInputPort(port) {
			return in, fmt.Errorf("input %q: want %s@HOST:PORT[:UNIVERSES]", spec, proto)
		}
		in.Addr = net.JoinHostPort(host, port)
	}
	switch proto {
	case InputSACN:
		in.Addr = cmpOr(in.Addr, ":"+strconv.Itoa(sacn.Port))
	case InputArtNet:
		in.Addr = cmpOr(in.Addr, ":"+strconv.Itoa(artnet.Port))
	default:
		return in, fmt.Errorf("input %q: protocol %q is not sacn or artnet", spec, proto)
	}
	in.Proto = proto
	in.Universes = map[uint16]int{}
	taken := map[int]bool{}
	add := func(u int, n uint16) error {
		if u < 1 || u > universes {
			return fmt.Errorf("input %q: universe %d does not exist (--universes %d)", spec, u, universes)
		}
		if _, dup := in.Universes[n]; dup || taken[u] {
			return fmt.Errorf("input %q: universe %d or network universe %d is listed twice", spec, u, n)
		}
		in.Universes[n] = u
		taken[u] = true
		return nil
	}
	if rest == "" {
		for u := 1; u <= universes; u++ {
			if err := add(u, defaultNetUniverse(proto, u)); err != nil {
				return in, err
			}
		}
		return in, nil
	}
	for _, item := range strings.Split(rest, ",") {
		us, ns, hasN := strings.Cut(item, "=")
		u, err := strconv.Atoi(us)
		if err != nil {
			return in, fmt.Errorf("input %q: universe %q is not a number", spec, us)
		}
		n := defaultNetUniverse(proto, u)
		if hasN {
			v, err := strconv.ParseUint(ns, 10, 16)
			if err != nil {
				return in, fmt.Errorf("input %q: network universe %q is not a number", spec, ns)
			}
			n = uint16(v)
		}
		switch {
		case proto == InputSACN && (n < sacn.MinUniverse || n > sacn.MaxUniverse):
			return in, fmt.Errorf("input %q: sACN universe %d is outside %d..%d", spec, n, sacn.MinUniverse, sacn.MaxUniverse)
		case proto == InputArtNet && n > artnet.MaxPortAddress:
			return in, fmt.Errorf("input %q: Art-Net port-address %d is outside 0..%d", spec, n, artnet.MaxPortAddress)
		}
		if err := add(u, n); err != nil {
			return in, err
		}
	}
	return in, nil
}

// defaultNetUniverse is the network universe of dmxd universe u: the
// same number for sACN, port-address u-1 for Art-Net (as QLC+ numbers
// them; OLA's universe 1 is port-address 1: write 1=1).
func defaultNetUniverse(proto string, u int) uint16 {
	if proto == InputArtNet {
		return uint16(max(u-1, 0))
	}
	return uint16(u)
}

func validInputPort(port string) bool {
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n <= 65535
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

package dmx

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Device is one opened output device. The output's refresh loop writes the
// encoded frames to it: on Linux and macOS through its file descriptor
// (every Device there also has a method Fd() uintptr), elsewhere through
// Write (see refresh.Device). Exactly one goroutine owns it and finally
// closes it (writing after Close may write into whatever file reused the
// descriptor).
type Device interface {
	io.Writer
	io.Closer
}

// Driver knows one kind of output device: how to open it, how a frame is
// encoded for it and how fast it takes frames. Drivers are immutable and
// safe for concurrent use; every Open returns a new Device.
type Driver interface {
	// Name is the driver name of the command line and protocol ("enttec-pro").
	Name() string
	// Target is the device path, or "" for drivers without one.
	Target() string
	// MinGap is the shortest time between the starts of two frames.
	MinGap() time.Duration
	// Break is how long the line is held in break before each frame, or
	// 0 when the interface makes the break itself.
	Break() time.Duration
	// MarkAfterBreak is how long the line is held in mark between the
	// break and the frame's first byte (0 without a break).
	MarkAfterBreak() time.Duration
	// AppendFrame appends the bytes that carry f on the device to dst and
	// returns the extended slice.
	AppendFrame(dst []byte, f *Frame) []byte
	// Open opens the device for writing.
	Open() (Device, error)
}

// Driver names accepted by ParseOutput.
const (
	DriverNull       = "null"
	DriverEnttecPro  = "enttec-pro"
	DriverOpenDMX    = "open-dmx"
	nullMinGap       = time.Millisecond
	enttecProMinGap  = time.Millisecond
	serialBaud       = 250000
	maxUniverseValue = 1 << 15
)

// Output patches one universe to a driver.
type Output struct {
	Universe int
	Driver   Driver
}

// ParseOutput parses an output patch "U=DRIVER[:TARGET]", such as
// "1=enttec-pro:/dev/ttyUSB0" or "2=null", with DefaultNetConfig for sACN
// (see ParseOutputNet).
func ParseOutput(spec string) (Output, error) { return ParseOutputNet(spec, DefaultNetConfig()) }

// ParseOutputNet parses an output patch "U=DRIVER[:TARGET]": the serial
// drivers "enttec-pro:PATH" and "open-dmx:PATH", "null", and the network
// drivers "sacn[:HOST[:PORT][,…]][@UNIVERSE]" (multicast without hosts)
// and "artnet:HOST[:PORT][,…][@PORTADDRESS]" (port-address U-1 by
// default), whose sACN packets carry nc. It checks the form, not whether
// the device exists or a host resolves: such an output starts down.
// Every call returns a new driver with its own sequence numbers.
func ParseOutputNet(spec string, nc NetConfig) (Output, error) {
	u, rest, ok := strings.Cut(spec, "=")
	if !ok {
		return Output{}, fmt.Errorf("output %q: want U=DRIVER[:TARGET]", spec)
	}
	n, err := strconv.Atoi(u)
	if err != nil || n < 1 || n > maxUniverseValue {
		return Output{}, fmt.Errorf("output %q: universe %q is not a number 1..%d", spec, u, maxUniverseValue)
	}
	name, target, hasTarget := strings.Cut(rest, ":")
	if base, num, ok := strings.Cut(name, "@"); ok && !hasTarget {
		name, target = base, "@"+num // sacn@N: multicast to another universe
	}
	var d Driver
	switch name {
	case DriverNull:
		if hasTarget {
			return Output{}, fmt.Errorf("output %q: driver null takes no target", spec)
		}
		d = Null{}
	case DriverEnttecPro, DriverOpenDMX:
		if target == "" {
			return Output{}, fmt.Errorf("output %q: driver %s needs a device path (%s:/dev/ttyUSB0)", spec, name, name)
		}
		if name == DriverEnttecPro {
			d = EnttecPro{Path: target}
		} else {
			d = OpenDMX{Path: target}
		}
	case DriverSACN, DriverArtNet:
		if hasTarget && target == "" {
			return Output{}, fmt.Errorf("output %q: empty host list after %s:", spec, name)
		}
		nd, err := parseNetOutput(name, target, n, nc)
		if err != nil {
			return Output{}, fmt.Errorf("output %q: %v", spec, err)
		}
		d = nd
	default:
		return Output{}, fmt.Errorf("output %q: unknown driver %q (want enttec-pro, open-dmx, sacn, artnet or null)", spec, name)
	}
	return Output{Universe: n, Driver: d}, nil
}

// Null is the driver without hardware: frames are written to /dev/null, so
// that a null output runs the same refresh loop as a real one.
type Null struct{}

// Name returns "null".
func (Null) Name() string { return DriverNull }

// Target returns "".
func (Null) Target() string { return "" }

// MinGap returns a small gap so that early frames stay bounded.
func (Null) MinGap() time.Duration { return nullMinGap }

// Break returns 0.
func (Null) Break() time.Duration { return 0 }

// MarkAfterBreak returns 0.
func (Null) MarkAfterBreak() time.Duration { return 0 }

// AppendFrame appends the 512 slots.
func (Null) AppendFrame(dst []byte, f *Frame) []byte { return append(dst, f[:]...) }

// Portable reports that the null output's refresh loop is the Go loop on
// an ordinary goroutine: it writes nowhere and needs no thread of its own.
func (Null) Portable() bool { return true }

// Open opens /dev/null.
func (Null) Open() (Device, error) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	return f, nil
}

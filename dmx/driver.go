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
// "1=enttec-pro:/dev/ttyUSB0" or "2=null". It checks the form, not whether
// the device exists: a missing device is an output that starts down.
func ParseOutput(spec string) (Output, error) {
	u, rest, ok := strings.Cut(spec, "=")
	if !ok {
		return Output{}, fmt.Errorf("output %q: want U=DRIVER[:TARGET]", spec)
	}
	n, err := strconv.Atoi(u)
	if err != nil || n < 1 || n > maxUniverseValue {
		return Output{}, fmt.Errorf("output %q: universe %q is not a number 1..%d", spec, u, maxUniverseValue)
	}
	name, target, hasTarget := strings.Cut(rest, ":")
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
	default:
		return Output{}, fmt.Errorf("output %q: unknown driver %q (want enttec-pro, open-dmx or null)", spec, name)
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

// Open opens /dev/null.
func (Null) Open() (Device, error) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	return f, nil
}

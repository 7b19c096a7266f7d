package dmx

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FrameWriter sends frames to one opened device. It belongs to exactly one
// goroutine, which writes and finally closes it: writing after Close may
// write into whatever file reused the descriptor.
type FrameWriter interface {
	// WriteFrame sends one complete frame. It may block as long as the
	// device does; an error means the device is gone or broken.
	WriteFrame(f *Frame) error
	// Close releases the device.
	Close() error
}

// Driver opens an output device. Drivers are immutable and safe for
// concurrent use; every Open returns a new FrameWriter.
type Driver interface {
	// Name is the driver name of the command line and protocol ("enttec-pro").
	Name() string
	// Target is the device path, or "" for drivers without one.
	Target() string
	// MinGap is the shortest time between the starts of two frames.
	MinGap() time.Duration
	// Open opens the device for writing.
	Open() (FrameWriter, error)
}

// Driver names accepted by ParseOutput.
const (
	DriverNull       = "null"
	DriverEnttecPro  = "enttec-pro"
	DriverOpenDMX    = "open-dmx"
	nullMinGap       = time.Millisecond
	enttecProMinGap  = 6 * time.Millisecond
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

// Null is the driver without hardware: every frame is accepted and dropped.
type Null struct{}

// Name returns "null".
func (Null) Name() string { return DriverNull }

// Target returns "".
func (Null) Target() string { return "" }

// MinGap returns a small gap so that early frames stay bounded.
func (Null) MinGap() time.Duration { return nullMinGap }

// Open never fails.
func (Null) Open() (FrameWriter, error) { return nullWriter{}, nil }

type nullWriter struct{}

func (nullWriter) WriteFrame(*Frame) error { return nil }
func (nullWriter) Close() error            { return nil }

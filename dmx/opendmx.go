package dmx

import (
	"fmt"
	"time"
)

// Open DMX timing. A break must last at least 88 µs and the mark after
// break at least 8 µs; the break we ask for is longer because the serial
// library sleeps for it and the kernel's ioctls add their own time.
const (
	OpenDMXBreak = 100 * time.Microsecond
	// OpenDMXFrameTime is the time 513 slots take on the line at 250000 baud
	// with 11 bits a slot (start, 8 data, 2 stop): ~22.6 ms.
	OpenDMXFrameTime = time.Duration(1+Slots) * 11 * time.Second / serialBaud
	// openDMXBreakCost is what a break costs in practice (measured ~1.1 ms).
	openDMXBreakCost = 1200 * time.Microsecond
)

// BreakPort is the part of a serial port the Open DMX framing needs. It is
// satisfied by go.bug.st/serial's Port.
type BreakPort interface {
	Write(p []byte) (int, error)
	Break(d time.Duration) error
	Drain() error
	Close() error
}

// OpenDMX drives an FTDI-based "Open DMX" interface: the host makes the
// whole DMX512 signal, break included.
type OpenDMX struct {
	// Path is the serial device, such as /dev/ttyUSB0.
	Path string
}

// Name returns "open-dmx".
func (OpenDMX) Name() string { return DriverOpenDMX }

// Target returns the device path.
func (o OpenDMX) Target() string { return o.Path }

// MinGap is the time a frame occupies the line plus its break: the
// serial library sleeps for the break at Go's timer resolution, which
// measured ~1.1 ms here, so a full universe refreshes at most ~42 times a
// second on open-dmx.
func (OpenDMX) MinGap() time.Duration { return OpenDMXFrameTime + openDMXBreakCost }

// Open opens the serial device at 250000 baud 8N2.
func (o OpenDMX) Open() (FrameWriter, error) {
	p, err := openSerial(o.Path)
	if err != nil {
		return nil, err
	}
	return NewOpenDMXWriter(p), nil
}

// NewOpenDMXWriter returns a FrameWriter that frames DMX512 on p: wait for
// the previous frame to leave the line, break, mark after break, start code
// 0, 512 slots.
func NewOpenDMXWriter(p BreakPort) FrameWriter {
	return &openDMXWriter{port: p, buf: make([]byte, 1+Slots)}
}

type openDMXWriter struct {
	port BreakPort
	buf  []byte
}

func (w *openDMXWriter) WriteFrame(f *Frame) error {
	// The break must not cut the previous frame's last slots.
	if err := w.port.Drain(); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if err := w.port.Break(OpenDMXBreak); err != nil {
		return fmt.Errorf("break: %w", err)
	}
	// Returning from the break ioctl and entering write takes far longer
	// than the 8 µs mark after break.
	w.buf[0] = 0
	copy(w.buf[1:], f[:])
	return writeAll(w.port, w.buf)
}

func (w *openDMXWriter) Close() error { return w.port.Close() }

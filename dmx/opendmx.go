package dmx

import "time"

// Open DMX timing. A break must last at least 88 µs and the mark after
// break at least 8 µs; the break asked for is longer, with room for the
// ioctls that start and end it.
const (
	OpenDMXBreak = 100 * time.Microsecond
	// OpenDMXFrameTime is the time 513 slots take on the line at 250000 baud
	// with 11 bits a slot (start, 8 data, 2 stop): ~22.6 ms.
	OpenDMXFrameTime = time.Duration(1+Slots) * 11 * time.Second / serialBaud
	// openDMXBreakCost is what a break costs in practice: the break, the
	// two ioctls around it and the kernel's wake-up (see
	// TestOpenDMXBreakOnPTY).
	openDMXBreakCost = 300 * time.Microsecond
)

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

// MinGap is the time a frame occupies the line plus its break: ~22.9 ms,
// so a full universe refreshes at up to ~43.7 frames a second on open-dmx.
func (OpenDMX) MinGap() time.Duration { return OpenDMXFrameTime + openDMXBreakCost }

// Break returns OpenDMXBreak: the host makes the break. The refresh loop
// first waits for the previous frame to leave the line (the break must
// not cut its last slots), and the time from the end of the break to the
// first byte is far longer than the 8 µs mark after break.
func (OpenDMX) Break() time.Duration { return OpenDMXBreak }

// AppendFrame appends the start code 0 and the 512 slots.
func (OpenDMX) AppendFrame(dst []byte, f *Frame) []byte {
	dst = append(dst, 0)
	return append(dst, f[:]...)
}

// Open opens the serial device at 250000 baud 8N2.
func (o OpenDMX) Open() (Device, error) {
	return openSerial(o.Path)
}

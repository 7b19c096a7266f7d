package dmx

import "time"

// Open DMX timing. DMX512-A (ANSI E1.11) has a transmitter hold the break
// for at least 92 µs and the mark after break for at least 12 µs (88 µs
// and 8 µs in DMX512/1990, still what receivers must accept); the host
// holds both a little longer.
const (
	OpenDMXBreak          = 100 * time.Microsecond
	OpenDMXMarkAfterBreak = 20 * time.Microsecond
	// OpenDMXFrameTime is the time 513 slots take on the line at 250000 baud
	// with 11 bits a slot (start, 8 data, 2 stop): ~22.6 ms.
	OpenDMXFrameTime = time.Duration(1+Slots) * 11 * time.Second / serialBaud
	// openDMXBreakCost is an allowance for what a break costs in practice:
	// the break and the mark after it, the ioctls around them and the
	// kernel's late wake-ups (on a pty here the refresh loop holds the
	// break 0.15–0.18 ms and the mark 0.05–0.07 ms; TestOpenDMXBreakOnPTY
	// logs both).
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
// not cut its last slots).
func (OpenDMX) Break() time.Duration { return OpenDMXBreak }

// MarkAfterBreak returns OpenDMXMarkAfterBreak: the refresh loop holds the
// line in mark that long before the start code, whatever the serial
// device's own latency.
func (OpenDMX) MarkAfterBreak() time.Duration { return OpenDMXMarkAfterBreak }

// AppendFrame appends the start code 0 and the 512 slots.
func (OpenDMX) AppendFrame(dst []byte, f *Frame) []byte {
	dst = append(dst, 0)
	return append(dst, f[:]...)
}

// Open opens the serial device at 250000 baud 8N2.
func (o OpenDMX) Open() (Device, error) {
	return openSerial(o.Path)
}

package dmx

import (
	"fmt"
	"io"
	"time"

	"go.bug.st/serial"
)

// Enttec DMX USB Pro message framing (API 1.44).
const (
	enttecStart      = 0x7E
	enttecEnd        = 0xE7
	enttecLabelSend  = 6 // "Output Only Send DMX Packet Request"
	enttecHeaderSize = 4
	// EnttecFrameSize is the length of one encoded label 6 message carrying
	// a full universe: header, start code, 512 slots, end byte.
	EnttecFrameSize = enttecHeaderSize + 1 + Slots + 1
)

// AppendEnttecFrame appends the label 6 message that sends f (start code 0
// and 512 slots) to dst and returns the extended slice.
func AppendEnttecFrame(dst []byte, f *Frame) []byte {
	n := 1 + Slots
	dst = append(dst, enttecStart, enttecLabelSend, byte(n), byte(n>>8), 0)
	dst = append(dst, f[:]...)
	return append(dst, enttecEnd)
}

// EnttecPro drives an Enttec DMX USB Pro (or compatible) on a serial
// device path.
type EnttecPro struct {
	// Path is the serial device, such as /dev/ttyUSB0.
	Path string
}

// Name returns "enttec-pro".
func (EnttecPro) Name() string { return DriverEnttecPro }

// Target returns the device path.
func (e EnttecPro) Target() string { return e.Path }

// MinGap is 6 ms: the widget buffers frames and sends them at its own
// pace; at most ~166 frames/s keeps dmxd well under its ~190 frames/s.
func (EnttecPro) MinGap() time.Duration { return enttecProMinGap }

// Open opens the serial device.
func (e EnttecPro) Open() (FrameWriter, error) {
	p, err := openSerial(e.Path)
	if err != nil {
		return nil, err
	}
	return &enttecWriter{port: p, buf: make([]byte, 0, EnttecFrameSize)}, nil
}

type enttecWriter struct {
	port serial.Port
	buf  []byte
}

func (w *enttecWriter) WriteFrame(f *Frame) error {
	w.buf = AppendEnttecFrame(w.buf[:0], f)
	return writeAll(w.port, w.buf)
}

func (w *enttecWriter) Close() error { return w.port.Close() }

// openSerial opens path at 250000 baud 8N2. It never touches the modem
// status lines (their ioctls fail on ptys and some adapters).
func openSerial(path string) (serial.Port, error) {
	p, err := serial.Open(path, &serial.Mode{
		BaudRate: serialBaud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.TwoStopBits,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return p, nil
}

// writeAll writes all of b, looping over short writes.
func writeAll(w io.Writer, b []byte) error {
	for len(b) > 0 {
		n, err := w.Write(b)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("write: %w", io.ErrShortWrite)
		}
		b = b[n:]
	}
	return nil
}

package dmx

import "time"

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

// MinGap is 1 ms, a property of the USB link and not of DMX: the widget
// regenerates the DMX signal from its own buffer at its configured output
// rate, so a label 6 message only replaces that buffer. Each message (518
// bytes) travels over full-speed USB, whose bus frames are 1 ms long and
// whose bulk transfers carry up to 19 packets of 64 bytes each in one:
// one message per millisecond is one per bus frame, so the widget never
// has more than one message in flight, and a change reaches it within
// about a millisecond.
func (EnttecPro) MinGap() time.Duration { return enttecProMinGap }

// Break returns 0: the widget makes the break.
func (EnttecPro) Break() time.Duration { return 0 }

// MarkAfterBreak returns 0: the widget makes it too.
func (EnttecPro) MarkAfterBreak() time.Duration { return 0 }

// AppendFrame appends the label 6 message that carries f.
func (EnttecPro) AppendFrame(dst []byte, f *Frame) []byte { return AppendEnttecFrame(dst, f) }

// Open opens the serial device.
func (e EnttecPro) Open() (Device, error) { return openSerial(e.Path) }

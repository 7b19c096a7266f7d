package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/actors"
)

// Read buffer sizes of a connection.
const (
	// readBufferSize is gorilla's per-connection read buffer: commands are
	// small, an idle connection holds it for as long as it lives, and bulk
	// data is read ahead in a borrowed buffer (see readConn).
	readBufferSize = 512
	// messageBufferStart is the first size of the reused message buffer.
	messageBufferStart = 512
	// maxKeptMessageBuffer is the largest message buffer a connection
	// keeps between messages; a larger one (a rare big command) is
	// dropped after use.
	maxKeptMessageBuffer = 4096
)

// errEncode marks a server message that could not be encoded.
var errEncode = errors.New("encode")

// maxWriteBatch is how many bytes of queued messages the write pump puts
// into one write: a client that is sent many messages at once (acks of a
// batch, an update and a state) gets them in one syscall.
const maxWriteBatch = 32 << 10

// writeBuffers lends write pumps their buffers for one write, so that an
// idle connection holds none. The zero value is ready to use.
type writeBuffers struct{ pool sync.Pool }

// writeBuf is what one write needs: the frames of the write and the
// payload of the message being encoded.
type writeBuf struct{ frames, payload []byte }

func (b *writeBuffers) get() *writeBuf {
	if wb, ok := b.pool.Get().(*writeBuf); ok {
		wb.frames = wb.frames[:0]
		return wb
	}
	return &writeBuf{}
}

func (b *writeBuffers) put(wb *writeBuf) { b.pool.Put(wb) }

// appendFrame encodes msg and appends it to wb.frames as one WebSocket
// text frame. An update, sent to every desk alike, is framed once for all
// of them. A failed encoding wraps errEncode and appends nothing.
func (wb *writeBuf) appendFrame(msg any) error {
	if up, ok := msg.(*actors.Update); ok {
		f, err := up.Wire.Get(func() ([]byte, error) {
			p, err := AppendMessage(nil, up)
			return appendTextFrame(nil, p), err
		})
		if err != nil {
			return fmt.Errorf("%w: %w", errEncode, err)
		}
		wb.frames = append(wb.frames, f...)
		return nil
	}
	p, err := AppendMessage(wb.payload[:0], msg)
	wb.payload = p
	if err != nil {
		return fmt.Errorf("%w: %w", errEncode, err)
	}
	wb.frames = appendTextFrame(wb.frames, p)
	return nil
}

// appendTextFrame appends payload as one final, unmasked WebSocket text
// frame (RFC 6455 section 5.2; a server never masks its frames).
func appendTextFrame(dst, payload []byte) []byte {
	const finText = 0x80 | websocket.TextMessage
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, finText, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, finText, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, finText, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// errTooBig is readMessage's error for a message over its limit.
var errTooBig = errors.New("message too big")

// readMessage is websocket.Conn.ReadMessage into a buffer reused across
// messages: the returned data is valid until the next call. A message
// longer than limit is errTooBig, with the rest of it left unread.
// (dmxd enforces the limit here rather than with gorilla's SetReadLimit,
// which writes its close frame from the reader: the connection's writer
// must stay the only one that writes.)
func readMessage(ws *websocket.Conn, buf *[]byte, limit int) (int, []byte, error) {
	kind, r, err := ws.NextReader()
	if err != nil {
		return kind, nil, err
	}
	b := (*buf)[:0]
	if cap(b) == 0 {
		b = make([]byte, 0, messageBufferStart)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > limit {
			*buf = nil
			return kind, nil, errTooBig
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return kind, nil, err
		}
	}
	if cap(b) <= maxKeptMessageBuffer {
		*buf = b
	} else {
		*buf = nil
	}
	return kind, b, nil
}

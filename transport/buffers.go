package transport

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Read buffer sizes of a connection.
const (
	// readBufferSize is gorilla's per-connection read buffer: commands are
	// small, and an idle connection holds it for as long as it lives.
	readBufferSize = 1024
	// messageBufferStart is the first size of the reused message buffer.
	messageBufferStart = 512
	// maxKeptMessageBuffer is the largest message buffer a connection
	// keeps between messages; a larger one (a rare big command) is
	// dropped after use.
	maxKeptMessageBuffer = 4096
)

// errEncode marks a server message that could not be encoded.
var errEncode = errors.New("encode")

// encodeBuffers lends write pumps a buffer for encoding one message, so
// that an idle connection holds none. The zero value is ready to use.
type encodeBuffers struct{ pool sync.Pool }

// write encodes msg and writes it to ws as one text message. A failed
// encoding wraps errEncode; any other error is the socket's.
func (b *encodeBuffers) write(ws *websocket.Conn, msg any, deadline time.Time) error {
	bp, _ := b.pool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer b.pool.Put(bp)
	buf, err := AppendMessage((*bp)[:0], msg)
	*bp = buf
	if err != nil {
		return fmt.Errorf("%w: %w", errEncode, err)
	}
	_ = ws.SetWriteDeadline(deadline)
	return ws.WriteMessage(websocket.TextMessage, buf)
}

// readMessage is websocket.Conn.ReadMessage into a buffer reused across
// messages: the returned data is valid until the next call.
func readMessage(ws *websocket.Conn, buf *[]byte) (int, []byte, error) {
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

package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// smallRcvBuf is the receive buffer of slow and half-open clients, so
// that dmxd's socket fills after a few messages rather than megabytes.
const smallRcvBuf = 4096

// serverMsg is a decoded error, state or output message.
type serverMsg struct {
	Type     string          `json:"type"`
	Universe int             `json:"universe"`
	ID       json.RawMessage `json:"id"`
	Code     string          `json:"code"`
	Values   []uint8         `json:"values"`
	Blackout bool            `json:"blackout"`
	State    string          `json:"state"`
}

// session is one client connection with a reader goroutine that counts
// every message and routes acks, errors and (when asked) states and
// output messages to channels.
type session struct {
	h      *harness
	ws     *websocket.Conn
	acks   chan int64
	errs   chan serverMsg
	states chan serverMsg // nil unless the role wants states
	events chan serverMsg // output and blackout messages; nil unless wanted
	done   chan struct{}
	endErr error         // how the reader ended; valid after done
	quit   chan struct{} // closed when the client ends the session
	once   sync.Once
	acked  atomic.Int64 // acks received, also those acks had no room for
	// limited counts rate_limited errors, also those errs had no room for.
	limited atomic.Int64
}

// dialOpts tune a connection.
type dialOpts struct {
	smallBuf bool // a small receive buffer (slow readers, half-open)
}

// dial connects once and reads the hello and one state per universe.
// Failures are counted by kind and returned.
func (h *harness) dial(ctx context.Context, o dialOpts) (*websocket.Conn, error) {
	nd := &net.Dialer{Timeout: 5 * time.Second}
	if o.smallBuf {
		nd.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, smallRcvBuf)
			})
			return errors.Join(err, serr)
		}
	}
	d := websocket.Dialer{
		NetDialContext:   nd.DialContext,
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   2048,
		WriteBufferSize:  2048,
	}
	ws, resp, err := d.DialContext(ctx, h.wsURL, nil)
	if err != nil {
		kind := "other"
		var ne net.Error
		switch {
		case resp != nil:
			kind = fmt.Sprintf("http_%d", resp.StatusCode)
		case errors.Is(err, syscall.ECONNREFUSED):
			kind = "refused"
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			kind = "reset"
		case errors.Is(err, context.Canceled):
			kind = "cancelled"
		case errors.As(err, &ne) && ne.Timeout():
			kind = "timeout"
		}
		h.st.add("dial_fail." + kind)
		if kind == "other" || ((kind == "http_503" || kind == "reset") && !h.inFault()) {
			h.st.violate("dial: %v", err)
		}
		return nil, err
	}
	h.st.opened.Add(1)
	// gorilla's default close handler answers the close frame and, if that
	// answer cannot be written (dmxd already closed the socket), makes
	// ReadMessage return the write error instead of the close code it
	// read. The code is what the harness checks.
	ws.SetCloseHandler(func(code int, _ string) error {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		return nil
	})
	// hello first, then one state per universe; updates of a universe
	// whose state came already may come in between, never before it.
	_ = ws.SetReadDeadline(time.Now().Add(ackTimeout))
	seen := map[int]bool{}
	for i := 0; len(seen) < h.cfg.Universes; i++ {
		_, data, err := ws.ReadMessage()
		if err != nil {
			_ = ws.Close()
			h.sessionEnd("greeting", err)
			return nil, fmt.Errorf("greeting: %w", err)
		}
		h.st.received.Add(1)
		kind := kindOf(data)
		if i == 0 {
			if kind != "hello" {
				h.st.violate("first message %q, want hello", truncate(data))
			}
			continue
		}
		var m serverMsg
		if err := json.Unmarshal(data, &m); err != nil {
			h.st.violate("undecodable message %q: %v", truncate(data), err)
			continue
		}
		switch kind {
		case "state":
			if seen[m.Universe] {
				h.st.violate("second state of universe %d while connecting", m.Universe)
			}
			seen[m.Universe] = true
		case "update", "blackout", "output":
			if !seen[m.Universe] && kind != "output" {
				h.st.violate("%s of universe %d before its state: %q", kind, m.Universe, truncate(data))
			}
		default:
			h.st.violate("message %q while connecting, want state", truncate(data))
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	return ws, nil
}

// start wraps ws in a session and starts its reader; pace, when set, is
// waited before every read (a slow reader).
func (h *harness) start(ws *websocket.Conn, wantStates bool, pace func() time.Duration) *session {
	s := &session{
		h:    h,
		ws:   ws,
		acks: make(chan int64, 256),
		errs: make(chan serverMsg, 256),
		done: make(chan struct{}),
		quit: make(chan struct{}),
	}
	if wantStates {
		s.states = make(chan serverMsg, 64)
		s.events = make(chan serverMsg, 64)
	}
	go s.read(pace)
	return s
}

func (s *session) read(pace func() time.Duration) {
	defer close(s.done)
	for {
		if pace != nil {
			t := time.NewTimer(pace())
			select {
			case <-t.C:
			case <-s.quit: // a slow reader that leaves does not drain first
				t.Stop()
				s.endErr = net.ErrClosed
				return
			}
		}
		_, data, err := s.ws.ReadMessage()
		if err != nil {
			s.endErr = err
			return
		}
		s.h.st.received.Add(1)
		switch kind := kindOf(data); kind {
		case "update":
		case "ack":
			id, err := strconv.ParseInt(string(bytes.TrimSuffix(data[len(`{"type":"ack","id":`):], []byte("}"))), 10, 64)
			if err != nil {
				s.h.st.violate("ack with an id we never sent: %s", truncate(data))
				continue
			}
			s.h.st.acked.Add(1)
			s.acked.Add(1)
			select {
			case s.acks <- id:
			default:
			}
		case "error", "state", "output", "blackout":
			var m serverMsg
			if err := json.Unmarshal(data, &m); err != nil {
				s.h.st.violate("undecodable %s message %q: %v", kind, truncate(data), err)
				continue
			}
			var ch chan serverMsg
			switch kind {
			case "error":
				s.h.st.add("error." + m.Code)
				if m.Code == "rate_limited" {
					s.limited.Add(1)
				}
				ch = s.errs
			case "state":
				ch = s.states
			default:
				ch = s.events
			}
			if ch != nil {
				select {
				case ch <- m:
				default:
				}
			}
		default:
			s.h.st.violate("unexpected message %q", truncate(data))
		}
	}
}

// send writes one text message with a write deadline of 5 s.
func (s *session) send(msg string) error { return s.sendWithin(msg, 5*time.Second) }

// sendWithin writes one text message with a write deadline of d.
func (s *session) sendWithin(msg string, d time.Duration) error {
	_ = s.ws.SetWriteDeadline(time.Now().Add(d))
	return s.ws.WriteMessage(websocket.TextMessage, []byte(msg))
}

// request sends a command with a fresh id (appended to the JSON object)
// and waits for its ack. A refusal comes back as an error message.
func (s *session) request(cmd string) (serverMsg, error) {
	id := s.h.ids.Add(1)
	full := cmd[:len(cmd)-1] + `,"id":` + strconv.FormatInt(id, 10) + `}`
	s.h.st.sent.Add(1)
	if err := s.send(full); err != nil {
		return serverMsg{}, fmt.Errorf("send: %w", err)
	}
	m, err := s.answer(id, ackTimeout)
	if err != nil {
		return m, fmt.Errorf("%s: %w", full, err)
	}
	return m, nil
}

// answer waits up to bound for the ack of id (returned as a message of
// type "ack") or an error message naming it.
func (s *session) answer(id int64, bound time.Duration) (serverMsg, error) {
	want := strconv.FormatInt(id, 10)
	t := time.NewTimer(bound)
	defer t.Stop()
	for {
		select {
		case got := <-s.acks:
			if got == id {
				return serverMsg{Type: "ack"}, nil
			}
		case e := <-s.errs:
			if string(e.ID) == want {
				return e, nil
			}
		case <-s.done:
			return serverMsg{}, fmt.Errorf("connection ended: %w", s.endErr)
		case <-t.C:
			return serverMsg{}, fmt.Errorf("no answer within %v", bound)
		}
	}
}

// stop tells a paced reader to end.
func (s *session) stop() { s.once.Do(func() { close(s.quit) }) }

// closeClean says goodbye with 1000 and waits for the reader to end.
func (s *session) closeClean() {
	_ = s.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
	}
	s.stop()
	_ = s.ws.Close()
	<-s.done
}

// drop closes the TCP connection without a close frame.
func (s *session) drop() {
	s.stop()
	_ = s.ws.NetConn().Close()
	<-s.done
}

// closeKind names how a connection ended from the client's side.
func closeKind(err error) string {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case err == nil:
		return "open"
	case errors.As(err, &ce):
		return strconv.Itoa(ce.Code)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, net.ErrClosed):
		return "local"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// excused reports whether a session's failure is explained by a restart:
// during one, or a 1001 (sent only at shutdown) noticed later.
func (h *harness) excused(s *session) bool {
	if h.inFault() {
		return true
	}
	select {
	case <-s.done:
		return closeKind(s.endErr) == "1001" && h.restarted.Load()
	default:
		return false
	}
}

// sessionEnd counts how a connection ended that the client did not end
// itself, and flags codes that no well-behaved client should get.
func (h *harness) sessionEnd(role string, err error) string {
	kind := closeKind(err)
	h.st.add("close." + kind)
	switch kind {
	case "1001":
		if !h.restarted.Load() {
			h.st.violate("%s: connection closed with 1001 but dmxd was never restarted", role)
		}
	case "eof", "reset":
		if !h.inFault() {
			h.st.violate("%s: connection ended (%s: %v) outside a restart", role, kind, err)
		}
	case "local":
	default:
		h.st.violate("%s: connection ended with %s: %v", role, kind, err)
	}
	return kind
}

// kindOf returns the type of a server message: they all start with
// {"type":"KIND".
func kindOf(data []byte) string {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return ""
	}
	rest := data[len(prefix):]
	if i := bytes.IndexByte(rest, '"'); i >= 0 {
		return string(rest[:i])
	}
	return ""
}

func truncate(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

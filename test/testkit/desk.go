package testkit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// Message is a decoded server message; Raw holds its JSON.
type Message struct {
	Type     string         `json:"type"`
	Universe int            `json:"universe"`
	Values   []int          `json:"values"`
	Changes  map[string]int `json:"changes"`
	Blackout bool           `json:"blackout"`
	On       bool           `json:"on"`
	ID       any            `json:"id"`
	Code     string         `json:"code"`
	Message  string         `json:"message"`
	State    string         `json:"state"`
	Driver   string         `json:"driver"`
	Raw      string         `json:"-"`
}

// Desk is a WebSocket client of dmxd, as a lighting desk would be. Use it
// from one goroutine.
type Desk struct {
	Conn *websocket.Conn
}

// Dial connects to url.
func Dial(url string, header http.Header) (*Desk, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	return &Desk{Conn: c}, resp, nil
}

// Send writes v as one JSON text message (a string is sent verbatim).
func (d *Desk) Send(v any) error {
	_ = d.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if s, ok := v.(string); ok {
		return d.Conn.WriteMessage(websocket.TextMessage, []byte(s))
	}
	return d.Conn.WriteJSON(v)
}

// Next reads the next message within timeout.
func (d *Desk) Next(timeout time.Duration) (Message, error) {
	_ = d.Conn.SetReadDeadline(time.Now().Add(timeout))
	_, data, err := d.Conn.ReadMessage()
	if err != nil {
		return Message{}, err
	}
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, fmt.Errorf("decode %q: %w", data, err)
	}
	m.Raw = string(data)
	return m, nil
}

// Until reads messages until ok returns true, within timeout in all.
func (d *Desk) Until(timeout time.Duration, ok func(Message) bool) (Message, error) {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return Message{}, fmt.Errorf("no matching message within %v", timeout)
		}
		m, err := d.Next(left)
		if err != nil {
			return Message{}, err
		}
		if ok(m) {
			return m, nil
		}
	}
}

// Close closes the connection cleanly.
func (d *Desk) Close() error {
	_ = d.Conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return d.Conn.Close()
}

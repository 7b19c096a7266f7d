// Package client is a small dmxd client for scripts: it connects to a
// running dmxd over its WebSocket protocol (docs/protocol.md, version 1),
// sends one command at a time with an "id" and waits for the matching
// "ack" or "error".
//
// Concurrency: a Client is used by one goroutine at a time; it owns its
// connection and reads it only while a call waits for its answer. Every
// call gives up when the context it was given ends.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Protocol limits, as docs/protocol.md fixes them.
const (
	Channels    = 512         // channels of a universe, 1..Channels
	MaxLevel    = 255         // levels are 0..MaxLevel
	MaxFadeMS   = 600000      // fade times are 0..MaxFadeMS milliseconds
	wsPath      = "/ws"       // the WebSocket path of a dmxd
	bodyLimit   = 512         // bytes of a refused upgrade's body quoted in an error
	closeWait   = time.Second // for the close frame to go out
	defaultPort = "8080"      // port of a bare host given without one
)

// ServerError is a command the server refused: its protocol error code
// and message.
type ServerError struct {
	Code    string
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("server refused the command: %s: %s", e.Code, e.Message)
}

// Hello is what the server says first on every connection.
type Hello struct {
	Version   string `json:"version"`
	Universes []int  `json:"universes"`
	Rate      int    `json:"rate"`
	Merge     string `json:"merge"`
}

// State is a universe's levels (Values[0] is channel 1) and blackout.
type State struct {
	Universe int   `json:"universe"`
	Values   []int `json:"values"`
	Blackout bool  `json:"blackout"`
}

// message is any server message; fields of the types the client reads.
type message struct {
	Type     string          `json:"type"`
	ID       json.RawMessage `json:"id"`
	Code     string          `json:"code"`
	Message  string          `json:"message"`
	Universe int             `json:"universe"`
	Values   []int           `json:"values"`
	Blackout bool            `json:"blackout"`
	On       bool            `json:"on"`
	Changes  map[string]int  `json:"changes"`

	Version   string `json:"version"`
	Universes []int  `json:"universes"`
	Rate      int    `json:"rate"`
	Merge     string `json:"merge"`
}

// Client is one connection to a dmxd.
type Client struct {
	conn   *websocket.Conn
	hello  Hello
	nextID int
}

// ServerURL turns what a person types for a server into dmxd's WebSocket
// URL: ws:// and wss:// URLs are kept, http:// and https:// become ws://
// and wss://, and a bare HOST:PORT (or HOST, port 8080) becomes
// ws://HOST:PORT/ws. An empty path or one ending in "/" gets "ws"
// appended, so that http://host:8080/ (the desk's address) works too.
func ServerURL(s string) (string, error) {
	if s == "" {
		return "", errors.New("no server given")
	}
	if !strings.Contains(s, "://") {
		host := s
		if _, _, err := net.SplitHostPort(s); err != nil {
			host = net.JoinHostPort(strings.Trim(s, "[]"), defaultPort)
		}
		s = "ws://" + host
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("server %q: %w", s, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server %q: want ws://, wss://, http://, https:// or HOST:PORT", s)
	}
	if u.Host == "" {
		return "", fmt.Errorf("server %q has no host", s)
	}
	if u.Path == "" || strings.HasSuffix(u.Path, "/") {
		u.Path = strings.TrimSuffix(u.Path, "/") + wsPath
	}
	u.Fragment = ""
	return u.String(), nil
}

// Dial connects to the dmxd at server (any form ServerURL takes) and
// reads its hello. A non-empty token is sent as "Authorization: Bearer".
func Dial(ctx context.Context, server, token string) (*Client, error) {
	addr, err := ServerURL(server)
	if err != nil {
		return nil, err
	}
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, addr, header)
	if err != nil {
		return nil, dialError(addr, resp, err, token != "")
	}
	c := &Client{conn: conn}
	m, err := c.next(ctx)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%s: reading hello: %w", addr, err)
	}
	if m.Type != "hello" {
		_ = conn.Close()
		return nil, fmt.Errorf("%s: first message is %q, not hello: is this a dmxd?", addr, m.Type)
	}
	c.hello = Hello{Version: m.Version, Universes: m.Universes, Rate: m.Rate, Merge: m.Merge}
	return c, nil
}

// dialError says why the connection to addr failed, in one line.
func dialError(addr string, resp *http.Response, err error, withToken bool) error {
	if resp == nil {
		return fmt.Errorf("cannot reach dmxd at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
	why := strings.Join(strings.Fields(string(body)), " ")
	if resp.StatusCode == http.StatusUnauthorized {
		if withToken {
			return fmt.Errorf("%s refused the token (HTTP 401)", addr)
		}
		return fmt.Errorf("%s wants a token (HTTP 401): give --token or DMXD_TOKEN", addr)
	}
	if why == "" {
		return fmt.Errorf("%s refused the connection: HTTP %s", addr, resp.Status)
	}
	return fmt.Errorf("%s refused the connection: HTTP %s: %s", addr, resp.Status, why)
}

// Hello returns what the server said when the client connected.
func (c *Client) Hello() Hello { return c.hello }

// Close closes the connection with a normal close (1000).
func (c *Client) Close() error {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
	return c.conn.Close()
}

// Set sets channels of universe to levels (channel → level) and returns
// once the server acknowledged it.
func (c *Client) Set(ctx context.Context, universe int, levels map[int]int) error {
	_, err := c.do(ctx, universe, map[string]any{"dmx": channelMap(levels)})
	return err
}

// Fade starts fades of channels of universe to levels over ms
// milliseconds and returns once the server acknowledged it (the fade
// has started; it ends ms later).
func (c *Client) Fade(ctx context.Context, universe int, levels map[int]int, ms int) error {
	_, err := c.do(ctx, universe, map[string]any{"fade": channelMap(levels), "ms": ms})
	return err
}

// Blackout switches universe's blackout on or off and returns once the
// server acknowledged it.
func (c *Client) Blackout(ctx context.Context, universe int, on bool) error {
	_, err := c.do(ctx, universe, map[string]any{"blackout": on})
	return err
}

// Get returns universe's levels and blackout as the server holds them
// when it answers.
func (c *Client) Get(ctx context.Context, universe int) (State, error) {
	st, err := c.do(ctx, universe, map[string]any{"get": true})
	if err != nil {
		return State{}, err
	}
	if st == nil {
		return State{}, fmt.Errorf("the server acknowledged get without a state of universe %d", universe)
	}
	return *st, nil
}

// channelMap is levels in the protocol's object form.
func channelMap(levels map[int]int) map[string]int {
	m := make(map[string]int, len(levels))
	for ch, v := range levels {
		m[strconv.Itoa(ch)] = v
	}
	return m
}

// do sends cmd to universe with a new id and reads until its ack or
// error. It returns the universe's state as last seen before the ack (a
// get's answer is a state followed by the ack), with the updates and
// blackouts that came after it applied; nil if none came.
func (c *Client) do(ctx context.Context, universe int, cmd map[string]any) (*State, error) {
	c.nextID++
	id := c.nextID
	cmd["universe"] = universe
	cmd["id"] = id
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetWriteDeadline(dl)
	}
	if err := c.conn.WriteJSON(cmd); err != nil {
		return nil, fmt.Errorf("sending the command: %w", err)
	}
	want := strconv.Itoa(id)
	var st *State
	for {
		m, err := c.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("waiting for the answer: %w", err)
		}
		switch m.Type {
		case "ack":
			if string(m.ID) == want {
				return st, nil
			}
		case "error":
			// An error without an id is about this connection's commands:
			// this client sends one at a time.
			if string(m.ID) == want || len(m.ID) == 0 {
				return nil, &ServerError{Code: m.Code, Message: m.Message}
			}
		case "state":
			if m.Universe == universe {
				st = &State{Universe: m.Universe, Values: m.Values, Blackout: m.Blackout}
			}
		case "update":
			if st != nil && m.Universe == universe {
				for k, v := range m.Changes {
					if ch, err := strconv.Atoi(k); err == nil && ch >= 1 && ch <= len(st.Values) {
						st.Values[ch-1] = v
					}
				}
			}
		case "blackout":
			if st != nil && m.Universe == universe {
				st.Blackout = m.On
			}
		}
	}
}

// next reads one message; it gives up with ctx's error when ctx ends
// (the read deadline is moved to the past, which net.Conn allows from
// another goroutine).
func (c *Client) next(ctx context.Context) (message, error) {
	var m message
	if err := ctx.Err(); err != nil {
		return m, err
	}
	dl, _ := ctx.Deadline() // zero: no deadline
	_ = c.conn.SetReadDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.conn.UnderlyingConn().SetReadDeadline(time.Unix(1, 0)) })
	_, data, err := c.conn.ReadMessage()
	stop()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return m, fmt.Errorf("the server closed the connection: %d %s", ce.Code, ce.Text)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// Only ctx sets deadlines: its own, or the past when cancelled.
			if ctx.Err() != nil {
				return m, ctx.Err()
			}
			return m, context.DeadlineExceeded
		}
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("the server sent something that is not a JSON object: %w", err)
	}
	return m, nil
}

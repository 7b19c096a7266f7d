package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// TestFanoutPoolNeverWaitsForASocket: the pool (one worker) writes updates
// for desks that read while a desk that reads nothing fills its socket:
// that desk is handed to a writer of its own with the rest of the bytes,
// and once it reads, every update it was sent arrives whole and in order.
// A pool that waited for the full socket would leave the reading desks
// without their updates (the test would time out).
func TestFanoutPoolNeverWaitsForASocket(t *testing.T) {
	srv, hs := startServer(t, Config{WriteWait: time.Minute})
	srv.fanout.workers = 1
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	stalled := dialSmall(t, url)
	readers := []*websocket.Conn{dialWS(t, url), dialWS(t, url)}
	conns := openConns(t, srv, 3)
	stalledConn := connOf(t, srv, conns, stalled)

	const rounds = 200
	var sentStalled []int // the rounds whose update the stalled desk's queue took
	var ups []*actors.Update
	for i := range rounds {
		up := bigUpdate(i, len(conns))
		ups = append(ups, up)
		for _, c := range conns {
			if c.Send(up) {
				if c == stalledConn {
					sentStalled = append(sentStalled, i)
				}
			} else {
				up.Done() // as the connection actor does when the outbox refuses
			}
		}
		for _, ws := range readers {
			if got := readUpdateRound(t, ws); got != i {
				t.Fatalf("round %d: a reading desk got the update of round %d", i, got)
			}
		}
	}
	if len(sentStalled) == rounds {
		t.Fatal("the stalled desk's queue took every update: its socket never filled")
	}
	stalledConn.mu.Lock()
	state := stalledConn.writer
	stalledConn.mu.Unlock()
	if state != writerRunning {
		t.Fatalf("the stalled desk's writer is %d, want its own writer waiting for the socket", state)
	}
	for _, want := range sentStalled {
		if got := readUpdateRound(t, stalled); got != want {
			t.Fatalf("the stalled desk got the update of round %d, want %d", got, want)
		}
	}
	for _, up := range ups {
		waitPending(t, up, 0)
	}
}

// TestFanoutPoolKeepsOrder: acks and other messages jump the pool (their
// connection gets its own writer), yet every connection's messages arrive
// in the order they were queued.
func TestFanoutPoolKeepsOrder(t *testing.T) {
	srv, hs := startServer(t, Config{})
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	ws := dialWS(t, url)
	c := openConns(t, srv, 1)[0]
	const n = 300
	kindOf := func(i int) string {
		if i%3 == 1 {
			return "ack"
		}
		return "update"
	}
	// The desk reads while the messages are queued (they are more than
	// its socket holds).
	read := make(chan error, 1)
	go func() {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := range n {
			_, data, err := ws.ReadMessage()
			if err != nil {
				read <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			if !strings.Contains(string(data), `"type":"`+kindOf(i)+`"`) {
				read <- fmt.Errorf("message %d is %.60s, want an %s", i, data, kindOf(i))
				return
			}
			if kindOf(i) == "update" {
				if got, err := roundOf(data); err != nil || got != i%256 {
					read <- fmt.Errorf("message %d is the update of round %d (%v), want %d", i, got, err, i%256)
					return
				}
			}
		}
		read <- nil
	}()
	var ups []*actors.Update
	for i := range n {
		var msg any = &actors.Ack{ID: actors.ID(fmt.Sprintf(`"%d"`, i))}
		if kindOf(i) == "update" {
			up := bigUpdate(i%256, 1)
			ups = append(ups, up)
			msg = up
		}
		for !c.Send(msg) {
			time.Sleep(time.Millisecond) // the queue is full: let the writer catch up
		}
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	for _, up := range ups {
		waitPending(t, up, 0)
	}
}

// TestFanoutPoolGoesIdle: once the desks have their updates, the pool
// holds no turn and runs no worker. A turn that ended by queueing a new
// one for an empty outbox once kept every desk that ever had an update
// cycling through the pool, a worker busy for ever.
func TestFanoutPoolGoesIdle(t *testing.T) {
	srv, hs := startServer(t, Config{})
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	desks := []*websocket.Conn{dialWS(t, url), dialWS(t, url), dialWS(t, url)}
	conns := openConns(t, srv, len(desks))
	for round := range 5 {
		up := bigUpdate(round, len(conns))
		for _, c := range conns {
			if !c.Send(up) {
				t.Fatalf("round %d: the outbox refused the update", round)
			}
		}
		for _, ws := range desks {
			if got := readUpdateRound(t, ws); got != round {
				t.Fatalf("round %d: a desk got the update of round %d", round, got)
			}
		}
		waitPending(t, up, 0)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.fanout.mu.Lock()
		turns, running := len(srv.fanout.queue)-srv.fanout.head, srv.fanout.running
		srv.fanout.mu.Unlock()
		if turns == 0 && running == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the last update was written: %d turns waiting, %d workers running; want none", turns, running)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFanoutPoolAfterAnOldDeadline: a desk whose last write by its own
// writer is older than WriteWait still gets its updates from the pool (a
// stale write deadline on the socket once made every pool write fail and
// the connection close).
func TestFanoutPoolAfterAnOldDeadline(t *testing.T) {
	const wait = 50 * time.Millisecond
	srv, hs := startServer(t, Config{WriteWait: wait})
	ws := dialWS(t, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws")
	c := openConns(t, srv, 1)[0]
	time.Sleep(2 * wait) // the deadline of the hello's and state's write has passed
	up := bigUpdate(7, 1)
	if !c.Send(up) {
		t.Fatal("Send refused the update")
	}
	if got := readUpdateRound(t, ws); got != 7 {
		t.Fatalf("got the update of round %d, want 7", got)
	}
	waitPending(t, up, 0)
}

// bigUpdate sets all 512 channels (about 5 KB as JSON), channel 1 to
// round, for desks deliveries, so that a few fill a socket.
func bigUpdate(round, desks int) *actors.Update {
	changes := make([]dmx.Change, 512)
	for ch := range changes {
		changes[ch] = dmx.Change{Channel: uint16(ch + 1), Level: uint8(ch)}
	}
	changes[0].Level = uint8(round)
	return actors.NewUpdate(1, changes, desks)
}

// readUpdateRound reads messages until an update and returns its round.
func readUpdateRound(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for an update: %v", err)
		}
		if strings.Contains(string(data), `"type":"update"`) {
			return updateRound(t, data)
		}
	}
}

func updateRound(t *testing.T, data []byte) int {
	t.Helper()
	round, err := roundOf(data)
	if err != nil {
		t.Fatal(err)
	}
	return round
}

// roundOf returns the round of a bigUpdate as the desk read it.
func roundOf(data []byte) (int, error) {
	var u struct {
		Changes map[string]int `json:"changes"`
	}
	if err := json.Unmarshal(data, &u); err != nil || len(u.Changes) != 512 {
		return 0, fmt.Errorf("update %.60s… does not decode whole: %v", data, err)
	}
	return u.Changes["1"], nil
}

// dialWS connects a desk and reads up to its state.
func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	readUntil(t, ws, "state")
	return ws
}

// dialSmall connects a desk with a 4 KiB receive buffer, so that a desk
// that reads nothing fills its socket after a few messages.
func dialSmall(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	nd := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nd.DialContext(ctx, network, addr)
	}}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	readUntil(t, ws, "state")
	return ws
}

// openConns returns the server's connections once there are n.
func openConns(t *testing.T, srv *Server, n int) []*conn {
	t.Helper()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var conns []*conn
	for c := range srv.open {
		conns = append(conns, c)
	}
	if len(conns) != n {
		t.Fatalf("%d connections open, want %d", len(conns), n)
	}
	return conns
}

// connOf finds the server's side of ws by its address.
func connOf(t *testing.T, srv *Server, conns []*conn, ws *websocket.Conn) *conn {
	t.Helper()
	for _, c := range conns {
		if c.ws.RemoteAddr().String() == ws.LocalAddr().String() {
			return c
		}
	}
	t.Fatal("no server connection for the stalled desk")
	return nil
}

package transport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// TestListenerLimit: a Listener of 2 slots on a real socket. A third
// connection waits unaccepted while the two are busy, and takes the slot
// of the first to go idle; with several idle, the one idle longest makes
// room at once; a connection's Close frees its slot; Close of the listener
// ends a waiting Accept. (The bubble lets the test see that an Accept is
// waiting; the sockets are real.)
func TestListenerLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := NewListener(inner, 2, zerolog.Nop())
		defer ln.Close()
		var clients []net.Conn
		defer func() {
			for _, c := range clients {
				c.Close()
			}
		}()
		// connect dials and starts an Accept for that connection.
		connect := func() (client net.Conn, accepted <-chan net.Conn) {
			c, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
			ch := make(chan net.Conn, 1)
			go func() {
				a, err := ln.Accept()
				if err != nil {
					close(ch)
					return
				}
				ch <- a
			}()
			synctest.Wait() // the Accept returned or waits for a slot
			return c, ch
		}
		acceptedNow := func(what string, ch <-chan net.Conn) net.Conn {
			t.Helper()
			select {
			case a, ok := <-ch:
				if !ok {
					t.Fatalf("%s: Accept failed", what)
				}
				return a
			default:
				t.Fatalf("%s: not accepted", what)
				return nil
			}
		}
		waiting := func(what string, ch <-chan net.Conn) {
			t.Helper()
			select {
			case <-ch:
				t.Fatalf("%s: accepted beyond the limit of 2", what)
			default:
			}
		}
		closed := func(what string, a net.Conn) {
			t.Helper()
			if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("%s: read %v, want it closed by the listener", what, err)
			}
		}

		_, ch := connect()
		a1 := acceptedNow("first", ch)
		_, ch = connect()
		a2 := acceptedNow("second", ch)
		_, ch3 := connect()
		waiting("third, both busy", ch3)
		ln.ConnState(a1, http.StateActive)
		synctest.Wait()
		waiting("third, the first still busy", ch3)
		ln.ConnState(a1, http.StateIdle) // its answer is out: idle keep-alive
		synctest.Wait()
		a3 := acceptedNow("third, after the first went idle", ch3)
		closed("first", a1)

		a2.Close() // its request is done and the server closed it
		_, ch = connect()
		a4 := acceptedNow("fourth, after the second closed", ch)

		ln.ConnState(a3, http.StateIdle)
		ln.ConnState(a4, http.StateIdle)
		_, ch = connect()
		a5 := acceptedNow("fifth, two idle", ch)
		closed("third, idle longest", a3)
		ln.ConnState(a4, http.StateActive) // a request came: a4 is no longer idle
		c4 := clients[3]
		if _, err := c4.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := a4.Read(make([]byte, 1)); err != nil {
			t.Fatalf("fourth, idle for less long: %v, want it open", err)
		}

		_, ch = connect()
		waiting("sixth, both busy", ch)
		ln.Close()
		synctest.Wait()
		if _, ok := <-ch; ok {
			t.Fatal("sixth: accepted after Close")
		}
		a4.Close()
		a5.Close()
	})
}

// TestTimeoutsSpareWebSockets: the timeouts of plain HTTP close an idle
// keep-alive connection, but not a WebSocket opened before it and idle
// longer than every timeout: the desk still gets its hello and its ack
// afterwards. (Two seconds are short enough for a test and long enough
// for a request on a loaded machine.)
func TestTimeoutsSpareWebSockets(t *testing.T) {
	const short = 2 * time.Second
	_, addr := serveLimited(t, Config{
		ReadHeaderTimeout: short, RequestTimeout: short, IdleTimeout: short,
		PingPeriod: time.Hour, PongWait: time.Hour,
	})
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a failure backstop
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: %v, want closed by the server", err)
	}

	// The WebSocket has been open longer than every timeout.
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{`"type":"hello"`, `"type":"state"`} {
		_, msg, err := ws.ReadMessage()
		if err != nil || !strings.Contains(string(msg), want) {
			t.Fatalf("WebSocket: %s %v, want %s", msg, err, want)
		}
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"dmx": {"1": 9}, "id": 1}`)); err != nil {
		t.Fatalf("WebSocket write: %v", err)
	}
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"type":"ack"`) {
		t.Fatalf("WebSocket: %s %v, want the ack", msg, err)
	}
}

// TestWebSocketUnderListener: a WebSocket accepted by the Listener still
// gets the socket options and the read-ahead of a bare TCP socket.
func TestWebSocketUnderListener(t *testing.T) {
	srv, addr := serveLimited(t, Config{})
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ws.ReadMessage(); err != nil { // hello: the connection is open
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for c := range srv.open {
		if rc, ok := c.ws.NetConn().(*readConn); !ok || rc.raw == nil {
			t.Errorf("the WebSocket's socket is %T without its raw connection: no read-ahead", c.ws.NetConn())
		}
	}
	if len(srv.open) != 1 {
		t.Errorf("%d connections open, want 1", len(srv.open))
	}
}

// serveLimited serves a Server for a real engine through HTTPServer and a
// Listener of 8 slots on 127.0.0.1, as dmxd does; it returns the server
// and its address.
func serveLimited(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	srv, eng := newServer(t, cfg)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(inner, 8, zerolog.Nop())
	hs := srv.HTTPServer(ln)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close(); closeServer(srv, eng) })
	return srv, inner.Addr().String()
}

// TestErrorLogIsJSON: what net/http writes to its ErrorLog becomes a
// zerolog line: a panic at error level, the rest at warn.
func TestErrorLogIsJSON(t *testing.T) {
	var buf bytes.Buffer
	l := newErrorLog(zerolog.New(&buf))
	l.Printf("http: Accept error: %v; retrying in %v", "accept4: too many open files", 5*time.Millisecond)
	l.Printf("http: panic serving %v: %v\n%s", "127.0.0.1:9", "boom", "goroutine 1 [running]:\nmain.main()")
	want := []string{
		`{"level":"warn","source":"net/http","message":"http: Accept error: accept4: too many open files; retrying in 5ms"}`,
		`{"level":"error","source":"net/http","message":"http: panic serving 127.0.0.1:9: boom\ngoroutine 1 [running]:\nmain.main()"}`,
	}
	if got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged\n%s\nwant\n%s", buf.String(), strings.Join(want, "\n"))
	}
}

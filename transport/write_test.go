package transport

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// TestTextFramesReadByGorilla: the frames the write pump builds itself are
// read back by gorilla's client, one message each, at every payload size
// where the length encoding changes (7 bits, 16 bits, 64 bits).
func TestTextFramesReadByGorilla(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 0xFFFF, 0x10000, MaxMessageSize + 1}
	var stream []byte
	var want []string
	for i, n := range sizes {
		p := strings.Repeat(string(rune('a'+i)), n)
		want = append(want, p)
		stream = appendTextFrame(stream, []byte(p))
	}
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		// The frames in one write, past gorilla, as the write pump does.
		_, _ = ws.NetConn().Write(stream)
		_, _, _ = ws.ReadMessage() // until the client goes
		ws.Close()
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, w := range want {
		kind, got, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, len(w), err)
		}
		if kind != websocket.TextMessage || !bytes.Equal(got, []byte(w)) {
			t.Fatalf("message %d: kind %d, %d bytes, want a text message of %d bytes", i, kind, len(got), len(w))
		}
	}
}

// TestWindow: take takes free credit at once, waits while the window is
// used up, goes on when credit comes back, and gives up when told to.
func TestWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWindow(10)
		quit := make(chan struct{})
		for _, n := range []int{9, 1} {
			if ok, waited := w.take(n, quit); !ok || waited {
				t.Fatalf("take %d of a window with room: ok %v, waited %v; want true, false", n, ok, waited)
			}
		}
		if got := w.inUse(10); got != 10 {
			t.Fatalf("in use %d, want 10", got)
		}
		var took chan bool
		taking := func(n int) {
			took = make(chan bool, 1)
			go func() {
				ok, waited := w.take(n, quit)
				took <- ok && waited // every take here finds the window used up
			}()
			synctest.Wait() // the taker runs until it blocks or returns
		}
		// returned reports whether the taker returned, failing the test if
		// it returned without taking.
		returned := func() bool {
			select {
			case ok := <-took:
				if !ok {
					t.Fatal("take gave up before quit")
				}
				return true
			default:
				return false
			}
		}
		taking(3)
		w.release(2) // not enough for 3
		synctest.Wait()
		if returned() {
			t.Fatal("take 3 returned with 2 free")
		}
		w.release(1)
		synctest.Wait()
		if !returned() {
			t.Fatal("take 3 still waits with 3 free")
		}
		taking(1)
		if returned() {
			t.Fatal("take 1 returned from a used-up window")
		}
		close(quit)
		if <-took {
			t.Fatal("take on a used-up window returned true after quit")
		}
		if got := w.inUse(10); got != 10 {
			t.Fatalf("in use %d after a refused take, want 10", got)
		}
	})
}

// TestUpdateFramedOnce: an update goes to every desk alike, so it is
// encoded and framed once and the same bytes go to each.
func TestUpdateFramedOnce(t *testing.T) {
	up := &actors.Update{Universe: 1, Changes: []dmx.Change{{Channel: 1, Level: 255}, {Channel: 512, Level: 7}}}
	var a, b writeBuf
	if err := a.appendFrame(up); err != nil {
		t.Fatal(err)
	}
	if err := b.appendFrame(up); err != nil {
		t.Fatal(err)
	}
	want := appendTextFrame(nil, []byte(`{"type":"update","universe":1,"changes":{"1":255,"512":7}}`))
	if !bytes.Equal(a.frames, want) || !bytes.Equal(b.frames, want) {
		t.Fatalf("frames %q and %q, want %q", a.frames, b.frames, want)
	}
	if _, err := up.Wire.Get(func() ([]byte, error) {
		t.Fatal("the update was encoded again")
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestBulkGate: at most n decoders hold the gate; the next waits until one
// leaves, or gives up when told to.
func TestBulkGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newBulkGate(1, 0)
		quit := make(chan struct{})
		if !g.enter(4096, quit) {
			t.Fatal("enter of an empty gate refused")
		}
		entered := make(chan bool, 1)
		go func() { entered <- g.enter(4096, quit) }()
		synctest.Wait()
		select {
		case <-entered:
			t.Fatal("a second decoder entered a gate of one")
		default:
		}
		g.leave()
		synctest.Wait()
		if ok := <-entered; !ok {
			t.Fatal("the waiting decoder did not enter after a leave")
		}
		go func() { entered <- g.enter(4096, quit) }()
		synctest.Wait()
		close(quit)
		if <-entered {
			t.Fatal("enter of a full gate returned true after quit")
		}
	})
}

// TestBulkBudget: bulk messages pass at the budget's pace once its burst
// is spent, whatever their senders offer; without a budget they never
// wait; a decoder waiting for the budget gives up when told to.
func TestBulkBudget(t *testing.T) {
	const size = 32 << 10 // bytes of each message
	tests := []struct {
		name      string
		perSecond int
		messages  int
		want      time.Duration // from the first enter to the last
	}{
		// The burst holds MaxMessageSize (two messages); the 18 others
		// take 18 × 32 KiB at 640 KiB/s.
		{"paced after the burst", 640 << 10, 20, 900 * time.Millisecond},
		{"within the burst", 640 << 10, 2, 0},
		{"no budget", 0, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newBulkGate(4, tt.perSecond)
				quit := make(chan struct{})
				start := time.Now()
				for i := range tt.messages {
					if !g.enter(size, quit) {
						t.Fatalf("message %d refused", i)
					}
					g.leave()
				}
				if got := time.Since(start); got < tt.want || got > tt.want+time.Millisecond {
					t.Errorf("%d messages of %d bytes took %v, want %v", tt.messages, size, got, tt.want)
				}
			})
		})
	}
	t.Run("quit while waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := newBulkGate(4, 64<<10)
			quit := make(chan struct{})
			if !g.enter(MaxMessageSize, quit) {
				t.Fatal("the burst refused")
			}
			g.leave()
			entered := make(chan bool, 1)
			go func() { entered <- g.enter(MaxMessageSize, quit) }()
			synctest.Wait()
			select {
			case <-entered:
				t.Fatal("a message passed an empty budget at once")
			default:
			}
			close(quit)
			if <-entered {
				t.Fatal("enter returned true after quit")
			}
		})
	})
}

// TestUpdatesDone: each connection reports a broadcast update done once
// its writer wrote it, and one that it can no longer write (its client
// gone) done as well, so that the universe's fan-out pace never waits for
// a delivery that will not come.
func TestUpdatesDone(t *testing.T) {
	srv, hs := startServer(t, Config{})
	const desks = 3
	var clients []*websocket.Conn
	for range desks {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		readUntil(t, ws, "state")
		clients = append(clients, ws)
	}
	var conns []*conn
	srv.mu.Lock()
	for c := range srv.open {
		conns = append(conns, c)
	}
	srv.mu.Unlock()
	if len(conns) != desks {
		t.Fatalf("%d connections open, want %d", len(conns), desks)
	}
	up := actors.NewUpdate(1, []dmx.Change{{Channel: 7, Level: 70}}, desks)
	for _, c := range conns {
		if !c.Send(up) {
			t.Fatal("Send refused the update")
		}
	}
	for _, ws := range clients {
		readUntil(t, ws, "update")
	}
	waitPending(t, up, 0)

	// Queued for a connection whose socket is then closed under it.
	lost := actors.NewUpdate(1, []dmx.Change{{Channel: 8, Level: 80}}, 1)
	c := conns[0]
	c.mu.Lock()
	c.queue = append(c.queue, lost)
	c.mu.Unlock()
	c.drop()
	waitPending(t, lost, 0)
}

// readUntil reads messages until one of type kind.
func readUntil(t *testing.T, ws *websocket.Conn, kind string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %s: %v", kind, err)
		}
		if strings.Contains(string(data), `"type":"`+kind+`"`) {
			return
		}
	}
}

// waitPending waits until up has want deliveries pending (10 s at most:
// a backstop, not a timing claim).
func waitPending(t *testing.T, up *actors.Update, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for up.Pending() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries pending, want %d", up.Pending(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

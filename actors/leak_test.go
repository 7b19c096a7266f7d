package actors_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// TestClosedConnectionsAreFreed: once connections have come and gone,
// nothing in the engine keeps them (their peers, sockets and buffers)
// alive. A lobby that parented the connection actors kept them through
// protoactor's child set; this test found it.
func TestClosedConnectionsAreFreed(t *testing.T) {
	eng, err := actors.Start(actors.Config{Universes: 2, Rate: 44, Merge: dmx.HTP, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = eng.CloseConnections(actors.CloseGoingAway, "", time.Now().Add(5*time.Second))
		_ = eng.Stop()
	})
	const n = 200
	var freed atomic.Int64
	func() {
		peers := make([]*queuePeer, n)
		for i := range peers {
			p := &queuePeer{}
			runtime.SetFinalizer(p, func(*queuePeer) { freed.Add(1) })
			pid, err := eng.Connect(p)
			if err != nil {
				t.Fatal(err)
			}
			eng.Deliver(pid, &actors.Received{Cmd: &actors.Command{Kind: actors.KindDMX, Universe: 1 + i%2,
				Changes: []dmx.Change{{Channel: uint16(1 + i), Level: 9}}}})
			eng.Deliver(pid, &actors.Closed{Code: 1000})
			peers[i] = p
		}
		for _, p := range peers {
			p.waitClosed(t)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for freed.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d closed connections are still referenced", n-int(freed.Load()), n)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// waitClosed waits until the connection actor has closed the peer.
func (p *queuePeer) Release(int) {}

func (p *queuePeer) waitClosed(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		closed := p.closed != 0
		p.mu.Unlock()
		if closed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("connection actor never closed its peer")
		}
		time.Sleep(time.Millisecond)
	}
}

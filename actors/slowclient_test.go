package actors_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// queuePeer is a test double of the transport's Peer: its queue can be
// made to refuse messages, as a full WebSocket send queue does.
type queuePeer struct {
	full   atomic.Bool
	mu     sync.Mutex
	got    []any
	closed int
}

func (p *queuePeer) Send(msg any) bool {
	if p.full.Load() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, msg)
	return true
}

func (p *queuePeer) Close(code int, _ string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed == 0 {
		p.closed = code
	}
}

// waitFor polls the peer's messages until ok finds what it wants.
func (p *queuePeer) waitFor(t *testing.T, what string, ok func([]any) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		done := ok(p.got)
		p.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			p.mu.Lock()
			t.Fatalf("%s: not seen in %d messages", what, len(p.got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *queuePeer) reset() {
	p.mu.Lock()
	p.got = nil
	p.mu.Unlock()
}

// TestSlowClientCatchesUpWithFreshState: while a client's queue is full
// its updates are dropped and its acks held; when it drains it gets the
// held ack and one fresh state with the latest levels, and stays open.
func TestSlowClientCatchesUpWithFreshState(t *testing.T) {
	eng, err := actors.Start(actors.Config{Universes: 1, Rate: 44, Merge: dmx.LTP, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = eng.CloseConnections(actors.CloseGoingAway, "", time.Now().Add(5*time.Second))
		_ = eng.Stop()
	})
	slow, other := &queuePeer{}, &queuePeer{}
	slowPID, err := eng.Connect(slow)
	if err != nil {
		t.Fatal(err)
	}
	otherPID, err := eng.Connect(other)
	if err != nil {
		t.Fatal(err)
	}
	hasState := func(ms []any) bool {
		for _, m := range ms {
			if _, ok := m.(*actors.State); ok {
				return true
			}
		}
		return false
	}
	slow.waitFor(t, "first state", hasState)
	other.waitFor(t, "first state", hasState)

	slow.full.Store(true)
	slow.reset()
	eng.Deliver(slowPID, &actors.Received{Cmd: &actors.Command{Kind: actors.KindDMX, Universe: 1, ID: actors.ID(`"mine"`),
		Changes: []dmx.Change{{Channel: 2, Level: 22}}}})
	for lv := range uint8(50) {
		eng.Deliver(otherPID, &actors.Received{Cmd: &actors.Command{Kind: actors.KindDMX, Universe: 1,
			Changes: []dmx.Change{{Channel: 1, Level: lv + 1}}}})
	}
	eng.Deliver(otherPID, &actors.Received{Cmd: &actors.Command{Kind: actors.KindGet, Universe: 1, ID: actors.ID("9")}})
	other.waitFor(t, "other's ack", func(ms []any) bool {
		for _, m := range ms {
			if a, ok := m.(*actors.Ack); ok && string(a.ID) == "9" {
				return true
			}
		}
		return false
	})

	slow.full.Store(false)
	eng.Deliver(slowPID, &actors.Drained{})
	slow.waitFor(t, "held ack then fresh state", func(ms []any) bool {
		ackAt := -1
		for i, m := range ms {
			switch m := m.(type) {
			case *actors.Ack:
				if string(m.ID) == `"mine"` {
					ackAt = i
				}
			case *actors.State:
				return ackAt >= 0 && m.Values[0] == 50 && m.Values[1] == 22
			case *actors.Update:
				t.Errorf("update %+v delivered from the time the queue was full", m)
			}
		}
		return false
	})
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if slow.closed != 0 {
		t.Errorf("client closed with %d after catching up", slow.closed)
	}
}

// panicPeer is a Peer whose Send panics once armed: the connection actor
// fails while handling a message.
type panicPeer struct {
	queuePeer
	armed atomic.Bool
}

func (p *panicPeer) Send(msg any) bool {
	if p.armed.Load() {
		panic("peer exploded")
	}
	return p.queuePeer.Send(msg)
}

// TestFailedConnectionActorReleasesItsLayer: a connection actor that fails
// is stopped (not restarted), its client is closed with 1011, and with HTP
// its layer is released so the level falls back.
func TestFailedConnectionActorReleasesItsLayer(t *testing.T) {
	eng, err := actors.Start(actors.Config{Universes: 1, Rate: 44, Merge: dmx.HTP, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = eng.CloseConnections(actors.CloseGoingAway, "", time.Now().Add(5*time.Second))
		_ = eng.Stop()
	})
	doomed, watcher := &panicPeer{}, &queuePeer{}
	doomedPID, err := eng.Connect(doomed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Connect(watcher); err != nil {
		t.Fatal(err)
	}
	eng.Deliver(doomedPID, &actors.Received{Cmd: &actors.Command{Kind: actors.KindDMX, Universe: 1, ID: actors.ID("1"),
		Changes: []dmx.Change{{Channel: 1, Level: 200}}}})
	level := func(want uint8) func([]any) bool {
		return func(ms []any) bool {
			if len(ms) == 0 {
				return false
			}
			for i := len(ms) - 1; i >= 0; i-- {
				if u, ok := ms[i].(*actors.Update); ok {
					for _, c := range u.Changes {
						if c.Channel == 1 {
							return c.Level == want
						}
					}
				}
			}
			return false
		}
	}
	watcher.waitFor(t, "channel 1 at 200", level(200))
	doomed.armed.Store(true)
	eng.Deliver(doomedPID, &actors.Received{Cmd: &actors.Command{Kind: actors.KindGet, Universe: 1}})
	watcher.waitFor(t, "channel 1 back to 0", level(0))
	doomed.mu.Lock()
	defer doomed.mu.Unlock()
	if doomed.closed != actors.CloseInternal {
		t.Errorf("failed connection closed with %d, want %d", doomed.closed, actors.CloseInternal)
	}
}

// TestCatchUpSendsOnlyTheShowItNeeds: a client that catches up gets the
// parts of the show that are not empty, and those it missed while behind
// even if they are empty now (a look saved and deleted meanwhile) — and no
// show message at all from a server whose show was never used, so a
// protocol-version-1 client sees only version-1 messages.
func TestCatchUpSendsOnlyTheShowItNeeds(t *testing.T) {
	tests := []struct {
		name      string
		meanwhile []*actors.Command // sent by the other desk while the slow one is behind
		wantLooks bool
	}{
		{"show never used", nil, false},
		{"a look saved and deleted while behind", []*actors.Command{
			{Kind: actors.KindLookSave, Universe: 1, Name: "warm"},
			{Kind: actors.KindLookDelete, Universe: 1, Name: "warm"},
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng, err := actors.Start(actors.Config{Universes: 1, Rate: 44, Merge: dmx.LTP, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = eng.CloseConnections(actors.CloseGoingAway, "", time.Now().Add(5*time.Second))
				_ = eng.Stop()
			})
			slow, other := &queuePeer{}, &queuePeer{}
			slowPID, err := eng.Connect(slow)
			if err != nil {
				t.Fatal(err)
			}
			otherPID, err := eng.Connect(other)
			if err != nil {
				t.Fatal(err)
			}
			ackOf := func(id string) func([]any) bool {
				return func(ms []any) bool {
					for _, m := range ms {
						if a, ok := m.(*actors.Ack); ok && string(a.ID) == id {
							return true
						}
					}
					return false
				}
			}
			// Both are attached once each has had a get answered.
			eng.Deliver(slowPID, &actors.Received{Cmd: &actors.Command{Kind: actors.KindGet, Universe: 1, ID: actors.ID("1")}})
			eng.Deliver(otherPID, &actors.Received{Cmd: &actors.Command{Kind: actors.KindGet, Universe: 1, ID: actors.ID("1")}})
			slow.waitFor(t, "slow attached", ackOf("1"))
			other.waitFor(t, "other attached", ackOf("1"))

			slow.full.Store(true)
			for _, cmd := range tc.meanwhile {
				eng.Deliver(otherPID, &actors.Received{Cmd: cmd})
			}
			eng.Deliver(otherPID, &actors.Received{Cmd: &actors.Command{Kind: actors.KindDMX, Universe: 1, ID: actors.ID("2"),
				Changes: []dmx.Change{{Channel: 1, Level: 9}}}})
			other.waitFor(t, "other's commands applied", ackOf("2"))

			slow.reset()
			slow.full.Store(false)
			eng.Deliver(slowPID, &actors.Drained{})
			// The resync's answers come in one batch; a get after it marks
			// their end.
			eng.Deliver(slowPID, &actors.Received{Cmd: &actors.Command{Kind: actors.KindGet, Universe: 1, ID: actors.ID("3")}})
			slow.waitFor(t, "resync answered", ackOf("3"))
			slow.mu.Lock()
			defer slow.mu.Unlock()
			var looks []*actors.Looks
			for _, m := range slow.got {
				switch m := m.(type) {
				case *actors.Looks:
					looks = append(looks, m)
				case *actors.Cues, *actors.Masters, *actors.Labels:
					t.Errorf("show message %T %+v after catching up, want none", m, m)
				}
			}
			switch {
			case tc.wantLooks && (len(looks) != 1 || len(looks[0].Looks) != 0):
				t.Errorf("looks after catching up: %+v, want one empty list", looks)
			case !tc.wantLooks && len(looks) != 0:
				t.Errorf("looks after catching up: %+v, want none", looks)
			}
		})
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// channelsPerDesk is how many channels each desk owns: nobody else sets
// them, so the last level a desk had acknowledged on one is what the
// universe must hold (LTP).
const channelsPerDesk = 4

// sent is one command a desk sent on its channel.
type sent struct {
	level int
	at    time.Time
	acked time.Time // zero: no ack came (the link went down first)
}

// channelLog is the history of one owned channel.
type channelLog struct {
	universe, channel int
	mu                sync.Mutex
	sends             []*sent // in the order sent; acked is set by the desk's reader
}

// desk is one desk of the run: it keeps a WebSocket to one of the edges,
// turns to the next edge when its link is lost (as the web desk does with
// --desk-servers), and sets its own channels with acknowledged commands.
type desk struct {
	id       int
	edges    func() []string
	rate     time.Duration
	rng      *rand.Rand
	channels []*channelLog
	// counters
	connects, drops, acks, errors atomic.Int64
	close1012, coreGone           atomic.Int64
}

// run drives the desk until stop is closed.
func (d *desk) run(stop <-chan struct{}) {
	cur := d.id
	for {
		select {
		case <-stop:
			return
		default:
		}
		edges := d.edges()
		addr := edges[cur%len(edges)]
		if err := d.session(addr, stop); err != nil {
			d.drops.Add(1)
			cur++ // the next edge
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(100+d.rng.IntN(200)) * time.Millisecond):
			}
		}
	}
}

// session is one connection: it returns nil when stop closed, or why the
// link ended.
func (d *desk) session(addr string, stop <-chan struct{}) error {
	dialer := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
	c, _, err := dialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		return err
	}
	d.connects.Add(1)
	// pending holds the commands not acknowledged yet, by id; a command's
	// acked time is written under its channel's mutex.
	type inFlight struct {
		s  *sent
		ch *channelLog
	}
	var mu sync.Mutex
	pending := map[string]inFlight{}
	readErr := make(chan error, 1)
	readDone := make(chan struct{})
	defer func() {
		c.Close()
		<-readDone // nothing marks an ack after the session
	}()
	go func() {
		defer close(readDone)
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				if websocket.IsCloseError(err, 1012) {
					d.close1012.Add(1)
				}
				readErr <- err
				return
			}
			var m struct {
				Type string `json:"type"`
				ID   string `json:"id"`
				Code string `json:"code"`
			}
			if json.Unmarshal(data, &m) != nil {
				continue
			}
			switch m.Type {
			case "ack":
				mu.Lock()
				f, ok := pending[m.ID]
				delete(pending, m.ID)
				mu.Unlock()
				if ok {
					f.ch.mu.Lock()
					f.s.acked = time.Now()
					f.ch.mu.Unlock()
					d.acks.Add(1)
				}
			case "error":
				if m.Code == "core_unavailable" {
					d.coreGone.Add(1) // the edge lost its core: the link closes next
				} else {
					d.errors.Add(1)
				}
			}
		}
	}()
	tick := time.NewTicker(d.rate)
	defer tick.Stop()
	seq := 0
	for {
		select {
		case <-stop:
			// The acks of what is in flight come back, then the link
			// is closed.
			deadline := time.After(3 * time.Second)
			for {
				mu.Lock()
				n := len(pending)
				mu.Unlock()
				if n == 0 {
					return nil
				}
				select {
				case <-readErr:
					return nil
				case <-deadline:
					return nil
				case <-time.After(10 * time.Millisecond):
				}
			}
		case err := <-readErr:
			return err
		case <-tick.C:
		}
		ch := d.channels[d.rng.IntN(len(d.channels))]
		level := 1 + d.rng.IntN(255)
		seq++
		id := fmt.Sprintf("d%d-%d", d.id, seq)
		s := &sent{level: level, at: time.Now()}
		mu.Lock()
		pending[id] = inFlight{s, ch}
		mu.Unlock()
		ch.mu.Lock()
		ch.sends = append(ch.sends, s)
		ch.mu.Unlock()
		msg := fmt.Sprintf(`{"dmx":{"%d":%d},"universe":%d,"id":%q}`, ch.channel, level, ch.universe, id)
		_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			return err
		}
	}
}

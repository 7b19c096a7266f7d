package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gorilla/websocket"
)

// The probe's pace: 37 ms plus up to 6 ms of jitter from one send to the
// next, no multiple of the 22.7 ms frame period, so probes land at every
// phase of the frame clock. A probe not answered within probeTimeout is
// lost: it counts in the percentiles as probeTimeout ("at least").
const (
	probePace    = 37 * time.Millisecond
	probeJitter  = 6 * time.Millisecond
	probeTimeout = time.Second
	probeAcks    = 16 // acks queued for the prober
)

// probeDesk is the desk whose commands are timed: each probe sets channel
// probeChannel of one universe to a new level, then waits for the first
// pty frame that carries it and, when the desk sends ids, for its ack.
type probeDesk struct {
	c      *websocket.Conn
	withID bool
	acks   chan ackAt
	level  int32 // the last level sent, 1..maxLevel
	id     int64 // the last id sent
	sent   int64 // probes written
	buf    []byte
}

// ackAt is an ack read by the probe desk and when it was read.
type ackAt struct {
	id int64
	at time.Time
}

// probeTarget is a universe to probe and the log of its pty's frames.
// via, when set, is the desk that probes it (another server's); else the
// loop's desk does.
type probeTarget struct {
	universe int
	log      *frameLog
	via      *probeDesk
}

// probeResult is one probe: latencies from the WebSocket write.
type probeResult struct {
	frame, ack       time.Duration
	gotFrame, gotAck bool
	aborted          bool // the probe's wait was cut short
}

// probeSamples collects the probes of one target.
type probeSamples struct {
	frame, ack         []time.Duration
	lostFrame, lostAck int
}

func dialProbe(url string, withID bool) (*probeDesk, error) {
	c, err := dial(url)
	if err != nil {
		return nil, err
	}
	p := &probeDesk{c: c, withID: withID, acks: make(chan ackAt, probeAcks)}
	go p.read()
	return p, nil
}

func (p *probeDesk) close() { _ = p.c.NetConn().Close() }

// read reads every message (so dmxd never finds the desk slow) and
// passes acks on.
func (p *probeDesk) read() {
	head := make([]byte, replyHead)
	for {
		msg, err := readHead(p.c, head)
		if err != nil {
			return
		}
		if id, ok := replyID(msg, ackHead); ok {
			select {
			case p.acks <- ackAt{id: id, at: time.Now()}:
			default:
			}
		}
	}
}

// loop probes the targets in turn for d, or until abort is closed (a probe
// cut short by abort is not counted).
func (p *probeDesk) loop(targets []probeTarget, d time.Duration, abort <-chan struct{}) ([]probeSamples, error) {
	out := make([]probeSamples, len(targets))
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		sent := time.Now()
		t, desk := targets[i%len(targets)], p
		if t.via != nil {
			desk = t.via
		}
		res, err := desk.probe(t, abort)
		if err != nil || res.aborted {
			return out, err
		}
		out[i%len(targets)].add(res, p.withID)
		pause := time.NewTimer(time.Until(sent.Add(probePace + rand.N(probeJitter))))
		select {
		case <-abort:
			pause.Stop()
			return out, nil
		case <-pause.C:
		}
	}
	return out, nil
}

// probe sends one new level and waits for its frame (and ack).
func (p *probeDesk) probe(t probeTarget, abort <-chan struct{}) (probeResult, error) {
	p.level = p.level%maxLevel + 1
	t.log.expect(p.level)
	p.buf = fmt.Appendf(p.buf[:0], `{"dmx":{"%d":%d}`, probeChannel, p.level)
	if t.universe != 1 {
		p.buf = fmt.Appendf(p.buf, `,"universe":%d`, t.universe)
	}
	if p.withID {
		p.id++
		p.buf = fmt.Appendf(p.buf, `,"id":%d`, p.id)
	}
	p.buf = append(p.buf, '}')
	p.sent++
	sent := time.Now()
	_ = p.c.SetWriteDeadline(sent.Add(probeTimeout))
	if err := p.c.WriteMessage(websocket.TextMessage, p.buf); err != nil {
		return probeResult{}, fmt.Errorf("probe send: %w", err)
	}
	return p.await(t.log, sent, abort), nil
}

// await waits up to probeTimeout for the frame carrying the level just
// sent and, with ids, for the ack of the id just sent.
func (p *probeDesk) await(l *frameLog, sent time.Time, abort <-chan struct{}) probeResult {
	var r probeResult
	timeout := time.NewTimer(time.Until(sent.Add(probeTimeout)))
	defer timeout.Stop()
	for !r.gotFrame || (p.withID && !r.gotAck) {
		select {
		case h := <-l.hit:
			if h.level == p.level {
				r.frame, r.gotFrame = h.at.Sub(sent), true
			}
		case a := <-p.acks:
			if a.id == p.id {
				r.ack, r.gotAck = a.at.Sub(sent), true
			}
		case <-timeout.C:
			return r
		case <-abort:
			r.aborted = true
			return r
		}
	}
	return r
}

func (s *probeSamples) add(r probeResult, withID bool) {
	if r.gotFrame {
		s.frame = append(s.frame, r.frame)
	} else {
		s.lostFrame++
	}
	if !withID {
		return
	}
	if r.gotAck {
		s.ack = append(s.ack, r.ack)
	} else {
		s.lostAck++
	}
}

func (s *probeSamples) frameDist() Dist { return summarizeLost(s.frame, s.lostFrame, probeTimeout) }
func (s *probeSamples) ackDist() Dist   { return summarizeLost(s.ack, s.lostAck, probeTimeout) }

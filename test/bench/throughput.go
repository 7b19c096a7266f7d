package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Throughput clients. A batched connection writes tputBatch commands in one
// write syscall, the last with an id, and waits for that id's ack before
// the next batch; the pipelined one (the earlier headline client, kept for
// comparison) keeps up to ackWindow id'd commands outstanding, written
// batchSize at a time.
const (
	tputBatch     = 100
	tputVariants  = 64 // pre-built batches, shared by all connections
	tputAckWait   = 5 * time.Second
	tputWriteWait = 5 * time.Second
	tputSeed      = 7 // of the pre-built batches' channels and levels
	ackWindow     = 128
	batchSize     = 16
	pipelinedWait = time.Second // a pipelined sender's longest nap waiting for acks
)

// ThroughputPoint is acknowledged commands per second at one number of
// connections.
type ThroughputPoint struct {
	Conns          int     `json:"connections"`
	CommandsPerSec float64 `json:"commands_per_sec"`
	// BatchRTT is a batch's first byte written → its last command's ack
	// (batched client only).
	BatchRTT Dist  `json:"batch_round_trip"`
	Errors   int64 `json:"errors"`
	// DmxdPerSec is the same window counted by dmxd
	// (dmxd_commands_accepted_total); 0 when it did not answer /metrics.
	DmxdPerSec float64 `json:"dmxd_accepted_per_sec"`
	// Tally counts the whole point, from before the first connection to
	// after dmxd closed the last.
	Tally Tally `json:"tally"`
}

// ThroughputRun is one run of the throughput scenario.
type ThroughputRun struct {
	Points    []ThroughputPoint `json:"batched"` // sizes.tputConns, in order
	Pipelined ThroughputPoint   `json:"pipelined"`
	// Frames during the batched run with the most connections.
	Interval Dist    `json:"interval_deviation"`
	MaxGapMs float64 `json:"max_gap_ms"`
}

// throughputScenario measures acknowledged commands per second with the
// batched client at each of sz.tputConns connections, then with the
// pipelined client at the most connections, in one dmxd with --conn-rate 0
// (no limit) and two universes, whose frames are watched.
func throughputScenario(bin string, sz sizes) (ThroughputRun, error) {
	var r ThroughputRun
	s, err := startServer(bin, []frameReader{recorderProcess, recorderProcess}, "--conn-rate", "0")
	if err != nil {
		return r, err
	}
	defer s.close()
	batches := commandBatches(rand.New(rand.NewPCG(tputSeed, tputSeed)))
	most := 0
	for _, n := range sz.tputConns {
		pt, w, err := batchedPoint(s, n, batches, sz)
		if err != nil {
			return r, fmt.Errorf("%d connections: %w", n, err)
		}
		r.Points = append(r.Points, pt)
		if n >= most {
			most = n
			dev, gap := windowFrames(w)
			r.Interval, r.MaxGapMs = summarize(dev), ms(gap)
		}
	}
	if r.Pipelined, err = pipelinedPoint(s, most, sz); err != nil {
		return r, fmt.Errorf("pipelined: %w", err)
	}
	return r, nil
}

// commandBatches pre-builds tputVariants batches of tputBatch-1 client
// frames {"dmx":{"N":V}} (N in 1..512, V in 0..255); a connection appends
// its id'd last command to a copy.
func commandBatches(rng *rand.Rand) [][]byte {
	out := make([][]byte, tputVariants)
	var payload []byte
	for i := range out {
		for range tputBatch - 1 {
			payload = fmt.Appendf(payload[:0], `{"dmx":{"%d":%d}}`, 1+rng.IntN(dmxChannels), rng.IntN(maxLevel+1))
			out[i] = appendClientFrame(out[i], payload)
		}
	}
	return out
}

// window is a measuring window: a counter's growth and the frames of
// every universe meanwhile.
type window struct {
	count  int64
	t0, t1 time.Time
	frames [][]time.Time
	// dmxd's accepted commands per second meanwhile; 0 when unknown.
	dmxdPerSec float64
}

func (w window) perSec() float64 { return float64(w.count) / w.t1.Sub(w.t0).Seconds() }

// measureWindow waits sz.warmup, then counts counter's growth over
// sz.tputWindow.
func measureWindow(s *server, counter *atomic.Int64, sz sizes) window {
	time.Sleep(sz.warmup)
	for _, l := range s.logs {
		l.record()
	}
	var w window
	a0 := scrapeAt(s, acceptedMetric)
	c0 := counter.Load()
	w.t0 = time.Now()
	time.Sleep(sz.tputWindow)
	w.count, w.t1 = counter.Load()-c0, time.Now()
	a1 := scrapeAt(s, acceptedMetric)
	for _, l := range s.logs {
		w.frames = append(w.frames, l.take())
	}
	if a0.err == nil && a1.err == nil {
		w.dmxdPerSec = (a1.v - a0.v) / a1.at.Sub(a0.at).Seconds()
	}
	return w
}

// windowFrames returns the interval deviations of the last universe (the
// throughput clients set universe 1 only) and the longest gap of all.
func windowFrames(w window) ([]time.Duration, time.Duration) {
	var gap time.Duration
	for _, at := range w.frames {
		_, g := deviations(at, period)
		gap = max(gap, g)
	}
	dev, _ := deviations(w.frames[len(w.frames)-1], period)
	return dev, gap
}

// batchedPoint runs n batched connections for one window.
func batchedPoint(s *server, n int, batches [][]byte, sz sizes) (ThroughputPoint, window, error) {
	pt := ThroughputPoint{Conns: n}
	a0, err := s.accepted()
	if err != nil {
		return pt, window{}, err
	}
	conns, err := dialMany(s.url(), n)
	if err != nil {
		return pt, window{}, err
	}
	var done, errs, written atomic.Int64
	stop := make(chan struct{})
	clients := make([]*batchClient, n)
	var wg sync.WaitGroup
	for i, c := range conns {
		clients[i] = newBatchClient(c, batches, i, &done, &errs, &written)
		go clients[i].read()
		wg.Go(func() { clients[i].run(stop) })
	}
	w := measureWindow(s, &done, sz)
	close(stop)
	closeAll(conns) // unblocks writes
	wg.Wait()
	var rtts []time.Duration
	for _, bc := range clients {
		rtts = append(rtts, bc.rttsWithin(w.t0, w.t1)...)
	}
	pt.CommandsPerSec, pt.DmxdPerSec = w.perSec()*tputBatch, w.dmxdPerSec
	pt.BatchRTT, pt.Errors = summarize(rtts), errs.Load()
	if w.count == 0 {
		return pt, w, errors.New("no batch was acknowledged")
	}
	if err := s.waitConnections(0); err != nil {
		return pt, w, err
	}
	pt.Tally, err = s.tally(a0, written.Load(), done.Load()*tputBatch)
	return pt, w, err
}

// batchClient is one batched throughput connection.
type batchClient struct {
	c       *websocket.Conn
	nc      net.Conn
	batches [][]byte // shared, read-only
	first   int      // this connection's first variant
	rng     *rand.Rand
	replies chan batchReply
	done    *atomic.Int64 // acknowledged batches, all connections
	errs    *atomic.Int64 // error replies, all connections
	written *atomic.Int64 // commands begun to be written, all connections
	rtts    []timedRTT    // read once run has returned
}

// batchReply is an ack, or an error naming an id.
type batchReply struct {
	id int64
	ok bool
}

type timedRTT struct {
	at  time.Time // when the ack was read
	rtt time.Duration
}

func newBatchClient(c *websocket.Conn, batches [][]byte, i int, done, errs, written *atomic.Int64) *batchClient {
	return &batchClient{
		c: c, nc: rawConn(c), batches: batches, first: i,
		rng:     rand.New(rand.NewPCG(uint64(i), tputSeed)),
		replies: make(chan batchReply, 1), done: done, errs: errs, written: written,
	}
}

// read reads every message, passing replies naming an id to run.
func (b *batchClient) read() {
	head := make([]byte, replyHead)
	for {
		msg, err := readHead(b.c, head)
		if err != nil {
			return
		}
		if id, ok := replyID(msg, ackHead); ok {
			b.reply(batchReply{id: id, ok: true})
		} else if bytes.HasPrefix(msg, []byte(errorHead)) {
			b.errs.Add(1)
			if id, ok := replyID(msg, errorIDAt); ok {
				b.reply(batchReply{id: id})
			}
		}
	}
}

// reply hands r to run, which waits for one reply at a time.
func (b *batchClient) reply(r batchReply) {
	select {
	case b.replies <- r:
	default:
	}
}

// run writes batches until stop, each after the previous one's ack.
func (b *batchClient) run(stop <-chan struct{}) {
	wait := time.NewTimer(tputAckWait)
	defer wait.Stop()
	var buf, last []byte
	for id := int64(1); ; id++ {
		buf = append(buf[:0], b.batches[(b.first+int(id))%len(b.batches)]...)
		last = fmt.Appendf(last[:0], `{"dmx":{"%d":%d},"id":%d}`, 1+b.rng.IntN(dmxChannels), b.rng.IntN(maxLevel+1), id)
		buf = appendClientFrame(buf, last)
		b.written.Add(tputBatch)
		sent := time.Now()
		_ = b.nc.SetWriteDeadline(sent.Add(tputWriteWait))
		if _, err := b.nc.Write(buf); err != nil {
			return
		}
		wait.Reset(tputAckWait)
		acked, more := b.await(id, wait, stop)
		if !more {
			return
		}
		if acked {
			now := time.Now()
			b.done.Add(1)
			b.rtts = append(b.rtts, timedRTT{at: now, rtt: now.Sub(sent)})
		}
	}
}

// await waits for the reply to id; more is false when the connection
// should stop (stop, or no reply within tputAckWait).
func (b *batchClient) await(id int64, wait *time.Timer, stop <-chan struct{}) (acked, more bool) {
	for {
		select {
		case <-stop:
			return false, false
		case <-wait.C:
			return false, false
		case r := <-b.replies:
			if r.id == id {
				return r.ok, true
			}
		}
	}
}

// rttsWithin returns the round trips acknowledged between t0 and t1.
func (b *batchClient) rttsWithin(t0, t1 time.Time) []time.Duration {
	var out []time.Duration
	for _, r := range b.rtts {
		if !r.at.Before(t0) && !r.at.After(t1) {
			out = append(out, r.rtt)
		}
	}
	return out
}

// pipelinedPoint runs n pipelined connections for one window.
func pipelinedPoint(s *server, n int, sz sizes) (ThroughputPoint, error) {
	pt := ThroughputPoint{Conns: n}
	a0, err := s.accepted()
	if err != nil {
		return pt, err
	}
	conns, err := dialMany(s.url(), n)
	if err != nil {
		return pt, err
	}
	var acked, errs, written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		pc := &pipelinedClient{c: c, nc: rawConn(c), acked: &acked, errs: &errs, written: &written, more: make(chan struct{}, 1), seed: uint64(i)}
		go pc.read()
		wg.Go(func() { pc.send(stop) })
	}
	w := measureWindow(s, &acked, sz)
	close(stop)
	closeAll(conns) // unblocks senders waiting for acks
	wg.Wait()
	pt.CommandsPerSec, pt.DmxdPerSec, pt.Errors = w.perSec(), w.dmxdPerSec, errs.Load()
	if w.count == 0 {
		return pt, errors.New("no command was acknowledged")
	}
	if err := s.waitConnections(0); err != nil {
		return pt, err
	}
	pt.Tally, err = s.tally(a0, written.Load(), acked.Load())
	return pt, err
}

// pipelinedClient is one pipelined throughput connection: send writes
// batchSize frames per syscall, read counts acks.
type pipelinedClient struct {
	c       *websocket.Conn
	nc      net.Conn
	acked   *atomic.Int64 // all connections
	errs    *atomic.Int64
	written *atomic.Int64 // commands begun to be written, all connections
	mine    atomic.Int64  // this connection's acks
	more    chan struct{}
	seed    uint64
}

func (p *pipelinedClient) read() {
	head := make([]byte, replyHead)
	for {
		msg, err := readHead(p.c, head)
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(msg, []byte(ackHead)):
			p.mine.Add(1)
			p.acked.Add(1)
			select {
			case p.more <- struct{}{}:
			default:
			}
		case bytes.HasPrefix(msg, []byte(errorHead)):
			p.errs.Add(1)
		}
	}
}

func (p *pipelinedClient) send(stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(p.seed, tputSeed))
	var sent int64
	var batch, payload []byte
	for {
		for sent-p.mine.Load() > ackWindow-batchSize {
			select {
			case <-stop:
				return
			case <-p.more:
			case <-time.After(pipelinedWait):
			}
		}
		select {
		case <-stop:
			return
		default:
		}
		batch = batch[:0]
		p.written.Add(batchSize)
		for range batchSize {
			sent++
			payload = fmt.Appendf(payload[:0], `{"dmx":{"%d":%d},"id":%d}`, 1+rng.IntN(loadChannels), rng.IntN(maxLevel+1), sent)
			batch = appendClientFrame(batch, payload)
		}
		_ = p.nc.SetWriteDeadline(time.Now().Add(tputWriteWait))
		if _, err := p.nc.Write(batch); err != nil {
			return
		}
	}
}

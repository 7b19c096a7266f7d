package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The flood (the flow-control issue's reproduction): every flooder writes a
// burst of floodMessages array commands setting channels 1..511 of
// universe 1 every floodInterval (900 commands/s, under dmxd's default
// --conn-rate of 1000), and reads and discards whatever dmxd sends.
const (
	floodMessages   = 90
	floodInterval   = 100 * time.Millisecond
	floodChannels   = 511 // 512 is the probe's
	floodVariants   = 8   // pre-built bursts, shared by all flooders
	floodSeed       = 11  // of the pre-built bursts' levels
	floodWriteSlice = 100 * time.Millisecond
	rssEvery        = 100 * time.Millisecond
	heapEvery       = time.Second
	// floodRSSCap cuts the flood short: a dmxd without backpressure buffers
	// without bound, and the machine must survive it.
	floodRSSCap    = 1536 << 20
	closePolicy    = 1008 // docs/protocol.md: keeps sending after rate_limited
	closeTryAgain  = 1013 // docs/protocol.md: too slow to read its updates
	acceptedMetric = "dmxd_commands_accepted_total"
	heapMetric     = "go_memstats_heap_inuse_bytes"
	rateLimited    = `"rate_limited"`
	mb             = 1 << 20
	// floodRate is the commands per second of one flooder.
	floodRate = floodMessages * int(time.Second/floodInterval)
)

// ProbeRun is the probe desk's latencies from its WebSocket write.
type ProbeRun struct {
	Frame Dist `json:"command_to_frame"`
	Ack   Dist `json:"command_to_ack"`
}

// FloodRun is one run of the flood scenario.
type FloodRun struct {
	Clients int      `json:"clients"`
	Seconds float64  `json:"flood_seconds"` // flooders started to halted
	Alone   ProbeRun `json:"probe_without_flood"`
	Flooded ProbeRun `json:"probe_with_flood"`
	// AloneTally counts the probe before the flood (the only desk that
	// sends then): Acked is its acks.
	AloneTally Tally `json:"probe_without_flood_tally"`
	// dmxd's peaks while flooded: VmRSS every 100 ms, Go heap in use
	// (/metrics) every second.
	PeakRSSMB  float64 `json:"peak_rss_mb"`
	PeakHeapMB float64 `json:"peak_heap_inuse_mb"`
	// OverBound: RSS passed floodRSSCap and the flood was cut there.
	OverBound bool `json:"over_bound"`
	// Over the probe's window: flood commands the clients wrote whole,
	// and commands dmxd accepted (dmxd_commands_accepted_total, which
	// includes the probe's ~25/s, read at the window's start and while
	// the flood halts); AcceptedKnown is false when dmxd did not answer
	// /metrics in time.
	WrittenPerSec  float64 `json:"flood_written_commands_per_sec"`
	AcceptedPerSec float64 `json:"accepted_commands_per_sec"`
	AcceptedKnown  bool    `json:"accepted_known"`
	// What the flooders got: rate_limited errors, closes by code (other:
	// another code, or the connection ended without a close frame), and
	// writes that waited floodWriteSlice without completing.
	RateLimited   int64 `json:"rate_limited_errors"`
	PolicyCloses  int64 `json:"closes_1008"`
	SlowCloses    int64 `json:"closes_1013"`
	OtherCloses   int64 `json:"closes_other"`
	BlockedWrites int64 `json:"blocked_write_slices"`
}

// floodScenario probes a dmxd with its default flags (one universe, the
// pty output) alone, then while sz.floodClients flooders run.
func floodScenario(bin string, sz sizes) (FloodRun, error) {
	r := FloodRun{Clients: sz.floodClients}
	s, err := startServer(bin, []frameReader{recorderProcess})
	if err != nil {
		return r, err
	}
	defer s.close()
	p, err := dialProbe(s.url(), true)
	if err != nil {
		return r, err
	}
	defer p.close()
	target := []probeTarget{{universe: 1, log: s.logs[0]}}
	a0, err := s.accepted()
	if err != nil {
		return r, err
	}
	alone, err := p.loop(target, sz.floodAlone, nil)
	if err != nil {
		return r, fmt.Errorf("probe without flood: %w", err)
	}
	r.Alone = ProbeRun{Frame: alone[0].frameDist(), Ack: alone[0].ackDist()}
	if r.AloneTally, err = s.settledTally(a0, p.sent, int64(len(alone[0].ack))); err != nil {
		return r, err
	}
	conns, err := dialMany(s.url(), sz.floodClients)
	if err != nil {
		return r, err
	}
	return r, r.flood(s, p, target, conns, sz)
}

// flood runs the flooders on conns while the probe measures, then halts
// them and tallies what dmxd and the flooders did.
func (r *FloodRun) flood(s *server, p *probeDesk, target []probeTarget, conns []*websocket.Conn, sz sizes) error {
	mw := watchMemory(s, floodRSSCap)
	f := startFlood(conns, floodBursts(rand.New(rand.NewPCG(floodSeed, floodSeed))))
	a0, err := r.probeFlooded(s, p, target, f, mw.over, sz)
	// The last count is scraped while the flood halts: a flooded dmxd may
	// take seconds to answer, and over bound it must not grow meanwhile.
	end := make(chan scrape, 1)
	go func() { end <- scrapeAt(s, acceptedMetric) }()
	f.halt()
	r.Seconds = time.Since(f.started).Seconds()
	r.setAccepted(a0, <-end)
	r.PeakRSSMB, r.PeakHeapMB, r.OverBound = mw.finish()
	r.RateLimited, r.PolicyCloses = f.rateLimited.Load(), f.policyCloses.Load()
	r.SlowCloses, r.OtherCloses, r.BlockedWrites = f.slowCloses.Load(), f.otherCloses.Load(), f.blocked.Load()
	return err
}

// probeFlooded waits sz.warmup into the flood, then probes until the
// flood's end (or over), counting the commands the flooders write; it
// returns dmxd's accepted count at the start of that window.
func (r *FloodRun) probeFlooded(s *server, p *probeDesk, target []probeTarget, f *flood, over <-chan struct{}, sz sizes) (scrape, error) {
	warm := time.NewTimer(sz.warmup)
	defer warm.Stop()
	select {
	case <-warm.C:
	case <-over:
		return scrape{err: errors.New("flood cut before the probe window")}, nil
	}
	a0 := scrapeAt(s, acceptedMetric)
	w0, t0 := f.written.Load(), time.Now()
	got, err := p.loop(target, time.Until(f.started.Add(sz.flood)), over)
	w1, t1 := f.written.Load(), time.Now()
	if err != nil {
		return a0, fmt.Errorf("probe with flood: %w", err)
	}
	r.Flooded = ProbeRun{Frame: got[0].frameDist(), Ack: got[0].ackDist()}
	r.WrittenPerSec = float64(w1-w0) / t1.Sub(t0).Seconds()
	return a0, nil
}

// setAccepted sets dmxd's accepted commands per second between a0 and a1.
func (r *FloodRun) setAccepted(a0, a1 scrape) {
	if r.AcceptedKnown = a0.err == nil && a1.err == nil; r.AcceptedKnown {
		r.AcceptedPerSec = (a1.v - a0.v) / a1.at.Sub(a0.at).Seconds()
	}
}

// scrape is one series read from /metrics, at the middle of the request.
type scrape struct {
	v   float64
	at  time.Time
	err error
}

func scrapeAt(s *server, name string) scrape {
	t := time.Now()
	v, err := s.metric(name)
	return scrape{v: v, at: t.Add(time.Since(t) / 2), err: err}
}

// floodBursts pre-builds floodVariants bursts of floodMessages client
// frames {"dmx":[…511 random levels…]}.
func floodBursts(rng *rand.Rand) [][]byte {
	out := make([][]byte, floodVariants)
	var payload []byte
	for i := range out {
		for range floodMessages {
			payload = append(payload[:0], `{"dmx":[`...)
			for ch := range floodChannels {
				if ch > 0 {
					payload = append(payload, ',')
				}
				payload = strconv.AppendInt(payload, int64(rng.IntN(maxLevel+1)), 10)
			}
			payload = append(payload, "]}"...)
			out[i] = appendClientFrame(out[i], payload)
		}
	}
	return out
}

// flood runs the flooders: a writer and a reader per connection.
type flood struct {
	conns   []*websocket.Conn
	started time.Time
	stop    chan struct{}
	writers sync.WaitGroup
	readers sync.WaitGroup
	written atomic.Int64 // flood commands written whole
	blocked atomic.Int64 // write slices that hit their deadline
	// Replies and ends before halt.
	rateLimited, policyCloses, slowCloses, otherCloses atomic.Int64
}

func startFlood(conns []*websocket.Conn, bursts [][]byte) *flood {
	f := &flood{conns: conns, started: time.Now(), stop: make(chan struct{})}
	for i, c := range conns {
		nc := rawConn(c)
		f.readers.Go(func() { f.read(c) })
		f.writers.Go(func() { f.write(nc, bursts, i) })
	}
	return f
}

// halt stops the writers, then closes the connections.
func (f *flood) halt() {
	close(f.stop)
	f.writers.Wait()
	closeAll(f.conns)
	f.readers.Wait()
}

// write sends a burst every floodInterval (from a random start, so that
// the flooders' bursts spread over the interval) until stop. A burst that
// takes longer than the interval delays the next one: ticks missed while
// dmxd pushes back are dropped, not queued.
func (f *flood) write(nc net.Conn, bursts [][]byte, first int) {
	start := time.NewTimer(rand.N(floodInterval))
	select {
	case <-f.stop:
		start.Stop()
		return
	case <-start.C:
	}
	tick := time.NewTicker(floodInterval)
	defer tick.Stop()
	for k := first; ; k++ {
		if !f.writeAll(nc, bursts[k%len(bursts)]) {
			return
		}
		f.written.Add(floodMessages)
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
	}
}

// writeAll writes b with deadlines of floodWriteSlice, so that a writer
// dmxd does not read from still sees stop; false on stop or failure.
func (f *flood) writeAll(nc net.Conn, b []byte) bool {
	for len(b) > 0 {
		_ = nc.SetWriteDeadline(time.Now().Add(floodWriteSlice))
		n, err := nc.Write(b)
		b = b[n:]
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		f.blocked.Add(1)
		select {
		case <-f.stop:
			return false
		default:
		}
	}
	return true
}

// read reads and discards everything, counting rate_limited errors and
// how the connection ended.
func (f *flood) read(c *websocket.Conn) {
	head := make([]byte, replyHead)
	for {
		msg, err := readHead(c, head)
		if err != nil {
			f.ended(err)
			return
		}
		if bytes.HasPrefix(msg, []byte(errorHead)) && bytes.Contains(msg, []byte(rateLimited)) {
			f.rateLimited.Add(1)
		}
	}
}

// ended counts a connection that dmxd ended before halt.
func (f *flood) ended(err error) {
	select {
	case <-f.stop:
		return // halt closed it
	default:
	}
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code == closePolicy:
		f.policyCloses.Add(1)
	case errors.As(err, &ce) && ce.Code == closeTryAgain:
		f.slowCloses.Add(1)
	default:
		f.otherCloses.Add(1)
	}
}

// memWatch samples dmxd's RSS and Go heap until finish, keeping the
// peaks; over is closed when RSS passes the limit.
type memWatch struct {
	s        *server
	limit    int64
	over     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	peakRSS  int64   // written by sampleRSS only, read after finish
	peakHeap float64 // written by sampleHeap only, read after finish
}

func watchMemory(s *server, limit int64) *memWatch {
	w := &memWatch{s: s, limit: limit, over: make(chan struct{}), stop: make(chan struct{})}
	w.wg.Go(w.sampleRSS)
	w.wg.Go(w.sampleHeap)
	return w
}

func (w *memWatch) sampleRSS() {
	t := time.NewTicker(rssEvery)
	defer t.Stop()
	for {
		if rss, err := procRSS(w.s.p.Pid()); err == nil {
			if rss > w.limit && w.peakRSS <= w.limit {
				close(w.over)
			}
			w.peakRSS = max(w.peakRSS, rss)
		}
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

func (w *memWatch) sampleHeap() {
	t := time.NewTicker(heapEvery)
	defer t.Stop()
	for {
		if heap, err := w.s.metric(heapMetric); err == nil {
			w.peakHeap = max(w.peakHeap, heap)
		}
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

// finish stops sampling and returns the peaks in MB and whether RSS
// passed the limit.
func (w *memWatch) finish() (rssMB, heapMB float64, over bool) {
	close(w.stop)
	w.wg.Wait()
	select {
	case <-w.over:
		over = true
	default:
	}
	return float64(w.peakRSS) / mb, w.peakHeap / mb, over
}

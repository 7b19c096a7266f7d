package main

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmxd/dmxd/dmx/sacn"
)

// The sACN scenario's series in dmxd's /metrics, and how often it starts
// dmxd on a newly picked port before it gives up.
const (
	sacnReceivedMetric  = `dmxd_net_packets_received_total{protocol="sacn"}`
	sacnMalformedMetric = `dmxd_net_packets_malformed_total{protocol="sacn"}`
	sacnIgnoredMetric   = `dmxd_net_packets_ignored_total{protocol="sacn"}`
	sacnPortTries       = 3
)

// SACNRun is one run of the sACN input scenario.
type SACNRun struct {
	// Idle: UDP write of the probe → first pty frame carrying its level
	// (RT recorder); WebSocket: the WebSocket probe in the same dmxd
	// before any sACN source, for comparison; Blasted: the sACN probe
	// while the blasters send.
	Idle      Dist `json:"latency_idle"`
	WebSocket Dist `json:"latency_websocket"`
	Blasted   Dist `json:"latency_blasted"`
	Senders   int  `json:"blast_senders"`
	// Packets the blasters wrote, and dmxd's count of sACN packets
	// received (all sources: the probe's sender too) over the blast.
	SentPerSec     float64 `json:"blast_sent_per_second"`
	ReceivedPerSec float64 `json:"blast_received_per_second"`
	// Totals over dmxd's life: every packet the bench wrote to it, and
	// what dmxd counted once its socket was drained.
	SentTotal      int64 `json:"sent_total"`
	ReceivedTotal  int64 `json:"received_total"`
	MalformedTotal int64 `json:"malformed_total"`
	IgnoredTotal   int64 `json:"ignored_total"`
}

// sacnSender is one sACN source (one CID, priority 100, universe 1)
// writing full 512-slot data packets to dmxd over a connected UDP socket.
// send may be called from several goroutines; sent may be read at any time.
type sacnSender struct {
	c    *net.UDPConn
	h    sacn.Header
	sent atomic.Int64 // packets written

	mu    sync.Mutex
	seq   uint8
	slots [sacn.Slots]byte
	buf   []byte
}

func dialSACN(port, n int) (*sacnSender, error) {
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return nil, fmt.Errorf("sACN sender %d: %w", n, err)
	}
	name := fmt.Sprintf("bench sender %d", n)
	return &sacnSender{c: c, h: sacn.Header{CID: sacn.NameCID(name), SourceName: name, Priority: sacn.DefaultPriority, Universe: 1}}, nil
}

func (s *sacnSender) close() { _ = s.c.Close() }

// send applies set (if any) to the slots and writes the next packet; it
// returns the time just before the write.
func (s *sacnSender) send(set func(*[sacn.Slots]byte)) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set != nil {
		set(&s.slots)
	}
	s.buf = sacn.AppendData(s.buf[:0], &s.h, s.seq, 0, &s.slots)
	s.seq++
	at := time.Now()
	if _, err := s.c.Write(s.buf); err != nil {
		return at, fmt.Errorf("sACN send: %w", err)
	}
	s.sent.Add(1)
	return at, nil
}

// keepAlive repeats the sender's frame every frame period, as a console
// does, until stop is closed.
func (s *sacnSender) keepAlive(stop <-chan struct{}) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := s.send(nil); err != nil {
				return
			}
		}
	}
}

// probeLoop is the WebSocket probe's loop over sACN: every probePace +
// 0..probeJitter it sets slot probeChannel to the next level after *level
// and waits for the first frame on l carrying it, for d.
func (s *sacnSender) probeLoop(l *frameLog, level *int32, d time.Duration) (probeSamples, error) {
	var out probeSamples
	for end := time.Now().Add(d); time.Now().Before(end); {
		*level = *level%maxLevel + 1
		lv := *level
		l.expect(lv)
		sent, err := s.send(func(sl *[sacn.Slots]byte) { sl[probeChannel-1] = byte(lv) })
		if err != nil {
			return out, fmt.Errorf("probe: %w", err)
		}
		out.add(awaitLevel(l, lv, sent), false)
		time.Sleep(time.Until(sent.Add(probePace + rand.N(probeJitter))))
	}
	return out, nil
}

// awaitLevel waits up to probeTimeout for the frame carrying level.
func awaitLevel(l *frameLog, level int32, sent time.Time) probeResult {
	timeout := time.NewTimer(time.Until(sent.Add(probeTimeout)))
	defer timeout.Stop()
	for {
		select {
		case h := <-l.hit:
			if h.level == level {
				return probeResult{frame: h.at.Sub(sent), gotFrame: true}
			}
		case <-timeout.C:
			return probeResult{}
		}
	}
}

// blast writes packets as fast as it can, a different slot of 1..511 to a
// new level each, until stop is set.
func (s *sacnSender) blast(stop *atomic.Bool) error {
	for i := 0; !stop.Load(); i++ {
		if _, err := s.send(func(sl *[sacn.Slots]byte) { sl[i%(probeChannel-1)] = byte(i) }); err != nil {
			return err
		}
	}
	return nil
}

// startSACNServer starts dmxd with one RT-recorded universe in LTP (so
// that the probe's level wins over earlier ones, whichever source set
// them) and an sACN input on a port picked free, retrying with another
// port if dmxd fails to start.
func startSACNServer(bin string) (*server, int, error) {
	var last error
	for range sacnPortTries {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, 0, fmt.Errorf("pick a UDP port: %w", err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		_ = c.Close()
		s, err := startServer(bin, []frameReader{recorderProcess}, "--merge", "ltp",
			"--input", "sacn@127.0.0.1:"+strconv.Itoa(port)+":1")
		if err == nil {
			return s, port, nil
		}
		last = err
	}
	return nil, 0, fmt.Errorf("dmxd with an sACN input (%d ports tried): %w", sacnPortTries, last)
}

// sacnScenario probes universe 1 from a WebSocket desk (the reference),
// then from an sACN source that repeats its frame every period, then
// again while sz.sacnSenders other sources blast packets for sz.sacnBlast.
func sacnScenario(bin string, sz sizes) (SACNRun, error) {
	r := SACNRun{Senders: sz.sacnSenders}
	s, port, err := startSACNServer(bin)
	if err != nil {
		return r, err
	}
	defer s.close()
	l := s.logs[0]

	ws, err := dialProbe(s.url(), false)
	if err != nil {
		return r, err
	}
	got, err := ws.loop([]probeTarget{{universe: 1, log: l}}, sz.phase, nil)
	ws.close()
	if err != nil {
		return r, fmt.Errorf("WebSocket probe: %w", err)
	}
	r.WebSocket = got[0].frameDist()

	probe, err := dialSACN(port, 0)
	if err != nil {
		return r, err
	}
	defer probe.close()
	senders := []*sacnSender{probe}
	stopKeep := make(chan struct{})
	keepDone := make(chan struct{})
	go func() { defer close(keepDone); probe.keepAlive(stopKeep) }()
	stopKeepAlive := sync.OnceFunc(func() { close(stopKeep); <-keepDone })
	defer stopKeepAlive()
	time.Sleep(sz.warmup) // the source appears in the merge
	level := ws.level     // the WebSocket probe's last level: the next differs
	idle, err := probe.probeLoop(l, &level, sz.phase)
	if err != nil {
		return r, err
	}
	r.Idle = idle.frameDist()

	for i := range sz.sacnSenders {
		b, err := dialSACN(port, i+1)
		if err != nil {
			return r, err
		}
		defer b.close()
		senders = append(senders, b)
	}
	blasted, err := blastPhase(s, senders, &level, sz, &r)
	if err != nil {
		return r, fmt.Errorf("blast: %w", err)
	}
	r.Blasted = blasted.frameDist()
	stopKeepAlive()
	return r, sacnTotals(s, senders, &r)
}

// blastPhase runs senders[1:] flat out for sz.sacnBlast, with the probe
// (senders[0]) probing from sz.warmup into the blast to its end, and fills
// in r's rates.
func blastPhase(s *server, senders []*sacnSender, level *int32, sz sizes, r *SACNRun) (probeSamples, error) {
	m0, err := s.metric(sacnReceivedMetric)
	if err != nil {
		return probeSamples{}, err
	}
	var stop atomic.Bool
	errs := make(chan error, len(senders))
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, b := range senders[1:] {
		wg.Go(func() { errs <- b.blast(&stop) })
	}
	time.Sleep(sz.warmup) // the blasters' first packets set slot 512 to 0
	samples, perr := senders[0].probeLoop(s.logs[0], level, sz.sacnBlast-sz.warmup)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(t0).Seconds()
	m1, err := s.metric(sacnReceivedMetric)
	close(errs)
	for e := range errs {
		err = cmp.Or(err, e)
	}
	if err = cmp.Or(perr, err); err != nil {
		return samples, err
	}
	var sent int64
	for _, b := range senders[1:] {
		sent += b.sent.Load()
	}
	r.SentPerSec, r.ReceivedPerSec = float64(sent)/elapsed, (m1-m0)/elapsed
	return samples, nil
}

// sacnTotals waits, once every sender has stopped, until dmxd's count of
// received packets stops growing (what UDP dropped never arrives), at
// most settleTimeout, and fills in r's totals.
func sacnTotals(s *server, senders []*sacnSender, r *SACNRun) error {
	prev := -1.0
	for deadline := time.Now().Add(settleTimeout); ; {
		n, err := s.metric(sacnReceivedMetric)
		if err != nil {
			return err
		}
		if n == prev || time.Now().After(deadline) {
			break
		}
		prev = n
		time.Sleep(settlePoll)
	}
	m, err := s.metrics()
	if err != nil {
		return err
	}
	for _, b := range senders {
		r.SentTotal += b.sent.Load()
	}
	r.ReceivedTotal = int64(m[sacnReceivedMetric])
	r.MalformedTotal = int64(m[sacnMalformedMetric])
	r.IgnoredTotal = int64(m[sacnIgnoredMetric])
	return nil
}

package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/actors/metrics"
)

// The latency scenario's universes. Universe 1's pty is read by the
// real-time recorder process, universe 2's by a recorder process at
// normal priority. Every phase runs once per reader, in the same dmxd: the
// probe sets its universe, and the load (if any) is aimed at that same
// universe, since a universe that takes changes sends early frames at the
// driver's minimum gap. (Probing both universes alternately with the load
// on one would compare readers of differently loaded universes.) Universe
// 3 is never set: it only refreshes, so its intervals are the frame
// clock's.
const (
	rtUniverse    = 1
	benchUniverse = 2
	quietUniverse = 3
	loadRate      = 20  // commands per second per load client
	loadChannels  = 500 // the load sets channels 1..500 of universe 1
	loadWriteWait = 5 * time.Second
)

// latencyReaders returns the frame readers of universes 1, 2 and 3.
func latencyReaders() []frameReader {
	return []frameReader{recorderProcess, normalProcess, recorderProcess}
}

// LatencyRun is one latency phase.
type LatencyRun struct {
	// RT and Normal: WebSocket write → first pty frame carrying the level,
	// timed by the real-time recorder and by a recorder process at normal
	// priority. Relay: the same for the reference relay (relay.go), probed
	// in turn with universe 2 (Normal), so at the same moments.
	RT     Dist `json:"latency_rt_recorder"`
	Normal Dist `json:"latency_normal_reader"`
	Relay  Dist `json:"latency_relay"`
	// LoopLateP99Ms: over the same probes of universe 2, the p99 of how
	// late dmxd's refresh loop started a frame after it could have
	// (dmxd_frame_start_late_seconds: its thread's wake-up), as the
	// histogram's bucket bound; +Inf above the last bucket.
	LoopLateP99Ms float64 `json:"loop_start_late_p99_ms"`
	Interval      Dist    `json:"interval_deviation"` // universe 3
	MaxGapMs      float64 `json:"max_gap_ms"`         // universes 1 and 3 (real-time readers)
}

// LatencyScenarioRun is one run of the latency scenario: idle, with idle
// desks connected, and under load.
type LatencyScenarioRun struct {
	Idle  LatencyRun `json:"idle"`
	Desks LatencyRun `json:"idle_desks"`
	Load  LatencyRun `json:"load"`
	// Quiet tallies the idle and idle-desks phases, where the probe is
	// the only desk that sends: Acked counts the probes that reached the
	// pty.
	Quiet Tally `json:"quiet_tally"`
}

// latencyScenario measures the probe's latency idle, with sz.idleDesks
// desks connected that read and discard (so dmxd never closes them as
// slow), and under sz.loadClients clients × loadRate commands/s.
func latencyScenario(bin string, sz sizes) (LatencyScenarioRun, error) {
	var r LatencyScenarioRun
	s, err := startServer(bin, latencyReaders())
	if err != nil {
		return r, err
	}
	defer s.close()
	p, err := dialProbe(s.url(), false)
	if err != nil {
		return r, err
	}
	defer p.close()
	ref, err := startRelay()
	if err != nil {
		return r, err
	}
	defer ref.close()
	a0, err := s.accepted()
	if err != nil {
		return r, err
	}
	if r.Idle, err = latencyPhase(s, p, ref, sz.phase, nil); err != nil {
		return r, fmt.Errorf("idle: %w", err)
	}
	if r.Desks, err = desksPhase(s, p, ref, sz); err != nil {
		return r, fmt.Errorf("idle desks: %w", err)
	}
	var reached int64
	for _, d := range []Dist{r.Idle.RT, r.Idle.Normal, r.Desks.RT, r.Desks.Normal} {
		reached += int64(d.N - d.Lost)
	}
	if r.Quiet, err = s.settledTally(a0, p.sent, reached); err != nil {
		return r, err
	}
	if r.Load, err = loadPhase(s, p, ref, sz); err != nil {
		return r, fmt.Errorf("load: %w", err)
	}
	return r, nil
}

// desksPhase connects the idle desks, probes, and closes them again.
func desksPhase(s *server, p *probeDesk, ref *relay, sz sizes) (LatencyRun, error) {
	desks, err := dialMany(s.url(), sz.idleDesks)
	if err != nil {
		return LatencyRun{}, err
	}
	for _, c := range desks {
		go drain(c, nil)
	}
	time.Sleep(sz.warmup)
	r, err := latencyPhase(s, p, ref, sz.phase, nil)
	closeAll(desks)
	if err != nil {
		return r, err
	}
	return r, s.waitConnections(1) // the probe's
}

// loadPhase runs the load clients while it probes.
func loadPhase(s *server, p *probeDesk, ref *relay, sz sizes) (LatencyRun, error) {
	clients, err := dialMany(s.url(), sz.loadClients)
	if err != nil {
		return LatencyRun{}, err
	}
	defer closeAll(clients)
	stop := make(chan struct{})
	var aim atomic.Int32
	aim.Store(rtUniverse)
	var wg sync.WaitGroup
	for _, c := range clients {
		go drain(c, nil)
		wg.Go(func() { loadClient(c, &aim, stop) })
	}
	time.Sleep(sz.warmup)
	r, err := latencyPhase(s, p, ref, sz.phase, &aim)
	close(stop)
	wg.Wait()
	return r, err
}

// loadClient sends loadRate commands a second, one channel of 1..500 each,
// to the universe aim holds, until stop.
func loadClient(c *websocket.Conn, aim *atomic.Int32, stop <-chan struct{}) {
	every := time.Second / loadRate
	time.Sleep(rand.N(every)) // spread the clients over the interval
	t := time.NewTicker(every)
	defer t.Stop()
	var buf []byte
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			buf = fmt.Appendf(buf[:0], `{"dmx":{"%d":%d}`, 1+rand.IntN(loadChannels), rand.IntN(maxLevel+1))
			if u := aim.Load(); u != 1 {
				buf = fmt.Appendf(buf, `,"universe":%d`, u)
			}
			buf = append(buf, '}')
			_ = c.SetWriteDeadline(time.Now().Add(loadWriteWait))
			if err := c.WriteMessage(websocket.TextMessage, buf); err != nil {
				return
			}
		}
	}
}

// latencyPhase probes universe 1 for d, then universe 2 and the relay in
// turn for 2d (d's worth of probes each), with the load (when aim is set)
// on the probed universe, and records the frames of universes 1 and 3
// meanwhile.
func latencyPhase(s *server, p *probeDesk, ref *relay, d time.Duration, aim *atomic.Int32) (LatencyRun, error) {
	var r LatencyRun
	rt, quiet := s.logs[rtUniverse-1], s.logs[quietUniverse-1]
	rt.record()
	quiet.record()
	err := probeUniverses(&r, s, p, ref, d, aim)
	_, gap1 := deviations(rt.take(), period)
	dev3, gap3 := deviations(quiet.take(), period)
	if err != nil {
		return r, err
	}
	r.Interval, r.MaxGapMs = summarize(dev3), ms(max(gap1, gap3))
	if r.RT.N == r.RT.Lost || r.Normal.N == r.Normal.Lost || r.Relay.N == r.Relay.Lost {
		return r, errors.New("no probe reached a pty")
	}
	return r, nil
}

// probeUniverses is latencyPhase's probing: r's RT, Normal, Relay and
// LoopLateP99Ms (dmxd's histogram around universe 2's probes).
func probeUniverses(r *LatencyRun, s *server, p *probeDesk, ref *relay, d time.Duration, aim *atomic.Int32) error {
	if aim != nil {
		aim.Store(rtUniverse)
	}
	got, err := p.loop([]probeTarget{{universe: rtUniverse, log: s.logs[rtUniverse-1]}}, d, nil)
	if err != nil {
		return err
	}
	r.RT = got[0].frameDist()
	if aim != nil {
		aim.Store(benchUniverse)
	}
	late0, err := s.loopLate(benchUniverse)
	if err != nil {
		return err
	}
	got, err = p.loop([]probeTarget{{universe: benchUniverse, log: s.logs[benchUniverse-1]}, ref.target()}, 2*d, nil)
	if err != nil {
		return err
	}
	r.Normal, r.Relay = got[0].frameDist(), got[1].frameDist()
	late1, err := s.loopLate(benchUniverse)
	if err != nil {
		return err
	}
	r.LoopLateP99Ms = late1.p99Since(late0)
	return nil
}

// loopLate is a snapshot of dmxd_frame_start_late_seconds for one
// universe: the cumulative count at each of metrics.CommandLatencyBuckets,
// then the total.
type loopLate []float64

// loopLate scrapes it. The output counts into it every watch period, so a
// snapshot may lag by that much.
func (s *server) loopLate(u int) (loopLate, error) {
	m, err := s.metrics()
	if err != nil {
		return nil, err
	}
	series := func(suffix, labels string) string {
		return fmt.Sprintf(`dmxd_frame_start_late_seconds_%s{universe="%d"%s}`, suffix, u, labels)
	}
	keys := make([]string, 0, len(metrics.CommandLatencyBuckets)+1)
	for _, b := range metrics.CommandLatencyBuckets {
		keys = append(keys, series("bucket", `,le="`+strconv.FormatFloat(b, 'g', -1, 64)+`"`))
	}
	keys = append(keys, series("count", ""))
	out := make(loopLate, len(keys))
	for i, k := range keys {
		v, ok := m[k]
		if !ok {
			return nil, fmt.Errorf("metrics: no %s", k)
		}
		out[i] = v
	}
	return out, nil
}

// p99Since returns, in ms, the smallest bucket bound under which 99 % of
// the frames counted since before fall: +Inf above the last bucket, 0
// without frames.
func (l loopLate) p99Since(before loopLate) float64 {
	n := len(l) - 1
	total := l[n] - before[n]
	if total <= 0 {
		return 0
	}
	for i, b := range metrics.CommandLatencyBuckets {
		if l[i]-before[i] >= 0.99*total {
			return b * 1000
		}
	}
	return math.Inf(1)
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/test/testkit"
)

// Bench constants. The probe's pace (37 ms plus up to 6 ms of jitter) is
// no multiple of the 22.7 ms frame period, so probes land at every phase
// of the frame clock.
const (
	rate           = 44
	period         = time.Second / rate
	probeChannel   = 512 // the load never touches it
	loadChannels   = 500 // the load sets channels 1..500
	probePace      = 37 * time.Millisecond
	probeJitter    = 6 * time.Millisecond
	probeTimeout   = time.Second
	loadRate       = 20 // commands per second per load client
	throughputConn = 64
	ackWindow      = 128 // outstanding id'd commands per throughput connection
	batchSize      = 16  // commands per write on a throughput connection
	dialWorkers    = 32
	stopWait       = 10 * time.Second
)

// sizes are the scenario sizes of a full or a quick run.
type sizes struct {
	phase       time.Duration // each latency phase
	loadClients int
	tputConns   int
	tputWindow  time.Duration
	idleConns   int
	watchers    int
	fanWindow   time.Duration
	warmup      time.Duration
}

var (
	fullSizes  = sizes{phase: 10 * time.Second, loadClients: 200, tputConns: throughputConn, tputWindow: 5 * time.Second, idleConns: 10000, watchers: 1000, fanWindow: 5 * time.Second, warmup: time.Second}
	quickSizes = sizes{phase: 1500 * time.Millisecond, loadClients: 20, tputConns: 8, tputWindow: time.Second, idleConns: 200, watchers: 50, fanWindow: time.Second, warmup: 300 * time.Millisecond}
)

// server is one dmxd under test, its universes patched to enttec-pro
// outputs on ptys whose frames recorder processes decode and time-stamp
// (testkit.Device: the stand-in for the interface's hardware, a real-time
// thread reading the pty with blocking reads, so that the bench's own
// load does not delay the measurement).
type server struct {
	p       *testkit.Process
	devices []*testkit.Device
	logs    []*frameLog
}

func startServer(bin string, universes int, extra ...string) (*server, error) {
	s := &server{}
	args := []string{"--universes", strconv.Itoa(universes), "--rate", strconv.Itoa(rate)}
	for u := 1; u <= universes; u++ {
		dev, err := testkit.StartDevice("")
		if err != nil {
			s.close()
			return nil, err
		}
		s.devices = append(s.devices, dev)
		s.logs = append(s.logs, newFrameLog(dev.Frames(), probeChannel))
		args = append(args, "--output", fmt.Sprintf("%d=enttec-pro:%s", u, dev.Path))
	}
	p, err := testkit.Start(bin, append(args, extra...)...)
	if err != nil {
		s.close()
		return nil, err
	}
	s.p = p
	// Wait for the first frame of every universe.
	for _, l := range s.logs {
		l.want.Store(0)
		select {
		case <-l.hit:
		case <-time.After(5 * time.Second):
			s.close()
			return nil, errors.New("no frame within 5 s of start")
		}
	}
	return s, nil
}

func (s *server) url() string { return s.p.WSURL("/ws") }

func (s *server) close() {
	if s.p != nil {
		_, _ = s.p.Stop(stopWait)
	}
	for _, l := range s.logs {
		l.close()
	}
	for _, d := range s.devices {
		_ = d.Unplug()
	}
}

// connections asks /healthz how many WebSocket connections dmxd has open.
func (s *server) connections() (int, error) {
	resp, err := http.Get(s.p.URL("/healthz"))
	if err != nil {
		return 0, fmt.Errorf("healthz: %w", err)
	}
	defer resp.Body.Close()
	var h struct {
		Connections int `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return 0, fmt.Errorf("healthz: %w", err)
	}
	return h.Connections, nil
}

// metrics scrapes dmxd's /metrics into samples by series.
func (s *server) metrics() (map[string]float64, error) {
	resp, err := http.Get(s.p.URL("/metrics"))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}

// dialMany opens n connections with dialWorkers dialers in parallel.
func dialMany(url string, n int) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(dialWorkers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := dial(url)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c != nil {
			_ = c.NetConn().Close()
		}
	}
}

// LatencyRun is one run of the latency scenario.
type LatencyRun struct {
	Latency      Dist    `json:"latency"`
	Lost         int     `json:"lost"`
	Interval     Dist    `json:"interval_deviation"`
	MaxGapMs     float64 `json:"max_gap_ms"`
	ProbeFrameHz float64 `json:"probe_universe_frame_hz"`
}

// latencyScenario measures, idle and then under the 200-client load:
// WebSocket send → the first frame on the pty carrying the value (universe
// 1, channel 512), and the deviation of frame intervals from 1/rate on
// universe 2, which only refreshes.
func latencyScenario(bin string, sz sizes) (idle, load LatencyRun, err error) {
	s, err := startServer(bin, 2)
	if err != nil {
		return idle, load, err
	}
	defer s.close()
	probe, err := dial(s.url())
	if err != nil {
		return idle, load, err
	}
	defer probe.NetConn().Close()
	go drain(probe, nil)

	if idle, err = latencyPhase(s, probe, sz.phase); err != nil {
		return idle, load, fmt.Errorf("idle: %w", err)
	}

	clients, err := dialMany(s.url(), sz.loadClients)
	if err != nil {
		return idle, load, err
	}
	defer closeAll(clients)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range clients {
		go drain(c, nil)
		wg.Go(func() { loadClient(c, stop) })
	}
	time.Sleep(sz.warmup)
	load, err = latencyPhase(s, probe, sz.phase)
	close(stop)
	wg.Wait()
	if err != nil {
		return idle, load, fmt.Errorf("load: %w", err)
	}
	return idle, load, nil
}

// loadClient sends loadRate commands a second, one channel of 1..500 each,
// until stop.
func loadClient(c *websocket.Conn, stop <-chan struct{}) {
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
			buf = fmt.Appendf(buf[:0], `{"dmx":{"%d":%d}}`, 1+rand.IntN(loadChannels), rand.IntN(256))
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.WriteMessage(websocket.TextMessage, buf); err != nil {
				return
			}
		}
	}
}

// latencyPhase probes for d: send a new level for channel 512, wait for the
// first frame that carries it, pause 37 ms plus jitter from the send.
func latencyPhase(s *server, probe *websocket.Conn, d time.Duration) (LatencyRun, error) {
	var r LatencyRun
	u1, u2 := s.logs[0], s.logs[1]
	u1.record()
	u2.record()
	start := time.Now()
	var lats []time.Duration
	v := int32(0)
	var buf []byte
	for time.Since(start) < d {
		v = v%255 + 1
		select {
		case <-u1.hit:
		default:
		}
		u1.want.Store(v)
		buf = fmt.Appendf(buf[:0], `{"dmx":{"%d":%d}}`, probeChannel, v)
		sent := time.Now()
		if err := probe.WriteMessage(websocket.TextMessage, buf); err != nil {
			return r, fmt.Errorf("probe send: %w", err)
		}
		select {
		case at := <-u1.hit:
			lats = append(lats, at.Sub(sent))
		case <-time.After(probeTimeout):
			r.Lost++
		}
		time.Sleep(time.Until(sent.Add(probePace + rand.N(probeJitter))))
	}
	elapsed := time.Since(start)
	a1, a2 := u1.take(), u2.take()
	_, gap1 := deviations(a1, period)
	dev2, gap2 := deviations(a2, period)
	r.Latency = summarize(lats)
	r.Interval = summarize(dev2)
	r.MaxGapMs = ms(max(gap1, gap2))
	r.ProbeFrameHz = float64(len(a1)) / elapsed.Seconds()
	if len(lats) == 0 {
		return r, errors.New("no probe reached the pty")
	}
	return r, nil
}

// ThroughputRun is one run of the throughput scenario.
type ThroughputRun struct {
	CommandsPerSec float64 `json:"commands_per_sec"`
	Errors         int64   `json:"errors"`
	Interval       Dist    `json:"interval_deviation"`
	MaxGapMs       float64 `json:"max_gap_ms"`
}

// throughputScenario measures acknowledged commands per second across
// tputConns connections (dmxd with --conn-rate 0). Every connection
// pipelines: it keeps up to ackWindow id'd commands outstanding, writing
// them batchSize at a time (one write syscall per batch of WebSocket
// frames) and counting acks; frames are watched on both universes.
func throughputScenario(bin string, sz sizes) (ThroughputRun, error) {
	var r ThroughputRun
	s, err := startServer(bin, 2, "--conn-rate", "0")
	if err != nil {
		return r, err
	}
	defer s.close()
	conns, err := dialMany(s.url(), sz.tputConns)
	if err != nil {
		return r, err
	}
	defer closeAll(conns)
	var acked, errs atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		pc := &pipelinedClient{c: c, acked: &acked, errs: &errs, more: make(chan struct{}, 1), seed: uint64(i)}
		go pc.read()
		wg.Go(func() { pc.send(stop) })
	}
	time.Sleep(sz.warmup)
	s.logs[0].record()
	s.logs[1].record()
	a0, t0 := acked.Load(), time.Now()
	time.Sleep(sz.tputWindow)
	a1, t1 := acked.Load(), time.Now()
	f1, f2 := s.logs[0].take(), s.logs[1].take()
	close(stop)
	closeAll(conns) // unblocks senders waiting for acks
	wg.Wait()
	r.CommandsPerSec = float64(a1-a0) / t1.Sub(t0).Seconds()
	r.Errors = errs.Load()
	_, gap1 := deviations(f1, period)
	dev2, gap2 := deviations(f2, period)
	r.Interval = summarize(dev2)
	r.MaxGapMs = ms(max(gap1, gap2))
	if a1 == a0 {
		return r, errors.New("no command was acknowledged")
	}
	return r, nil
}

// pipelinedClient is one throughput connection: send writes pre-built
// frames, read counts acks.
type pipelinedClient struct {
	c     *websocket.Conn
	acked *atomic.Int64 // all connections
	errs  *atomic.Int64
	mine  atomic.Int64 // this connection's acks
	more  chan struct{}
	seed  uint64
}

func (p *pipelinedClient) read() {
	head := make([]byte, 14)
	for {
		_, r, err := p.c.NextReader()
		if err != nil {
			return
		}
		n, _ := io.ReadFull(r, head)
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
		switch string(head[:min(n, 14)]) {
		case `{"type":"ack",`:
			p.mine.Add(1)
			p.acked.Add(1)
			select {
			case p.more <- struct{}{}:
			default:
			}
		case `{"type":"error`:
			p.errs.Add(1)
		}
	}
}

func (p *pipelinedClient) send(stop <-chan struct{}) {
	nc := rawConn(p.c)
	rng := rand.New(rand.NewPCG(p.seed, 7))
	var sent int64
	var batch, payload []byte
	for {
		for sent-p.mine.Load() > ackWindow-batchSize {
			select {
			case <-stop:
				return
			case <-p.more:
			case <-time.After(time.Second):
			}
		}
		select {
		case <-stop:
			return
		default:
		}
		batch = batch[:0]
		for range batchSize {
			sent++
			payload = fmt.Appendf(payload[:0], `{"dmx":{"%d":%d},"id":%d}`, 1+rng.IntN(loadChannels), rng.IntN(256), sent)
			batch = appendClientFrame(batch, payload)
		}
		_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write(batch); err != nil {
			return
		}
	}
}

// MemoryRun is one run of the idle-connection memory scenario.
type MemoryRun struct {
	Conns        int     `json:"connections"`
	BaseRSSMB    float64 `json:"base_rss_mb"`
	RSSMB        float64 `json:"rss_mb"`
	PerConnKB    float64 `json:"per_connection_kb"`
	FrameHz      float64 `json:"frame_hz"`
	DialSeconds  float64 `json:"dial_seconds"`
	IntervalMaxM float64 `json:"max_gap_ms"`
	// From dmxd's /metrics at the end: Go heap in use and goroutine stacks.
	HeapInuseMB  float64 `json:"heap_inuse_mb"`
	StackInuseMB float64 `json:"stack_inuse_mb"`
}

// memoryScenario opens n idle connections (they read nothing after the
// handshake) and reports dmxd's RSS growth per connection and its frame
// rate meanwhile.
func memoryScenario(bin string, n int) (MemoryRun, error) {
	r := MemoryRun{Conns: n}
	s, err := startServer(bin, 1, "--max-conns", strconv.Itoa(2*n))
	if err != nil {
		return r, err
	}
	defer s.close()
	time.Sleep(time.Second)
	base, err := procRSS(s.p.Pid())
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	conns, err := dialMany(s.url(), n)
	if err != nil {
		return r, err
	}
	defer closeAll(conns)
	r.DialSeconds = time.Since(t0).Seconds()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := s.connections()
		if err != nil {
			return r, err
		}
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("dmxd has %d connections, want %d", got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.logs[0].record()
	time.Sleep(2 * time.Second) // settle; frames are counted meanwhile
	at := s.logs[0].take()
	rss, err := procRSS(s.p.Pid())
	if err != nil {
		return r, err
	}
	_, gap := deviations(at, period)
	if len(at) > 1 {
		r.FrameHz = float64(len(at)-1) / at[len(at)-1].Sub(at[0]).Seconds()
	}
	r.IntervalMaxM = ms(gap)
	r.BaseRSSMB = float64(base) / (1 << 20)
	r.RSSMB = float64(rss) / (1 << 20)
	r.PerConnKB = float64(rss-base) / float64(n) / 1024
	m, err := s.metrics()
	if err != nil {
		return r, err
	}
	r.HeapInuseMB = m["go_memstats_heap_inuse_bytes"] / (1 << 20)
	r.StackInuseMB = m["go_memstats_stack_inuse_bytes"] / (1 << 20)
	return r, nil
}

// FanoutRun is one run of the fan-out scenario.
type FanoutRun struct {
	Watchers         int     `json:"watchers"`
	CPUPerSec        float64 `json:"cpu_seconds_per_second"`
	IdleCPUPerSec    float64 `json:"idle_cpu_seconds_per_second"`
	UpdatesPerDeskHz float64 `json:"updates_per_desk_per_second"`
}

// fanoutScenario connects watchers desks that read everything, then one
// desk changes channel 1 every frame period; it reports the CPU seconds
// per second dmxd spends (utime+stime), and the same without changes.
func fanoutScenario(bin string, watchers int, window, warmup time.Duration) (FanoutRun, error) {
	r := FanoutRun{Watchers: watchers}
	s, err := startServer(bin, 1)
	if err != nil {
		return r, err
	}
	defer s.close()
	conns, err := dialMany(s.url(), watchers+1)
	if err != nil {
		return r, err
	}
	defer closeAll(conns)
	driver, desks := conns[0], conns[1:]
	go drain(driver, nil)
	var got atomic.Int64
	for _, c := range desks {
		go drain(c, &got)
	}
	time.Sleep(warmup)
	cpuWindow := func() (float64, error) {
		c0, err := procCPU(s.p.Pid())
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		time.Sleep(window)
		c1, err := procCPU(s.p.Pid())
		if err != nil {
			return 0, err
		}
		return (c1 - c0).Seconds() / time.Since(t0).Seconds(), nil
	}
	if r.IdleCPUPerSec, err = cpuWindow(); err != nil {
		return r, err
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		var buf []byte
		for v := 0; ; v++ {
			select {
			case <-stop:
				return
			case <-t.C:
				buf = fmt.Appendf(buf[:0], `{"dmx":{"1":%d}}`, v%256)
				if err := driver.WriteMessage(websocket.TextMessage, buf); err != nil {
					return
				}
			}
		}
	}()
	time.Sleep(warmup)
	g0, t0 := got.Load(), time.Now()
	r.CPUPerSec, err = cpuWindow()
	g1, t1 := got.Load(), time.Now()
	close(stop)
	<-done
	r.UpdatesPerDeskHz = float64(g1-g0) / float64(watchers) / t1.Sub(t0).Seconds()
	return r, err
}

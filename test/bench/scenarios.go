package main

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// sizes are the scenario sizes of a full or a quick run.
type sizes struct {
	warmup       time.Duration // before every measuring window
	phase        time.Duration // each latency phase
	idleDesks    int           // latency with idle desks connected
	loadClients  int           // latency under load
	tputConns    []int         // throughput, batched client
	tputWindow   time.Duration
	floodClients int
	floodAlone   time.Duration // the probe without flooders
	flood        time.Duration // the flood, warm-up included
	idleConns    int           // memory
	watchers     int           // fan-out
	fanWindow    time.Duration
	sacnSenders  int           // sACN sources blasting
	sacnBlast    time.Duration // the blast, warm-up included
}

// benchSizes returns the sizes of a full run, or of a quick one (seconds,
// to check the program; not comparable with the targets).
func benchSizes(quick bool) sizes {
	if quick {
		return sizes{
			warmup: 300 * time.Millisecond, phase: 1500 * time.Millisecond, idleDesks: 100, loadClients: 20,
			tputConns: []int{1, 8, 64}, tputWindow: time.Second,
			floodClients: 10, floodAlone: time.Second, flood: 2 * time.Second,
			idleConns: 200, watchers: 50, fanWindow: time.Second,
			sacnSenders: 2, sacnBlast: time.Second,
		}
	}
	return sizes{
		warmup: time.Second, phase: 10 * time.Second, idleDesks: 1000, loadClients: 200,
		tputConns: []int{1, 8, 64}, tputWindow: 5 * time.Second,
		floodClients: 100, floodAlone: 5 * time.Second, flood: 12 * time.Second,
		idleConns: 10000, watchers: 1000, fanWindow: 5 * time.Second,
		sacnSenders: 4, sacnBlast: 5 * time.Second,
	}
}

// The memory scenario's pauses: before the base RSS, and with every
// connection open (frames are counted meanwhile).
const (
	memoryBase   = time.Second
	memorySettle = 2 * time.Second
)

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
	s, err := startServer(bin, []frameReader{recorderProcess}, "--max-conns", strconv.Itoa(2*n))
	if err != nil {
		return r, err
	}
	defer s.close()
	time.Sleep(memoryBase)
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
	if err := s.waitConnections(n); err != nil {
		return r, err
	}
	s.logs[0].record()
	time.Sleep(memorySettle) // frames are counted meanwhile
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
	s, err := startServer(bin, []frameReader{recorderProcess})
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

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/test/testkit"
)

// Constants shared by the scenarios.
const (
	rate          = 44 // dmxd's default refresh rate, passed explicitly
	period        = time.Second / rate
	dmxChannels   = 512
	probeChannel  = 512 // the probe's; the latency load and the flood never set it
	maxLevel      = 255
	dialWorkers   = 32
	stopWait      = 10 * time.Second // SIGTERM to kill
	firstFrame    = 5 * time.Second  // from dmxd's start to every universe's first frame
	httpTimeout   = 2 * time.Second  // /healthz and /metrics, also while dmxd is flooded
	settleTimeout = 30 * time.Second // for dmxd to count opened or closed connections
	settlePoll    = 100 * time.Millisecond
)

// frameReader is what reads and time-stamps the frames of one universe's
// pty.
type frameReader int

const (
	// recorderProcess is testkit.Device: a separate recorder process on a
	// SCHED_FIFO thread (or nice -15 without the privilege), the stand-in
	// for the interface's hardware; the bench's own load cannot delay it.
	recorderProcess frameReader = iota
	// normalProcess is testkit.StartNormalDevice: a separate recorder
	// process at normal priority, as an ordinary program reading the
	// frames would be. Being its own process, it does not wait behind the
	// bench's clients in the bench's Go scheduler (a goroutine of the
	// bench did until 2026-12-03, which measured the bench's load too).
	normalProcess
)

func (k frameReader) String() string {
	if k == normalProcess {
		return "reader at normal priority"
	}
	return "RT recorder"
}

// server is one dmxd under test, each universe u patched to an enttec-pro
// output on a pty whose frames are read as readers[u-1] says.
type server struct {
	p       *testkit.Process
	http    *http.Client
	logs    []*frameLog    // by universe - 1
	unplugs []func() error // the ptys' readers, closed after dmxd stops
	// others are the processes behind p in the cluster scenario (its
	// core and output node), stopped after it.
	others []*testkit.Process
}

// startServer starts dmxd with one universe per reader (plus extra
// flags) and waits for the first frame of every universe.
func startServer(bin string, readers []frameReader, extra ...string) (*server, error) {
	s := &server{http: &http.Client{Timeout: httpTimeout}}
	args := []string{"--universes", strconv.Itoa(len(readers)), "--rate", strconv.Itoa(rate)}
	for i, kind := range readers {
		path, err := s.attach(kind)
		if err != nil {
			s.close()
			return nil, err
		}
		args = append(args, "--output", fmt.Sprintf("%d=enttec-pro:%s", i+1, path))
	}
	p, err := testkit.Start(bin, append(args, extra...)...)
	if err != nil {
		s.close()
		return nil, err
	}
	s.p = p
	for _, l := range s.logs {
		if err := awaitFirstFrame(l); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// attach opens a pty read by kind and returns the slave's path.
func (s *server) attach(kind frameReader) (string, error) {
	start := testkit.StartDevice
	if kind == normalProcess {
		start = testkit.StartNormalDevice
	}
	dev, err := start("")
	if err != nil {
		return "", err
	}
	s.unplugs = append(s.unplugs, dev.Unplug)
	s.logs = append(s.logs, newFrameLog(dev.Frames(), probeChannel))
	return dev.Path, nil
}

// awaitFirstFrame waits for a frame of a fresh dmxd (all levels 0).
func awaitFirstFrame(l *frameLog) error {
	l.expect(0)
	t := time.NewTimer(firstFrame)
	defer t.Stop()
	select {
	case <-l.hit:
		return nil
	case <-t.C:
		return fmt.Errorf("no frame within %v of start", firstFrame)
	}
}

func (s *server) url() string { return s.p.WSURL("/ws") }

func (s *server) close() {
	if s.p != nil {
		_, _ = s.p.Stop(stopWait)
	}
	for i := len(s.others) - 1; i >= 0; i-- {
		_, _ = s.others[i].Stop(stopWait)
	}
	for _, l := range s.logs {
		l.close()
	}
	for _, unplug := range s.unplugs {
		_ = unplug()
	}
}

// connections asks /healthz how many WebSocket connections dmxd has open.
func (s *server) connections() (int, error) {
	resp, err := s.http.Get(s.p.URL("/healthz"))
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

// waitConnections waits until dmxd counts n open connections.
func (s *server) waitConnections(n int) error {
	deadline := time.Now().Add(settleTimeout)
	for {
		got, err := s.connections()
		if err != nil {
			return err
		}
		if got == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dmxd has %d connections after %v, want %d", got, settleTimeout, n)
		}
		time.Sleep(settlePoll)
	}
}

// metrics scrapes dmxd's /metrics into samples by series.
func (s *server) metrics() (map[string]float64, error) {
	resp, err := s.http.Get(s.p.URL("/metrics"))
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

// metric scrapes one series; it returns an error when dmxd does not
// answer in time or lacks the series.
func (s *server) metric(name string) (float64, error) {
	m, err := s.metrics()
	if err != nil {
		return 0, err
	}
	v, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("metrics: no %s", name)
	}
	return v, nil
}

// Tally is what a scenario's clients counted against what dmxd counted
// over the same stretch (dmxd_commands_accepted_total, counted as dmxd
// reads a command): every command acknowledged (or seen on the pty) was
// accepted, and dmxd accepted no command that was not written.
type Tally struct {
	Written  int64 `json:"written"`  // commands the clients began to write
	Acked    int64 `json:"acked"`    // commands acknowledged, or seen on the pty
	Accepted int64 `json:"accepted"` // by dmxd
}

// accepted returns dmxd's count of accepted commands.
func (s *server) accepted() (int64, error) {
	v, err := s.metric(acceptedMetric)
	return int64(v), err
}

// tally returns written and acked against what dmxd has accepted since
// base: after every connection that wrote has ended, dmxd's count is final.
func (s *server) tally(base, written, acked int64) (Tally, error) {
	now, err := s.accepted()
	return Tally{Written: written, Acked: acked, Accepted: now - base}, err
}

// settledTally is tally for a connection that is still open: it waits up
// to settleTimeout for dmxd to have accepted all that was written (it may
// still be in the socket's buffers).
func (s *server) settledTally(base, written, acked int64) (Tally, error) {
	deadline := time.Now().Add(settleTimeout)
	for {
		t, err := s.tally(base, written, acked)
		if err != nil || t.Accepted >= written || time.Now().After(deadline) {
			return t, err
		}
		time.Sleep(settlePoll)
	}
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

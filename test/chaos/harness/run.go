package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/dmxd/dmxd/actors/metrics"
	"github.com/dmxd/dmxd/test/testkit"
)

// harness is the state of one run.
type harness struct {
	cfg      Config
	st       *stats
	model    *model
	gate     *gate
	ids      atomic.Int64
	owners   int
	ramp     time.Duration
	end      time.Time
	wsURL    string
	ownerLim *rate.Limiter
	noiseLim *rate.Limiter
	// faultUntil (unix nanos) ends the window in which connections may
	// break because dmxd restarts.
	faultUntil atomic.Int64
	restarted  atomic.Bool // dmxd was restarted: 1001 closes are expected

	bin, dir, link string
	args           []string
	proc           atomic.Pointer[testkit.Process]
	procs          []*testkit.Process
	logs           map[int]*frameLog // universes 1 and 2
	writerLate     map[int]int       // see OutputStats.WriterLate
	loopLate       map[int]int       // see OutputStats.LoopLate
	pty1, pty2     *testkit.Device
	ctl            *session // the harness's own desk
	launch         *launcher
	http           *http.Client
	peakConns      atomic.Int64
	peakRSS        atomic.Int64
	sum            Summary
	heapBase       float64 // -1 without /metrics
	logMu          sync.Mutex
}

// Run performs one chaos run and returns its summary. The error is
// non-nil when the run could not be set up or an invariant broke (then
// Summary.Violations says which).
func Run(cfg Config) (Summary, error) {
	if err := cfg.validate(); err != nil {
		return Summary{}, err
	}
	h := &harness{
		cfg:        cfg,
		st:         newStats(),
		model:      newModel(cfg.owners()),
		gate:       newGate(),
		owners:     cfg.owners(),
		ramp:       min(2*time.Second, cfg.Duration/10),
		logs:       map[int]*frameLog{1: {universe: 1}, 2: {universe: 2}},
		writerLate: map[int]int{},
		loopLate:   map[int]int{},
		http:       &http.Client{Timeout: 5 * time.Second},
	}
	rt := cfg.cmdRate()
	// Burst: the costliest command (a fade of maxOwnerFade) must fit.
	burst := updateCost(fmt.Sprintf(`"ms":%d`, maxOwnerFade.Milliseconds()))
	h.ownerLim = rate.NewLimiter(rate.Limit(rt/2), burst)
	h.noiseLim = rate.NewLimiter(rate.Limit(rt/2), burst)
	h.sum = Summary{Seed: cfg.Seed, Conns: cfg.Conns, Duration: cfg.Duration, GoroutinesBefore: -1, GoroutinesAfter: -1}
	began := time.Now()
	err := h.run()
	h.sum.Wall = time.Since(began)
	h.st.fill(&h.sum)
	if err == nil && h.sum.ViolationCount > 0 {
		err = fmt.Errorf("%d invariant violations", h.sum.ViolationCount)
	}
	return h.sum, err
}

// logf writes a progress line. The flood phase logs from its own
// goroutine, and Config.Log need not be safe for concurrent use.
func (h *harness) logf(format string, args ...any) {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	fmt.Fprintf(h.cfg.Log, "%s chaos: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// raiseFileLimit lifts the soft limit on open files to the hard one; dmxd,
// started afterwards, inherits it.
func raiseFileLimit(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	if lim.Cur < uint64(need) {
		return fmt.Errorf("open file limit %d is below the %d this run needs (ulimit -Hn)", lim.Cur, need)
	}
	return nil
}

func (h *harness) run() error {
	cfg := &h.cfg
	storm := cfg.Conns / 5
	extra := cfg.FloodDesks + 1 // the flood desks and the probe
	if err := raiseFileLimit(cfg.Conns + storm + extra + 512); err != nil {
		return err
	}
	h.dir = cfg.Dir
	if h.dir == "" {
		d, err := os.MkdirTemp("", "dmxd-chaos-")
		if err != nil {
			return fmt.Errorf("temp dir: %w", err)
		}
		defer os.RemoveAll(d)
		h.dir = d
	}
	h.bin = cfg.Bin
	if h.bin == "" {
		h.logf("building dmxd")
		b, err := testkit.Build(h.dir)
		if err != nil {
			return err
		}
		h.bin = b
	}
	var err error
	h.launch = newLauncher()
	defer h.launch.stop()
	h.link = filepath.Join(h.dir, "ttyDMX1")
	if h.pty1, err = h.startDevice(h.link); err != nil {
		return err
	}
	defer func() {
		_ = h.pty1.Unplug()
		h.logs[1].wg.Wait()
	}()
	if h.pty2, err = h.startDevice(filepath.Join(h.dir, "ttyDMX2")); err != nil {
		return err
	}
	defer func() {
		_ = h.pty2.Unplug()
		h.logs[2].wg.Wait()
	}()
	h.logs[1].follow(h.pty1)
	h.logs[2].follow(h.pty2)
	h.args = []string{
		"--universes", strconv.Itoa(cfg.Universes),
		"--output", "1=enttec-pro:" + h.link,
		"--output", "2=enttec-pro:" + h.pty2.Link,
		"--state", filepath.Join(h.dir, "state.json"),
		"--conn-rate", strconv.Itoa(cfg.ConnRate),
		"--max-conns", strconv.Itoa(cfg.Conns + storm + extra + 1000),
		"--ping-interval", h.cfg.PingInterval.String(),
		"--log-level", "info",
	}
	if err := h.startDMXD("127.0.0.1:0"); err != nil {
		return err
	}
	defer func() {
		if p := h.proc.Load(); p != nil {
			_, _ = p.Stop(shutdownBudget)
		}
	}()
	h.wsURL = "ws://" + h.proc.Load().Addr + "/ws"
	h.logf("dmxd pid %d on %s; %d slots, %d owners, %.1f level commands/s, %v", h.proc.Load().Pid(), h.proc.Load().Addr, cfg.Conns, h.owners, cfg.cmdRate(), cfg.Duration)
	for u, l := range h.logs {
		if _, err := l.firstAfter(time.Time{}, 5*time.Second); err != nil {
			return fmt.Errorf("universe %d before the run: %w", u, err)
		}
	}
	if err := h.connectControl(); err != nil {
		return err
	}
	time.Sleep(time.Second) // let dmxd settle before the baseline
	h.sum.RSSBase, _ = h.proc.Load().RSS()
	h.sum.GoroutinesBefore = h.goroutines()
	h.heapBase = h.metric("go_memstats_heap_inuse_bytes")
	h.sum.HeapBase, h.sum.HeapAfter = int64(h.heapBase), -1

	if h.cfg.LoadNice > 0 {
		if err := h.launch.niceThreads(h.cfg.LoadNice); err != nil {
			return err
		}
	}
	monCtx, stopMon := context.WithCancel(context.Background())
	monDone := make(chan struct{})
	go h.monitor(monCtx, monDone)

	// The clients.
	h.end = time.Now().Add(cfg.Duration)
	ctx, cancel := context.WithDeadline(context.Background(), h.end)
	defer cancel()
	hard, cancelHard := context.WithDeadline(context.Background(), h.end.Add(20*time.Second))
	defer cancelHard()
	var wg sync.WaitGroup
	for i := range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.st.active("slot", 1)
			h.slot(ctx, hard, i)
			h.st.active("slot", -1)
		}()
	}

	// The flood phase, in the middle of the run; the restart waits for it.
	floodDone := make(chan struct{})
	if cfg.FloodDesks > 0 {
		start, end := h.floodWindow()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(floodDone)
			h.floodPhase(ctx, start, end)
		}()
	} else {
		close(floodDone)
	}

	// The faults, in time order.
	rng := rand.New(rand.NewPCG(cfg.Seed, math.MaxUint64))
	at := func(frac float64) time.Time {
		jitter := time.Duration(rng.Float64() * 0.05 * float64(cfg.Duration))
		return h.end.Add(-cfg.Duration).Add(time.Duration(frac*float64(cfg.Duration)) + jitter)
	}
	type fault struct {
		at time.Time
		do func()
	}
	faults := []fault{
		{at(0.15), func() { h.storm(ctx, &wg, storm, 1) }},
		{at(0.75), func() { h.storm(ctx, &wg, storm, 2) }},
	}
	if cfg.Unplug {
		window := time.Duration(400+rng.IntN(500)) * time.Millisecond
		faults = append(faults, fault{at(0.3), func() { h.unplug(window) }})
	}
	if cfg.Restart {
		faults = append(faults, fault{at(0.55), func() { <-floodDone; h.restart() }})
	}
	for len(faults) > 0 {
		next := 0
		for i, f := range faults {
			if f.at.Before(faults[next].at) {
				next = i
			}
		}
		sleepCtx(ctx, time.Until(faults[next].at))
		if ctx.Err() != nil {
			break
		}
		faults[next].do()
		faults = append(faults[:next], faults[next+1:]...)
	}
	<-ctx.Done()
	h.logf("run over; waiting for the clients to leave")
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-hard.Done():
		h.st.violate("clients still running 20s after the end: %s", h.st.liveRoles())
		<-done
	}
	h.logf("clients gone; final comparison")
	h.checkpoint("end")
	h.gate.resume()
	h.ctl.closeClean()
	h.ctl = nil
	h.settle()
	stopMon()
	<-monDone
	h.sum.PeakConns = int(h.peakConns.Load())
	h.sum.RSSPeak = h.peakRSS.Load()

	// Stop dmxd; the plugged-in intervals end here.
	stopAt := time.Now()
	for _, l := range h.logs {
		l.down(stopAt)
	}
	h.stopDMXD("final")
	for _, u := range []int{1, 2} {
		o := h.logs[u].analyse(h.st, h.cfg.MinWindowFrames, h.cfg.MaxFrameGap, h.cfg.ArrivalMaxGap)
		o.WriterLate, o.LoopLate = h.writerLate[u], h.loopLate[u]
		h.checkWriterTiming(u)
		h.sum.Outputs = append(h.sum.Outputs, o)
	}
	h.checkLogs()
	return nil
}

// startDMXD starts dmxd listening on addr and marks the outputs up.
func (h *harness) startDMXD(addr string) error {
	var p *testkit.Process
	var err error
	h.launch.do(func() {
		p, err = testkit.Start(h.bin, append(append([]string(nil), h.args...), "--listen", addr)...)
	})
	if err != nil {
		return err
	}
	h.proc.Store(p)
	h.procs = append(h.procs, p)
	now := time.Now()
	for _, l := range h.logs {
		l.up(now)
	}
	return nil
}

// startDevice starts a pty recorder at normal priority.
func (h *harness) startDevice(link string) (*testkit.Device, error) {
	var d *testkit.Device
	var err error
	h.launch.do(func() { d, err = testkit.StartDevice(link) })
	return d, err
}

// stopDMXD sends SIGTERM and checks a clean exit within the protocol's 5 s.
func (h *harness) stopDMXD(when string) {
	p := h.proc.Load()
	for u := range h.logs {
		h.countWriterLate(u)
	}
	if cpu, wait, err := p.Sched(); err == nil {
		h.sum.DMXDCPU += cpu
		h.sum.DMXDRunWait += wait
	}
	began := time.Now()
	code, err := p.Stop(shutdownBudget)
	took := time.Since(began)
	switch {
	case err != nil:
		h.st.violate("%s SIGTERM: %v", when, err)
	case code != 0:
		h.st.violate("%s SIGTERM: exit status %d, want 0", when, code)
	}
	h.logf("%s SIGTERM: exit %d after %v", when, code, took.Round(time.Millisecond))
}

// connectControl opens the harness's own desk, which hears output and
// blackout messages and asks for states.
func (h *harness) connectControl() error {
	ws, err := h.dial(context.Background(), dialOpts{})
	if err != nil {
		return fmt.Errorf("control desk: %w", err)
	}
	h.ctl = h.start(ws, true, nil)
	return nil
}

// inFault reports whether connections may break now because of a restart.
func (h *harness) inFault() bool { return time.Now().UnixNano() < h.faultUntil.Load() }

// monitor samples /healthz connections and dmxd's RSS for their peaks.
func (h *harness) monitor(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if h.cfg.LoadNice > 0 {
			_ = h.launch.niceThreads(h.cfg.LoadNice) // threads started since
		}
		if p := h.proc.Load(); p != nil {
			if rss, err := p.RSS(); err == nil && rss > h.peakRSS.Load() {
				h.peakRSS.Store(rss)
			}
		}
		if hz, _, err := h.health(); err == nil && int64(hz.Connections) > h.peakConns.Load() {
			h.peakConns.Store(int64(hz.Connections))
		}
	}
}

// healthz is the body of /healthz.
type healthz struct {
	Status      string `json:"status"`
	Connections int    `json:"connections"`
	Universes   []struct {
		Universe int    `json:"universe"`
		State    string `json:"state"`
	} `json:"universes"`
}

func (h *harness) health() (healthz, int, error) {
	var hz healthz
	p := h.proc.Load()
	resp, err := h.http.Get(p.URL("/healthz"))
	if err != nil {
		return hz, 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&hz); err != nil {
		return hz, resp.StatusCode, fmt.Errorf("decode /healthz: %w", err)
	}
	return hz, resp.StatusCode, nil
}

// waitHealth polls /healthz until ok accepts it.
func (h *harness) waitHealth(timeout time.Duration, ok func(healthz, int) bool) (healthz, int, error) {
	deadline := time.Now().Add(timeout)
	for {
		hz, code, err := h.health()
		if err == nil && ok(hz, code) {
			return hz, code, nil
		}
		if time.Now().After(deadline) {
			return hz, code, fmt.Errorf("/healthz after %v: %d %+v %v", timeout, code, hz, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// goroutines reads go_goroutines from /metrics; -1 when there is none.
func (h *harness) goroutines() int { return int(h.metric("go_goroutines")) }

// metric reads one unlabelled value from /metrics; -1 when dmxd has no
// /metrics or no such metric.
func (h *harness) metric(name string) float64 { return h.metrics(name)[0] }

// metrics reads several series (a name with its labels, as /metrics
// writes them) from one scrape; -1 for each one that is missing.
func (h *harness) metrics(series ...string) []float64 {
	vals := make([]float64, len(series))
	for i := range vals {
		vals[i] = -1
	}
	resp, err := h.http.Get(h.proc.Load().URL("/metrics"))
	if err != nil {
		return vals
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return vals
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		for i, name := range series {
			if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
				if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					vals[i] = n
				}
			}
		}
	}
	return vals
}

// countWriterLate adds the frame intervals of universe u that dmxd timed
// above the gap bound to h.writerLate[u], and the loop's waits within
// them above it to h.loopLate[u] (-1 once /metrics has none). The bound is
// rounded up to the histograms' bucket (45.5 ms at 44 Hz).
func (h *harness) countWriterLate(u int) {
	le := -1.0
	for _, b := range metrics.FrameIntervalBuckets {
		if b >= h.cfg.MaxFrameGap.Seconds() {
			le = b
			break
		}
	}
	h.writerLate[u] = h.countOver("dmxd_frame_interval_seconds", u, le, h.writerLate[u])
	h.loopLate[u] = h.countOver("dmxd_frame_wait_seconds", u, le, h.loopLate[u])
}

// countOver adds the observations of histogram name for universe u above
// le to sofar, or returns -1 when /metrics has none (or sofar is -1).
func (h *harness) countOver(name string, u int, le float64, sofar int) int {
	series := fmt.Sprintf("%s%%s{universe=\"%d\"%%s}", name, u)
	var v []float64
	for try := 0; try < 3; try++ { // a loaded machine may miss one scrape
		v = h.metrics(fmt.Sprintf(series, "_count", ""), fmt.Sprintf(series, "_bucket", fmt.Sprintf(",le=\"%v\"", le)))
		if v[0] >= 0 && v[1] >= 0 {
			break
		}
	}
	all, within := v[0], v[1]
	if all < 0 || within < 0 || sofar < 0 {
		return -1
	}
	return sofar + int(all-within)
}

// checkWriterTiming is the writer-timing check of universe u: dmxd's
// refresh loop started none of its frames more than the gap bound after
// the previous write had ended, over both dmxd processes (its own clock,
// see countWriterLate). Intervals over the bound that a slow write made
// are reported, not violations.
func (h *harness) checkWriterTiming(u int) {
	switch n := h.loopLate[u]; {
	case n < 0 || h.writerLate[u] < 0:
		h.st.violate("writer timing: universe %d: dmxd's frame interval histograms could not be read", u)
	case n > 0:
		h.st.violate("writer timing: universe %d: dmxd's refresh loop started %d of its frames more than %v after the previous write ended", u, n, h.cfg.MaxFrameGap.Round(100*time.Microsecond))
	}
}

// storm opens n short-lived connections at once.
func (h *harness) storm(ctx context.Context, wg *sync.WaitGroup, n, k int) {
	h.logf("connect storm %d: %d connections", k, n)
	h.st.add("storm.connections")
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(h.cfg.Seed, uint64(k)<<32|uint64(i)))
			h.st.add("session.storm")
			h.st.active("storm", 1)
			h.churn(ctx, rng)
			h.st.active("storm", -1)
		}()
	}
}

// checkpoint pauses the owners and the blackout switcher, switches
// blackout off, waits for fades to end and compares the model with get
// and with the frames on both ptys. The caller resumes the gate.
func (h *harness) checkpoint(label string) {
	if err := h.gate.pause(30 * time.Second); err != nil {
		h.st.violate("%s: pausing the owners: %v", label, err)
	}
	select {
	case <-h.ctl.done: // dmxd dropped the harness's own desk: say so, go on
		h.st.violate("%s: the control desk was disconnected: %v", label, h.ctl.endErr)
		if err := h.connectControl(); err != nil {
			h.st.violate("%s: %v", label, err)
			return
		}
	default:
	}
	for u := 1; u <= h.cfg.Universes; u++ {
		if m, err := h.ctl.request(fmt.Sprintf(`{"blackout":false,"universe":%d}`, u)); err != nil || m.Type != "ack" {
			h.st.violate("%s: blackout off on universe %d: %v %s", label, u, err, m.Code)
		}
	}
	if wait := time.Until(h.model.settled().Add(3 * framePeriod)); wait > 0 {
		time.Sleep(wait)
	}
	time.Sleep(3 * framePeriod) // the blackout-off frame
	h.compare(label, time.Now())
	h.logf("%s: model compared (%d owner commands acknowledged so far)", label, h.st.ownerAcked.Load())
}

// compare checks get and the first frame after since against the model.
func (h *harness) compare(label string, since time.Time) {
	for _, u := range []int{1, 2} {
		for len(h.ctl.states) > 0 {
			<-h.ctl.states
		}
		if m, err := h.ctl.request(fmt.Sprintf(`{"get":true,"universe":%d}`, u)); err != nil || m.Type != "ack" {
			h.st.violate("%s: get universe %d: %v %s", label, u, err, m.Code)
			continue
		}
		select {
		case st := <-h.ctl.states:
			if st.Universe != u || len(st.Values) != 512 {
				h.st.violate("%s: get universe %d answered with universe %d, %d values", label, u, st.Universe, len(st.Values))
			} else if d := h.model.diff(u, st.Values); d != "" {
				h.st.violate("%s: get universe %d: %s", label, u, d)
			}
			if st.Blackout {
				h.st.violate("%s: universe %d still in blackout after blackout false was acknowledged", label, u)
			}
		case <-time.After(ackTimeout):
			h.st.violate("%s: no state for universe %d", label, u)
		}
		f, err := h.logs[u].firstAfter(since, 3*time.Second)
		if err != nil {
			h.st.violate("%s: %v", label, err)
			continue
		}
		if d := h.model.diff(u, frameValues(&f.Values)); d != "" {
			h.st.violate("%s: frame of universe %d at %s: %s", label, u, f.At.Format("15:04:05.000"), d)
		}
	}
}

// unplug pulls universe 1's device out for window and plugs a new one in
// behind the same path, with the owners paused so that the first frame
// after the replug can be compared with the model.
func (h *harness) unplug(window time.Duration) {
	h.checkpoint("before unplug")
	defer h.gate.resume()
	for len(h.ctl.events) > 0 {
		<-h.ctl.events
	}
	l := h.logs[1]
	at := time.Now()
	l.down(at)
	h.logf("unplugging universe 1's device for %v", window)
	if err := h.pty1.Unplug(); err != nil {
		h.st.violate("unplug: %v", err)
		return
	}
	// While it is out: /healthz says 503 (polled until the replug).
	degraded := false
	for !degraded && time.Now().Before(at.Add(window)) {
		if _, code, err := h.health(); err == nil && code == http.StatusServiceUnavailable {
			degraded = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !degraded {
		h.st.violate("universe 1 unplugged for %v: /healthz never answered 503", window)
	}
	time.Sleep(time.Until(at.Add(window)))
	q, err := h.startDevice(h.link)
	if err != nil {
		h.st.violate("replug: %v", err)
		return
	}
	replug := time.Now()
	h.pty1 = q
	l.up(replug)
	l.follow(q)
	f, err := l.firstAfter(replug, 7*time.Second)
	if err != nil {
		h.st.violate("replug: %v", err)
		return
	}
	h.sum.ReplugAfter = f.At.Sub(replug)
	if h.sum.ReplugAfter > replugResume {
		h.st.violate("frames resumed %v after the replug, want within %v", h.sum.ReplugAfter.Round(time.Millisecond), replugResume)
	}
	if d := h.model.diff(1, frameValues(&f.Values)); d != "" {
		h.st.violate("first frame after the replug: %s", d)
	}
	h.expectOutput("down")
	h.expectOutput("up")
	if _, _, err := h.waitHealth(3*time.Second, func(_ healthz, code int) bool { return code == http.StatusOK }); err != nil {
		h.st.violate("replugged: want /healthz 200: %v", err)
	}
	h.logf("replugged; frames resumed after %v", h.sum.ReplugAfter.Round(time.Millisecond))
}

// expectOutput waits for the control desk to hear universe 1's output
// going to state.
func (h *harness) expectOutput(state string) {
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	for {
		select {
		case m := <-h.ctl.events:
			if m.Type == "output" && m.Universe == 1 && m.State == state {
				h.st.add("output." + state)
				return
			}
		case <-t.C:
			h.st.violate("no output %s message for universe 1 within 3s", state)
			return
		}
	}
}

// restart stops dmxd with SIGTERM and starts it again on the same port
// and state file, with the owners paused: get and the first frames after
// the restart must carry the model's levels.
func (h *harness) restart() {
	h.checkpoint("before restart")
	defer h.gate.resume()
	h.faultUntil.Store(math.MaxInt64)
	h.restarted.Store(true)
	addr := h.proc.Load().Addr
	at := time.Now()
	for _, l := range h.logs {
		l.down(at)
	}
	h.stopDMXD("restart")
	exited := time.Now()
	<-h.ctl.done
	if err := h.startDMXD(addr); err != nil {
		h.st.violate("restart: %v", err)
		return
	}
	if err := h.connectControl(); err != nil {
		h.st.violate("restart: %v", err)
		return
	}
	for _, u := range []int{1, 2} {
		f, err := h.logs[u].firstAfter(exited, 5*time.Second)
		if err != nil {
			h.st.violate("after restart: %v", err)
			continue
		}
		if gap := f.At.Sub(at); gap > h.sum.RestartGap {
			h.sum.RestartGap = gap
		}
		if d := h.model.diff(u, frameValues(&f.Values)); d != "" {
			h.st.violate("first frame of universe %d after restart: %s", u, d)
		}
	}
	h.compare("after restart", time.Now())
	h.faultUntil.Store(time.Now().Add(3 * time.Second).UnixNano())
	h.logf("restarted; no frames for %v", h.sum.RestartGap.Round(time.Millisecond))
}

// settle waits for every connection to be gone and for dmxd's memory and
// goroutines to come back near their baseline.
func (h *harness) settle() {
	if _, _, err := h.waitHealth(15*time.Second, func(hz healthz, _ int) bool { return hz.Connections == 0 }); err != nil {
		h.st.violate("after every client left: %v", err)
	}
	// Memory: with /metrics, the Go heap in use must come back within
	// heapSlack of its baseline. The heap in use holds the garbage of the
	// run until the next collection, and an idle dmxd allocates so little
	// that its next collection is the one the Go runtime forces every 2
	// minutes: a heap above the bound is therefore measured again after
	// the first collection since the clients left (what a leak would
	// survive). Without /metrics only RSS is known, which the runtime
	// returns to the OS minutes later: it must merely not grow after the
	// clients left.
	if h.heapBase >= 0 {
		left := float64(time.Now().UnixNano()) / 1e9
		deadline := time.Now().Add(heapGCWait)
		for {
			v := h.metrics("go_memstats_heap_inuse_bytes", "go_memstats_last_gc_time_seconds")
			h.sum.HeapAfter = int64(v[0])
			if h.sum.HeapAfter <= h.sum.HeapBase+heapSlack || v[1] > left || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		if h.sum.HeapAfter > h.sum.HeapBase+heapSlack {
			h.st.violate("Go heap in use %s after every client left, want ≤ %s + %s", mib(h.sum.HeapAfter), mib(h.sum.HeapBase), mib(heapSlack))
		}
	}
	time.Sleep(time.Second)
	if rss, err := h.proc.Load().RSS(); err == nil {
		h.sum.RSSAfter = rss
	}
	if peak := h.peakRSS.Load(); h.sum.RSSAfter > peak+16<<20 {
		h.st.violate("RSS %s after every client left, above its peak %s during the run", mib(h.sum.RSSAfter), mib(peak))
	}
	if h.sum.GoroutinesBefore >= 0 {
		deadline := time.Now().Add(15 * time.Second)
		for {
			h.sum.GoroutinesAfter = h.goroutines()
			if h.sum.GoroutinesAfter <= h.sum.GoroutinesBefore+goroutineSlack || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if h.sum.GoroutinesAfter > h.sum.GoroutinesBefore+goroutineSlack {
			h.st.violate("%d goroutines after every client left, want ≤ %d + %d", h.sum.GoroutinesAfter, h.sum.GoroutinesBefore, goroutineSlack)
		}
	}
}

// goroutineSlack is how many more goroutines than at the baseline dmxd may
// run after every client left (HTTP keep-alive connections and the like).
const goroutineSlack = 10

// heapSlack is how far above its baseline dmxd's Go heap in use may stay
// once every client left.
const heapSlack = 32 << 20

// heapGCWait bounds the wait for dmxd's first garbage collection after the
// clients left: the runtime forces one every 2 minutes.
const heapGCWait = 2*time.Minute + 15*time.Second

// checkLogs fails on any panic or error-level log line of every dmxd run.
func (h *harness) checkLogs() {
	for _, p := range h.procs {
		for _, l := range p.Logs() {
			lvl, _ := l["level"].(string)
			switch lvl {
			case "error", "fatal", "panic":
				h.st.violate("dmxd logged %v", l)
			case "warn":
				msg, _ := l["message"].(string)
				h.st.add("log.warn." + msg)
			}
		}
		for _, line := range p.RawLogs() {
			if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") || strings.Contains(line, "DATA RACE") {
				h.st.violate("dmxd: %s", line)
			}
		}
	}
}

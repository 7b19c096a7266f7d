package harness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmxd/dmxd/actors/metrics"
)

// The flood phase: Config.FloodDesks desks send full-universe arrays to
// the noise channels of universe 2 (the steady pty) at FloodRate, just
// under dmxd's --conn-rate, while a probe desk changes the one channel
// nobody else writes there and times each change to the first pty frame
// that carries it. Every flood command sets the same levels, so after the
// first one the flood changes only what noise traffic changed since, and
// causes hardly any updates: it loads dmxd's input (reading, decoding,
// applying), not the fan-out to every desk, which the update budget paces. The owners' channels are below
// noiseFirst and the flood never writes them, so the model still holds.
const (
	// floodUniverse is the universe the flood and the probe write, and
	// probeChannel the channel only the probe writes there; the flood
	// covers noiseFirst..probeChannel-1.
	floodUniverse = 2
	probeChannel  = 512
	// floodShare is the flood desks' rate as a share of --conn-rate when
	// Config.FloodRate is not given: close to the limit, and under it.
	floodShare = 0.9
	// floodStartFrac and floodEndFrac place the phase in the run: after
	// the first connect storm (at 15–20 %), ending before the restart (at
	// 55–60 %), which waits for it.
	floodStartFrac = 0.25
	floodEndFrac   = 0.5
	// floodTick is how often a flood desk sends the commands its rate
	// allows since the last tick, and floodCatchUp the longest time it
	// makes up for after a late tick or a blocked write: in any time T it
	// sends at most rate × (T + floodCatchUp) + 1 commands, far within
	// the limit's burst of two seconds' worth.
	floodTick    = 10 * time.Millisecond
	floodCatchUp = 100 * time.Millisecond
	// floodIDEvery: every floodIDEvery-th flood command carries an id, so
	// that acks can be counted without one for every command.
	floodIDEvery = 20
	// floodWriteWait is a flood desk's write deadline. dmxd may stop
	// reading a desk whose window of commands is used up, so a write may
	// block; one that cannot finish in this time drops the connection
	// (counted, see flood.write_timeout) and the desk reconnects.
	floodWriteWait = 5 * time.Second
	// floodAckWait bounds a flood desk's wait for the acks of its commands
	// once the phase is over, before it closes.
	floodAckWait = 5 * time.Second
	// floodStream keeps the flood desks' random sources apart from the
	// slots' (stream i) and the storms' (stream k<<32 | i, k = 1, 2).
	floodStream = 3 << 32
)

// The flood's memory bound, on dmxd's Go heap in use: the baseline, plus
// floodHeapPerDesk for every flood desk, plus floodHeapFixed. It comes
// from dmxd's credit window: each connection may hold at most a bounded
// window of decoded commands plus one message buffer of at most 64 KiB
// (the largest message) before dmxd stops reading its socket, so a desk
// that floods costs dmxd no more than that however fast it sends. The
// fixed part is for everything else the phase allocates (a hundred more
// connections, garbage between two collections).
const (
	floodHeapPerDesk = 64 << 10
	floodHeapFixed   = 64 << 20
	// floodBaseWindow is how long the baseline is sampled before the
	// phase, every floodSampleEvery as during it. The baseline is the
	// highest heap in use or GC goal (go_memstats_next_gc_bytes) in that
	// window: between two collections the heap in use grows to the goal
	// whatever the flood does, so the bound starts there.
	floodBaseWindow  = 2 * time.Second
	floodSampleEvery = 100 * time.Millisecond
	// The flood stops early once dmxd's heap in use passes
	// floodAbortFactor times its bound or its RSS passes floodRSSCap (for
	// a dmxd without /metrics): the bound is broken by then, and a dmxd
	// that never stops reading must not take the machine's memory.
	floodAbortFactor = 2
	floodRSSCap      = 1 << 30
)

// The probe desk.
const (
	// probeDelay is how long after the start of the phase the probe's
	// clock starts (its first change a probeEvery later): the flood desks
	// connect and start sending first.
	probeDelay = 500 * time.Millisecond
	// probeFrameWait bounds the search for the frame that carries a
	// probe's level; not finding one is a violation.
	probeFrameWait = 3 * time.Second
	// probeEvery paces the probe. Each of its changes sends an update to
	// every desk, on top of the update budget of the other traffic: 2 a
	// second are 10,000 more messages a second to 5,000 desks, for the
	// length of the phase.
	probeEvery = 500 * time.Millisecond
)

// floodPrefix is every flood command but its end: the levels of the
// channels noiseFirst..probeChannel-1 (none of them 0, so that a frame
// with every slot 0 is a blackout) on floodUniverse.
var floodPrefix = func() []byte {
	levels := make([]string, 0, probeChannel-noiseFirst)
	for ch := noiseFirst; ch < probeChannel; ch++ {
		levels = append(levels, strconv.Itoa(1+ch*37%255))
	}
	return fmt.Appendf(nil, `{"dmx":[%s],"start":%d,"universe":%d`, strings.Join(levels, ","), noiseFirst, floodUniverse)
}()

// appendFloodCommand appends one flood command to buf, with id when it is
// not 0.
func appendFloodCommand(buf []byte, id int64) []byte {
	buf = append(buf, floodPrefix...)
	if id != 0 {
		buf = append(buf, `,"id":`...)
		buf = strconv.AppendInt(buf, id, 10)
	}
	return append(buf, '}')
}

// appendMaskedFrame appends payload as one client text frame, final and
// masked with key (RFC 6455 section 5.2): what gorilla's WriteMessage
// writes, built here so that a flood desk can write a tick's commands with
// one system call and mask its plain command once.
func appendMaskedFrame(buf, payload []byte, key [4]byte) []byte {
	const final, text, masked = 0x80, 0x1, 0x80
	buf = append(buf, final|text)
	switch n := len(payload); {
	case n < 126:
		buf = append(buf, masked|byte(n))
	case n <= math.MaxUint16:
		buf = append(buf, masked|126, byte(n>>8), byte(n))
	default:
		buf = append(buf, masked|127)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	buf = append(buf, key[:]...)
	for i, b := range payload {
		buf = append(buf, b^key[i%4])
	}
	return buf
}

// floodWindow is when the flood phase is planned: from floodStartFrac of
// the run for FloodDuration, cut short at floodEndFrac.
func (h *harness) floodWindow() (start, end time.Time) {
	begin := h.end.Add(-h.cfg.Duration)
	frac := func(f float64) time.Time { return begin.Add(time.Duration(f * float64(h.cfg.Duration))) }
	start, end = frac(floodStartFrac), frac(floodEndFrac)
	if e := start.Add(h.cfg.FloodDuration); e.Before(end) {
		end = e
	}
	return start, end
}

// floodCounters are the flood desks' shared counters.
type floodCounters struct {
	sent, withID, acked atomic.Int64
}

// probeResults are the probe's measurements.
type probeResults struct {
	latencies []time.Duration // send to the first frame carrying the level
	dark      int             // probes held back by a blackout
	ackMax    time.Duration
}

// floodPhase runs the flood phase from start to end, checks its
// invariants and records it in h.sum.Flood. It returns when every desk it
// started has closed.
func (h *harness) floodPhase(ctx context.Context, start, end time.Time) {
	cfg := &h.cfg
	fs := &FloodStats{
		Desks: cfg.FloodDesks, Rate: cfg.FloodRate, ConnRate: cfg.ConnRate,
		HeapBase: -1, HeapBound: -1, HeapPeak: -1,
		ProbeBound: cfg.ProbeBound, AckBound: cfg.ProbeAckBound,
	}
	sleepCtx(ctx, time.Until(start.Add(-floodBaseWindow)))
	if ctx.Err() != nil {
		return
	}
	for ctx.Err() == nil {
		v := h.metrics("go_memstats_heap_inuse_bytes", "go_memstats_next_gc_bytes")
		if v[0] >= 0 {
			fs.HeapBase = max(fs.HeapBase, int64(max(v[0], v[1])))
		}
		if rss, err := h.proc.Load().RSS(); err == nil {
			fs.RSSBase = max(fs.RSSBase, rss)
		}
		if !time.Now().Add(floodSampleEvery).Before(start) {
			break
		}
		time.Sleep(floodSampleEvery)
	}
	if fs.HeapBase >= 0 {
		fs.HeapBound = fs.HeapBase + int64(cfg.FloodDesks)*floodHeapPerDesk + floodHeapFixed
	}
	// The probe connects first, so that it is ready when the flood starts.
	spec := probeSpec{
		URL: h.wsURL, Universe: floodUniverse, Channel: probeChannel,
		Delay: probeDelay, Every: probeEvery, AckWait: ackTimeout,
	}
	if f, ok := h.logs[floodUniverse].latest(); ok {
		spec.Prev = f.Values[probeChannel-1]
	}
	probe, ready, err := h.startProbe(spec)
	if err != nil {
		h.st.violate("flood probe: %v", err)
		return
	}
	if ready.Err != "" && !h.inFault() {
		h.st.violate("flood probe: %s", ready.Err)
	}
	// On a starved machine the samples and the connection may take longer
	// than planned: the flood still lasts its length, later (the restart
	// waits for it).
	length := end.Sub(start)
	h.logf("flood phase: %d desks × %.0f commands/s (--conn-rate %d) for %v; heap bound %s", cfg.FloodDesks, cfg.FloodRate, cfg.ConnRate, length.Round(time.Millisecond), mib(fs.HeapBound))
	fctx, stop := context.WithTimeout(ctx, length)
	defer stop()
	watchStop, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		h.watchFlood(fctx, fs, stop, watchStop)
	}()
	latBefore := h.latencyBuckets()
	began := time.Now()
	fs.Start = began.Sub(h.end.Add(-cfg.Duration))
	var wg sync.WaitGroup
	var c floodCounters
	for i := range cfg.FloodDesks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, floodStream|uint64(i)))
			h.st.active("flood_desk", 1)
			h.floodDesk(fctx, rng, &c)
			h.st.active("flood_desk", -1)
		}()
	}
	var pr probeResults
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.st.active("probe", 1)
		h.probeDesk(fctx, probe, &pr)
		h.st.active("probe", -1)
	}()
	<-fctx.Done()
	fs.Length = time.Since(began)
	h.logf("flood phase over after %v; waiting for the flood desks' acks", fs.Length.Round(time.Millisecond))
	wg.Wait()
	close(watchStop)
	<-watchDone

	fs.Sent, fs.WithID, fs.Acked = c.sent.Load(), c.withID.Load(), c.acked.Load()
	fs.OwnP50, fs.OwnP99, fs.OwnCount = latencyQuantiles(latBefore, h.latencyBuckets())
	fs.Probes, fs.Dark, fs.AckMax = len(pr.latencies), pr.dark, pr.ackMax
	slices.Sort(pr.latencies)
	fs.ProbeP50 = percentile(pr.latencies, 0.50)
	fs.ProbeP99 = percentile(pr.latencies, 0.99)
	fs.ProbeMax = percentile(pr.latencies, 1)
	if fs.HeapBound >= 0 && fs.HeapPeak > fs.HeapBound {
		h.st.violate("flood: Go heap in use peaked at %s, want ≤ %s (%s before + %d desks × %s + %s)", mib(fs.HeapPeak), mib(fs.HeapBound), mib(fs.HeapBase), cfg.FloodDesks, kib(floodHeapPerDesk), mib(floodHeapFixed))
	}
	if fs.Probes == 0 && !fs.StoppedEarly {
		h.st.violate("flood: no probe was timed to a frame in %v", fs.Length.Round(time.Millisecond))
	}
	h.sum.Flood = fs
	h.logf("flood phase: %d commands sent, heap peak %s (bound %s), probe max %v", fs.Sent, mib(fs.HeapPeak), mib(fs.HeapBound), fs.ProbeMax)
}

// watchFlood samples dmxd's Go heap in use and RSS every floodSampleEvery
// until done is closed (the flood desks have gone: what dmxd holds for
// them until it has applied their commands counts), and stops the flood
// (ctx) when the memory cap is reached before its end.
func (h *harness) watchFlood(ctx context.Context, fs *FloodStats, stop context.CancelFunc, done <-chan struct{}) {
	t := time.NewTicker(floodSampleEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		fs.Samples++
		fs.HeapPeak = max(fs.HeapPeak, int64(h.metric("go_memstats_heap_inuse_bytes")))
		if rss, err := h.proc.Load().RSS(); err == nil {
			fs.RSSPeak = max(fs.RSSPeak, rss)
			if rss > h.peakRSS.Load() {
				h.peakRSS.Store(rss)
			}
		}
		over := (fs.HeapBound >= 0 && fs.HeapPeak > floodAbortFactor*fs.HeapBound) || fs.RSSPeak > floodRSSCap
		if over && ctx.Err() == nil {
			fs.StoppedEarly = true
			h.st.add("flood.stopped_early")
			h.logf("flood stopped early: heap in use %s (bound %s), RSS %s", mib(fs.HeapPeak), mib(fs.HeapBound), mib(fs.RSSPeak))
			stop()
		}
	}
}

// floodDesk floods until ctx ends, reconnecting when its connection ends.
func (h *harness) floodDesk(ctx context.Context, rng *rand.Rand, c *floodCounters) {
	for ctx.Err() == nil {
		s := h.connect(ctx, rng, dialOpts{}, nil)
		if s == nil {
			continue
		}
		h.st.add("session.flood_desk")
		var key [4]byte
		binary.LittleEndian.PutUint32(key[:], rng.Uint32())
		h.floodOver(ctx, s, key, c)
	}
}

// floodOver sends flood commands over s at FloodRate until ctx ends, then
// waits for the acks of those that carried an id and closes. It writes
// the frames itself (see appendMaskedFrame), masked with key, straight to
// the socket; gorilla writes only control frames on it (the answer to a
// close), and the socket takes each write whole, so frames never
// interleave. A connection that dmxd ends is judged by sessionEnd: a desk
// within the rate limit must not be closed (with 1008 or 1013 or any
// other code).
func (h *harness) floodOver(ctx context.Context, s *session, key [4]byte, c *floodCounters) {
	var withID int64
	defer func() {
		h.floodErrors(s)
		c.withID.Add(withID)
		c.acked.Add(s.acked.Load())
	}()
	rate := h.cfg.FloodRate
	most := rate*floodCatchUp.Seconds() + 1 // commands at once
	t := time.NewTicker(floodTick)
	defer t.Stop()
	sock := s.ws.NetConn()
	plain := appendMaskedFrame(nil, appendFloodCommand(nil, 0), key)
	batch := make([]byte, 0, int(rate*floodTick.Seconds()+2)*(len(plain)+16))
	cmd := make([]byte, 0, len(floodPrefix)+32)
	credit, n, last := 0.0, 0, time.Now()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			continue
		case <-s.done:
			h.sessionEnd("flood desk", s.endErr)
			return
		case <-t.C:
		}
		h.floodErrors(s)
		now := time.Now()
		credit = min(credit+rate*now.Sub(last).Seconds(), most)
		last = now
		batch = batch[:0]
		var k, ids int64
		for ; credit >= 1; credit-- {
			if n++; n%floodIDEvery == 0 {
				cmd = appendFloodCommand(cmd[:0], h.ids.Add(1))
				batch = appendMaskedFrame(batch, cmd, key)
				ids++
			} else {
				batch = append(batch, plain...)
			}
			k++
		}
		if k == 0 {
			continue
		}
		_ = sock.SetWriteDeadline(time.Now().Add(floodWriteWait))
		if _, err := sock.Write(batch); err != nil {
			h.floodWriteFailed(s, err)
			return
		}
		withID += ids
		h.st.sent.Add(k)
		c.sent.Add(k)
	}
	deadline := time.Now().Add(floodAckWait)
	for s.acked.Load() < withID && time.Now().Before(deadline) {
		select {
		case <-s.done:
			h.sessionEnd("flood desk", s.endErr)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.closeClean()
}

// floodErrors counts the errors a flood desk got. Its commands are valid:
// only rate_limited may come back, when dmxd read a desk's commands in a
// burst that the limiter did not allow (counted, not a violation: a desk
// that keeps being refused is closed with 1008, which is one).
func (h *harness) floodErrors(s *session) {
	for len(s.errs) > 0 {
		e := <-s.errs
		h.st.add("flood.error." + e.Code)
		if e.Code != "rate_limited" {
			h.st.violate("flood desk: a valid command refused with %s", e.Code)
		}
	}
}

// floodWriteFailed handles a flood desk's failed write: a timeout (dmxd
// stopped reading for floodWriteWait) is counted and the connection
// dropped; otherwise dmxd ended the connection and its reader says how.
func (h *harness) floodWriteFailed(s *session, err error) {
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		h.st.add("flood.write_timeout")
		s.drop()
		return
	}
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		s.drop()
	}
	h.sessionEnd("flood desk", s.endErr)
}

// probeDesk reads the probe process's reports until it ends (when ctx
// ends, its stdin is closed) and times each change: its ack must come
// within ProbeAckBound and the first pty frame that carries it within
// ProbeBound of sending it. Only the probe writes probeChannel of
// floodUniverse, and each level differs from the one before, so that
// frame is the change's.
func (h *harness) probeDesk(ctx context.Context, p *probeProc, r *probeResults) {
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			_ = p.stdin.Close() // ends the probe
		case <-stopped:
		}
	}()
	defer p.wait()
	for {
		rep, err := p.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				h.st.violate("flood probe: %v", err)
			}
			return
		}
		h.checkProbe(rep, r)
	}
}

// checkProbe checks one of the probe process's reports.
func (h *harness) checkProbe(rep probeReport, r *probeResults) {
	h.st.sent.Add(1)
	cmd := fmt.Sprintf(`{"dmx":{"%d":%d}}`, probeChannel, rep.Level)
	switch {
	case rep.Err != "":
		if rep.Kind == "dial" {
			h.st.add("session.probe_dial_fail")
		}
		if !h.inFault() && !(rep.Kind == "1001" && h.restarted.Load()) {
			h.st.violate("flood probe: %s", rep.Err)
		}
		return
	case rep.Code != "":
		h.st.violate("flood probe %s refused: %s", cmd, rep.Code)
		return
	}
	ack := time.Duration(rep.Ack)
	r.ackMax = max(r.ackMax, ack)
	if ack > h.cfg.ProbeAckBound {
		h.st.violate("flood probe %s: ack after %v, want within %v", cmd, ack.Round(time.Millisecond), h.cfg.ProbeAckBound)
	}
	sent := time.Unix(0, rep.Sent)
	f, dark, err := h.logs[floodUniverse].carrying(sent, probeChannel, rep.Level, probeFrameWait)
	switch {
	case err != nil:
		h.st.violate("flood probe %s: %v", cmd, err)
	case dark:
		r.dark++
	default:
		lat := f.At.Sub(sent)
		r.latencies = append(r.latencies, lat)
		if lat > h.cfg.ProbeBound {
			h.st.violate("flood probe %s: on the pty %v after it was sent, want within %v", cmd, lat.Round(100*time.Microsecond), h.cfg.ProbeBound)
		}
	}
}

// percentile is the nearest-rank p-quantile (0 < p ≤ 1) of sorted; 0 when
// it is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// latencyBuckets reads dmxd_command_latency_seconds's cumulative bucket
// counts (one per metrics.CommandLatencyBuckets, then +Inf); nil without
// /metrics or the histogram.
func (h *harness) latencyBuckets() []float64 {
	series := make([]string, 0, len(metrics.CommandLatencyBuckets)+1)
	for _, b := range metrics.CommandLatencyBuckets {
		series = append(series, fmt.Sprintf(`dmxd_command_latency_seconds_bucket{le="%s"}`, strconv.FormatFloat(b, 'g', -1, 64)))
	}
	series = append(series, `dmxd_command_latency_seconds_bucket{le="+Inf"}`)
	v := h.metrics(series...)
	if slices.Contains(v, -1) {
		return nil
	}
	return v
}

// latencyQuantiles returns the bucket bounds under which half and 99 % of
// the commands counted between two readings of latencyBuckets were
// published, and how many there were; -1 bounds when there are none (or
// past the last finite bucket).
func latencyQuantiles(before, after []float64) (p50, p99 time.Duration, n int64) {
	p50, p99 = -1, -1
	if before == nil || after == nil {
		return p50, p99, 0
	}
	total := after[len(after)-1] - before[len(before)-1]
	if total <= 0 {
		return p50, p99, 0
	}
	for i, b := range metrics.CommandLatencyBuckets {
		below := after[i] - before[i]
		d := time.Duration(b * float64(time.Second))
		if p50 < 0 && below >= 0.5*total {
			p50 = d
		}
		if p99 < 0 && below >= 0.99*total {
			p99 = d
		}
	}
	return p50, p99, int64(total)
}

package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx/sacn"
)

// The flow-control issue's targets (milliseconds, commands per second,
// megabytes, kilobytes), and the frame timing targets kept from before.
const (
	idleP50Target       = 1.0
	idleP99Target       = 2.0
	desksP99Target      = 3.0
	loadP99Target       = 3.0
	intervalIdleTarget  = 1.0 // p99 of |interval − 1/rate|
	intervalLoadTarget  = 2.0
	tput1Target         = 170_000
	tput8Target         = 230_000
	tput64Target        = 270_000
	floodP99Target      = 5.0
	floodRSSTargetMB    = 256
	memoryPerDeskTarget = 16.0
	frameRateTolerance  = 1.0 // Hz (or updates/s) around rate
	maxGapPeriods       = 2   // longest frame gap, in frame periods
)

// Report is the JSON output: the medians of the runs, the table's rows
// with their targets, and every run.
type Report struct {
	Date      string      `json:"date"`
	GoVersion string      `json:"go_version"`
	CPUs      int         `json:"cpus"`
	CPUModel  string      `json:"cpu_model"`
	Quick     bool        `json:"quick"`
	Runs      int         `json:"runs"`
	Only      string      `json:"only,omitempty"`
	Sizes     ReportSizes `json:"sizes"`

	// Medians of the runs, field by field (a scenario that did not run is
	// zero).
	Latency    LatencyScenarioRun `json:"latency"`
	Throughput ThroughputRun      `json:"throughput"`
	Flood      FloodRun           `json:"flood"`
	Memory     MemoryRun          `json:"memory"`
	Fanout     FanoutRun          `json:"fanout"`
	SACN       SACNRun            `json:"sacn"`
	Cluster    ClusterRun         `json:"cluster"`

	// Figures are the rows of the printed table.
	Figures []Figure `json:"figures"`
	Method  []string `json:"method"`

	LatencyRuns    []LatencyScenarioRun `json:"latency_runs"`
	ThroughputRuns []ThroughputRun      `json:"throughput_runs"`
	FloodRuns      []FloodRun           `json:"flood_runs"`
	MemoryRuns     []MemoryRun          `json:"memory_runs"`
	FanoutRuns     []FanoutRun          `json:"fanout_runs"`
	SACNRuns       []SACNRun            `json:"sacn_runs"`
	ClusterRuns    []ClusterRun         `json:"cluster_runs"`
}

// ReportSizes are the scenario sizes the figures were taken at.
type ReportSizes struct {
	IdleDesks       int   `json:"idle_desks"`
	LoadClients     int   `json:"load_clients"`
	ThroughputConns []int `json:"throughput_connections"`
	FloodClients    int   `json:"flood_clients"`
	MemoryConns     int   `json:"memory_connections"`
	FanoutWatchers  int   `json:"fanout_watchers"`
	SACNSenders     int   `json:"sacn_senders"`
}

// Figure is one row of the table: a distribution (p50, p99, max) or one
// value (in P50), its target and whether the median met it.
type Figure struct {
	Measure string `json:"measure"`
	P50     string `json:"p50_or_value"`
	P99     string `json:"p99,omitempty"`
	Max     string `json:"max,omitempty"`
	Target  string `json:"target,omitempty"`
	Met     *bool  `json:"met,omitempty"` // absent: no target
}

// method says how scenario name takes its figures.
func method(name string, sz sizes) string {
	switch name {
	case "latency":
		return fmt.Sprintf("latency: a probe desk sets channel %d every %v + 0..%v: WebSocket write → first pty frame carrying the level (a probe unanswered within %v counts as ≥ %v). "+
			"Each phase runs twice in the same dmxd, probing universe %d (frames read by the SCHED_FIFO recorder process, testkit.Device), then universe %d (read by a recorder process at normal priority, testkit.StartNormalDevice). "+
			"Universe 2's probes alternate with the reference relay's (the bench re-executed as the least WebSocket server: it writes each command's level to its own pty, read at normal priority, on the goroutine that read it), so the relay's figure is this machine's floor at the same moments. "+
			"Phases: idle; %d desks connected that read and discard; %d clients × %d commands/s on channels 1..%d of the probed universe, reading every update. "+
			"Intervals: universe %d, which only refreshes; gaps: universes %d and %d",
			probeChannel, probePace, probeJitter, probeTimeout, probeTimeout, rtUniverse, benchUniverse,
			sz.idleDesks, sz.loadClients, loadRate, loadChannels, quietUniverse, rtUniverse, quietUniverse)
	case "throughput":
		return fmt.Sprintf("throughput: --conn-rate 0; each connection writes %d {\"dmx\":{\"N\":V}} commands (N 1..512) in one write syscall, the last with an id, and waits for its ack; "+
			"commands/s = %d × acked batches / %v after %v warm-up (dmxd: its dmxd_commands_accepted_total meanwhile). Pipelined (earlier client): up to %d id'd commands outstanding, %d frames per write, acks/s",
			tputBatch, tputBatch, sz.tputWindow, sz.warmup, ackWindow, batchSize)
	case "flood":
		return fmt.Sprintf("flood: dmxd's default flags (--conn-rate 1000); %d clients each write %d {\"dmx\":[…%d levels…]} every %v (%d commands/s), reading and discarding; "+
			"the probe (with ids, channel %d) runs %v alone, then from %v into the %v flood to its end; RSS every %v, Go heap every %v; the flood is cut when RSS passes %d MB",
			sz.floodClients, floodMessages, floodChannels, floodInterval, floodRate, probeChannel, sz.floodAlone, sz.warmup, sz.flood, rssEvery, heapEvery, floodRSSCap/mb)
	case "fanout":
		return "fan-out: dmxd's CPU s/s (utime+stime) with desks reading while one desk changes channel 1 every frame period, and without the changes"
	case "sacn":
		return fmt.Sprintf("sacn: dmxd --merge ltp --input sacn@127.0.0.1:PORT:1 (a port picked free), universe 1 read by the RT recorder; a WebSocket probe desk (the reference) probes for %v; "+
			"then an sACN source (one CID, priority %d, full %d-slot packets, its frame repeated every %.1f ms) sets slot %d every %v + 0..%v for %v: UDP write → first pty frame carrying the level; "+
			"then %d other sources write packets as fast as they can for %v (each a new level on one of slots 1..%d), the probe running from %v in to the end; "+
			"packets/s: written by the blasters and dmxd's dmxd_net_packets_received_total{protocol=\"sacn\"} (every source) over the blast; totals once dmxd's count settles",
			sz.phase, sacn.DefaultPriority, sacn.Slots, ms(period), probeChannel, probePace, probeJitter, sz.phase,
			sz.sacnSenders, sz.sacnBlast, probeChannel-1, sz.warmup)
	case "cluster":
		return fmt.Sprintf("cluster: three processes on this machine — a core (--cluster), an output node driving universe 1's pty (RT recorder) and an edge (--conn-rate 0) — on protoactor remote over loopback gRPC; "+
			"a probe desk on the edge sets channel %d every %v + 0..%v for %v: WebSocket write to the edge → first frame on the node's pty carrying it; then the batched throughput client through the edge at %v connections",
			probeChannel, probePace, probeJitter, sz.phase, clusterConns)
	default:
		return "memory: RSS growth from 0 to N idle connections (they read nothing after the handshake), frame rate meanwhile"
	}
}

// summarizeRuns fills the report's medians from its runs.
func summarizeRuns(r *Report) {
	if len(r.LatencyRuns) > 0 {
		r.Latency = medianLatencyScenario(r.LatencyRuns)
	}
	if len(r.ThroughputRuns) > 0 {
		r.Throughput = medianThroughput(r.ThroughputRuns)
	}
	if len(r.FloodRuns) > 0 {
		r.Flood = medianFlood(r.FloodRuns)
	}
	if len(r.MemoryRuns) > 0 {
		r.Memory = medianMemory(r.MemoryRuns)
	}
	if len(r.FanoutRuns) > 0 {
		r.Fanout = medianFanout(r.FanoutRuns)
	}
	if len(r.SACNRuns) > 0 {
		r.SACN = medianSACN(r.SACNRuns)
	}
	if len(r.ClusterRuns) > 0 {
		r.Cluster = medianCluster(r.ClusterRuns)
	}
}

func medianLatencyScenario(runs []LatencyScenarioRun) LatencyScenarioRun {
	var idle, desks, load []LatencyRun
	for _, x := range runs {
		idle, desks, load = append(idle, x.Idle), append(desks, x.Desks), append(load, x.Load)
	}
	return LatencyScenarioRun{Idle: medianLatency(idle), Desks: medianLatency(desks), Load: medianLatency(load)}
}

func medianLatency(runs []LatencyRun) LatencyRun {
	return LatencyRun{
		RT:            medianDistOf(runs, func(x LatencyRun) Dist { return x.RT }),
		Normal:        medianDistOf(runs, func(x LatencyRun) Dist { return x.Normal }),
		Relay:         medianDistOf(runs, func(x LatencyRun) Dist { return x.Relay }),
		Interval:      medianDistOf(runs, func(x LatencyRun) Dist { return x.Interval }),
		MaxGapMs:      medianOf(runs, func(x LatencyRun) float64 { return x.MaxGapMs }),
		LoopLateP99Ms: medianOf(runs, func(x LatencyRun) float64 { return x.LoopLateP99Ms }),
	}
}

func medianThroughput(runs []ThroughputRun) ThroughputRun {
	out := ThroughputRun{
		Interval: medianDistOf(runs, func(x ThroughputRun) Dist { return x.Interval }),
		MaxGapMs: medianOf(runs, func(x ThroughputRun) float64 { return x.MaxGapMs }),
	}
	for i := range runs[0].Points {
		var pts []ThroughputPoint
		for _, x := range runs {
			pts = append(pts, x.Points[i])
		}
		out.Points = append(out.Points, medianPoint(pts))
	}
	var pipe []ThroughputPoint
	for _, x := range runs {
		pipe = append(pipe, x.Pipelined)
	}
	out.Pipelined = medianPoint(pipe)
	return out
}

// medianPoint is the median of pts, with the errors of them all.
func medianPoint(pts []ThroughputPoint) ThroughputPoint {
	out := ThroughputPoint{
		Conns:          pts[0].Conns,
		CommandsPerSec: medianOf(pts, func(x ThroughputPoint) float64 { return x.CommandsPerSec }),
		DmxdPerSec:     medianOf(pts, func(x ThroughputPoint) float64 { return x.DmxdPerSec }),
		BatchRTT:       medianDistOf(pts, func(x ThroughputPoint) Dist { return x.BatchRTT }),
	}
	for _, x := range pts {
		out.Errors += x.Errors
	}
	return out
}

// medianFlood is the median of runs; it is over bound when any run was,
// and its accepted rate is the median of the runs that know theirs.
func medianFlood(runs []FloodRun) FloodRun {
	count := func(f func(FloodRun) int64) int64 {
		return int64(math.Round(medianOf(runs, func(x FloodRun) float64 { return float64(f(x)) })))
	}
	out := FloodRun{
		Clients: runs[0].Clients,
		Seconds: medianOf(runs, func(x FloodRun) float64 { return x.Seconds }),
		Alone: ProbeRun{
			Frame: medianDistOf(runs, func(x FloodRun) Dist { return x.Alone.Frame }),
			Ack:   medianDistOf(runs, func(x FloodRun) Dist { return x.Alone.Ack }),
		},
		Flooded: ProbeRun{
			Frame: medianDistOf(runs, func(x FloodRun) Dist { return x.Flooded.Frame }),
			Ack:   medianDistOf(runs, func(x FloodRun) Dist { return x.Flooded.Ack }),
		},
		PeakRSSMB:     medianOf(runs, func(x FloodRun) float64 { return x.PeakRSSMB }),
		PeakHeapMB:    medianOf(runs, func(x FloodRun) float64 { return x.PeakHeapMB }),
		WrittenPerSec: medianOf(runs, func(x FloodRun) float64 { return x.WrittenPerSec }),
		RateLimited:   count(func(x FloodRun) int64 { return x.RateLimited }),
		PolicyCloses:  count(func(x FloodRun) int64 { return x.PolicyCloses }),
		SlowCloses:    count(func(x FloodRun) int64 { return x.SlowCloses }),
		OtherCloses:   count(func(x FloodRun) int64 { return x.OtherCloses }),
		BlockedWrites: count(func(x FloodRun) int64 { return x.BlockedWrites }),
	}
	var accepted []float64
	for _, x := range runs {
		out.OverBound = out.OverBound || x.OverBound
		if x.AcceptedKnown {
			accepted = append(accepted, x.AcceptedPerSec)
		}
	}
	out.AcceptedKnown, out.AcceptedPerSec = len(accepted) > 0, median(accepted)
	return out
}

func medianMemory(runs []MemoryRun) MemoryRun {
	f := func(g func(MemoryRun) float64) float64 { return medianOf(runs, g) }
	return MemoryRun{
		Conns:        runs[0].Conns,
		BaseRSSMB:    f(func(x MemoryRun) float64 { return x.BaseRSSMB }),
		RSSMB:        f(func(x MemoryRun) float64 { return x.RSSMB }),
		PerConnKB:    f(func(x MemoryRun) float64 { return x.PerConnKB }),
		FrameHz:      f(func(x MemoryRun) float64 { return x.FrameHz }),
		DialSeconds:  f(func(x MemoryRun) float64 { return x.DialSeconds }),
		IntervalMaxM: f(func(x MemoryRun) float64 { return x.IntervalMaxM }),
		HeapInuseMB:  f(func(x MemoryRun) float64 { return x.HeapInuseMB }),
		StackInuseMB: f(func(x MemoryRun) float64 { return x.StackInuseMB }),
	}
}

func medianFanout(runs []FanoutRun) FanoutRun {
	return FanoutRun{
		Watchers:         runs[0].Watchers,
		CPUPerSec:        medianOf(runs, func(x FanoutRun) float64 { return x.CPUPerSec }),
		IdleCPUPerSec:    medianOf(runs, func(x FanoutRun) float64 { return x.IdleCPUPerSec }),
		UpdatesPerDeskHz: medianOf(runs, func(x FanoutRun) float64 { return x.UpdatesPerDeskHz }),
	}
}

// figures returns the table's rows for the scenarios that ran.
func figures(r *Report) []Figure {
	var out []Figure
	if len(r.LatencyRuns) > 0 {
		out = append(out, latencyFigures(r)...)
	}
	if len(r.ThroughputRuns) > 0 {
		out = append(out, throughputFigures(r.Throughput)...)
	}
	if len(r.FloodRuns) > 0 {
		out = append(out, floodFigures(r.Flood)...)
	}
	if len(r.MemoryRuns) > 0 {
		out = append(out, memoryFigures(r.Memory)...)
	}
	if len(r.FanoutRuns) > 0 {
		out = append(out, fanoutFigures(r.Fanout)...)
	}
	if len(r.SACNRuns) > 0 {
		out = append(out, sacnFigures(r.SACN)...)
	}
	if len(r.ClusterRuns) > 0 {
		out = append(out, clusterFigures(r)...)
	}
	return out
}

// latencyPhaseRow is a latency phase's label and target.
type latencyPhaseRow struct {
	label  string
	run    LatencyRun
	target string
	met    func(Dist) bool
}

func latencyFigures(r *Report) []Figure {
	l := r.Latency
	phases := []latencyPhaseRow{
		{"idle", l.Idle, fmt.Sprintf("p50 ≤ %g ms, p99 ≤ %g ms", idleP50Target, idleP99Target),
			func(d Dist) bool { return d.N > 0 && d.P50 <= idleP50Target && d.P99 <= idleP99Target }},
		{fmt.Sprintf("%d idle desks", r.Sizes.IdleDesks), l.Desks, fmt.Sprintf("p99 ≤ %g ms", desksP99Target),
			func(d Dist) bool { return p99Within(d, desksP99Target) }},
		{fmt.Sprintf("%d clients × %d/s", r.Sizes.LoadClients, loadRate), l.Load, fmt.Sprintf("p99 ≤ %g ms", loadP99Target),
			func(d Dist) bool { return p99Within(d, loadP99Target) }},
	}
	var out []Figure
	for _, ph := range phases {
		for _, rd := range []struct {
			kind frameReader
			d    Dist
		}{{recorderProcess, ph.run.RT}, {normalProcess, ph.run.Normal}} {
			measure := fmt.Sprintf("latency send→pty, %s (%s)", ph.label, rd.kind)
			out = append(out, distRow(measure, rd.d, ph.target, check(ph.met(rd.d))))
		}
		out = append(out, distRow("  reference relay, at the same moments ("+normalProcess.String()+")", ph.run.Relay, "(floor)", nil),
			Figure{Measure: "  dmxd's refresh loop meanwhile: frame write started late, p99 (histogram bucket)", P99: fmt.Sprintf("≤ %g ms", ph.run.LoopLateP99Ms)})
	}
	gapLimit := ms(maxGapPeriods * period)
	out = append(out,
		distRow("frame interval − 1/rate, idle", l.Idle.Interval, fmt.Sprintf("p99 ≤ %g ms", intervalIdleTarget), check(p99Within(l.Idle.Interval, intervalIdleTarget))),
		distRow("frame interval − 1/rate, load", l.Load.Interval, fmt.Sprintf("p99 ≤ %g ms", intervalLoadTarget), check(p99Within(l.Load.Interval, intervalLoadTarget))),
		Figure{
			Measure: "longest frame gap, idle / desks / load",
			Max:     fmt.Sprintf("%.2f / %.2f / %.2f ms", l.Idle.MaxGapMs, l.Desks.MaxGapMs, l.Load.MaxGapMs),
			Target:  fmt.Sprintf("≤ %d periods (%.1f ms)", maxGapPeriods, gapLimit),
			Met:     check(max(l.Idle.MaxGapMs, l.Desks.MaxGapMs, l.Load.MaxGapMs) <= gapLimit),
		})
	return out
}

// throughputTarget returns the commands/s target at conns connections.
func throughputTarget(conns int) (float64, bool) {
	switch conns {
	case 1:
		return tput1Target, true
	case 8:
		return tput8Target, true
	case 64:
		return tput64Target, true
	}
	return 0, false
}

func throughputFigures(t ThroughputRun) []Figure {
	var out []Figure
	most := 0
	for _, pt := range t.Points {
		most = max(most, pt.Conns)
		row := Figure{
			Measure: fmt.Sprintf("throughput, %d connection(s), batches of %d%s", pt.Conns, tputBatch, refused(pt.Errors)),
			P50:     perSec(pt),
		}
		if target, ok := throughputTarget(pt.Conns); ok {
			row.Target, row.Met = fmt.Sprintf("≥ %.0f/s", target), check(pt.CommandsPerSec >= target)
		}
		out = append(out, row, distRow("  batch write → ack round trip", pt.BatchRTT, "", nil))
	}
	gapLimit := ms(maxGapPeriods * period)
	gaps := distRow(fmt.Sprintf("  frames meanwhile at %d (interval − 1/rate; longest gap)", most), t.Interval,
		fmt.Sprintf("gap ≤ %d periods (%.1f ms)", maxGapPeriods, gapLimit), check(t.MaxGapMs <= gapLimit))
	gaps.Max = fmt.Sprintf("%.2f ms", t.MaxGapMs)
	return append(out, gaps, Figure{
		Measure: fmt.Sprintf("throughput, %d connections, pipelined (earlier client)%s", t.Pipelined.Conns, refused(t.Pipelined.Errors)),
		P50:     perSec(t.Pipelined),
		Target:  "(for comparison)",
	})
}

// perSec formats a point's commands/s, with dmxd's own count.
func perSec(pt ThroughputPoint) string {
	dmxd := "-"
	if pt.DmxdPerSec > 0 {
		dmxd = fmt.Sprintf("%.0f", pt.DmxdPerSec)
	}
	return fmt.Sprintf("%.0f commands/s (dmxd: %s)", pt.CommandsPerSec, dmxd)
}

func refused(errs int64) string {
	if errs == 0 {
		return ""
	}
	return fmt.Sprintf(" [%d refused]", errs)
}

func floodFigures(f FloodRun) []Figure {
	rss := Figure{
		Measure: fmt.Sprintf("flood, %d clients × %d/s: dmxd peak RSS", f.Clients, floodRate),
		P50:     fmt.Sprintf("%.0f MB", f.PeakRSSMB),
		Target:  fmt.Sprintf("≤ %d MB", floodRSSTargetMB),
		Met:     check(!f.OverBound && f.PeakRSSMB <= floodRSSTargetMB),
	}
	if f.OverBound {
		rss.P50 = fmt.Sprintf("over bound: %.0f MB > %d MB, flood cut after %.1f s", f.PeakRSSMB, floodRSSCap/mb, f.Seconds)
	}
	accepted := "no answer"
	if f.AcceptedKnown {
		accepted = fmt.Sprintf("%.0f/s", f.AcceptedPerSec)
	}
	within := func(d Dist) *bool { return check(p99Within(d, floodP99Target)) }
	target := fmt.Sprintf("p99 ≤ %g ms", floodP99Target)
	return []Figure{
		rss,
		{Measure: "  dmxd peak Go heap in use", P50: fmt.Sprintf("%.0f MB", f.PeakHeapMB)},
		distRow("  probe command→pty, flooded", f.Flooded.Frame, target, within(f.Flooded.Frame)),
		distRow("  probe command→ack, flooded", f.Flooded.Ack, target, within(f.Flooded.Ack)),
		distRow("  probe command→pty, same dmxd before the flood", f.Alone.Frame, "(reference)", nil),
		distRow("  probe command→ack, same dmxd before the flood", f.Alone.Ack, "(reference)", nil),
		{Measure: "  commands accepted by dmxd / flood written whole", P50: fmt.Sprintf("%s / %.0f/s", accepted, f.WrittenPerSec)},
		{Measure: "  flooders: rate_limited; closes 1008 / 1013 / other", P50: fmt.Sprintf("%d; %d / %d / %d", f.RateLimited, f.PolicyCloses, f.SlowCloses, f.OtherCloses)},
		{Measure: fmt.Sprintf("  flooders' writes blocked ≥ %v", floodWriteSlice), P50: fmt.Sprintf("%d", f.BlockedWrites)},
	}
}

func memoryFigures(m MemoryRun) []Figure {
	return []Figure{
		{Measure: fmt.Sprintf("memory per idle connection (%d)", m.Conns), P50: fmt.Sprintf("%.1f KB", m.PerConnKB),
			Target: fmt.Sprintf("≤ %g KB", memoryPerDeskTarget), Met: check(m.PerConnKB <= memoryPerDeskTarget)},
		{Measure: "  frame rate meanwhile", P50: fmt.Sprintf("%.1f Hz", m.FrameHz),
			Target: fmt.Sprintf("%d Hz", rate), Met: check(math.Abs(m.FrameHz-rate) < frameRateTolerance)},
	}
}

func fanoutFigures(f FanoutRun) []Figure {
	return []Figure{
		{Measure: fmt.Sprintf("fan-out CPU, %d desks, 1 change/frame", f.Watchers), P50: fmt.Sprintf("%.3f s/s", f.CPUPerSec),
			Target: fmt.Sprintf("(idle: %.3f s/s)", f.IdleCPUPerSec)},
		{Measure: "  updates per desk", P50: fmt.Sprintf("%.1f /s", f.UpdatesPerDeskHz),
			Target: fmt.Sprintf("≤ %.1f/s (budget; less where the fan-out's share binds)", fanoutUpdateRate(f.Watchers)),
			Met:    check(f.UpdatesPerDeskHz > 0 && f.UpdatesPerDeskHz <= fanoutUpdateRate(f.Watchers)+frameRateTolerance)},
	}
}

func medianSACN(runs []SACNRun) SACNRun {
	total := func(f func(SACNRun) int64) int64 {
		return int64(medianOf(runs, func(x SACNRun) float64 { return float64(f(x)) }))
	}
	return SACNRun{
		Idle:           medianDistOf(runs, func(x SACNRun) Dist { return x.Idle }),
		WebSocket:      medianDistOf(runs, func(x SACNRun) Dist { return x.WebSocket }),
		Blasted:        medianDistOf(runs, func(x SACNRun) Dist { return x.Blasted }),
		Senders:        runs[0].Senders,
		SentPerSec:     medianOf(runs, func(x SACNRun) float64 { return x.SentPerSec }),
		ReceivedPerSec: medianOf(runs, func(x SACNRun) float64 { return x.ReceivedPerSec }),
		SentTotal:      total(func(x SACNRun) int64 { return x.SentTotal }),
		ReceivedTotal:  total(func(x SACNRun) int64 { return x.ReceivedTotal }),
		MalformedTotal: total(func(x SACNRun) int64 { return x.MalformedTotal }),
		IgnoredTotal:   total(func(x SACNRun) int64 { return x.IgnoredTotal }),
	}
}

func sacnFigures(s SACNRun) []Figure {
	share := 0.0
	if s.SentPerSec > 0 {
		share = 100 * s.ReceivedPerSec / s.SentPerSec
	}
	return []Figure{
		distRow("latency sACN UDP write→pty, idle (RT recorder)", s.Idle, "", nil),
		distRow("  latency WebSocket send→pty, same dmxd and reader", s.WebSocket, "(reference)", nil),
		{Measure: fmt.Sprintf("sACN blast, %d senders: packets written / received by dmxd", s.Senders),
			P50: fmt.Sprintf("%.0f/s / %.0f/s (%.0f%%)", s.SentPerSec, s.ReceivedPerSec, share)},
		distRow("  latency sACN UDP write→pty during the blast", s.Blasted, "(idle above)", nil),
		{Measure: "  packets in all: written / received; malformed; ignored",
			P50:    fmt.Sprintf("%d / %d; %d; %d", s.SentTotal, s.ReceivedTotal, s.MalformedTotal, s.IgnoredTotal),
			Target: "malformed 0, received ≤ written", Met: check(s.MalformedTotal == 0 && s.ReceivedTotal <= s.SentTotal)},
	}
}

// fanoutUpdateRate is the most updates a second a desk may see when one
// desk changes a channel every frame: one update a frame, unless dmxd's
// default update budget, shared by the watchers, allows fewer. The
// fan-out's share of a core (transport's fanoutWrite and fanoutRest) may
// allow fewer still on a slow machine.
func fanoutUpdateRate(watchers int) float64 {
	if watchers <= 0 {
		return rate
	}
	return min(rate, float64(actors.DefaultUpdateBudget)/float64(watchers))
}

// distRow is a row of a latency-like distribution.
func distRow(measure string, d Dist, target string, met *bool) Figure {
	return Figure{Measure: measure, P50: fmtMs(d, d.P50), P99: fmtMs(d, d.P99), Max: fmtMs(d, d.Max), Target: target, Met: met}
}

// fmtMs formats x, a figure of d.
func fmtMs(d Dist, x float64) string {
	switch {
	case d.N == 0:
		return "-"
	case d.censored(x):
		return fmt.Sprintf("≥ %.0f ms", x)
	}
	return fmt.Sprintf("%.2f ms", x)
}

func p99Within(d Dist, limit float64) bool { return d.N > 0 && d.P99 <= limit }

func check(ok bool) *bool { return &ok }

// printTable prints the figures against their targets.
func printTable(w io.Writer, r *Report) {
	mode := "full"
	if r.Quick {
		mode = "quick (not comparable with targets)"
	}
	fmt.Fprintf(w, "dmxd bench — %s, median of %d run(s), %d CPUs (%s), %s\n\n", mode, r.Runs, r.CPUs, r.CPUModel, r.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tp50 / value\tp99\tmax\ttarget\tmet")
	for _, f := range r.Figures {
		met := ""
		if f.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*f.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Measure, f.P50, f.P99, f.Max, f.Target, met)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, m := range r.Method {
		fmt.Fprintln(w, m)
	}
}

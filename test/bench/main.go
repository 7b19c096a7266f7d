// Command bench measures a real dmxd process: WebSocket desks on
// 127.0.0.1 drive it, its frames are decoded on pseudo-terminals patched as
// enttec-pro outputs. It prints one table and writes the figures as JSON.
//
//	go run ./test/bench [-runs 3] [-quick] [-out bench.json] [-bin path/to/dmxd]
//
// Every scenario starts a fresh dmxd, runs -runs times and reports the
// median of the runs.
package main

import (
	"encoding/json"

	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// options are the command line of the bench.
type options struct {
	runs  int
	quick bool
	out   string
	bin   string
	only  string // run only this scenario: latency, throughput, fanout or memory
}

func main() {
	testkit.RunRecorderIfAsked() // the recorder processes of the ptys
	var o options
	flag.IntVar(&o.runs, "runs", 3, "runs of every scenario; the median is reported")
	flag.BoolVar(&o.quick, "quick", false, "short scenarios (seconds), to check the program")
	flag.StringVar(&o.out, "out", "bench.json", "where to write the JSON report")
	flag.StringVar(&o.bin, "bin", "", "dmxd binary (default: build ./cmd/dmxd)")
	flag.StringVar(&o.only, "only", "", "run only one scenario: latency, throughput, fanout or memory")
	flag.Parse()
	switch o.only {
	case "", "latency", "throughput", "fanout", "memory":
	default:
		fmt.Fprintf(os.Stderr, "bench: -only %q: want latency, throughput, fanout or memory\n", o.only)
		os.Exit(2)
	}
	if o.runs < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench: usage: bench [-runs N>=1] [-quick] [-only SCENARIO] [-out FILE] [-bin DMXD]")
		os.Exit(2)
	}
	rep, err := run(o, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	printTable(os.Stdout, rep)
	if err := writeJSON(o.out, rep); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\nJSON written to %s\n", o.out)
}

// Report is the JSON output: the medians of the runs and every run.
type Report struct {
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Quick     bool   `json:"quick"`
	Runs      int    `json:"runs"`

	LatencyIdle     Dist            `json:"latency_idle"`
	LatencyLoad     Dist            `json:"latency_load"`
	LoadClients     int             `json:"load_clients"`
	IntervalIdle    Dist            `json:"interval_deviation_idle"`
	IntervalLoad    Dist            `json:"interval_deviation_load"`
	MaxGapIdleMs    float64         `json:"max_gap_idle_ms"`
	MaxGapLoadMs    float64         `json:"max_gap_load_ms"`
	Throughput      float64         `json:"throughput_commands_per_sec"`
	ThroughputConns int             `json:"throughput_connections"`
	ThroughputDev   Dist            `json:"throughput_interval_deviation"`
	ThroughputGapMs float64         `json:"throughput_max_gap_ms"`
	MemoryConns     int             `json:"memory_connections"`
	MemoryPerConnKB float64         `json:"memory_per_connection_kb"`
	MemoryFrameHz   float64         `json:"memory_frame_hz"`
	FanoutWatchers  int             `json:"fanout_watchers"`
	FanoutCPU       float64         `json:"fanout_cpu_seconds_per_second"`
	FanoutIdleCPU   float64         `json:"fanout_idle_cpu_seconds_per_second"`
	FanoutUpdatesHz float64         `json:"fanout_updates_per_desk_per_second"`
	LatencyIdleRuns []LatencyRun    `json:"latency_idle_runs"`
	LatencyLoadRuns []LatencyRun    `json:"latency_load_runs"`
	ThroughputRuns  []ThroughputRun `json:"throughput_runs"`
	MemoryRuns      []MemoryRun     `json:"memory_runs"`
	FanoutRuns      []FanoutRun     `json:"fanout_runs"`
	ClientBatching  string          `json:"throughput_client"`
}

// run builds dmxd (unless o.bin is set) and runs every scenario o.runs
// times, logging progress to logw.
func run(o options, logw io.Writer) (*Report, error) {
	sz := fullSizes
	if o.quick {
		sz = quickSizes
	}
	if err := raiseFileLimit(sz.idleConns + 1000); err != nil {
		return nil, err
	}
	bin := o.bin
	if bin == "" {
		dir, err := os.MkdirTemp("", "dmxd-bench-")
		if err != nil {
			return nil, fmt.Errorf("temp dir: %w", err)
		}
		defer os.RemoveAll(dir)
		if bin, err = testkit.Build(dir); err != nil {
			return nil, err
		}
	}
	rep := &Report{
		Date: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(),
		CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Quick: o.quick, Runs: o.runs,
		LoadClients: sz.loadClients, ThroughputConns: sz.tputConns,
		MemoryConns: sz.idleConns, FanoutWatchers: sz.watchers,
		ClientBatching: fmt.Sprintf("pipelined: each connection keeps up to %d id'd commands outstanding, "+
			"writes them %d WebSocket frames per write syscall, counts acks; no waiting per command", ackWindow, batchSize),
	}
	for i := 1; i <= o.runs; i++ {
		logf := func(format string, args ...any) {
			fmt.Fprintf(logw, "bench: run %d/%d: %s\n", i, o.runs, fmt.Sprintf(format, args...))
		}
		want := func(name string) bool { return o.only == "" || o.only == name }
		if want("latency") {
			logf("latency and frame intervals, idle then %d clients × %d commands/s", sz.loadClients, loadRate)
			idle, load, err := latencyScenario(bin, sz)
			if err != nil {
				return nil, fmt.Errorf("latency: %w", err)
			}
			rep.LatencyIdleRuns = append(rep.LatencyIdleRuns, idle)
			rep.LatencyLoadRuns = append(rep.LatencyLoadRuns, load)
		}
		if want("throughput") {
			logf("throughput across %d connections", sz.tputConns)
			tp, err := throughputScenario(bin, sz)
			if err != nil {
				return nil, fmt.Errorf("throughput: %w", err)
			}
			rep.ThroughputRuns = append(rep.ThroughputRuns, tp)
		}
		if want("fanout") {
			logf("fan-out to %d desks", sz.watchers)
			fo, err := fanoutScenario(bin, sz.watchers, sz.fanWindow, sz.warmup)
			if err != nil {
				return nil, fmt.Errorf("fan-out: %w", err)
			}
			rep.FanoutRuns = append(rep.FanoutRuns, fo)
		}
		if want("memory") {
			logf("memory of %d idle connections", sz.idleConns)
			mem, err := memoryScenario(bin, sz.idleConns)
			if err != nil {
				return nil, fmt.Errorf("memory: %w", err)
			}
			rep.MemoryRuns = append(rep.MemoryRuns, mem)
		}
	}
	summarizeRuns(rep)
	return rep, nil
}

// summarizeRuns fills the report's medians from its runs.
func summarizeRuns(r *Report) {
	pick := func(runs []LatencyRun, f func(LatencyRun) Dist) Dist {
		var ds []Dist
		for _, x := range runs {
			ds = append(ds, f(x))
		}
		return medianDist(ds)
	}
	gaps := func(runs []LatencyRun) float64 {
		var xs []float64
		for _, x := range runs {
			xs = append(xs, x.MaxGapMs)
		}
		return median(xs)
	}
	r.LatencyIdle = pick(r.LatencyIdleRuns, func(x LatencyRun) Dist { return x.Latency })
	r.LatencyLoad = pick(r.LatencyLoadRuns, func(x LatencyRun) Dist { return x.Latency })
	r.IntervalIdle = pick(r.LatencyIdleRuns, func(x LatencyRun) Dist { return x.Interval })
	r.IntervalLoad = pick(r.LatencyLoadRuns, func(x LatencyRun) Dist { return x.Interval })
	r.MaxGapIdleMs, r.MaxGapLoadMs = gaps(r.LatencyIdleRuns), gaps(r.LatencyLoadRuns)
	var tps, tgaps, per, hz, cpu, icpu, ups []float64
	var tdev []Dist
	for _, x := range r.ThroughputRuns {
		tps, tgaps, tdev = append(tps, x.CommandsPerSec), append(tgaps, x.MaxGapMs), append(tdev, x.Interval)
	}
	for _, x := range r.MemoryRuns {
		per, hz = append(per, x.PerConnKB), append(hz, x.FrameHz)
	}
	for _, x := range r.FanoutRuns {
		cpu, icpu, ups = append(cpu, x.CPUPerSec), append(icpu, x.IdleCPUPerSec), append(ups, x.UpdatesPerDeskHz)
	}
	r.Throughput, r.ThroughputGapMs, r.ThroughputDev = median(tps), median(tgaps), medianDist(tdev)
	r.MemoryPerConnKB, r.MemoryFrameHz = median(per), median(hz)
	r.FanoutCPU, r.FanoutIdleCPU, r.FanoutUpdatesHz = median(cpu), median(icpu), median(ups)
}

// printTable prints the medians against the targets.
func printTable(w io.Writer, r *Report) {
	mode := "full"
	if r.Quick {
		mode = "quick (not comparable with targets)"
	}
	fmt.Fprintf(w, "dmxd bench — %s, median of %d run(s), %d CPUs (%s), %s\n\n", mode, r.Runs, r.CPUs, r.CPUModel, r.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tp50\tp99\tmax\ttarget\tmet")
	ok := func(b bool) string {
		if b {
			return "yes"
		}
		return "NO"
	}
	f := func(x float64) string {
		if math.IsNaN(x) {
			return "-"
		}
		return fmt.Sprintf("%.2f ms", x)
	}
	twoPeriods := ms(2 * period)
	fmt.Fprintf(tw, "latency send→pty, idle\t%s\t%s\t%s\tp50 ≤ 1 ms, p99 ≤ 3 ms\t%s\n", f(r.LatencyIdle.P50), f(r.LatencyIdle.P99), f(r.LatencyIdle.Max), ok(r.LatencyIdle.P50 <= 1 && r.LatencyIdle.P99 <= 3))
	fmt.Fprintf(tw, "latency send→pty, %d clients × %d/s\t%s\t%s\t%s\tp99 ≤ 5 ms\t%s\n", r.LoadClients, loadRate, f(r.LatencyLoad.P50), f(r.LatencyLoad.P99), f(r.LatencyLoad.Max), ok(r.LatencyLoad.P99 <= 5))
	fmt.Fprintf(tw, "frame interval − 1/rate, idle\t%s\t%s\t%s\tp99 ≤ 1 ms\t%s\n", f(r.IntervalIdle.P50), f(r.IntervalIdle.P99), f(r.IntervalIdle.Max), ok(r.IntervalIdle.P99 <= 1))
	fmt.Fprintf(tw, "frame interval − 1/rate, load\t%s\t%s\t%s\tp99 ≤ 2 ms\t%s\n", f(r.IntervalLoad.P50), f(r.IntervalLoad.P99), f(r.IntervalLoad.Max), ok(r.IntervalLoad.P99 <= 2))
	fmt.Fprintf(tw, "longest frame gap, idle / load\t\t\t%s / %s\t≤ 2 periods (%.1f ms)\t%s\n", f(r.MaxGapIdleMs), f(r.MaxGapLoadMs), twoPeriods, ok(r.MaxGapIdleMs <= twoPeriods && r.MaxGapLoadMs <= twoPeriods))
	fmt.Fprintf(tw, "throughput, %d connections\t%.0f commands/s\t\t\t≥ 300000/s\t%s\n", r.ThroughputConns, r.Throughput, ok(r.Throughput >= 300000))
	fmt.Fprintf(tw, "  frames meanwhile (interval − 1/rate, longest gap)\t%s\t%s\t%s\t≤ 2 periods\t%s\n", f(r.ThroughputDev.P50), f(r.ThroughputDev.P99), f(r.ThroughputGapMs), ok(r.ThroughputGapMs <= twoPeriods))
	fmt.Fprintf(tw, "memory per idle connection (%d)\t%.1f KB\t\t\t≤ 20 KB\t%s\n", r.MemoryConns, r.MemoryPerConnKB, ok(r.MemoryPerConnKB <= 20))
	fmt.Fprintf(tw, "  frame rate meanwhile\t%.1f Hz\t\t\t44 Hz\t%s\n", r.MemoryFrameHz, ok(math.Abs(r.MemoryFrameHz-rate) < 1))
	fmt.Fprintf(tw, "fan-out CPU, %d desks, 1 change/frame\t%.3f s/s\t\t\t(idle: %.3f s/s)\t\n", r.FanoutWatchers, r.FanoutCPU, r.FanoutIdleCPU)
	fmt.Fprintf(tw, "  updates per desk\t%.1f /s\t\t\t≈ 44/s\t\n", r.FanoutUpdatesHz)
	_ = tw.Flush()
	fmt.Fprintf(w, "\nthroughput client: %s\n", r.ClientBatching)
	fmt.Fprintln(w, "latency: probe on universe 1 channel 512 (untouched by the load) every 37 ms + 0..6 ms; intervals: universe 2, which only refreshes; gaps: both universes")
}

func writeJSON(path string, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// raiseFileLimit lifts RLIMIT_NOFILE to at least n (up to the hard limit).
// dmxd, started by this process, inherits the raised limit.
func raiseFileLimit(n int) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if l.Cur >= uint64(n) && l.Cur == l.Max {
		return nil
	}
	if l.Max < uint64(n) {
		return fmt.Errorf("RLIMIT_NOFILE hard limit %d is below the %d files the bench needs", l.Max, n)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	return nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

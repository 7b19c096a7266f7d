// Command bench measures a real dmxd process: WebSocket desks on
// 127.0.0.1 drive it, its frames are decoded on pseudo-terminals patched as
// enttec-pro outputs. It prints one table, every figure against its target,
// and writes the figures as JSON.
//
//	go run ./test/bench [-runs 3] [-quick] [-only SCENARIO[,SCENARIO…]] [-out bench.json] [-bin path/to/dmxd]
//
// Every scenario starts a fresh dmxd, runs -runs times and reports the
// median of the runs.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// fileHeadroom is the descriptors beyond the largest scenario's
// connections: the bench's own files, ptys and dmxd's.
const fileHeadroom = 1000

// options are the command line of the bench.
type options struct {
	runs  int
	quick bool
	out   string
	bin   string
	only  string // run only these comma-separated scenarios (scenarioNames); "" runs all
}

// scenarioNames are the scenarios, in the order they run.
func scenarioNames() []string {
	return []string{"latency", "throughput", "flood", "fanout", "memory", "sacn", "cluster"}
}

func main() {
	testkit.RunRecorderIfAsked() // the recorder processes of the ptys
	runRelayIfAsked()            // the reference relay of the latency scenario
	names := strings.Join(scenarioNames(), ", ")
	var o options
	flag.IntVar(&o.runs, "runs", 3, "runs of every scenario; the median is reported")
	flag.BoolVar(&o.quick, "quick", false, "short scenarios (seconds), to check the program")
	flag.StringVar(&o.out, "out", "bench.json", "where to write the JSON report")
	flag.StringVar(&o.bin, "bin", "", "dmxd binary (default: build ./cmd/dmxd)")
	flag.StringVar(&o.only, "only", "", "run only these scenarios (comma-separated): "+names)
	flag.Parse()
	if bad := unknownScenario(o.only); bad != "" {
		fmt.Fprintf(os.Stderr, "bench: -only %q: %q is not one of %s\n", o.only, bad, names)
		os.Exit(2)
	}
	if o.runs < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench: usage: bench [-runs N>=1] [-quick] [-only SCENARIO[,…]] [-out FILE] [-bin DMXD]")
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

// run builds dmxd (unless o.bin is set) and runs the scenarios o.runs
// times, logging progress to logw.
func run(o options, logw io.Writer) (*Report, error) {
	sz := benchSizes(o.quick)
	if err := raiseFileLimit(max(sz.idleConns, sz.idleDesks+sz.loadClients) + fileHeadroom); err != nil {
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
	rep := newReport(o, sz)
	for i := 1; i <= o.runs; i++ {
		for _, name := range scenarioNames() {
			if !o.selected(name) {
				continue
			}
			fmt.Fprintf(logw, "bench: run %d/%d: %s\n", i, o.runs, describe(name, sz))
			if err := runScenario(rep, name, bin, sz); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	summarizeRuns(rep)
	rep.Figures = figures(rep)
	return rep, nil
}

// describe says what scenario name does, for the progress log.
func describe(name string, sz sizes) string {
	switch name {
	case "latency":
		return fmt.Sprintf("latency and frame intervals: idle, %d idle desks, %d clients × %d commands/s", sz.idleDesks, sz.loadClients, loadRate)
	case "throughput":
		return fmt.Sprintf("throughput at %v connections, then the pipelined client", sz.tputConns)
	case "flood":
		return fmt.Sprintf("probe alone, then beside %d flooders × %d commands/s", sz.floodClients, floodRate)
	case "fanout":
		return fmt.Sprintf("fan-out to %d desks", sz.watchers)
	case "cluster":
		return fmt.Sprintf("a core, an output node and an edge: probe idle through the edge to the node's pty, then throughput at %v connections", clusterConns)
	case "sacn":
		return fmt.Sprintf("sACN input: probe idle, then beside %d senders blasting for %v", sz.sacnSenders, sz.sacnBlast)
	default:
		return fmt.Sprintf("memory of %d idle connections", sz.idleConns)
	}
}

// runScenario runs one scenario once and adds the run to rep.
func runScenario(rep *Report, name, bin string, sz sizes) error {
	switch name {
	case "latency":
		r, err := latencyScenario(bin, sz)
		rep.LatencyRuns = append(rep.LatencyRuns, r)
		return err
	case "throughput":
		r, err := throughputScenario(bin, sz)
		rep.ThroughputRuns = append(rep.ThroughputRuns, r)
		return err
	case "flood":
		r, err := floodScenario(bin, sz)
		rep.FloodRuns = append(rep.FloodRuns, r)
		return err
	case "fanout":
		r, err := fanoutScenario(bin, sz.watchers, sz.fanWindow, sz.warmup)
		rep.FanoutRuns = append(rep.FanoutRuns, r)
		return err
	case "sacn":
		r, err := sacnScenario(bin, sz)
		rep.SACNRuns = append(rep.SACNRuns, r)
		return err
	case "cluster":
		r, err := clusterScenario(bin, sz)
		rep.ClusterRuns = append(rep.ClusterRuns, r)
		return err
	default:
		r, err := memoryScenario(bin, sz.idleConns)
		rep.MemoryRuns = append(rep.MemoryRuns, r)
		return err
	}
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

// newReport returns an empty report of a bench with options o.
func newReport(o options, sz sizes) *Report {
	r := &Report{
		Date: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(),
		CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Quick: o.quick, Runs: o.runs, Only: o.only,
		Sizes: ReportSizes{
			IdleDesks: sz.idleDesks, LoadClients: sz.loadClients, ThroughputConns: sz.tputConns,
			FloodClients: sz.floodClients, MemoryConns: sz.idleConns, FanoutWatchers: sz.watchers, SACNSenders: sz.sacnSenders,
		},
	}
	for _, name := range scenarioNames() {
		if o.selected(name) {
			r.Method = append(r.Method, method(name, sz))
		}
	}
	return r
}

// selected reports whether scenario name is to run (see -only).
func (o options) selected(name string) bool {
	return o.only == "" || slices.Contains(strings.Split(o.only, ","), name)
}

// unknownScenario returns the first name of the comma-separated only that
// is not a scenario, or "".
func unknownScenario(only string) string {
	if only == "" {
		return ""
	}
	for _, n := range strings.Split(only, ",") {
		if !slices.Contains(scenarioNames(), n) {
			return n
		}
	}
	return ""
}

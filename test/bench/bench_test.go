package main

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmxd/dmxd/test/testkit"
)

func TestMain(m *testing.M) {
	testkit.RunRecorderIfAsked() // the recorder processes of the ptys
	os.Exit(m.Run())
}

// TestQuickBench runs the bench program's quick mode against a real dmxd so
// that CI keeps it working. It checks that every scenario produced figures
// and acks, not what they are: timing belongs to `just bench`.
func TestQuickBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts dmxd several times; skipped with -short")
	}
	var logs strings.Builder
	rep, err := run(options{runs: 1, quick: true}, &logs)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, logs.String())
	}
	checkLatency(t, rep.Latency)
	checkThroughput(t, rep.Throughput)
	checkFlood(t, rep.Flood)
	positive := map[string]float64{
		"memory frame rate":        rep.Memory.FrameHz,
		"memory RSS":               rep.Memory.RSSMB,
		"fan-out CPU":              rep.Fanout.CPUPerSec,
		"fan-out updates per desk": rep.Fanout.UpdatesPerDeskHz,
	}
	checkPositive(t, positive)
	if m := rep.MemoryRuns[0]; m.Conns != benchSizes(true).idleConns {
		t.Errorf("memory run %+v: want %d connections", m, benchSizes(true).idleConns)
	}
	checkFigures(t, rep)
	checkJSON(t, rep)
}

func checkLatency(t *testing.T, l LatencyScenarioRun) {
	t.Helper()
	phases := map[string]LatencyRun{"idle": l.Idle, "idle desks": l.Desks, "load": l.Load}
	for name, ph := range phases {
		for reader, d := range map[string]Dist{"RT recorder": ph.RT, "bench goroutine": ph.Normal} {
			if d.N == 0 || d.N == d.Lost {
				t.Errorf("latency %s, %s: %d samples, %d lost; want some that reached the pty", name, reader, d.N, d.Lost)
			}
			if d.P50 > d.P99 || d.P99 > d.Max {
				t.Errorf("latency %s, %s %+v: percentiles out of order", name, reader, d)
			}
		}
		if ph.Interval.N == 0 || ph.MaxGapMs <= 0 {
			t.Errorf("latency %s: no frame intervals (%+v, gap %v)", name, ph.Interval, ph.MaxGapMs)
		}
	}
}

func checkThroughput(t *testing.T, tp ThroughputRun) {
	t.Helper()
	if len(tp.Points) != len(benchSizes(true).tputConns) {
		t.Fatalf("throughput: %d points, want %d", len(tp.Points), len(benchSizes(true).tputConns))
	}
	for _, pt := range append(tp.Points, tp.Pipelined) {
		if pt.CommandsPerSec <= 0 || pt.Errors != 0 {
			t.Errorf("throughput at %d connections: %.0f commands/s, %d refused; want acks and no refusal", pt.Conns, pt.CommandsPerSec, pt.Errors)
		}
	}
	for _, pt := range tp.Points {
		if pt.BatchRTT.N == 0 {
			t.Errorf("throughput at %d connections: no batch round trip", pt.Conns)
		}
	}
	if tp.Interval.N == 0 || tp.MaxGapMs <= 0 {
		t.Errorf("throughput: no frames watched (%+v, gap %v)", tp.Interval, tp.MaxGapMs)
	}
}

// checkFlood wants probes and acks before the flood, and probes, written
// and accepted commands and memory samples during it; the probe may lose
// its answers under the flood (that is a figure, not a failure).
func checkFlood(t *testing.T, f FloodRun) {
	t.Helper()
	if f.Alone.Frame.N == f.Alone.Frame.Lost || f.Alone.Ack.N == f.Alone.Ack.Lost {
		t.Errorf("flood: probe before the flood: frames %+v, acks %+v; want answers", f.Alone.Frame, f.Alone.Ack)
	}
	if !f.OverBound && (f.Flooded.Frame.N == 0 || f.Flooded.Ack.N == 0) {
		t.Errorf("flood: no probe during the flood")
	}
	if f.WrittenPerSec <= 0 || f.PeakRSSMB <= 0 {
		t.Errorf("flood: written %.0f/s, peak RSS %.0f MB; want both", f.WrittenPerSec, f.PeakRSSMB)
	}
	if f.AcceptedKnown && f.AcceptedPerSec <= 0 {
		t.Errorf("flood: dmxd accepted %.0f commands/s; want some", f.AcceptedPerSec)
	}
}

func checkPositive(t *testing.T, figures map[string]float64) {
	t.Helper()
	for name, v := range figures {
		if math.IsNaN(v) || v <= 0 {
			t.Errorf("%s = %v, want a positive figure", name, v)
		}
	}
}

// checkFigures wants a row for every scenario, each with a figure, and a
// verdict on every row that has a target.
func checkFigures(t *testing.T, rep *Report) {
	t.Helper()
	for _, prefix := range []string{"latency send→pty", "throughput,", "flood,", "memory per idle", "fan-out CPU"} {
		found := false
		for _, f := range rep.Figures {
			found = found || strings.HasPrefix(f.Measure, prefix)
		}
		if !found {
			t.Errorf("no table row starts with %q", prefix)
		}
	}
	for _, f := range rep.Figures {
		if f.P50 == "" && f.Max == "" {
			t.Errorf("row %q has no figure", f.Measure)
		}
		if f.Target != "" && !strings.HasPrefix(f.Target, "(") && f.Met == nil {
			t.Errorf("row %q has target %q but no verdict", f.Measure, f.Target)
		}
	}
	printTable(io.Discard, rep)
}

func checkJSON(t *testing.T, rep *Report) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bench.json")
	if err := writeJSON(out, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("bench.json: %v", err)
	}
	if len(back.Figures) != len(rep.Figures) || len(back.LatencyRuns) != 1 || back.Flood.PeakRSSMB != rep.Flood.PeakRSSMB {
		t.Errorf("bench.json does not hold the report")
	}
}

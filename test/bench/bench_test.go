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
// that CI keeps it working. It checks that every scenario produced figures,
// not what they are: timing belongs to `just bench`.
func TestQuickBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts dmxd several times; skipped with -short")
	}
	var logs strings.Builder
	rep, err := run(options{runs: 1, quick: true}, &logs)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, logs.String())
	}
	positive := map[string]float64{
		"latency idle p50":         rep.LatencyIdle.P50,
		"latency load p50":         rep.LatencyLoad.P50,
		"interval idle max":        rep.IntervalIdle.Max,
		"max gap idle":             rep.MaxGapIdleMs,
		"max gap load":             rep.MaxGapLoadMs,
		"throughput":               rep.Throughput,
		"memory frame rate":        rep.MemoryFrameHz,
		"fan-out CPU":              rep.FanoutCPU,
		"fan-out updates per desk": rep.FanoutUpdatesHz,
	}
	for name, v := range positive {
		if math.IsNaN(v) || v <= 0 {
			t.Errorf("%s = %v, want a positive figure", name, v)
		}
	}
	if rep.LatencyIdle.P50 > rep.LatencyIdle.P99 || rep.LatencyIdle.P99 > rep.LatencyIdle.Max {
		t.Errorf("latency idle %+v: percentiles out of order", rep.LatencyIdle)
	}
	if rep.LatencyIdle.N == 0 || rep.LatencyLoad.N == 0 {
		t.Errorf("latency samples idle %d, load %d; want some", rep.LatencyIdle.N, rep.LatencyLoad.N)
	}
	if m := rep.MemoryRuns[0]; m.RSSMB <= 0 || m.Conns != quickSizes.idleConns {
		t.Errorf("memory run %+v: want RSS and %d connections", m, quickSizes.idleConns)
	}
	if e := rep.ThroughputRuns[0].Errors; e != 0 {
		t.Errorf("throughput run: %d commands refused, want 0", e)
	}

	printTable(io.Discard, rep)
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
	if back.Throughput != rep.Throughput || len(back.LatencyIdleRuns) != 1 {
		t.Errorf("bench.json does not hold the report")
	}
}

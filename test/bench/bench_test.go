package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dmxd/dmxd/test/testkit"
)

func TestMain(m *testing.M) {
	testkit.RunRecorderIfAsked() // the recorder processes of the ptys
	runRelayIfAsked()            // the reference relay of the latency scenario
	os.Exit(m.Run())
}

// TestQuickBench runs the bench program's quick mode against a real dmxd so
// that CI keeps it working. Timing belongs to `just bench`; this test
// checks what holds on any machine: the bench's own counts agree with
// dmxd's (every probe of the quiet phases was accepted once and counted
// once, every acknowledged command was accepted, dmxd accepted nothing
// that was not written), the figures agree with those counts, and the
// report survives its JSON.
func TestQuickBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts dmxd several times; skipped with -short")
	}
	var logs strings.Builder
	o := options{runs: 1, quick: true}
	rep, err := run(o, &logs)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, logs.String())
	}
	sz := benchSizes(o.quick)
	checkLatency(t, rep.LatencyRuns[0])
	checkThroughput(t, rep.ThroughputRuns[0], sz)
	checkFlood(t, rep.FloodRuns[0])
	checkSACN(t, rep.SACNRuns[0], sz)
	checkCluster(t, rep.ClusterRuns[0])
	positive := map[string]float64{
		"memory frame rate":        rep.Memory.FrameHz,
		"memory RSS":               rep.Memory.RSSMB,
		"fan-out CPU":              rep.Fanout.CPUPerSec,
		"fan-out updates per desk": rep.Fanout.UpdatesPerDeskHz,
	}
	checkPositive(t, positive)
	if m := rep.MemoryRuns[0]; m.Conns != sz.idleConns {
		t.Errorf("memory run %+v: want %d connections", m, sz.idleConns)
	}
	checkFigures(t, rep)
	checkJSON(t, rep)
	tp := rep.ThroughputRuns[0]
	t.Logf("tallies: quiet latency %+v; throughput %+v, pipelined %+v; lone flood probe %+v",
		rep.LatencyRuns[0].Quiet, tp.Points[len(tp.Points)-1].Tally, tp.Pipelined.Tally, rep.FloodRuns[0].AloneTally)
}

// checkDist wants samples, some of them answered, in order.
func checkDist(t *testing.T, what string, d Dist) {
	t.Helper()
	if d.N == 0 || d.N == d.Lost {
		t.Errorf("%s: %d samples, %d lost; want some answered", what, d.N, d.Lost)
	}
	if d.P50 > d.P99 || d.P99 > d.Max {
		t.Errorf("%s %+v: percentiles out of order", what, d)
	}
}

// checkLatency wants every phase measured, and in the quiet phases (the
// probe is the only desk that sends) every probe counted once, as a sample
// or a loss, and accepted by dmxd exactly once.
func checkLatency(t *testing.T, l LatencyScenarioRun) {
	t.Helper()
	phases := map[string]LatencyRun{"idle": l.Idle, "idle desks": l.Desks, "load": l.Load}
	for name, ph := range phases {
		checkDist(t, "latency "+name+", RT recorder", ph.RT)
		checkDist(t, "latency "+name+", reader at normal priority", ph.Normal)
		checkDist(t, "latency "+name+", reference relay", ph.Relay)
		if ph.LoopLateP99Ms <= 0 {
			t.Errorf("latency %s: no frame start lateness from dmxd's metrics (p99 %v ms)", name, ph.LoopLateP99Ms)
		}
		if ph.Interval.N == 0 || ph.MaxGapMs <= 0 {
			t.Errorf("latency %s: no frame intervals (%+v, gap %v)", name, ph.Interval, ph.MaxGapMs)
		}
	}
	var samples, lost int64
	for _, d := range []Dist{l.Idle.RT, l.Idle.Normal, l.Desks.RT, l.Desks.Normal} {
		samples, lost = samples+int64(d.N), lost+int64(d.Lost)
	}
	q := l.Quiet
	if q.Written != samples || q.Acked != samples-lost || q.Accepted != q.Written {
		t.Errorf("quiet phases: %+v, %d samples (%d lost): want every probe a sample and accepted once by dmxd", q, samples, lost)
	}
}

// checkTally wants acknowledged commands, each accepted by dmxd, and no
// more accepted than written.
func checkTally(t *testing.T, what string, c Tally) {
	t.Helper()
	if c.Acked <= 0 || c.Acked > c.Accepted || c.Accepted > c.Written {
		t.Errorf("%s: %+v; want 0 < acked ≤ accepted by dmxd ≤ written", what, c)
	}
}

// checkThroughput wants a point per size without refusals, tallies that
// agree with dmxd, and rates that the acknowledged commands account for:
// a window of at least tputWindow at CommandsPerSec holds at most the
// point's acks, and so do its round trips.
func checkThroughput(t *testing.T, tp ThroughputRun, sz sizes) {
	t.Helper()
	if len(tp.Points) != len(sz.tputConns) {
		t.Fatalf("throughput: %d points, want %d", len(tp.Points), len(sz.tputConns))
	}
	for _, pt := range append(tp.Points, tp.Pipelined) {
		what := fmt.Sprintf("throughput at %d connections", pt.Conns)
		if pt.CommandsPerSec <= 0 || pt.Errors != 0 {
			t.Errorf("%s: %.0f commands/s, %d refused; want acks and no refusal", what, pt.CommandsPerSec, pt.Errors)
		}
		checkTally(t, what, pt.Tally)
		if inWindow := pt.CommandsPerSec * sz.tputWindow.Seconds(); inWindow > float64(pt.Tally.Acked)*(1+1e-9) {
			t.Errorf("%s: %.0f commands/s over %v is %.0f commands, more than the %d acknowledged", what, pt.CommandsPerSec, sz.tputWindow, inWindow, pt.Tally.Acked)
		}
	}
	for _, pt := range tp.Points {
		if pt.BatchRTT.N == 0 || int64(pt.BatchRTT.N)*tputBatch > pt.Tally.Acked {
			t.Errorf("throughput at %d connections: %d batch round trips, %d commands acknowledged", pt.Conns, pt.BatchRTT.N, pt.Tally.Acked)
		}
	}
	if tp.Interval.N == 0 || tp.MaxGapMs <= 0 {
		t.Errorf("throughput: no frames watched (%+v, gap %v)", tp.Interval, tp.MaxGapMs)
	}
}

// checkFlood wants the lone probe's every command a frame sample and an
// ack sample, accepted once by dmxd; probes, written and accepted commands
// and memory samples during the flood. The probe may lose its answers
// under the flood (that is a figure, not a failure).
func checkFlood(t *testing.T, f FloodRun) {
	t.Helper()
	checkDist(t, "flood: probe before the flood, to the pty", f.Alone.Frame)
	checkDist(t, "flood: probe before the flood, to the ack", f.Alone.Ack)
	a := f.AloneTally
	if a.Written != int64(f.Alone.Frame.N) || a.Written != int64(f.Alone.Ack.N) || a.Acked != int64(f.Alone.Ack.N-f.Alone.Ack.Lost) || a.Accepted != a.Written {
		t.Errorf("flood: probe before the flood %+v, frames %+v, acks %+v: want every probe a sample of both, accepted once by dmxd", a, f.Alone.Frame, f.Alone.Ack)
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

// checkSACN wants every idle sACN probe answered by a pty frame, the
// WebSocket reference and the probe during the blast measured, and dmxd's
// counts consistent with the bench's: some packets received, none that
// was not written, none malformed. UDP may drop packets under the blast
// (that is a figure, not a failure).
func checkSACN(t *testing.T, r SACNRun, sz sizes) {
	t.Helper()
	checkDist(t, "sacn: WebSocket reference", r.WebSocket)
	checkDist(t, "sacn: idle sACN probe", r.Idle)
	if r.Idle.Lost != 0 {
		t.Errorf("sacn: %d of %d idle probes got no frame", r.Idle.Lost, r.Idle.N)
	}
	checkDist(t, "sacn: probe during the blast", r.Blasted)
	if r.Senders != sz.sacnSenders || r.SentPerSec <= 0 || r.ReceivedPerSec <= 0 {
		t.Errorf("sacn: %d senders, %.0f packets/s written, %.0f/s received; want %d senders, both rates positive", r.Senders, r.SentPerSec, r.ReceivedPerSec, sz.sacnSenders)
	}
	if r.ReceivedTotal <= 0 || r.ReceivedTotal > r.SentTotal || r.MalformedTotal != 0 {
		t.Errorf("sacn: %d packets written, %d received by dmxd, %d malformed; want 0 < received ≤ written, none malformed", r.SentTotal, r.ReceivedTotal, r.MalformedTotal)
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
	for _, prefix := range []string{"latency send→pty", "throughput,", "flood,", "memory per idle", "fan-out CPU", "latency sACN", "sACN blast"} {
		found := false
		for _, f := range rep.Figures {
			found = found || strings.HasPrefix(f.Measure, prefix)
		}
		if !found {
			t.Errorf("no table row starts with %q", prefix)
		}
	}
	for _, f := range rep.Figures {
		if f.P50 == "" && f.P99 == "" && f.Max == "" {
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
	if !reflect.DeepEqual(back, *rep) {
		t.Errorf("bench.json does not hold the report:\n%+v\nwant\n%+v", back, *rep)
	}
}

func checkCluster(t *testing.T, c ClusterRun) {
	t.Helper()
	checkDist(t, "cluster latency", c.Latency)
	if len(c.Points) != len(clusterConns) {
		t.Fatalf("cluster: %d throughput points, want %d", len(c.Points), len(clusterConns))
	}
	for _, pt := range c.Points {
		if pt.CommandsPerSec <= 0 || pt.Errors != 0 {
			t.Errorf("cluster throughput at %d connections: %+v", pt.Conns, pt)
		}
	}
}

package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/chaos/harness"
	"github.com/dmxd/dmxd/test/testkit"
)

func TestMain(m *testing.M) {
	testkit.RunRecorderIfAsked() // the recorder processes of the ptys
	harness.RunProbeIfAsked()    // the flood phase's probe desk
	os.Exit(m.Run())
}

// TestShortChaosRun is the chaos harness at CI size: 300 client slots for
// 10 s with the device unplugged, 10 desks flooding for 2.5 s and dmxd
// restarted mid-run. Every invariant of the full run applies, except that
// the timing is held to sanity bounds that catch a stuck or crawling
// server: ≥ 20 frames in every second, no gap over 500 ms, a probe's
// change on the pty within 1 s and its ack within 5 s. This test runs
// under -race on a shared 2-core machine; the timing claims themselves
// (43 Hz, no gap over two frame periods, 50 ms and 1 s) are what just
// chaos checks. dmxd gets a low --conn-rate instead of its default, so
// that the abusive floods stay small; the flood desks send at 90% of it.
func TestShortChaosRun(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run skipped in -short mode")
	}
	cfg := harness.DefaultConfig()
	cfg.Conns = 300
	cfg.Duration = 10 * time.Second
	cfg.Seed = 42
	cfg.PingInterval = 2 * time.Second // half-open clients are reaped within the run; a 4 s pong wait spares desks the loaded machine delays
	cfg.UpdateBudget = 6000            // moderate: the harness runs under -race
	cfg.MinWindowFrames = 20
	cfg.MaxFrameGap = 500 * time.Millisecond
	cfg.ArrivalMaxGap = time.Second
	cfg.ConnRate = 50
	cfg.FloodDesks = 10
	cfg.ProbeBound = time.Second
	cfg.ProbeAckBound = 5 * time.Second
	cfg.Dir = t.TempDir()
	var log strings.Builder
	cfg.Log = &log
	sum, err := harness.Run(cfg)
	var table strings.Builder
	sum.WriteTable(&table)
	t.Log("\n" + log.String() + table.String())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Opened < int64(cfg.Conns) {
		t.Errorf("%d connections opened, want at least %d", sum.Opened, cfg.Conns)
	}
	if sum.OwnerAcked == 0 {
		t.Error("no owner command was acknowledged: the model checked nothing")
	}
	if f := sum.Flood; f == nil {
		t.Error("no flood phase ran")
	} else if f.Probes == 0 || f.Acked == 0 {
		t.Errorf("flood phase: %d probes timed, %d flood commands acknowledged: it checked nothing", f.Probes, f.Acked)
	}
	// The run must have exercised what it checks, or it proves nothing.
	for _, prefix := range []string{"abuse.flood_1008", "abuse.oversized_1009", "error.bad_json", "error.unsupported", "halfopen.reaped_", "output.down", "output.up", "close.1001"} {
		n := int64(0)
		for k, v := range sum.Counts {
			if strings.HasPrefix(k, prefix) {
				n += v
			}
		}
		if n == 0 {
			t.Errorf("no %s in the run: that check was never exercised", prefix)
		}
	}
}

func TestBadFlagExits2(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"-conns", "x"}, &out, &errb); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if code := run([]string{"extra"}, &out, &errb); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
}

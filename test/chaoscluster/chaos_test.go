package main

import (
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// TestShortChaosCluster is the cluster chaos run at CI size: a core, two
// nodes and two edges with 10 desks on each for 16 s, a node, an edge and
// the core each killed with SIGKILL and restarted after 1.5 s. Every
// invariant of the full run applies; the timing is held to sanity bounds
// that catch a stuck or crawling cluster (≥ 20 frames in every second a
// node is up, the current levels on a restarted node's pty within 5 s),
// because this test runs under -race on a shared 2-core machine. The
// timing claims themselves (43 frames a second, 1 s) are what just
// chaos-cluster checks.
func TestShortChaosCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster chaos run skipped in -short mode")
	}
	dir := t.TempDir()
	bin, err := testkit.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Bin, cfg.Dir = bin, dir
	cfg.Duration = 16 * time.Second
	cfg.Desks = 10
	cfg.Outage = 1500 * time.Millisecond
	cfg.MinWindowFrames = 20
	cfg.ResumeBound = 5 * time.Second
	cfg.RSSGrowth = 64
	var log strings.Builder
	cfg.Log = &log
	sum, err := Run(cfg)
	var table strings.Builder
	if sum != nil {
		sum.WriteTable(&table)
	}
	t.Log("\n" + log.String() + table.String())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Acked < 100 {
		t.Errorf("only %d commands acknowledged: the run checked little", sum.Acked)
	}
}

func TestBadFlagExits2(t *testing.T) {
	var out, errb strings.Builder
	for _, args := range [][]string{{"-desks", "x"}, {"extra"}, {"-desks", "0"}, {"-duration", "5s"}} {
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

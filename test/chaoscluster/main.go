// Command chaoscluster runs dmxd across processes under chaos: a core, an
// output node per universe (each on a pty) and edges serving desks that
// set their own channels with acknowledged commands. It kills -9 and
// restarts a node, an edge and the core in turn, then checks that nothing
// acknowledged was lost (beyond the state file's save window for the
// core's kill -9), that every node kept ≥ 43 frames a second except while
// it was itself down, and that memory came back. It exits 1 when an
// invariant broke, 2 on a bad flag.
//
//	go run ./test/chaoscluster -duration 60s -desks 50 -seed 1
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dmxd/dmxd/test/testkit"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("chaoscluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the desks send")
	fs.IntVar(&cfg.Desks, "desks", cfg.Desks, "desks per edge")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the desks' choices")
	fs.DurationVar(&cfg.Outage, "outage", cfg.Outage, "how long a killed process stays down")
	fs.IntVar(&cfg.MinWindowFrames, "min-frames", cfg.MinWindowFrames, "fewest frames a 1 s window of a node's pty must hold while the node is up")
	fs.StringVar(&cfg.Bin, "bin", "", "prebuilt dmxd binary (default: build ./cmd/dmxd)")
	quiet := fs.Bool("q", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chaoscluster: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if cfg.Desks < 1 || cfg.Desks*2 > 256 || cfg.Duration <= 4*cfg.Outage {
		fmt.Fprintln(stderr, "chaoscluster: -desks must be 1..128 and -duration more than 4 × -outage")
		return 2
	}
	dir, err := os.MkdirTemp("", "dmxd-chaoscluster-")
	if err != nil {
		fmt.Fprintln(stderr, "chaoscluster:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cfg.Dir = dir
	if cfg.Bin == "" {
		if cfg.Bin, err = testkit.Build(dir); err != nil {
			fmt.Fprintln(stderr, "chaoscluster:", err)
			return 1
		}
	}
	if !*quiet {
		cfg.Log = stdout
	}
	sum, err := Run(cfg)
	if sum != nil {
		sum.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "chaoscluster:", err)
		return 1
	}
	return 0
}

// Command chaos runs dmxd's chaos harness: thousands of misbehaving desks,
// an unplugged and replugged serial device, a flood of desks sending at the
// rate limit and a restart of dmxd itself, reproducibly from a seed. It
// prints a summary table and exits 1 when an invariant broke, 2 on a bad
// flag.
//
//	go run ./test/chaos -conns 5000 -duration 60s -seed 1
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dmxd/dmxd/test/chaos/harness"
	"github.com/dmxd/dmxd/test/testkit"
)

func main() {
	testkit.RunRecorderIfAsked()
	harness.RunProbeIfAsked()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg := harness.DefaultConfig()
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "client slots (concurrent connections)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the clients run")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every random decision")
	fs.StringVar(&cfg.Bin, "bin", "", "prebuilt dmxd binary (default: build ./cmd/dmxd)")
	fs.IntVar(&cfg.Universes, "universes", cfg.Universes, "universes (at least 3: 1 and 2 on ptys, the rest null)")
	fs.IntVar(&cfg.ConnRate, "conn-rate", cfg.ConnRate, "dmxd --conn-rate; the default is dmxd's own, and the flood desks send at 90% of it")
	fs.IntVar(&cfg.FloodDesks, "flood-desks", cfg.FloodDesks, "desks that flood universe 2 in the flood phase (0: no flood phase)")
	fs.DurationVar(&cfg.FloodDuration, "flood-duration", cfg.FloodDuration, "length of the flood phase, which runs from 25% of -duration and ends by 50%")
	fs.Float64Var(&cfg.FloodRate, "flood-rate", 0, "commands per second of each flood desk, under -conn-rate (default: 90% of it)")
	fs.DurationVar(&cfg.ProbeBound, "probe-bound", cfg.ProbeBound, "longest allowed time from a probe's command to the pty frame that carries it, during the flood")
	fs.DurationVar(&cfg.ProbeAckBound, "probe-ack-bound", cfg.ProbeAckBound, "longest allowed time from a probe's command to its ack, during the flood")
	fs.IntVar(&cfg.UpdateBudget, "update-budget", cfg.UpdateBudget, "server messages per second the valid traffic may cause")
	fs.DurationVar(&cfg.PingInterval, "ping-interval", cfg.PingInterval, "dmxd --ping-interval (half-open clients are checked after twice that)")
	fs.IntVar(&cfg.MinWindowFrames, "min-frames", cfg.MinWindowFrames, "fewest frames a 1 s window at the recorder should hold while plugged in (short windows are reported)")
	fs.DurationVar(&cfg.MaxFrameGap, "max-gap", cfg.MaxFrameGap, "writer timing: longest allowed time between two frame writes, as dmxd times them")
	fs.DurationVar(&cfg.ArrivalMaxGap, "arrival-max-gap", cfg.ArrivalMaxGap, "arrival: longest allowed time between two frames at the recorder")
	fs.IntVar(&cfg.LoadNice, "nice", cfg.LoadNice, "nice value of the load generator's threads (0: unchanged); dmxd and the recorders keep normal priority")
	fs.BoolVar(&cfg.Unplug, "unplug", cfg.Unplug, "unplug and replug universe 1's device mid-run")
	fs.BoolVar(&cfg.Restart, "restart", cfg.Restart, "restart dmxd with SIGTERM mid-run")
	report := fs.String("report", "", "also write the summary as JSON to this file")
	quiet := fs.Bool("q", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chaos: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if !*quiet {
		cfg.Log = stderr
	}
	sum, err := harness.Run(cfg)
	sum.WriteTable(stdout)
	if *report != "" {
		data, jerr := json.MarshalIndent(sum, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(*report, append(data, '\n'), 0o644)
		}
		if jerr != nil {
			fmt.Fprintf(stderr, "chaos: report: %v\n", jerr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "chaos: FAIL: %v (seed %d, %v)\n", err, cfg.Seed, time.Duration(cfg.Duration))
		return 1
	}
	fmt.Fprintf(stdout, "chaos: PASS\n")
	return 0
}

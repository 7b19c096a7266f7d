// Package harness is dmxd's chaos harness: it starts the real dmxd binary
// on real pseudo-terminals, throws thousands of well- and ill-behaved
// WebSocket desks and device and process faults at it, reproducibly from
// a seed, and checks that nothing accepted is lost, that the lights never
// stutter, that the server stays healthy, and that a flood of desks sending
// at the rate limit neither grows its memory beyond a bound nor delays
// another desk's change (the flood phase, see flood.go).
//
// Concurrency: Run owns everything it starts. Each simulated client runs
// in its own goroutine with its own random source derived from the seed
// and its slot number; the shared parts (counters, the level model, the
// pause gate, the frame logs) are small structs guarded by their own
// mutexes or atomics. Run returns only when every goroutine, process and
// pseudo-terminal it started has ended.
package harness

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Timing and sizing of a run.
const (
	// framePeriod is one output frame at dmxd's default 44 Hz.
	framePeriod = time.Second / 44
	// replugResume bounds the time from a replug to the first frame.
	replugResume = time.Second
	// shutdownBudget is the protocol's bound on a graceful shutdown.
	shutdownBudget = 5 * time.Second
	// maxOwners caps the clients that own channels; each owns ownedPer.
	maxOwners = 32
	ownedPer  = 8
	// noiseFirst is the first channel of universes 1 and 2 that non-owner
	// traffic may touch; owners use channels below it.
	noiseFirst = 257
	// ackTimeout bounds the wait for an ack or a state.
	ackTimeout = 10 * time.Second
	// floodAnswerBound is how long a rate-limit flooder kept open waits
	// for the answer to its last command: dmxd reads it at its own pace.
	floodAnswerBound = 30 * time.Second
	// maxOwnerFade is the longest fade an owner starts.
	maxOwnerFade = 800 * time.Millisecond
	// dmxdDefaultConnRate is dmxd's --conn-rate when none is given
	// (docs/protocol.md): the rate any desk may use out of the box.
	dmxdDefaultConnRate = 1000
)

// Config is one chaos run.
type Config struct {
	// Bin is a prebuilt dmxd; empty builds cmd/dmxd into Dir.
	Bin string
	// Dir holds the build, the state file and the pty links; empty makes
	// a temporary directory that is removed afterwards.
	Dir string
	// Conns is the number of client slots: concurrent connections.
	Conns int
	// Duration is how long the clients run.
	Duration time.Duration
	// Seed makes every random decision reproducible.
	Seed uint64
	// Universes dmxd runs (at least 3): 1 on a pty that is unplugged and
	// replugged, 2 on a steady pty, the rest on the null output.
	Universes int
	// ConnRate is dmxd's --conn-rate. The full run gives dmxd its default
	// (dmxdDefaultConnRate), so that the flood phase floods at the rate a
	// desk may use out of the box: --conn-rate is one limit for every
	// connection of the process, so the phase cannot have a limit of its
	// own. A low limit makes the abusive floods (the flood role) cheaper:
	// the short run in go test uses one.
	ConnRate int
	// FloodDesks is how many desks flood universe 2 during the flood phase
	// (0: no flood phase); FloodDuration is how long the phase lasts (cut
	// short to fit between floodStartFrac and floodEndFrac of the run);
	// FloodRate is the commands per second each flood desk sends, under
	// ConnRate (0: floodShare of it).
	FloodDesks    int
	FloodDuration time.Duration
	FloodRate     float64
	// ProbeBound bounds the time from a probe desk's command to the first
	// pty frame that carries it during the flood phase, and ProbeAckBound
	// the time to its ack. The full run holds dmxd to 50 ms and 1 s; the
	// short run in go test uses sanity bounds (see there).
	ProbeBound    time.Duration
	ProbeAckBound time.Duration
	// UpdateBudget bounds the server messages per second the valid
	// traffic may cause: every frame with a change sends one update to
	// every client, so the command rate is UpdateBudget / Conns.
	UpdateBudget int
	// PingInterval is dmxd's --ping-interval: a client silent for twice
	// that is dropped, so half-open connections are reaped within it.
	PingInterval time.Duration
	// MinWindowFrames is the fewest frames a 1-second window at the
	// recorder should hold while a device is plugged in (short windows are
	// reported), and MaxFrameGap the longest time dmxd may take between
	// two frame writes (the writer-timing check; longer gaps at the
	// recorder are reported). The full run uses 43 and two frame periods;
	// the short run in go test uses sanity bounds (see there).
	MinWindowFrames int
	MaxFrameGap     time.Duration
	// ArrivalMaxGap is the arrival check's own bound: the longest time
	// between two frames at the recorder. MaxFrameGap bounds dmxd's own
	// write times (the writer-timing check); frames later at the recorder
	// than that, and windows short of MinWindowFrames there, are reported.
	ArrivalMaxGap time.Duration
	// LoadNice is the nice value of the harness's own threads during the
	// run (0: unchanged); dmxd and the recorders keep the normal priority.
	// See loadNice.
	LoadNice int
	// Unplug and Restart switch the two faults on.
	Unplug, Restart bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// DefaultConfig is the full run of just chaos.
func DefaultConfig() Config {
	return Config{
		Conns:        5000,
		Duration:     60 * time.Second,
		Seed:         1,
		Universes:    3,
		ConnRate:     dmxdDefaultConnRate,
		UpdateBudget: 10000,
		// Long enough that a load generator starved of CPU still answers
		// pings in time, short enough to check reaping within the run.
		PingInterval: 10 * time.Second,
		// The lights never stutter: ≥ 43 Hz in every second, no gap
		// over two frame periods.
		MinWindowFrames: 43,
		MaxFrameGap:     2 * framePeriod,
		ArrivalMaxGap:   250 * time.Millisecond,
		LoadNice:        loadNice,
		Unplug:          true,
		Restart:         true,
		FloodDesks:      100,
		FloodDuration:   15 * time.Second,
		ProbeBound:      50 * time.Millisecond,
		ProbeAckBound:   time.Second,
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Conns < 20 {
		errs = append(errs, fmt.Errorf("conns %d: want at least 20", c.Conns))
	}
	if c.Duration < 5*time.Second {
		errs = append(errs, fmt.Errorf("duration %v: want at least 5s", c.Duration))
	}
	if c.Universes < 3 {
		errs = append(errs, fmt.Errorf("universes %d: want at least 3", c.Universes))
	}
	if c.ConnRate < 10 {
		errs = append(errs, fmt.Errorf("conn-rate %d: want at least 10 (owners send up to 5/s)", c.ConnRate))
	}
	if c.FloodDesks < 0 {
		errs = append(errs, fmt.Errorf("flood-desks %d: want 0 (no flood phase) or more", c.FloodDesks))
	}
	if c.FloodRate <= 0 {
		c.FloodRate = floodShare * float64(c.ConnRate)
	}
	if c.FloodRate >= float64(c.ConnRate) {
		errs = append(errs, fmt.Errorf("flood-rate %g: want under conn-rate %d (flood desks stay within the limit)", c.FloodRate, c.ConnRate))
	}
	if c.FloodDuration <= 0 {
		c.FloodDuration = DefaultConfig().FloodDuration
	}
	if c.ProbeBound <= 0 {
		c.ProbeBound = DefaultConfig().ProbeBound
	}
	if c.ProbeAckBound <= 0 {
		c.ProbeAckBound = DefaultConfig().ProbeAckBound
	}
	if c.UpdateBudget <= 0 {
		c.UpdateBudget = DefaultConfig().UpdateBudget
	}
	if c.MinWindowFrames <= 0 {
		c.MinWindowFrames = DefaultConfig().MinWindowFrames
	}
	if c.ArrivalMaxGap <= 0 {
		c.ArrivalMaxGap = DefaultConfig().ArrivalMaxGap
	}
	if c.MaxFrameGap <= 0 {
		c.MaxFrameGap = DefaultConfig().MaxFrameGap
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultConfig().PingInterval
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return errors.Join(errs...)
}

// cmdRate is the aggregate rate of level-changing commands.
func (c *Config) cmdRate() float64 {
	r := float64(c.UpdateBudget) / float64(c.Conns)
	return min(max(r, 4), 200)
}

// reapBound is how long a half-open connection may stay open on the
// server: twice the ping interval, and some margin for a busy machine.
func (h *harness) reapBound() time.Duration { return 2*h.cfg.PingInterval + 3*time.Second }

// stallBound is how long a client that reads one message every two
// seconds may stay connected: its pongs queue behind the updates, so the
// keepalive drops it after twice the ping interval, plus dmxd's 10 s
// write deadline on a socket that stopped draining, plus a margin.
func (h *harness) stallBound() time.Duration { return 2*h.cfg.PingInterval + 13*time.Second }

// owners is how many clients own channels.
func (c *Config) owners() int {
	return min(max(c.Conns/40, 4), maxOwners)
}

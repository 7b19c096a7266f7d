package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config is one run.
type Config struct {
	Bin      string
	Dir      string
	Duration time.Duration // desk traffic, from the first kill's warm-up to the end
	Desks    int           // desks per edge
	Edges    int
	Rate     time.Duration // each desk sends one command every Rate
	Seed     uint64
	Outage   time.Duration // how long a killed process stays down
	// MinWindowFrames is the fewest frames every 1 s window of a node's
	// pty must hold, except the windows its own node was down in.
	MinWindowFrames int
	// LossWindow is how far before a kill -9 of the core acknowledged
	// levels may be lost: the state file is saved at most once a second.
	LossWindow time.Duration
	// ResumeBound is the longest a restarted node may take to put the
	// current levels on its pty.
	ResumeBound time.Duration
	// RSSGrowth is how much a process that was never killed may grow
	// from the warm-up to the end, in MiB.
	RSSGrowth float64
	Log       io.Writer
}

// DefaultConfig is the full run of just chaos-cluster.
func DefaultConfig() Config {
	return Config{
		Duration: 60 * time.Second, Desks: 50, Edges: 2, Rate: 100 * time.Millisecond, Seed: 1,
		Outage: 3 * time.Second, MinWindowFrames: 43, LossWindow: 1500 * time.Millisecond,
		ResumeBound: time.Second, RSSGrowth: 32,
	}
}

// Summary is what a run measured.
type Summary struct {
	Desks, Connects, Drops, Close1012      int64
	Sent, Acked, Errors                    int64
	Channels                               int
	LostInSaveWindow                       int // acked in the loss window before the core's kill -9, rolled back
	Violations                             []string
	NodeResume                             []time.Duration // kill -9 and restart of a node: restart → current levels on its pty
	CoreResume                             time.Duration   // restart of the core → a desk's new level on a node's pty
	MinWindow                              []int           // per node: fewest frames in a 1 s window it was up
	EdgeRSS0, EdgeRSS1, NodeRSS0, NodeRSS1 float64
}

// event is when something was killed and restarted.
type event struct {
	what         string
	killed, back time.Time
}

// Run runs the chaos schedule: warm-up, kill -9 and restart of a node,
// then of an edge, then of the core, under desk traffic; then it checks
// the invariants.
func Run(cfg Config) (*Summary, error) {
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	c, err := startCluster(cfg.Bin, cfg.Dir, 2, cfg.Edges)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	logf("core %s, nodes %d, edges %d", c.coreAddr, len(c.nodes), len(c.edges))

	var edgeMu sync.Mutex
	edgeAddrs := func() []string {
		edgeMu.Lock()
		defer edgeMu.Unlock()
		var a []string
		for _, e := range c.edges {
			a = append(a, e.addr)
		}
		return a
	}
	// Desks: each owns channelsPerDesk channels of one universe.
	var desks []*desk
	var chans []*channelLog
	for i := range cfg.Desks * cfg.Edges {
		d := &desk{id: i, edges: edgeAddrs, rate: cfg.Rate, rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))}
		u := 1 + i%2
		for k := range channelsPerDesk {
			ch := &channelLog{universe: u, channel: 1 + (i/2)*channelsPerDesk + k}
			d.channels = append(d.channels, ch)
			chans = append(chans, ch)
		}
		desks = append(desks, d)
	}
	if max := 2 * 512 / channelsPerDesk; len(desks) > max {
		return nil, fmt.Errorf("%d desks own more channels than 2 universes have (at most %d desks)", len(desks), max)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, d := range desks {
		wg.Add(1)
		go func() { defer wg.Done(); d.run(stop) }()
	}
	start := time.Now()
	at := func(frac float64) time.Time { return start.Add(time.Duration(frac * float64(cfg.Duration))) }
	sleepUntil := func(t time.Time) { time.Sleep(time.Until(t)) }
	sum := &Summary{Desks: int64(len(desks)), Channels: len(chans)}
	fail := func(format string, args ...any) {
		sum.Violations = append(sum.Violations, fmt.Sprintf(format, args...))
		logf("VIOLATION: "+format, args...)
	}
	var events []event

	// Warm-up, then the baseline memory of what is never killed.
	sleepUntil(at(0.15))
	sum.EdgeRSS0, sum.NodeRSS0 = rss(c.edges[len(c.edges)-1].proc), rss(c.nodes[len(c.nodes)-1].proc)

	// A node: kill -9, restart; its pty gets the current levels.
	sleepUntil(at(0.2))
	n := c.nodes[0]
	ev := event{what: "node " + n.name, killed: time.Now()}
	logf("kill -9 %s", n.name)
	if err := kill(n.proc); err != nil {
		return sum, fmt.Errorf("kill node: %w", err)
	}
	time.Sleep(cfg.Outage)
	if err := c.startNode(n); err != nil {
		return sum, err
	}
	ev.back = time.Now()
	events = append(events, ev)
	logf("%s restarted", n.name)
	logf("RSS edge %.1f MiB, node %.1f MiB", rss(c.edges[len(c.edges)-1].proc), rss(c.nodes[len(c.nodes)-1].proc))
	if d, err := resumeTime(c, n, ev.back, cfg.ResumeBound+5*time.Second); err != nil {
		fail("%s restarted: %v", n.name, err)
	} else {
		sum.NodeResume = append(sum.NodeResume, d)
		if d > cfg.ResumeBound {
			fail("%s restarted: the current levels reached its pty after %v (bound %v)", n.name, d.Round(time.Millisecond), cfg.ResumeBound)
		}
	}

	// An edge: kill -9; its desks turn to the other edge; restart it.
	sleepUntil(at(0.4))
	e := c.edges[0]
	ev = event{what: "edge", killed: time.Now()}
	logf("kill -9 edge %s", e.addr)
	if err := kill(e.proc); err != nil {
		return sum, fmt.Errorf("kill edge: %w", err)
	}
	time.Sleep(cfg.Outage)
	if err := c.startEdge(e); err != nil {
		return sum, err
	}
	ev.back = time.Now()
	events = append(events, ev)
	logf("edge %s restarted", e.addr)
	logf("RSS edge %.1f MiB, node %.1f MiB", rss(c.edges[len(c.edges)-1].proc), rss(c.nodes[len(c.nodes)-1].proc))

	// The core: kill -9, restart with the same state file and address;
	// nodes keep refreshing the last frame meanwhile.
	sleepUntil(at(0.6))
	ev = event{what: "core", killed: time.Now()}
	logf("kill -9 core")
	if err := kill(c.core); err != nil {
		return sum, fmt.Errorf("kill core: %w", err)
	}
	time.Sleep(cfg.Outage)
	if err := c.startCore(); err != nil {
		return sum, err
	}
	ev.back = time.Now()
	events = append(events, ev)
	logf("core restarted")
	logf("RSS edge %.1f MiB, node %.1f MiB", rss(c.edges[len(c.edges)-1].proc), rss(c.nodes[len(c.nodes)-1].proc))
	snapshot := map[[2]int]int{}
	for u := 1; u <= 2; u++ {
		vals, err := levels(c.core, u)
		if err != nil {
			return sum, fmt.Errorf("levels after the core's restart: %w", err)
		}
		for ch := range 512 {
			snapshot[[2]int{u, ch + 1}] = vals[ch]
		}
	}
	coreKill := ev.killed
	t0 := coreKill.Add(-cfg.LossWindow)
	for _, ch := range chans {
		ch.mu.Lock() // the desks go on sending
		v := snapshot[[2]int{ch.universe, ch.channel}]
		lastBefore, lastAcked := 0, 0
		var allowed []int
		for _, s := range ch.sends {
			if !s.acked.IsZero() && s.acked.Before(t0) {
				lastBefore = s.level
			}
			if !s.acked.IsZero() && s.acked.Before(coreKill) {
				lastAcked = s.level
			}
			if !s.at.Before(t0) {
				allowed = append(allowed, s.level)
			}
		}
		allowed = append(allowed, lastBefore)
		ch.mu.Unlock()
		switch {
		case !slices.Contains(allowed, v):
			fail("after the core's restart universe %d channel %d is %d: not acknowledged before %v nor sent since (allowed %v)",
				ch.universe, ch.channel, v, cfg.LossWindow, allowed)
		case v != lastAcked:
			sum.LostInSaveWindow++
		}
	}
	if d, err := coreResume(c, desks[0], ev.back, 20*time.Second); err != nil {
		fail("after the core's restart: %v", err)
	} else {
		sum.CoreResume = d
	}

	// The end of the traffic; every desk waits for its acks.
	sleepUntil(at(1))
	close(stop)
	wg.Wait()
	logf("traffic stopped")
	logf("RSS edge %.1f MiB, node %.1f MiB", rss(c.edges[len(c.edges)-1].proc), rss(c.nodes[len(c.nodes)-1].proc))
	end := time.Now()

	// Nothing acknowledged is lost: each owned channel holds its last
	// acknowledged level or one sent after it.
	for u := 1; u <= 2; u++ {
		vals, err := levels(c.core, u)
		if err != nil {
			return sum, fmt.Errorf("final levels: %w", err)
		}
		for _, ch := range chans {
			if ch.universe != u {
				continue
			}
			v := vals[ch.channel-1]
			last := -1
			for i, s := range ch.sends {
				if !s.acked.IsZero() {
					last = i
				}
			}
			var allowed []int
			if last < 0 {
				allowed = append(allowed, 0)
			}
			for _, s := range ch.sends[max(last, 0):] {
				allowed = append(allowed, s.level)
			}
			// Acknowledged in the save window before the core's kill and
			// rolled back, and not set since: the loss the model allows.
			rolledBack := last >= 0 && ch.sends[last].at.Before(coreKill) && v == snapshot[[2]int{u, ch.channel}]
			if !slices.Contains(allowed, v) && !rolledBack {
				fail("universe %d channel %d ends at %d; its last acknowledged level was %v (allowed %v)", u, ch.channel, v, lastLevel(ch, last), allowed)
			}
		}
		// The node's pty carries the final levels.
		nd := c.nodes[u-1]
		if err := waitPTY(nd, vals, chans, 5*time.Second); err != nil {
			fail("universe %d: %v", u, err)
		}
	}
	for _, d := range desks {
		sum.Connects += d.connects.Load()
		sum.Drops += d.drops.Load()
		sum.Close1012 += d.close1012.Load()
		sum.Acked += d.acks.Load()
		sum.Errors += d.errors.Load()
	}
	for _, ch := range chans {
		sum.Sent += int64(len(ch.sends))
	}
	if sum.Errors > 0 {
		fail("%d error messages to desks that sent only valid commands", sum.Errors)
	}

	// Frames: every 1 s window a node was up holds MinWindowFrames, the
	// core's outage included (the node refreshes the last frame).
	for _, nd := range c.nodes {
		var down []event
		for _, ev := range events {
			if ev.what == "node "+nd.name {
				down = append(down, ev)
			}
		}
		minN := windows(nd.frames.arrivals(), start, end, down)
		sum.MinWindow = append(sum.MinWindow, minN)
		if minN < cfg.MinWindowFrames {
			fail("%s: a 1 s window while it was up held %d frames (want ≥ %d)", nd.name, minN, cfg.MinWindowFrames)
		}
	}

	// Memory: what was never killed is back near its baseline.
	sum.EdgeRSS1, sum.NodeRSS1 = rss(c.edges[len(c.edges)-1].proc), rss(c.nodes[len(c.nodes)-1].proc)
	if sum.EdgeRSS1-sum.EdgeRSS0 > cfg.RSSGrowth {
		fail("edge RSS grew from %.1f to %.1f MiB", sum.EdgeRSS0, sum.EdgeRSS1)
	}
	if sum.NodeRSS1-sum.NodeRSS0 > cfg.RSSGrowth {
		fail("node RSS grew from %.1f to %.1f MiB", sum.NodeRSS0, sum.NodeRSS1)
	}

	// The run exercised what it checks.
	if sum.Acked == 0 {
		fail("no command was acknowledged: nothing was checked")
	}
	if sum.Drops == 0 {
		fail("no desk lost its link: the edge and core kills were not seen")
	}
	if sum.Close1012 == 0 {
		fail("no desk was closed with 1012 when the core went away")
	}

	// Every process stops cleanly.
	for _, ed := range c.edges {
		if code, err := ed.proc.Stop(10 * time.Second); err != nil || code != 0 {
			fail("edge stop: exit %d, %v", code, err)
		}
	}
	for _, nd := range c.nodes {
		if code, err := nd.proc.Stop(10 * time.Second); err != nil || code != 0 {
			fail("%s stop: exit %d, %v", nd.name, code, err)
		}
	}
	if code, err := c.core.Stop(10 * time.Second); err != nil || code != 0 {
		fail("core stop: exit %d, %v", code, err)
	}
	if len(sum.Violations) > 0 {
		return sum, fmt.Errorf("%d invariant violations", len(sum.Violations))
	}
	return sum, nil
}

func lastLevel(ch *channelLog, i int) any {
	if i < 0 {
		return "none"
	}
	return ch.sends[i].level
}

// resumeTime waits until node n's pty shows the core's current levels and
// returns how long after since that was.
func resumeTime(c *cluster, n *node, since time.Time, d time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		vals, err := levels(c.core, n.universe)
		if err == nil {
			f := n.frames.latest()
			if f.At.After(since) && sameLevels(f.Values[:], vals) {
				return f.At.Sub(since), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("its pty never showed the current levels within %v", d)
}

// coreResume waits until the node of d's first channel puts the restarted
// core's levels on its pty, in a frame after since, and returns when that
// was, counted from since (the restart).
func coreResume(c *cluster, d *desk, since time.Time, bound time.Duration) (time.Duration, error) {
	ch := d.channels[0]
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		vals, err := levels(c.core, ch.universe)
		if err == nil {
			f := c.nodes[ch.universe-1].frames.latest()
			if f.At.After(since) && sameLevels(f.Values[:], vals) {
				return f.At.Sub(since), nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("no frame with the core's levels on node %d within %v", ch.universe, bound)
}

func sameLevels(frame []byte, vals []int) bool {
	for i, v := range vals {
		if int(frame[i]) != v {
			return false
		}
	}
	return true
}

// waitPTY waits until node n's pty carries vals on the owned channels.
func waitPTY(n *node, vals []int, chans []*channelLog, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f := n.frames.latest()
		ok := true
		for _, ch := range chans {
			if ch.universe == n.universe && int(f.Values[ch.channel-1]) != vals[ch.channel-1] {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s's pty never carried the final levels within %v", n.name, d)
}

// windows returns the fewest frames in a 1 s window of [start, end) that
// does not overlap down (from the kill to 1.5 s after the restart).
func windows(at []time.Time, start, end time.Time, down []event) int {
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	minN := -1
	for w := start; w.Add(time.Second).Before(end); w = w.Add(time.Second) {
		skip := false
		for _, ev := range down {
			if w.Before(ev.back.Add(1500*time.Millisecond)) && w.Add(time.Second).After(ev.killed) {
				skip = true
			}
		}
		if skip {
			continue
		}
		i := sort.Search(len(at), func(i int) bool { return !at[i].Before(w) })
		j := sort.Search(len(at), func(i int) bool { return !at[i].Before(w.Add(time.Second)) })
		if minN < 0 || j-i < minN {
			minN = j - i
		}
	}
	return minN
}

// WriteTable prints the summary.
func (s *Summary) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "desks %d, channels %d: connects %d, links lost %d, closed 1012 %d\n", s.Desks, s.Channels, s.Connects, s.Drops, s.Close1012)
	fmt.Fprintf(w, "commands sent %d, acknowledged %d, errors %d\n", s.Sent, s.Acked, s.Errors)
	fmt.Fprintf(w, "acknowledged within the save window before the core's kill -9 and rolled back: %d channels\n", s.LostInSaveWindow)
	var rs []string
	for _, d := range s.NodeResume {
		rs = append(rs, d.Round(time.Millisecond).String())
	}
	fmt.Fprintf(w, "node restart → current levels on its pty: %s; core restart → levels on a node: %v\n", strings.Join(rs, ", "), s.CoreResume.Round(time.Millisecond))
	fmt.Fprintf(w, "fewest frames in a 1 s window per node (own outage excluded): %v\n", s.MinWindow)
	fmt.Fprintf(w, "RSS warm-up → end: edge %.1f → %.1f MiB, node %.1f → %.1f MiB\n", s.EdgeRSS0, s.EdgeRSS1, s.NodeRSS0, s.NodeRSS1)
	if len(s.Violations) == 0 {
		fmt.Fprintln(w, "PASS: every invariant held")
		return
	}
	fmt.Fprintf(w, "FAIL: %d violations\n", len(s.Violations))
	for _, v := range s.Violations {
		fmt.Fprintln(w, "  "+v)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// secret is the cluster secret of every process of the run.
const secret = "chaos-cluster"

// cluster is the processes of one run: a core, nodes (one per universe,
// each with a pty output) and edges that serve the desks. Its methods
// are called from the run's goroutine; the frame logs are read by their
// own goroutines.
type cluster struct {
	bin       string
	dir       string
	universes int
	core      *testkit.Process
	coreAddr  string // the core's cluster address, kept across restarts
	nodes     []*node
	edges     []*edge
}

// node is an output node process and the pty it drives.
type node struct {
	name     string
	universe int
	pty      *testkit.PTY
	proc     *testkit.Process
	frames   *frameLog
}

// edge is an edge process; addr is kept across restarts.
type edge struct {
	proc *testkit.Process
	addr string
}

// frameLog keeps the arrival time and levels of every frame of one pty.
type frameLog struct {
	mu     sync.Mutex
	at     []time.Time
	last   testkit.Frame
	frames int
}

func (l *frameLog) add(f testkit.Frame) {
	l.mu.Lock()
	l.at = append(l.at, f.At)
	l.last = f
	l.frames++
	l.mu.Unlock()
}

// latest returns the newest frame.
func (l *frameLog) latest() testkit.Frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// arrivals returns the arrival times so far.
func (l *frameLog) arrivals() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.at...)
}

// startCluster starts the core, then a node per universe, then edges.
func startCluster(bin, dir string, universes, edges int) (*cluster, error) {
	c := &cluster{bin: bin, dir: dir, universes: universes}
	if err := c.startCore(); err != nil {
		return nil, err
	}
	for u := 1; u <= universes; u++ {
		pty, err := testkit.NewPTY()
		if err != nil {
			return nil, fmt.Errorf("pty: %w", err)
		}
		n := &node{name: fmt.Sprintf("node%d", u), universe: u, pty: pty, frames: &frameLog{}}
		go func() {
			for f := range pty.Frames() {
				n.frames.add(f)
			}
		}()
		c.nodes = append(c.nodes, n)
		if err := c.startNode(n); err != nil {
			return nil, err
		}
	}
	for range edges {
		e := &edge{addr: "127.0.0.1:0"}
		c.edges = append(c.edges, e)
		if err := c.startEdge(e); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *cluster) startCore() error {
	listen := c.coreAddr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	p, err := testkit.Start(c.bin, "--universes", fmt.Sprint(c.universes), "--state", filepath.Join(c.dir, "state.json"),
		"--cluster", listen, "--cluster-secret", secret, "--conn-rate", "0")
	if err != nil {
		return fmt.Errorf("core: %w", err)
	}
	c.core = p
	if c.coreAddr == "" {
		addr, err := waitLogField(p, "cluster", 20*time.Second)
		if err != nil {
			return fmt.Errorf("core cluster address: %w", err)
		}
		c.coreAddr = addr
	}
	return nil
}

func (c *cluster) startNode(n *node) error {
	p, err := testkit.StartNode(c.bin, "--core", c.coreAddr, "--cluster-secret", secret, "--name", n.name,
		"--output", fmt.Sprintf("%d=enttec-pro:%s", n.universe, n.pty.Path))
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	n.proc = p
	return nil
}

func (c *cluster) startEdge(e *edge) error {
	p, err := testkit.Start(c.bin, "edge", "--core", c.coreAddr, "--listen", e.addr,
		"--cluster", "127.0.0.1:0", "--cluster-secret", secret, "--conn-rate", "0")
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	e.proc, e.addr = p, p.Addr
	return nil
}

// stop ends every process (SIGTERM, then kill).
func (c *cluster) stop() {
	for _, e := range c.edges {
		if e.proc != nil {
			_, _ = e.proc.Stop(5 * time.Second)
		}
	}
	for _, n := range c.nodes {
		if n.proc != nil {
			_, _ = n.proc.Stop(5 * time.Second)
		}
		_ = n.pty.Close()
	}
	if c.core != nil {
		_, _ = c.core.Stop(5 * time.Second)
	}
}

// kill ends p with SIGKILL and waits for it.
func kill(p *testkit.Process) error {
	if err := p.Signal(9); err != nil {
		return err
	}
	_, err := p.Wait(10 * time.Second)
	return err
}

// waitLogField waits until p logged a string field and returns it.
func waitLogField(p *testkit.Process, field string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, m := range p.Logs() {
			if v, ok := m[field].(string); ok && v != "" {
				return v, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("no %q in the logs within %v", field, d)
}

// levels reads universe u's levels from p's plain HTTP API.
func levels(p *testkit.Process, u int) ([]int, error) {
	cl := http.Client{Timeout: 5 * time.Second}
	res, err := cl.Get(p.URL(fmt.Sprintf("/api/v1/universes/%d", u)))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET universe %d: %s", u, res.Status)
	}
	var st struct {
		Values []int `json:"values"`
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	if len(st.Values) != 512 {
		return nil, fmt.Errorf("state of universe %d has %d values", u, len(st.Values))
	}
	return st.Values, nil
}

// rss returns p's resident set size in MiB, or -1.
func rss(p *testkit.Process) float64 {
	b, err := p.RSS()
	if err != nil {
		return -1
	}
	return float64(b) / (1 << 20)
}

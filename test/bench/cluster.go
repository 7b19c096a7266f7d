package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// clusterSecret is the cluster secret of the cluster scenario.
const clusterSecret = "bench"

// clusterConns are the batched throughput points through an edge.
var clusterConns = []int{1, 8}

// ClusterRun is one run of the cluster scenario: a core, one output node
// and one edge, all on this machine; desks on the edge, the frames on the
// node's pty.
type ClusterRun struct {
	// Latency is a probe's command written to the edge → the first frame
	// on the node's pty carrying it (RT recorder), idle.
	Latency Dist `json:"latency_edge_to_node"`
	// Points are the batched client's acknowledged commands per second
	// through the edge, at clusterConns connections.
	Points []ThroughputPoint `json:"batched_through_edge"`
}

// startClusterServer starts a core with one universe per reader, an
// output node driving each universe's pty and an edge, and waits for
// every universe's first frame on the node. The server's process is the
// edge (desks, /healthz, /metrics); the core and the node stop with it.
func startClusterServer(bin string, readers []frameReader, edgeFlags ...string) (*server, error) {
	s := &server{http: &http.Client{Timeout: httpTimeout}}
	core, err := testkit.Start(bin, "--universes", strconv.Itoa(len(readers)), "--rate", strconv.Itoa(rate),
		"--cluster", "127.0.0.1:0", "--cluster-secret", clusterSecret)
	if err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	s.others = append(s.others, core)
	coreAddr, err := logField(core, "cluster")
	if err != nil {
		s.close()
		return nil, err
	}
	nodeArgs := []string{"--core", coreAddr, "--cluster-secret", clusterSecret, "--name", "bench", "--rate", strconv.Itoa(rate)}
	for i, kind := range readers {
		path, err := s.attach(kind)
		if err != nil {
			s.close()
			return nil, err
		}
		nodeArgs = append(nodeArgs, "--output", fmt.Sprintf("%d=enttec-pro:%s", i+1, path))
	}
	node, err := testkit.StartNode(bin, nodeArgs...)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("node: %w", err)
	}
	s.others = append(s.others, node)
	edge, err := testkit.Start(bin, append([]string{"edge", "--core", coreAddr, "--cluster", "127.0.0.1:0",
		"--cluster-secret", clusterSecret}, edgeFlags...)...)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("edge: %w", err)
	}
	s.p = edge
	if err := s.awaitHealthy(); err != nil {
		s.close()
		return nil, fmt.Errorf("edge: %w", err)
	}
	for _, l := range s.logs {
		if err := awaitFirstFrame(l); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// logField waits up to firstFrame for a log line of p with a string
// field and returns its value (the core logs its cluster address just
// after it starts listening).
func logField(p *testkit.Process, field string) (string, error) {
	deadline := time.Now().Add(firstFrame)
	for time.Now().Before(deadline) {
		for _, m := range p.Logs() {
			if v, ok := m[field].(string); ok && v != "" {
				return v, nil
			}
		}
		time.Sleep(settlePoll / 10)
	}
	return "", fmt.Errorf("no %q in the logs within %v", field, firstFrame)
}

// clusterScenario probes universe 1 through the edge while idle, then
// runs the batched throughput client through it.
func clusterScenario(bin string, sz sizes) (ClusterRun, error) {
	var r ClusterRun
	s, err := startClusterServer(bin, []frameReader{recorderProcess}, "--conn-rate", "0")
	if err != nil {
		return r, err
	}
	defer s.close()
	p, err := dialProbe(s.url(), false)
	if err != nil {
		return r, err
	}
	got, err := p.loop([]probeTarget{{universe: rtUniverse, log: s.logs[0]}}, sz.phase, nil)
	p.close()
	if err != nil {
		return r, fmt.Errorf("latency: %w", err)
	}
	r.Latency = got[0].frameDist()
	if err := s.waitConnections(0); err != nil {
		return r, err
	}
	batches := commandBatches(rand.New(rand.NewPCG(tputSeed, tputSeed)))
	for _, n := range clusterConns {
		pt, _, err := batchedPoint(s, n, batches, sz)
		if err != nil {
			return r, fmt.Errorf("%d connections: %w", n, err)
		}
		r.Points = append(r.Points, pt)
	}
	return r, nil
}

// medianCluster takes the median of each figure over runs.
func medianCluster(runs []ClusterRun) ClusterRun {
	var r ClusterRun
	var lat []Dist
	for _, run := range runs {
		lat = append(lat, run.Latency)
	}
	r.Latency = medianDist(lat)
	for i := range clusterConns {
		var pts []ThroughputPoint
		for _, run := range runs {
			if i < len(run.Points) {
				pts = append(pts, run.Points[i])
			}
		}
		if len(pts) > 0 {
			r.Points = append(r.Points, medianPoint(pts))
		}
	}
	return r
}

// clusterFigures are the cluster rows, each naming the all-in-one figure
// of the same run when the latency and throughput scenarios ran. They
// have no target of their own.
func clusterFigures(r *Report) []Figure {
	c := r.Cluster
	measure := "latency send→node pty through an edge, idle (RT recorder)"
	if len(r.LatencyRuns) > 0 && r.Latency.Idle.RT.N > 0 {
		measure += fmt.Sprintf("; all-in-one p50 %.2f, p99 %.2f ms", r.Latency.Idle.RT.P50, r.Latency.Idle.RT.P99)
	}
	out := []Figure{distRow(measure, c.Latency, "", nil)}
	for _, pt := range c.Points {
		measure := fmt.Sprintf("throughput through an edge, batched client, %d conn", pt.Conns)
		for _, a := range r.Throughput.Points {
			if a.Conns == pt.Conns && a.CommandsPerSec > 0 {
				measure += fmt.Sprintf("; all-in-one %.0fk/s: %.2f×", a.CommandsPerSec/1000, pt.CommandsPerSec/a.CommandsPerSec)
			}
		}
		out = append(out, Figure{Measure: measure, P50: perSec(pt)})
	}
	return out
}

// awaitHealthy waits up to firstFrame for the server's /healthz to answer
// 200: an edge answers 503 until it has joined its core.
func (s *server) awaitHealthy() error {
	deadline := time.Now().Add(firstFrame)
	for {
		resp, err := s.http.Get(s.p.URL("/healthz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/healthz not 200 within %v (last: %v)", firstFrame, err)
		}
		time.Sleep(settlePoll / 10)
	}
}

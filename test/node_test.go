package test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/test/testkit"
)

// Output nodes (dmxd node) with real processes: a core with desks, nodes
// whose outputs are ptys, kill -9 and restarts. Every wait is a bounded
// poll for a state; the times between an event and what it causes are
// measured and logged (go test -v -run Node ./test/), never asserted.

const clusterSecret = "test-secret"

// clusterWait bounds every wait of these tests: a backstop, not a claim.
const clusterWait = 15 * time.Second

// startClusterProc starts a dmxd process of a cluster and checks at the
// end that it exits 0 after SIGTERM and logged no error — unless the test
// killed it, or waited for it to exit, itself. protoactor's own error
// lines (component "protoactor": a link to a killed peer broke) are
// expected there.
func startClusterProc(t *testing.T, start func() (*testkit.Process, error)) *testkit.Process {
	t.Helper()
	p, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-p.Exited():
			return // killed or awaited by the test
		default:
		}
		code, err := p.Stop(10 * time.Second)
		if err != nil || code != 0 {
			t.Errorf("stop: exit status %d, %v; want 0", code, err)
		}
		for _, l := range p.Logs() {
			if (l["level"] == "error" || l["level"] == "panic" || l["level"] == "fatal") && l["component"] != "protoactor" {
				t.Errorf("logged %v", l)
			}
		}
		if t.Failed() {
			for _, l := range p.RawLogs() {
				t.Log(l)
			}
		}
	})
	return p
}

// startCore starts a core serving nodes on cluster (HOST:PORT; port 0
// picks one) and returns it with its cluster address.
func startCore(t *testing.T, cluster string, args ...string) (*testkit.Process, string) {
	t.Helper()
	args = append([]string{"--cluster", cluster, "--cluster-secret", clusterSecret}, args...)
	p := startClusterProc(t, func() (*testkit.Process, error) { return testkit.Start(binary, args...) })
	var addr string
	waitFor(t, "the core's cluster address in its log", func() bool {
		for _, l := range p.Logs() {
			if a, ok := l["cluster"].(string); ok {
				addr = a
				return true
			}
		}
		return false
	})
	return p, addr
}

// startNode starts an output node of the core at core.
func startNode(t *testing.T, core, name string, args ...string) *testkit.Process {
	t.Helper()
	args = append([]string{"--core", core, "--name", name}, args...)
	if !strings.Contains(strings.Join(args, " "), "--cluster-secret") {
		args = append(args, "--cluster-secret", clusterSecret)
	}
	return startClusterProc(t, func() (*testkit.Process, error) { return testkit.StartNode(binary, args...) })
}

// kill9 kills p with SIGKILL and waits until it is gone.
func kill9(t *testing.T, p *testkit.Process) {
	t.Helper()
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(clusterWait); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing after clusterWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, clusterWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// healthOutput is one output of /healthz.
type healthOutput struct {
	Universe int    `json:"universe"`
	Output   string `json:"output"`
	Target   string `json:"target"`
	Node     string `json:"node"`
	State    string `json:"state"`
	Frames   int64  `json:"frames"`
	Error    string `json:"error"`
}

// healthOutputs returns /healthz's status code and outputs.
func healthOutputs(t *testing.T, p *testkit.Process) (int, []healthOutput) {
	t.Helper()
	resp, err := http.Get(p.URL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Universes []healthOutput `json:"universes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h.Universes
}

// waitNodeOutput polls /healthz until the output of node with target
// (on the node) is in state, and returns it.
func waitNodeOutput(t *testing.T, p *testkit.Process, node, target, state string) healthOutput {
	t.Helper()
	var got healthOutput
	waitFor(t, fmt.Sprintf("output %s:%s %s in /healthz", node, target, state), func() bool {
		_, outs := healthOutputs(t, p)
		for _, o := range outs {
			if o.Node == node && o.Target == node+":"+target && o.State == state {
				got = o
				return true
			}
		}
		return false
	})
	return got
}

// outputMessage waits for the desk's output message about target in
// state, and returns when it came.
func outputMessage(t *testing.T, d *testkit.Desk, target, state string) time.Time {
	t.Helper()
	if _, err := d.Until(clusterWait, func(m testkit.Message) bool {
		if m.Type != "output" {
			return false
		}
		var o struct {
			Target string `json:"target"`
		}
		_ = json.Unmarshal([]byte(m.Raw), &o)
		return o.Target == target && m.State == state
	}); err != nil {
		t.Fatalf("output message %s %s: %v", target, state, err)
	}
	return time.Now()
}

// quietDrain waits until nobody writes to pty (the stream is at rest on
// a frame boundary) and discards the frames decoded so far.
func quietDrain(t *testing.T, pty *testkit.PTY) {
	t.Helper()
	waitFor(t, "a quiet pty", func() bool {
		b1, f1 := pty.Stream()
		time.Sleep(20 * time.Millisecond)
		b2, f2 := pty.Stream()
		return b1 == b2 && f1 == f2 && b2 == f2*dmx.EnttecFrameSize
	})
	pty.Drain()
}

// levels returns a predicate for frames whose first channels are want.
func levels(want ...byte) func(testkit.Frame) bool {
	return func(f testkit.Frame) bool {
		for i, v := range want {
			if f.Values[i] != v {
				return false
			}
		}
		return true
	}
}

// logged reports whether p logged a line with message msg.
func logged(p *testkit.Process, msg string) bool {
	for _, l := range p.Logs() {
		if l["message"] == msg {
			return true
		}
	}
	return false
}

// TestNodeLosesAndRegainsItsCore runs a core with a desk and a node with a
// pty output through the failures of the issue: a desk's level reaches
// the node's pty; kill -9 of the node makes the output down for the desk
// and in /healthz with the levels kept; the restarted node gets the
// current levels and the desk hears it is up; kill -9 of the core leaves
// the node refreshing the last frame; the core restarted with the same
// state file takes the node back and its frames follow new commands.
func TestNodeLosesAndRegainsItsCore(t *testing.T) {
	state := filepath.Join(t.TempDir(), "dmxd.json")
	core, addr := startCore(t, "127.0.0.1:0", "--state", state)
	pty := newPTY(t)
	target := pty.Path
	nodeArgs := []string{"--output", "1=enttec-pro:" + target}
	node := startNode(t, addr, "stage", nodeArgs...)
	waitNodeOutput(t, core, "stage", target, "up")
	d := dial(t, core)

	// A desk's level reaches the node's pty.
	sent := time.Now()
	if err := d.Send(`{"dmx": {"1": 200}}`); err != nil {
		t.Fatal(err)
	}
	f, err := pty.WaitFrame(clusterWait, levels(200))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: desk command to the node's pty: %v", f.At.Sub(sent))

	// kill -9 the node: down for the desk and /healthz, levels kept.
	killed := time.Now()
	kill9(t, node)
	down := outputMessage(t, d, "stage:"+target, "down")
	t.Logf("measured: node killed to the desk's output down: %v", down.Sub(killed))
	h := waitNodeOutput(t, core, "stage", target, "down")
	if code, _ := healthOutputs(t, core); code != http.StatusServiceUnavailable || h.Output != "enttec-pro" || !strings.Contains(h.Error, "stage") {
		t.Errorf("/healthz %d with the node's output %+v; want 503, enttec-pro and an error naming the node", code, h)
	}
	if st := getState(t, d, 1); st.Values[0] != 200 {
		t.Errorf("channel 1 = %d after the node was lost, want 200 kept", st.Values[0])
	}
	if err := d.Send(`{"dmx": {"2": 77}, "id": "while-down"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Until(clusterWait, func(m testkit.Message) bool { return m.Type == "ack" }); err != nil {
		t.Fatal(err)
	}

	// Restart the node: the pty gets the current levels, the desk hears
	// it is up.
	quietDrain(t, pty)
	restarted := time.Now()
	node = startNode(t, addr, "stage", nodeArgs...)
	first, err := pty.WaitFrame(clusterWait, func(testkit.Frame) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if first.Values[0] != 200 || first.Values[1] != 77 {
		t.Errorf("first frame of the restarted node: 1=%d 2=%d, want 200 and 77", first.Values[0], first.Values[1])
	}
	up := outputMessage(t, d, "stage:"+target, "up")
	t.Logf("measured: node restarted (process start) to its first frame %v, to the desk's output up %v", first.At.Sub(restarted), up.Sub(restarted))
	waitNodeOutput(t, core, "stage", target, "up")

	// kill -9 the core: the node keeps refreshing the last frame.
	waitFor(t, "the levels in the state file", func() bool { return savedLevels(state, 200, 77) })
	coreKilled := time.Now()
	kill9(t, core)
	waitFor(t, "the node's core lost line", func() bool { return logged(node, "core lost: the outputs keep refreshing the last frame") })
	t.Logf("measured: core killed to the node's core lost: %v", time.Since(coreKilled))
	noticed := time.Now()
	for n := 0; n < 44; {
		f, err := pty.WaitFrame(clusterWait, func(f testkit.Frame) bool { return f.At.After(noticed) })
		if err != nil {
			t.Fatalf("%d frames after the core was lost: %v", n, err)
		}
		if f.Values[0] != 200 || f.Values[1] != 77 {
			t.Fatalf("frame after the core was lost: 1=%d 2=%d, want the last frame's 200 and 77", f.Values[0], f.Values[1])
		}
		n++
	}

	// Restart the core on the same address with the same state file: the
	// node joins again and follows new commands.
	coreStarted := time.Now()
	core2, _ := startCore(t, addr, "--state", state)
	waitNodeOutput(t, core2, "stage", target, "up")
	t.Logf("measured: core restarted (process start) to the node's output up in /healthz: %v", time.Since(coreStarted))
	e := dial(t, core2)
	if st := getState(t, e, 1); st.Values[0] != 200 || st.Values[1] != 77 {
		t.Fatalf("restored levels 1=%d 2=%d, want 200 and 77", st.Values[0], st.Values[1])
	}
	sent = time.Now()
	if err := e.Send(`{"dmx": {"1": 10}}`); err != nil {
		t.Fatal(err)
	}
	f, err = pty.WaitFrame(clusterWait, levels(10, 77))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: desk command to the node's pty after the core's restart: %v", f.At.Sub(sent))
}

// savedLevels reports whether the state file holds the levels want in
// universe 1's first channels.
func savedLevels(path string, want ...int) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var f struct {
		Universes []struct {
			Universe int   `json:"universe"`
			Values   []int `json:"values"`
		} `json:"universes"`
	}
	if json.Unmarshal(b, &f) != nil {
		return false
	}
	for _, u := range f.Universes {
		if u.Universe == 1 && len(u.Values) >= len(want) {
			for i, v := range want {
				if u.Values[i] != v {
					return false
				}
			}
			return true
		}
	}
	return false
}

// freePort returns a port of 127.0.0.1 nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestTwoNodes: two nodes, started before their core, feed two universes
// (one node has outputs on both); each pty carries its universe's levels;
// /healthz names every node output; a node's unplugged device makes its
// output down for the desk.
func TestTwoNodes(t *testing.T) {
	addr := freePort(t)
	a, b, c := newPTY(t), newPTY(t), newPTY(t)
	startNode(t, addr, "left", "--output", "1=enttec-pro:"+a.Path)
	right := startNode(t, addr, "right", "--output", "2=enttec-pro:"+b.Path, "--output", "1=enttec-pro:"+c.Path)
	waitFor(t, "the right node waiting for its core", func() bool {
		return logged(right, "the core does not answer yet: asking again every 250ms")
	})
	core, _ := startCore(t, addr, "--universes", "2")
	waitNodeOutput(t, core, "left", a.Path, "up")
	waitNodeOutput(t, core, "right", b.Path, "up")
	waitNodeOutput(t, core, "right", c.Path, "up")
	d := dial(t, core)
	if err := d.Send(`{"dmx": {"1": 11, "3": 33}, "universe": 1}`); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(`{"dmx": {"1": 22, "3": 44}, "universe": 2}`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pty  *testkit.PTY
		want []byte
	}{
		{"left, universe 1", a, []byte{11, 0, 33}},
		{"right, universe 2", b, []byte{22, 0, 44}},
		{"right, universe 1", c, []byte{11, 0, 33}},
	} {
		if _, err := tc.pty.WaitFrame(clusterWait, levels(tc.want...)); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// In universe order; within a universe the nodes' outputs follow in
	// the order the nodes joined, which here is a race between the two.
	_, outs := healthOutputs(t, core)
	var nodes []string
	for i, o := range outs {
		if i > 0 && o.Universe < outs[i-1].Universe {
			t.Errorf("/healthz lists universe %d after %d", o.Universe, outs[i-1].Universe)
		}
		if o.Node != "" {
			nodes = append(nodes, fmt.Sprintf("%d=%s:%s", o.Universe, o.Output, o.Target))
		}
	}
	slices.Sort(nodes)
	want := []string{"1=enttec-pro:left:" + a.Path, "1=enttec-pro:right:" + c.Path, "2=enttec-pro:right:" + b.Path}
	if !slices.Equal(nodes, want) {
		t.Errorf("/healthz node outputs %v, want %v", nodes, want)
	}
	// The left node's device is unplugged: its output is down for the
	// desk, the node itself stays.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	outputMessage(t, d, "left:"+a.Path, "down")
	waitNodeOutput(t, core, "left", a.Path, "down")
}

// TestNodeWrongSecret: the core refuses a node with another secret; the
// node says so and exits 1, and the core lists none of its outputs.
func TestNodeWrongSecret(t *testing.T) {
	core, addr := startCore(t, "127.0.0.1:0")
	node := startNode(t, addr, "intruder", "--output", "1=null", "--cluster-secret", "not-the-secret")
	code, err := node.Wait(clusterWait)
	if err != nil || code != 1 {
		t.Fatalf("node exit status %d, %v; want 1", code, err)
	}
	if !logged(node, "the core refuses this node") {
		t.Errorf("the node did not log that the core refuses it:\n%s", strings.Join(node.RawLogs(), "\n"))
	}
	_, outs := healthOutputs(t, core)
	for _, o := range outs {
		if o.Node != "" {
			t.Errorf("/healthz lists %+v of a node the core refused", o)
		}
	}
}

// TestNodeFrozen stops a node's process (SIGSTOP: its connections stay
// open but nothing answers, as on a network cut): the core finds it lost
// and sends it nothing more, and the gRPC keepalive ends the link; once
// the node runs again (SIGCONT) its output is up and its pty gets the
// level set meanwhile.
func TestNodeFrozen(t *testing.T) {
	core, addr := startCore(t, "127.0.0.1:0")
	pty := newPTY(t)
	node := startNode(t, addr, "frozen", "--output", "1=enttec-pro:"+pty.Path)
	waitNodeOutput(t, core, "frozen", pty.Path, "up")
	d := dial(t, core)
	if err := d.Send(`{"dmx": {"1": 50}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := pty.WaitFrame(clusterWait, levels(50)); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := node.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Signal(syscall.SIGCONT) }) // so that it can stop
	down := outputMessage(t, d, "frozen:"+pty.Path, "down")
	t.Logf("measured: node stopped (SIGSTOP) to the desk's output down: %v", down.Sub(stopped))
	for i := 1; i <= 100; i++ { // a stream of changes the lost node must not be sent
		if err := d.Send(fmt.Sprintf(`{"dmx": {"1": %d}}`, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	getState(t, d, 1) // every change applied
	// As after a network cut, the gRPC keepalive ends the core's link to
	// the node before it runs again.
	waitFor(t, "the core's link to the stopped node ended", func() bool {
		for _, l := range core.Logs() {
			if l["component"] == "protoactor" && l["address"] == node.Addr && l["message"] == "EndpointWatcher handling terminated" {
				return true
			}
		}
		return false
	})
	t.Logf("measured: node stopped to the end of the core's link to it: %v", time.Since(stopped))
	resumed := time.Now()
	if err := node.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	f, err := pty.WaitFrame(clusterWait, levels(200))
	if err != nil {
		t.Fatal(err)
	}
	up := outputMessage(t, d, "frozen:"+pty.Path, "up")
	t.Logf("measured: node resumed (SIGCONT) to the newest level on its pty %v, to the desk's output up %v", f.At.Sub(resumed), up.Sub(resumed))
}

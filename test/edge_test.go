package test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/test/testkit"
)

// Desk edges (dmxd edge, issue 15): a core with a pty output and two edges,
// each a real process on 127.0.0.1.

const edgeSecret = "edge-test-secret"

// startCluster starts a dmxd process of a cluster with args (see
// startClusterProc).
func startCluster(t *testing.T, args ...string) *testkit.Process {
	t.Helper()
	return startClusterProc(t, func() (*testkit.Process, error) { return testkit.Start(binary, args...) })
}

// startEdge starts an edge of core and waits until it admits desks.
func startEdge(t *testing.T, core string) *testkit.Process {
	t.Helper()
	e := startCluster(t, "edge", "--core", core, "--cluster-secret", edgeSecret)
	waitHealth(t, e, http.StatusOK, 10*time.Second)
	return e
}

// sendAck sends a command with an id and waits for its ack.
func sendAck(t *testing.T, d *testkit.Desk, cmd string) {
	t.Helper()
	if err := d.Send(cmd); err != nil {
		t.Fatal(err)
	}
	if m, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" || m.Type == "error" }); err != nil || m.Type != "ack" {
		t.Fatalf("%s: answer %s, %v; want an ack", cmd, m.Raw, err)
	}
}

// waitLevel reads updates (and states) on d until channel ch is at level.
func waitLevel(t *testing.T, d *testkit.Desk, ch, level int) {
	t.Helper()
	if _, err := d.Until(5*time.Second, func(m testkit.Message) bool {
		switch m.Type {
		case "update":
			v, ok := m.Changes[strconv.Itoa(ch)]
			return ok && v == level
		case "state":
			return len(m.Values) >= ch && m.Values[ch-1] == level
		}
		return false
	}); err != nil {
		t.Fatalf("channel %d never reached %d: %v", ch, level, err)
	}
}

// TestEdges: desks on two edges see each other's changes and the core's
// output carries both; plain HTTP works through an edge; an edge killed
// -9 releases its desk's HTP level and flash on the core; a core killed
// -9 closes the edges' desks with 1012 after an error core_unavailable,
// the edges refuse desks while it is away, and the restarted core (same
// state file) serves reconnecting desks with the levels kept.
func TestEdges(t *testing.T) {
	pty := newPTY(t)
	coreAddr := freePort(t)
	state := filepath.Join(t.TempDir(), "state.json")
	coreArgs := []string{"--output", "1=enttec-pro:" + pty.Path, "--merge", "htp", "--state", state,
		"--cluster", coreAddr, "--cluster-secret", edgeSecret}
	core := startCluster(t, coreArgs...)
	edgeA, edgeB := startEdge(t, coreAddr), startEdge(t, coreAddr)

	// The edges' /healthz reports the core's output and the link.
	h := waitHealth(t, edgeA, http.StatusOK, 5*time.Second)
	if link, _ := h["core"].(map[string]any); link["state"] != "up" || link["address"] != coreAddr {
		t.Errorf("edge /healthz core = %v, want up at %s", h["core"], coreAddr)
	}
	if us, _ := h["universes"].([]any); len(us) != 1 || us[0].(map[string]any)["output"] != "enttec-pro" {
		t.Errorf("edge /healthz universes = %v, want the core's enttec-pro output", h["universes"])
	}

	dA, dB := dial(t, edgeA), dial(t, edgeB)
	// A second desk on edge B follows the output (monitor): the edge's
	// desks get broadcasts through one fan-out per edge.
	dM := dial(t, edgeB)
	sendAck(t, dM, `{"monitor":true,"id":"m"}`)
	// (Each desk waits for the other's change before it sends: the
	// acks it waits for would pass the updates.)
	sendAck(t, dA, `{"dmx":{"1":100},"id":"a1"}`)
	waitLevel(t, dB, 1, 100)
	if _, err := dM.Until(5*time.Second, func(m testkit.Message) bool {
		return m.Type == "monitor" && m.Changes["1"] == 100
	}); err != nil {
		t.Fatalf("the monitoring desk never saw the output change: %v", err)
	}
	sendAck(t, dB, `{"dmx":{"2":150},"id":"b1"}`)
	waitLevel(t, dA, 2, 150)
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 100 && f.Values[1] == 150 }); err != nil {
		t.Fatalf("the core's output never carried both desks' levels: %v", err)
	}

	// Plain HTTP through an edge.
	resp, err := http.Post(edgeB.URL("/api/v1/universes/1"), "application/json", strings.NewReader(`{"dmx":{"3":33},"id":7}`))
	if err != nil {
		t.Fatal(err)
	}
	var ok struct {
		OK bool `json:"ok"`
		ID int  `json:"id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !ok.OK || ok.ID != 7 {
		t.Fatalf("POST through the edge: %d %+v", resp.StatusCode, ok)
	}
	waitLevel(t, dA, 3, 33)

	// Edge A's desk flashes channel 10; edge A is killed: its level and
	// flash go from the core's output.
	sendAck(t, dA, `{"flash":[10],"id":"f"}`)
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[9] == 255 }); err != nil {
		t.Fatalf("flash never showed: %v", err)
	}
	if err := edgeA.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool {
		return f.Values[0] == 0 && f.Values[9] == 0 && f.Values[1] == 150 && f.Values[2] == 33
	}); err != nil {
		t.Fatalf("edge killed: its desk's level and flash stayed on the output: %v", err)
	}
	t.Logf("edge killed -9: its desk released on the core's output after %v", time.Since(killed).Round(time.Millisecond))
	waitLevel(t, dB, 1, 0)

	// The state file holds the levels before the core is killed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ss, err := dmx.LoadState(state)
		if err == nil && len(ss) == 1 && ss[0].Values[1] == 150 && ss[0].Values[2] == 33 && ss[0].Values[0] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state file never held the levels: %v %v", ss, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The core is killed: desk B hears why, then 1012.
	if err := core.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = time.Now()
	m, err := dB.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "error" })
	if err != nil || m.Code != "core_unavailable" {
		t.Fatalf("desk after the core was killed: %s, %v; want an error core_unavailable", m.Raw, err)
	}
	loadSchemas(t).checkServerMessage(t, m.Raw)
	_, err = dB.Until(5*time.Second, func(testkit.Message) bool { return false })
	if !isClose(err, 1012) {
		t.Fatalf("desk after the core was killed: %v, want close 1012", err)
	}
	t.Logf("core killed -9: the edge's desk closed after %v", time.Since(killed).Round(time.Millisecond))
	// While the core is away the edge refuses desks and commands.
	_, resp, err = testkit.Dial(edgeB.WSURL("/ws"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("WebSocket while the core is away: %v %v, want 503", resp, err)
	}
	resp, err = http.Post(edgeB.URL("/api/v1/universes/1"), "application/json", strings.NewReader(`{"dmx":{"4":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	var refusal struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&refusal)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || refusal.Error.Code != "core_unavailable" {
		t.Fatalf("POST while the core is away: %d %+v, want 503 core_unavailable", resp.StatusCode, refusal)
	}

	// The core comes back with its state file: the edge admits desks
	// again, which get the kept levels.
	startCluster(t, coreArgs...)
	waitHealth(t, edgeB, http.StatusOK, 15*time.Second)
	d := dial2(t, edgeB)
	st := getState(t, d, 1)
	if st.Values[1] != 150 || st.Values[2] != 33 || st.Values[0] != 0 {
		t.Fatalf("state after the core's restart: %v, want 2=150 3=33", st.Values[:4])
	}
	sendAck(t, d, `{"dmx":{"5":55},"id":"after"}`)
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[4] == 55 && f.Values[1] == 150 }); err != nil {
		t.Fatalf("the restarted core's output never carried a new command: %v", err)
	}
}

// dial2 is dial that reads only the hello: the state is the caller's.
func dial2(t *testing.T, p *testkit.Process) *testkit.Desk {
	t.Helper()
	d, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if hello, err := d.Next(5 * time.Second); err != nil || hello.Type != "hello" {
		t.Fatalf("first message: %+v, %v; want hello", hello, err)
	}
	return d
}

// TestEdgeWrongSecret: an edge with another secret than its core's is
// refused by the core's gRPC server: it never admits a desk.
func TestEdgeWrongSecret(t *testing.T) {
	coreAddr := freePort(t)
	startCluster(t, "--cluster", coreAddr, "--cluster-secret", edgeSecret)
	bad := startCluster(t, "edge", "--core", coreAddr, "--cluster-secret", "not-"+edgeSecret)
	deadline := time.Now().Add(10 * time.Second)
	for !refusedLogged(bad) {
		if time.Now().After(deadline) {
			t.Fatal("the edge with a wrong secret never logged the core's refusal")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, h := healthz(t, bad); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz of an edge with a wrong secret: %d %v, want 503", code, h)
	}
	_, resp, err := testkit.Dial(bad.WSURL("/ws"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("WebSocket to an edge with a wrong secret: %v %v, want 503", resp, err)
	}
}

// refusedLogged reports whether p logged the core's refusal of its secret.
func refusedLogged(p *testkit.Process) bool {
	for _, l := range p.RawLogs() {
		if strings.Contains(l, "wrong or missing secret") {
			return true
		}
	}
	return false
}

// TestEdgeBeforeCore: an edge started before its core refuses desks
// (503 core_unavailable) and admits them once the core answers.
func TestEdgeBeforeCore(t *testing.T) {
	coreAddr := freePort(t)
	edge := startCluster(t, "edge", "--core", coreAddr, "--cluster-secret", edgeSecret)
	if code, h := healthz(t, edge); code != http.StatusServiceUnavailable || h["core"].(map[string]any)["state"] != "down" {
		t.Fatalf("/healthz of an edge without its core: %d %v, want 503 and the core down", code, h)
	}
	_, resp, err := testkit.Dial(edge.WSURL("/ws"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("WebSocket to an edge without its core: %v %v, want 503", resp, err)
	}
	startCluster(t, "--cluster", coreAddr, "--cluster-secret", edgeSecret)
	waitHealth(t, edge, http.StatusOK, 15*time.Second)
	d := dial(t, edge)
	sendAck(t, d, `{"dmx":{"7":70},"id":1}`)
	if st := getState(t, d, 1); st.Values[6] != 70 {
		t.Fatalf("state through the edge: channel 7 = %d, want 70", st.Values[6])
	}
}

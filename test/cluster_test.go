package test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/dmxd/dmxd/test/testkit"
)

// TestClusterEndToEnd: one core, two edges and two output nodes, every
// link over mutual TLS. A desk on each edge sets its own channels; both
// desks see each other's changes, and the frames on both nodes' ptys —
// universe 1 is patched on both nodes — carry what both desks set.
func TestClusterEndToEnd(t *testing.T) {
	tlsArgs := clusterTLSFlags(t)
	core, coreAddr := startCore(t, "127.0.0.1:0", append([]string{"--universes", "2"}, tlsArgs...)...)
	_ = core
	ptyA1, ptyA2, ptyB1 := newPTY(t), newPTY(t), newPTY(t)
	startNode(t, coreAddr, "stage", append([]string{"--output", "1=enttec-pro:" + ptyA1.Path, "--output", "2=enttec-pro:" + ptyA2.Path}, tlsArgs...)...)
	startNode(t, coreAddr, "truss", append([]string{"--output", "1=enttec-pro:" + ptyB1.Path}, tlsArgs...)...)
	var edges []*testkit.Process
	for range 2 {
		e := startCluster(t, append([]string{"edge", "--core", coreAddr, "--cluster-secret", clusterSecret}, tlsArgs...)...)
		waitHealth(t, e, http.StatusOK, clusterWait)
		edges = append(edges, e)
	}
	x, y := dial2(t, edges[0]), dial2(t, edges[1])
	sendAck(t, x, `{"dmx":{"1":11},"id":"x1"}`)
	waitLevel(t, y, 1, 11) // x's change, seen on the other edge
	sendAck(t, x, `{"dmx":{"5":55},"universe":2,"id":"x2"}`)
	sendAck(t, y, `{"dmx":{"2":22},"id":"y1"}`)
	waitLevel(t, x, 2, 22)
	for name, pty := range map[string]*testkit.PTY{"stage universe 1": ptyA1, "truss universe 1": ptyB1} {
		if _, err := pty.WaitFrame(clusterWait, levels(11, 22)); err != nil {
			t.Errorf("%s: no frame with both desks' levels: %v", name, err)
		}
	}
	if _, err := ptyA2.WaitFrame(clusterWait, func(f testkit.Frame) bool { return f.Values[4] == 55 }); err != nil {
		t.Errorf("stage universe 2: no frame with the level: %v", err)
	}
	// Both nodes' outputs are up in the core's /healthz and the edges'.
	for i, p := range []*testkit.Process{core, edges[0]} {
		waitFor(t, fmt.Sprintf("every node output up in /healthz of %s", []string{"the core", "an edge"}[i]), func() bool {
			_, outs := healthOutputs(t, p)
			up := 0
			for _, o := range outs {
				if o.Node != "" && o.State == "up" {
					up++
				}
			}
			return up == 3
		})
	}
}

// clusterTLSFlags returns --cluster-tls-* flags with a fresh CA and a
// certificate for 127.0.0.1 that it signed.
func clusterTLSFlags(t *testing.T) []string {
	t.Helper()
	cert, key, ca, err := testkit.WriteClusterTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--cluster-tls-cert", cert, "--cluster-tls-key", key, "--cluster-tls-ca", ca}
}

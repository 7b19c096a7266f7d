package test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx/sacn"
	"github.com/dmxd/dmxd/test/testkit"
)

// udpSink collects the datagrams a UDP socket on 127.0.0.1 receives.
type udpSink struct {
	conn *net.UDPConn
	pkts chan []byte
}

func newUDPSink(t *testing.T) *udpSink {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &udpSink{conn: c, pkts: make(chan []byte, 4096)}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				close(s.pkts)
				return
			}
			select {
			case s.pkts <- bytes.Clone(buf[:n]):
			default: // the test reads too slowly: drop, as a network would
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return s
}

// wait returns the first datagram ok accepts, within timeout.
func (s *udpSink) wait(t *testing.T, timeout time.Duration, what string, ok func([]byte) bool) []byte {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case p, open := <-s.pkts:
			if !open {
				t.Fatalf("socket closed while waiting for %s", what)
			}
			if ok(p) {
				return p
			}
		case <-deadline.C:
			t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

// slot returns sACN data packet p's slot n (1-based), or -1.
func slot(p []byte, n int) int {
	if !sacn.IsData(p) {
		return -1
	}
	return int(p[sacn.OffSlots+n-1])
}

// TestSACNBesideEnttec: one universe patched to a pty (Enttec DMX USB
// Pro) and to sACN unicast. A desk's levels reach both; pulling the pty
// takes only the Enttec output down while sACN packets keep coming with
// new levels; /healthz and the output message name each output; at
// shutdown the receiver gets three stream-terminated packets.
func TestSACNBesideEnttec(t *testing.T) {
	pty, err := testkit.NewLinkedPTY(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sink := newUDPSink(t)
	dest := sink.conn.LocalAddr().String()
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Link, "--output", "1=sacn:"+dest,
		"--sacn-name", "e2e", "--sacn-priority", "150", "--sacn-cid", "01234567-89ab-cdef-0123-456789abcdef")
	d := dial(t, p)
	if err := d.Send(`{"dmx": {"1": 90}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 90 }); err != nil {
		t.Fatal(err)
	}
	pkt := sink.wait(t, 5*time.Second, "sACN packet with slot 1 at 90", func(p []byte) bool { return slot(p, 1) == 90 })
	cid, _ := sacn.ParseCID("01234567-89ab-cdef-0123-456789abcdef")
	if !bytes.Equal(pkt[sacn.OffCID:sacn.OffCID+16], cid[:]) || pkt[sacn.OffPriority] != 150 ||
		!bytes.HasPrefix(pkt[sacn.OffSourceName:], []byte("e2e\x00")) || pkt[sacn.OffUniverse+1] != 1 {
		t.Errorf("sACN header: % x", pkt[:sacn.OffSlots])
	}

	// Unplug the Enttec: its output goes down, sACN does not.
	if err := pty.Close(); err != nil {
		t.Fatal(err)
	}
	down, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "output" })
	if err != nil || down.State != "down" || down.Driver != "enttec-pro" || !strings.Contains(string(down.Raw), `"target":"`+pty.Link+`"`) {
		t.Fatalf("output message after unplug: %s %v", down.Raw, err)
	}
	if err := d.Send(`{"dmx": {"2": 45}}`); err != nil {
		t.Fatal(err)
	}
	last := sink.wait(t, 5*time.Second, "sACN packet with slot 2 at 45 after the unplug", func(p []byte) bool { return slot(p, 2) == 45 })
	// Refreshes keep coming, each with the next sequence number.
	for range 5 {
		next := sink.wait(t, 5*time.Second, "sACN refresh", func(p []byte) bool { return sacn.IsData(p) })
		if next[sacn.OffSequence] != last[sacn.OffSequence]+1 || slot(next, 2) != 45 {
			t.Fatalf("sequence %d after %d, slot 2 %d", next[sacn.OffSequence], last[sacn.OffSequence], slot(next, 2))
		}
		last = next
	}

	h := waitHealth(t, p, 503, 5*time.Second)
	outs, _ := h["universes"].([]any)
	if len(outs) != 2 {
		t.Fatalf("/healthz lists %d outputs, want 2: %v", len(outs), h)
	}
	en, sa := outs[0].(map[string]any), outs[1].(map[string]any)
	if en["output"] != "enttec-pro" || en["state"] != "down" || sa["output"] != "sacn" || sa["state"] != "up" ||
		sa["target"] != dest || sa["packets"].(float64) < 5 || sa["send_errors"].(float64) != 0 {
		t.Errorf("/healthz outputs: %v", outs)
	}
	resp, err := http.Get(p.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `dmxd_net_packets_sent_total{driver="sacn",target="` + dest + `",universe="1"}`; !bytes.Contains(body, []byte(want)) {
		t.Errorf("/metrics has no %s", want)
	}

	// Shutdown: three stream-terminated packets with the last levels.
	if code, err := p.Stop(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop: %d %v", code, err)
	}
	for i := range 3 {
		term := sink.wait(t, 5*time.Second, "stream-terminated packet", func(p []byte) bool {
			return sacn.IsData(p) && p[sacn.OffOptions]&sacn.OptionTerminated != 0
		})
		if slot(term, 1) != 90 || slot(term, 2) != 45 {
			t.Errorf("terminated packet %d: slots 1, 2 = %d, %d", i+1, slot(term, 1), slot(term, 2))
		}
	}
}

package test

import (
	be "encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx/sacn"
	"github.com/dmxd/dmxd/test/testkit"
)

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// e131 builds an E1.31 data packet for universe 1 carrying levels (a
// short packet when fewer than 512) with the encoder's field layout.
func e131(cid byte, prio, seq, options uint8, levels []byte) []byte {
	var slots [sacn.Slots]byte
	copy(slots[:], levels)
	h := &sacn.Header{CID: [16]byte{cid}, SourceName: fmt.Sprintf("sender %d", cid), Priority: prio, Universe: 1}
	p := sacn.AppendData(nil, h, seq, options, &slots)[:sacn.OffSlots+len(levels)]
	be.BigEndian.PutUint16(p[sacn.OffRootFlagsLen:], 0x7000|uint16(len(p)-sacn.OffRootFlagsLen))
	be.BigEndian.PutUint16(p[sacn.OffFrameFlagLen:], 0x7000|uint16(len(p)-sacn.OffFrameFlagLen))
	be.BigEndian.PutUint16(p[sacn.OffDMPFlagsLen:], 0x7000|uint16(len(p)-sacn.OffDMPFlagsLen))
	be.BigEndian.PutUint16(p[sacn.OffValueCount:], uint16(1+len(levels)))
	return p
}

// TestSACNInputEndToEnd drives the built dmxd's sACN input from a UDP
// socket: the pty output and a desk show the merge of the desk and the
// sources (the higher priority alone), /healthz lists the sources, a
// malformed packet is counted and dropped, stream-terminated releases.
func TestSACNInputEndToEnd(t *testing.T) {
	pty := newPTY(t)
	port := freeUDPPort(t)
	p := startDMXD(t, "--merge", "htp", "--output", "1=enttec-pro:"+pty.Path,
		"--input", fmt.Sprintf("sacn@127.0.0.1:%d:1", port))
	d := dial(t, p)
	if err := d.Send(`{"dmx": {"4": 40}, "id": 1}`); err != nil {
		t.Fatal(err)
	}
	send, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	write := func(b []byte) {
		t.Helper()
		if _, err := send.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(e131(1, 100, 0, 0, []byte{255, 128, 0}))
	write(e131(2, 120, 0, 0, []byte{10, 20}))
	write(e131(1, 100, 1, 0, []byte{255, 128, 0})[:100]) // truncated: malformed
	want := func(what string, levels ...byte) {
		t.Helper()
		if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool {
			for i, l := range levels {
				if f.Values[i] != l {
					return false
				}
			}
			return true
		}); err != nil {
			t.Fatalf("pty: no frame with %s %v: %v", what, levels, err)
		}
		for deadline := time.Now().Add(5 * time.Second); ; {
			st := getState(t, d, 1)
			same := true
			for i, l := range levels {
				same = same && st.Values[i] == int(l)
			}
			if same {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("desk: state %v, want %s %v", st.Values[:len(levels)], what, levels)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	want("the priority 120 source and the desk", 10, 20, 0, 40)

	resp, err := http.Get(p.URL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Sources []struct {
			Name     string `json:"name"`
			Address  string `json:"address"`
			Priority int    `json:"priority"`
			Active   bool   `json:"active"`
		} `json:"sources"`
	}
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || len(h.Sources) != 2 || h.Sources[0].Name != "sender 1" || h.Sources[0].Active ||
		h.Sources[1].Priority != 120 || !h.Sources[1].Active || !strings.HasPrefix(h.Sources[1].Address, "127.0.0.1:") {
		t.Fatalf("/healthz sources %+v, %v", h.Sources, err)
	}

	write(e131(2, 120, 1, sacn.OptionTerminated, nil))
	want("the priority 100 source back after stream-terminated", 255, 128, 0, 40)

	resp, err = http.Get(p.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	if !strings.Contains(sb.String(), `dmxd_net_packets_malformed_total{protocol="sacn"} 1`) {
		t.Fatalf("/metrics does not count the malformed packet:\n%s", grepLines(sb.String(), "dmxd_net_"))
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

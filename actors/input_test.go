package actors

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dmxd/dmxd/actors/metrics"
	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/dmx/artnet"
	"github.com/dmxd/dmxd/dmx/sacn"
)

// sacnPacket builds an E1.31 data packet of the first n slots (a short
// packet as OLA sends when n < 512) with the netout encoder's layout.
func sacnPacket(cid byte, prio, seq, options uint8, levels []byte) []byte {
	var slots [sacn.Slots]byte
	copy(slots[:], levels)
	h := &sacn.Header{CID: [16]byte{cid}, SourceName: "src-" + string('A'+cid), Priority: prio, Universe: 1}
	p := sacn.AppendData(nil, h, seq, options, &slots)[:sacn.OffSlots+len(levels)]
	be := binary.BigEndian
	be.PutUint16(p[sacn.OffRootFlagsLen:], 0x7000|uint16(len(p)-sacn.OffRootFlagsLen))
	be.PutUint16(p[sacn.OffFrameFlagLen:], 0x7000|uint16(len(p)-sacn.OffFrameFlagLen))
	be.PutUint16(p[sacn.OffDMPFlagsLen:], 0x7000|uint16(len(p)-sacn.OffDMPFlagsLen))
	be.PutUint16(p[sacn.OffValueCount:], uint16(1+len(levels)))
	return p
}

// netEngine starts an engine of one universe (merge mode) with one input
// of proto on 127.0.0.1 and returns it with a socket sending to it.
func netEngine(t *testing.T, proto string, mode dmx.Merge, timeout time.Duration, hold bool) (*Engine, *net.UDPConn) {
	t.Helper()
	spec := dmx.Input{Proto: proto, Addr: "127.0.0.1:0", Universes: map[uint16]int{1: 1}}
	if proto == dmx.InputArtNet {
		spec.Universes = map[uint16]int{0: 1}
	}
	conn, _, err := dmx.ListenInput(&spec)
	if err != nil {
		t.Fatal(err)
	}
	mets := metrics.New()
	e := startEngine(t, Config{Merge: mode, Metrics: mets, Inputs: []Input{{Spec: spec, Conn: conn, Timeout: timeout, Hold: hold, ShortName: "dmxd", LongName: "dmxd test"}}})
	send, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = send.Close() })
	return e, send
}

// waitLevels polls universe 1 until ok holds for its levels.
func waitLevels(t *testing.T, e *Engine, what string, ok func(*dmx.Frame) bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := snapshot(t, e, 1)
		if ok(&st.Values) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v: levels %v", what, waitTimeout, st.Values[:4])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func levelsAre(want ...byte) func(*dmx.Frame) bool {
	return func(f *dmx.Frame) bool {
		for i, w := range want {
			if f[i] != w {
				return false
			}
		}
		return true
	}
}

func write(t *testing.T, c *net.UDPConn, p []byte) {
	t.Helper()
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
}

func TestSACNInputMergesLikeADesk(t *testing.T) {
	e, send := netEngine(t, dmx.InputSACN, dmx.HTP, 0, false)
	desk := connect(t, e)
	desk.apply(t, dmxCmd(1, chg(1, 50), chg(3, 90)))
	write(t, send, sacnPacket(1, 100, 0, 0, []byte{200, 10, 20}))
	waitLevels(t, e, "HTP of desk and source", levelsAre(200, 10, 90))
	desk.peer.updateOf(t, 1, "the network levels in an update", func(up *Update) bool {
		l, ok := levelOf(up, 1)
		return ok && l == 200
	})
	// A short packet changes its first slots only.
	write(t, send, sacnPacket(1, 100, 1, 0, []byte{5}))
	waitLevels(t, e, "short packet", levelsAre(50, 10, 90))
	// Stream-terminated releases at once: the desk's levels are left.
	write(t, send, sacnPacket(1, 100, 2, sacn.OptionTerminated, []byte{5}))
	waitLevels(t, e, "release on stream-terminated", levelsAre(50, 0, 90))
}

func TestSACNPriority(t *testing.T) {
	e, send := netEngine(t, dmx.InputSACN, dmx.HTP, 0, false)
	write(t, send, sacnPacket(1, 100, 0, 0, []byte{100, 100}))
	waitLevels(t, e, "first source", levelsAre(100, 100))
	// A higher priority wins, even with lower levels (HTP is within a priority).
	write(t, send, sacnPacket(2, 150, 0, 0, []byte{10, 20}))
	waitLevels(t, e, "the higher priority alone", levelsAre(10, 20))
	// The lower one is ignored while the higher one sends.
	write(t, send, sacnPacket(1, 100, 1, 0, []byte{255, 255}))
	write(t, send, sacnPacket(2, 150, 1, 0, []byte{11, 20}))
	waitLevels(t, e, "the higher priority's next packet", levelsAre(11, 20))
	// Equal priorities merge by the mode (HTP).
	write(t, send, sacnPacket(3, 150, 0, 0, []byte{0, 70}))
	waitLevels(t, e, "HTP of equal priorities", levelsAre(11, 70))
	// When the higher ones leave, the lower one's levels come back.
	write(t, send, sacnPacket(2, 150, 2, sacn.OptionTerminated, nil))
	write(t, send, sacnPacket(3, 150, 1, sacn.OptionTerminated, nil))
	waitLevels(t, e, "the lower priority back", levelsAre(255, 255))
	srcs, err := e.Sources()
	if err != nil || len(srcs) != 1 || srcs[0].Priority != 100 || !srcs[0].Active || srcs[0].Name != "src-B" {
		t.Fatalf("sources %+v, %v", srcs, err)
	}
}

func TestSACNTimeoutReleases(t *testing.T) {
	e, send := netEngine(t, dmx.InputSACN, dmx.HTP, 50*time.Millisecond, false)
	write(t, send, sacnPacket(1, 100, 0, 0, []byte{77}))
	waitLevels(t, e, "levels", levelsAre(77))
	// Silent past the timeout: released (bounded poll, no timing assertion).
	waitLevels(t, e, "release after the timeout", levelsAre(0))
	if n := testutil.ToFloat64(e.inMets.Sources.WithLabelValues("1")); n != 0 {
		t.Fatalf("%v sources after the timeout", n)
	}
}

func TestSACNHoldKeepsSilentSource(t *testing.T) {
	e, send := netEngine(t, dmx.InputSACN, dmx.HTP, 50*time.Millisecond, true)
	write(t, send, sacnPacket(1, 100, 0, 0, []byte{77}))
	waitLevels(t, e, "levels", levelsAre(77))
	deadline := time.Now().Add(waitTimeout)
	for {
		srcs, err := e.Sources()
		if err != nil {
			t.Fatal(err)
		}
		if len(srcs) == 1 && srcs[0].Held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("source not held: %+v", srcs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := snapshot(t, e, 1); st.Values[0] != 77 {
		t.Fatalf("held source's level %d, want 77", st.Values[0])
	}
	// Another source takes over: the held one is released.
	write(t, send, sacnPacket(2, 100, 0, 0, []byte{0, 9}))
	waitLevels(t, e, "the new source alone", levelsAre(0, 9))
}

func TestMalformedPacketsCountedAndDropped(t *testing.T) {
	e, send := netEngine(t, dmx.InputSACN, dmx.HTP, 0, false)
	good := sacnPacket(1, 100, 0, 0, []byte{1, 2, 3})
	write(t, send, good[:len(good)-1])                   // truncated
	write(t, send, append(append([]byte{}, good...), 0)) // oversized
	bad := append([]byte{}, good...)
	bad[sacn.OffPriority] = 201 // out of spec
	write(t, send, bad)
	write(t, send, good)
	waitLevels(t, e, "the good packet", levelsAre(1, 2, 3))
	if n := testutil.ToFloat64(e.inMets.Malformed.WithLabelValues("sacn")); n != 3 {
		t.Fatalf("%v malformed packets counted, want 3", n)
	}
}

func TestArtNetInputAndPoll(t *testing.T) {
	e, send := netEngine(t, dmx.InputArtNet, dmx.LTP, 0, false)
	write(t, send, artnet.AppendDmx(nil, 0, 1, 0, []byte{9, 8, 7, 6}))
	waitLevels(t, e, "ArtDmx levels", levelsAre(9, 8, 7, 6))
	write(t, send, artnet.AppendPoll(nil))
	_ = send.SetReadDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, 1500)
	n, err := send.Read(buf)
	if err != nil {
		t.Fatalf("no ArtPollReply: %v", err)
	}
	p := buf[:n]
	if op, err := artnet.OpCode(p); err != nil || op != artnet.OpPollReply || n != artnet.PollReplyLen {
		t.Fatalf("reply: op %#x, %v, %d bytes", op, err, n)
	}
	if p[artnet.OffReplyPortTypes] != artnet.PortTypeOutput || p[artnet.OffReplySwOut] != 0 ||
		[4]byte(p[artnet.OffReplyIP:]) != [4]byte{127, 0, 0, 1} {
		t.Fatalf("reply % x", p)
	}
}

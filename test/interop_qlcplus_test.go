package test

// Interop test with QLC+ (Debian's qlcplus 4.12.6, issue 16). How QLC+
// was made to run here, headless, in a network namespace the test
// creates:
//
//   - qlcplus is a Qt GUI program; `QT_QPA_PLATFORM=offscreen` runs it
//     without an X server (no xvfb): `qlcplus --nowm --nogui --web --open
//     WORKSPACE.qxw` (--nogui needs --nowm). Without a platform it fails:
//     'Could not load the Qt platform plugin "xcb"'. It runs as root;
//     HOME and XDG_RUNTIME_DIR point at a directory of the test, where it
//     keeps its settings.
//   - The workspace (written by the test) patches QLC+ universe 1 (ID 0)
//     to the Art-Net plugin's output line of 10.99.0.1: `<Output
//     Plugin="ArtNet" UID="10.99.0.1" Line="…"/>`. The plugin's lines are
//     the host's IPv4 addresses, 127.0.0.1 included; UID names the line.
//     Without PluginParameters QLC+ sends to the interface's broadcast
//     address (10.99.0.255) as port-address 0 (QLC+ universe 1 =
//     port-address 0), from and to UDP 6454.
//   - QLC+ sends every slot (ArtDmx length 512) continuously at its
//     timer rate, 50 packets a second by default (49/s measured here),
//     the sequence number one higher each packet, even when nothing
//     changes.
//   - `--web` serves the web interface on TCP 9999 (all addresses); its
//     WebSocket ws://HOST:9999/qlcplusWS takes text commands: "CH|1|200"
//     sets absolute DMX channel 1 (1-based, universe 1 = channels
//     1..512) to 200 in the simple desk.
//   - QLC+ binds *:6454 with SO_REUSEADDR (Qt's ShareAddress): a socket
//     without address reuse gets EADDRINUSE beside it; dmxd's input binds
//     beside it in the same namespace. Its broadcast reaches every socket
//     bound to *:6454; a unicast datagram to a shared address reaches
//     only one of them (on Linux the last bound), so two programs on one
//     computer can share Art-Net only by broadcast (or one address each).
//   - qlcplus exits on SIGTERM.
//   - The test process is outside the namespace: it dials QLC+'s
//     WebSocket from a thread moved into the namespace (setns), so the
//     socket belongs to the namespace.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"github.com/dmxd/dmxd/test/testkit"
)

// qlcWorkspace is a QLC+ workspace whose universe 1 goes out through the
// Art-Net plugin's line of address %[1]s (%[2]d is the line's index).
const qlcWorkspace = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE Workspace>
<Workspace xmlns="http://www.qlcplus.org/Workspace" CurrentWindow="VirtualConsole">
 <Creator>
  <Name>Q Light Controller Plus</Name>
  <Version>4.12.6</Version>
  <Author>dmxd interop test</Author>
 </Creator>
 <Engine>
  <InputOutputMap>
   <Universe Name="Universe 1" ID="0">
    <Output Plugin="ArtNet" UID="%[1]s" Line="%[2]d"/>
   </Universe>
  </InputOutputMap>
 </Engine>
 <VirtualConsole/>
 <SimpleDesk/>
</Workspace>
`

// dial connects to addr from inside h's namespace: the socket is made on
// this goroutine's thread moved into the namespace, then the thread goes
// back. If it cannot go back it stays locked, and Go ends it with the
// goroutine.
func (h netHost) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + h.ns)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("setns %s: %w", h.ns, err)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if back := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); back != nil {
		if conn != nil {
			_ = conn.Close()
		}
		return nil, fmt.Errorf("setns back from %s: %w", h.ns, back)
	}
	runtime.UnlockOSThread()
	return conn, err
}

// artNetReceived reads dmxd's count of Art-Net packets received from
// /metrics (curl in h's namespace).
func artNetReceived(t *testing.T, h netHost, p *testkit.Process) int {
	t.Helper()
	out, err := h.run("curl", "-sSf", "--max-time", "5", p.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^dmxd_net_packets_received_total\{protocol="artnet"\} (\d+)`).FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestInteropQLCPlusArtNetIntoDMXD runs QLC+ headless with its universe 1
// on Art-Net, and dmxd with --input artnet:1 (port-address 0, QLC+'s
// universe 1) on the same computer (namespace): dmxd binds UDP 6454
// beside QLC+, which holds *:6454. Levels set through QLC+'s web socket
// must show in dmxd, and QLC+'s packets keep coming while nothing
// changes.
func TestInteropQLCPlusArtNetIntoDMXD(t *testing.T) {
	requireInterop(t, "QLC+", "qlcplus", "qlcplus")
	a, _ := newVeth(t, "qlc", false)

	dir, err := os.MkdirTemp("", "dmxd-qlcplus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// The Art-Net plugin's lines are the namespace's IPv4 addresses in
	// interface order; UID picks the line by its address, Line is only
	// the index QLC+ would have saved.
	line := 0
	if out, err := a.run("ip", "-o", "-4", "addr", "show"); err == nil {
		for i, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.Contains(l, " "+a.ip+"/") {
				line = i
			}
		}
	}
	ws := filepath.Join(dir, "dmxd.qxw")
	if err := os.WriteFile(ws, fmt.Appendf(nil, qlcWorkspace, a.ip, line), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", a.ns, "qlcplus", "--nowm", "--nogui", "--web", "--open", ws)
	cmd.Env = append(os.Environ(), "QT_QPA_PLATFORM=offscreen", "HOME="+dir, "XDG_RUNTIME_DIR="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Dir = dir
	qlc := startDaemon(t, "qlcplus", cmd)

	var conn *websocket.Conn
	dialer := websocket.Dialer{NetDialContext: a.dial, HandshakeTimeout: 5 * time.Second}
	qlc.waitUntil(t, "QLC+'s web socket", func() (bool, string) {
		c, _, err := dialer.Dial("ws://127.0.0.1:9999/qlcplusWS", nil)
		if err != nil {
			return false, err.Error()
		}
		conn = c
		return true, ""
	})
	t.Cleanup(func() { _ = conn.Close() })
	// QLC+ holds *:6454 once its output is open; dmxd binds beside it.
	qlc.waitUntil(t, "QLC+ bound to UDP 6454", func() (bool, string) {
		out, err := a.run("ss", "-Hulpn", "sport", "= :6454")
		return err == nil && strings.Contains(out, "qlcplus"), fmt.Sprintf("ss: %q, %v", out, err)
	})

	p := startDMXDUnder(t, a.under(), "--merge", "htp", "--input", "artnet:1")
	for _, levels := range [][]int{{200, 0, 17}, {0, 255, 17}} {
		for ch, l := range levels {
			if err := conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "CH|%d|%d", ch+1, l)); err != nil {
				t.Fatal(err)
			}
		}
		waitDMXD(t, qlc, a, p, 1, levels, "QLC+'s ArtDmx in dmxd")
	}
	srcs := dmxdSources(t, a, p)
	if len(srcs) != 1 || srcs[0].Protocol != "artnet" || srcs[0].Address != a.ip+":6454" || !srcs[0].Active {
		t.Fatalf("/healthz sources %+v, want QLC+'s ArtDmx from %s:6454", srcs, a.ip)
	}

	// Nothing changes now, and QLC+ goes on sending: 100 more packets.
	start, from := time.Now(), artNetReceived(t, a, p)
	qlc.waitUntil(t, "100 more packets from QLC+", func() (bool, string) {
		n := artNetReceived(t, a, p)
		return n >= from+100, fmt.Sprintf("dmxd received %d Art-Net packets, %d before", n, from)
	})
	n := artNetReceived(t, a, p)
	t.Logf("QLC+ sent %d ArtDmx in %v while nothing changed (%.0f/s)", n-from, time.Since(start).Round(time.Millisecond),
		float64(n-from)/time.Since(start).Seconds())
}

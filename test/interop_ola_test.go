package test

// Interop tests with OLA (Debian's ola 0.10.9, issue 16). How olad was
// made to work in a network namespace the test creates, as found on this
// machine:
//
//   - olad refuses to run as root ("Attempting to run as root,
//     aborting."), so it runs as nobody (uid/gid 65534) through
//     `setpriv --reuid=65534 --regid=65534 --clear-groups`. Its config
//     directory must be owned by that user: olad writes every plugin's
//     .conf file, ola-port.conf and ola-universe.conf into it at start
//     and on changes.
//   - OLA's E1.31 plugin skips loopback interfaces, so the namespace gets
//     a veth pair with both ends inside it (va 10.99.0.1/24, vb
//     10.99.0.2/24, both up) and a route for 224.0.0.0/4 on va. Without
//     `ip =` olad picked vb; `ip = 10.99.0.1` in ola-e131.conf binds it to
//     va, where it then joins 239.255.0.U for every input port patched to
//     universe U (`ip maddr show dev va` lists 239.255.0.1).
//   - dmxd's multicast sACN output (`--output 1=sacn`, to 239.255.0.1:5568)
//     reaches olad this way without any multicast interface option: the
//     route sends it out of va and the kernel loops it back to olad's
//     membership on va. Unicast to 10.99.0.1 was not needed.
//   - Every other plugin is switched off with a one-line
//     `enabled = false` in its ola-PLUGIN.conf (names below, those olad
//     0.10.9 writes), so the E1.31 device is olad's only device, the
//     start is quick and nothing else binds ports. A plugin missing from
//     the list would only start too: harmless.
//   - ola-e131.conf: `enabled = true`, `ip = 10.99.0.1`, `input_ports = 1`,
//     `output_ports = 1`. With E1.31 the input port patched to OLA
//     universe U listens to sACN universe U.
//   - `ola_dev_info -p 11` (11 is the E1.31 plugin id) prints
//     "Device N: E1.31 (DMX over ACN) [10.99.0.1]"; N is the alias that
//     `ola_patch --device N --port 0 --input --universe 1` takes. Both talk
//     to olad's RPC port 9010 on 127.0.0.1 of the namespace, so they too
//     run under `ip netns exec`; until olad listens they fail, which makes
//     "ola_dev_info lists the device" the readiness check. The patch is
//     saved to ola-port.conf as `11-1-I-0 = 1`: writing that file before
//     the start would patch without ola_patch.
//   - olad's HTTP server listens on 9090 in the namespace (its own port
//     space: no clash with a host olad); `curl
//     http://127.0.0.1:9090/get_dmx?u=1` answers {"dmx":[...],"error":""},
//     "dmx" empty until the universe has data. The test process is
//     outside the namespace, so curl runs under `ip netns exec`.
//   - olad logs "Added new E1.31 source: CID" on the first packet and
//     exits on SIGTERM.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// olaUID is the user olad runs as (nobody): olad will not run as root.
const olaUID = 65534

// olaPlugins are the plugins olad 0.10.9 writes a config file for; all
// but E1.31 are switched off.
var olaPlugins = []string{
	"artnet", "dummy", "espnet", "ftdidmx", "gpio", "karate", "kinet",
	"milinst", "opendmx", "openpixelcontrol", "osc", "pathport", "renard",
	"sandnet", "shownet", "spi", "stageprofi", "uartdmx", "usbdmx", "usbserial",
}

// olaNet is a network namespace with a veth pair for OLA tests.
type olaNet struct {
	ns     string
	olaIP  string // va's address, where olad's E1.31 plugin binds
	peerIP string // vb's address
}

// newOLANet skips the test unless it runs as root with olad and its tools
// installed, then creates the namespace (deleted at the end).
func newOLANet(t *testing.T) *olaNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("interop with OLA needs root: it creates a network namespace (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
	}
	for _, tool := range []string{"olad", "ola_patch", "ola_dev_info", "curl", "setpriv", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("interop with OLA needs %s (Debian packages ola, curl, util-linux, iproute2): %v", tool, err)
		}
	}
	n := &olaNet{ns: fmt.Sprintf("dmxd-ola-%d", os.Getpid()), olaIP: "10.99.0.1", peerIP: "10.99.0.2"}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", n.ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", n.ns).Run() })
	ip("-n", n.ns, "link", "set", "lo", "up")
	ip("-n", n.ns, "link", "add", "va", "type", "veth", "peer", "name", "vb")
	ip("-n", n.ns, "addr", "add", n.olaIP+"/24", "dev", "va")
	ip("-n", n.ns, "addr", "add", n.peerIP+"/24", "dev", "vb")
	ip("-n", n.ns, "link", "set", "va", "up", "multicast", "on")
	ip("-n", n.ns, "link", "set", "vb", "up", "multicast", "on")
	ip("-n", n.ns, "route", "add", "224.0.0.0/4", "dev", "va")
	return n
}

// run runs name with args in the namespace, bounded by cliBound, and
// returns its stdout and whether it exited 0 (its stderr on failure).
func (n *olaNet) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.ns, name}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// lockedBuffer collects olad's log from its two pipes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startOLAD starts olad as nobody in the namespace with only its E1.31
// plugin, bound to n.olaIP, and waits until it lists its E1.31 device,
// whose alias it returns. olad is stopped at the end; its log is shown
// if the test failed.
func startOLAD(t *testing.T, n *olaNet) int {
	t.Helper()
	dir, err := os.MkdirTemp("", "dmxd-olad-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, olaUID, olaUID); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range olaPlugins {
		write("ola-"+p+".conf", "enabled = false\n")
	}
	write("ola-e131.conf", fmt.Sprintf("enabled = true\nip = %s\ninput_ports = 1\noutput_ports = 1\nignore_preview = true\n", n.olaIP))
	if err := os.Chown(dir, olaUID, olaUID); err != nil {
		t.Fatal(err)
	}

	var log lockedBuffer
	uid := fmt.Sprint(olaUID)
	cmd := exec.Command("ip", "netns", "exec", n.ns,
		"setpriv", "--reuid="+uid, "--regid="+uid, "--clear-groups",
		"olad", "--config-dir", dir, "--log-level", "3", "--no-register-with-dns-sd")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start olad: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // ip netns exec and setpriv exec olad: same process
		select {
		case <-exited:
		case <-time.After(10 * time.Second): // a backstop
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("olad did not stop on SIGTERM within 10 s")
		}
		if t.Failed() {
			t.Logf("olad's log:\n%s", log.String())
		}
	})

	alias := regexp.MustCompile(`(?m)^Device (\d+): E1\.31`)
	deadline := time.Now().Add(15 * time.Second) // a backstop, not a timing claim
	for {
		select {
		case err := <-exited:
			t.Fatalf("olad exited while starting: %v\n%s", err, log.String())
		default:
		}
		out, err := n.run("ola_dev_info", "-p", "11")
		if m := alias.FindStringSubmatch(out); err == nil && m != nil {
			var dev int
			fmt.Sscan(m[1], &dev)
			return dev
		}
		if time.Now().After(deadline) {
			t.Fatalf("olad lists no E1.31 device: %v: %s\nolad's log:\n%s", err, out, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestInteropSACNIntoOLA sends dmxd's universe 1 as multicast sACN
// universe 1 to olad, whose E1.31 input port is patched to OLA universe
// 1, and reads olad's universe back through its HTTP /get_dmx.
func TestInteropSACNIntoOLA(t *testing.T) {
	n := newOLANet(t)
	dev := startOLAD(t, n)
	if _, err := n.run("ola_patch", "--device", fmt.Sprint(dev), "--port", "0", "--input", "--universe", "1"); err != nil {
		t.Fatal(err)
	}

	p := startDMXDUnder(t, "exec ip netns exec "+n.ns+` "$0" "$@"`, "--output", "1=sacn")
	for _, levels := range [][3]int{{255, 128, 1}, {10, 0, 200}} {
		if _, err := n.run(binary, "set", "--universe", "1", "--server", p.Addr,
			fmt.Sprintf("1=%d", levels[0]), fmt.Sprintf("2=%d", levels[1]), fmt.Sprintf("3=%d", levels[2])); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second) // a backstop, not a timing claim
		for {
			out, err := n.run("curl", "-sSf", "--max-time", "5", "http://127.0.0.1:9090/get_dmx?u=1")
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				DMX   []int  `json:"dmx"`
				Error string `json:"error"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("olad's /get_dmx: %v: %s", err, out)
			}
			if got.Error != "" {
				t.Fatalf("olad's /get_dmx: error %q", got.Error)
			}
			if len(got.DMX) >= 3 && got.DMX[0] == levels[0] && got.DMX[1] == levels[1] && got.DMX[2] == levels[2] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("olad's universe 1 holds %v, want %v first: dmxd's sACN did not arrive", got.DMX[:min(len(got.DMX), 4)], levels)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

package test

// Interop tests with OLA (Debian's ola 0.10.9, issue 16). How olad was
// made to work in network namespaces the tests create, and what it was
// seen doing, on this machine:
//
//   - olad refuses to run as root ("Attempting to run as root,
//     aborting."), so it runs as nobody (uid/gid 65534) through
//     `setpriv --reuid=65534 --regid=65534 --clear-groups`. Its config
//     directory must be owned by that user: olad writes every plugin's
//     .conf file, ola-port.conf and ola-universe.conf into it at start
//     and on changes.
//   - OLA's E1.31 and Art-Net plugins skip loopback interfaces ("Skipping
//     lo because it's a loopback"), so each test makes a veth pair (va
//     10.99.0.1/24, vb 10.99.0.2/24; newVeth): both ends in one namespace
//     (one computer) or one in each (two computers), with a route for
//     224.0.0.0/4. `ip = 10.99.0.1` in the plugin's config binds it to va
//     (without it olad picked vb). The addresses need a broadcast address
//     (`broadcast +`): `ip addr add` sets none by default, and olad then
//     sends its ArtPolls nowhere useful (none reached vb).
//   - Every other plugin is switched off with a one-line
//     `enabled = false` in its ola-PLUGIN.conf (names below, those olad
//     0.10.9 writes), so the start is quick and nothing else binds ports.
//   - `ola_dev_info` prints "Device N: E1.31 (DMX over ACN) [10.99.0.1]"
//     and "Device N: ArtNet [10.99.0.1]" (4 input ports, output_ports
//     output ports); N is the alias `ola_patch --device N --port P
//     [--input] --universe U` takes. They and ola_set_dmx talk to olad's
//     RPC port 9010 on 127.0.0.1 of the namespace, so they run under `ip
//     netns exec`; until olad listens they fail, which makes "ola_dev_info
//     lists the devices" the readiness check. A patch is saved to
//     ola-port.conf (`11-1-I-0 = 1`).
//   - olad's HTTP server listens on 9090 in the namespace; `curl
//     http://127.0.0.1:9090/get_dmx?u=1` answers {"dmx":[...],"error":""},
//     "dmx" empty until the universe has data. olad exits on SIGTERM.
//   - olad binds 0.0.0.0:5568 (E1.31) and 0.0.0.0:6454 (Art-Net) with
//     SO_REUSEADDR: a socket without address reuse gets EADDRINUSE beside
//     it, one with reuse binds.
//   - sACN into olad: dmxd's multicast to 239.255.0.1 on the same computer
//     arrives through the 224/4 route on va (the kernel loops it back to
//     olad's membership there; `ip maddr show dev va` lists 239.255.0.1
//     once the E1.31 input port is patched to universe 1). olad logs
//     "Added new E1.31 source: CID".
//   - sACN from olad: its E1.31 output port patched to OLA universe U sends
//     sACN universe U by multicast out of va, only after a change and
//     only the slots set (`ola_set_dmx -d 10,20,30`: a 3-slot packet),
//     then nothing; source name "HOSTNAME-OLA Server", priority 100.
//   - Art-Net from olad: it sends ArtPoll to va's broadcast address (and
//     its own ArtPollReplies and an ArtTodRequest by broadcast) at start,
//     when a port is patched and every few seconds. dmxd's unicast
//     ArtPollReply listing port-address 1 as an output makes `ola_artnet
//     -d N -u 1` list 10.99.0.2; before it, olad logs "Suppressing data
//     transmit due to no active nodes for universe 1". It then sends
//     ArtDmx unicast from and to port 6454, once per change, with the
//     slots set padded to an even length (3 slots: length 4), sequence
//     0, then 1, … (tshark). OLA universe 1 is port-address 1; patched to
//     universe 2 nothing went to dmxd, which listed only 1.
//   - Art-Net into olad: its Art-Net input port patched to OLA universe 1
//     takes dmxd's ArtDmx to port-address 1 (512 slots) from any sender.
//   - olad and dmxd on one computer cannot share Art-Net unicast: both
//     bind *:6454, and Linux gives a unicast datagram to the socket bound
//     last only (dmxd's ArtPollReply to olad's address would reach dmxd).
//     The Art-Net tests with olad therefore use two namespaces.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dmxd/dmxd/test/testkit"
)

// olaUID is the user olad runs as (nobody): olad will not run as root.
const olaUID = 65534

// olaPlugins are the plugins olad 0.10.9 writes a config file for; all
// but those a test enables are switched off.
var olaPlugins = []string{
	"artnet", "dummy", "e131", "espnet", "ftdidmx", "gpio", "karate", "kinet",
	"milinst", "opendmx", "openpixelcontrol", "osc", "pathport", "renard",
	"sandnet", "shownet", "spi", "stageprofi", "uartdmx", "usbdmx", "usbserial",
}

// Names of olad's devices as ola_dev_info lists them.
const (
	olaE131   = "E1.31 (DMX over ACN)"
	olaArtNet = "ArtNet"
)

// olad is an olad the test started.
type olad struct {
	*daemon
	host    netHost
	devices map[string]int // device name → alias
}

// requireOLA skips the test unless it can run olad in namespaces.
func requireOLA(t *testing.T) {
	t.Helper()
	requireInterop(t, "OLA", "ola, util-linux", "olad", "ola_patch", "ola_dev_info", "ola_set_dmx", "ola_artnet", "setpriv")
}

// startOLAD starts olad as nobody in h's namespace with only the plugins
// of confs enabled (plugin name → lines of its config file after
// `enabled = true`), and waits until it lists a device for each. olad is
// stopped at the end; its log is shown if the test failed.
func startOLAD(t *testing.T, h netHost, confs map[string]string) *olad {
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
		conf, on := confs[p]
		if !on {
			write("ola-"+p+".conf", "enabled = false\n")
			continue
		}
		write("ola-"+p+".conf", "enabled = true\n"+conf)
	}
	if err := os.Chown(dir, olaUID, olaUID); err != nil {
		t.Fatal(err)
	}

	uid := fmt.Sprint(olaUID)
	o := &olad{host: h, devices: map[string]int{}}
	o.daemon = startDaemon(t, "olad", exec.Command("ip", "netns", "exec", h.ns,
		"setpriv", "--reuid="+uid, "--regid="+uid, "--clear-groups",
		"olad", "--config-dir", dir, "--log-level", "3", "--no-register-with-dns-sd"))

	device := regexp.MustCompile(`(?m)^Device (\d+): (.+?) \[`)
	o.waitUntil(t, "olad's devices", func() (bool, string) {
		out, err := h.run("ola_dev_info")
		if err != nil {
			return false, err.Error() // olad does not listen yet
		}
		for _, m := range device.FindAllStringSubmatch(out, -1) {
			var alias int
			fmt.Sscan(m[1], &alias)
			o.devices[m[2]] = alias
		}
		return len(o.devices) == len(confs), "ola_dev_info lists " + out
	})
	return o
}

// patch patches port of olad's device to OLA universe u, as an input
// port or an output port.
func (o *olad) patch(t *testing.T, device string, port int, input bool, u int) {
	t.Helper()
	dev, ok := o.devices[device]
	if !ok {
		t.Fatalf("olad has no device %q: %v", device, o.devices)
	}
	args := []string{"--device", fmt.Sprint(dev), "--port", fmt.Sprint(port), "--universe", fmt.Sprint(u)}
	if input {
		args = append(args, "--input")
	}
	if _, err := o.host.run("ola_patch", args...); err != nil {
		t.Fatal(err)
	}
}

// setDMX sets the first levels of OLA universe u with ola_set_dmx.
func (o *olad) setDMX(t *testing.T, u int, levels []int) {
	t.Helper()
	s := make([]string, len(levels))
	for i, l := range levels {
		s[i] = fmt.Sprint(l)
	}
	if _, err := o.host.run("ola_set_dmx", "-u", fmt.Sprint(u), "-d", strings.Join(s, ",")); err != nil {
		t.Fatal(err)
	}
}

// waitDMX waits until olad's universe u starts with want, read through
// its HTTP /get_dmx.
func (o *olad) waitDMX(t *testing.T, u int, want []int, why string) {
	t.Helper()
	o.waitUntil(t, why, func() (bool, string) {
		out, err := o.host.run("curl", "-sSf", "--max-time", "5", fmt.Sprintf("http://127.0.0.1:9090/get_dmx?u=%d", u))
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
		ok, _ := hasLevels(got.DMX, want)
		return ok, fmt.Sprintf("olad's universe %d holds %v…, want %v first", u, got.DMX[:min(len(got.DMX), len(want)+1)], want)
	})
}

// waitDMXD waits until dmxd's universe u starts with want.
func waitDMXD(t *testing.T, d *daemon, h netHost, p *testkit.Process, u int, want []int, why string) {
	t.Helper()
	d.waitUntil(t, why, func() (bool, string) { return hasLevels(dmxdLevels(t, h, p, u), want) })
}

// TestInteropSACNIntoOLA sends dmxd's universe 1 as multicast sACN
// universe 1 to olad, whose E1.31 input port is patched to OLA universe
// 1, and reads olad's universe back through its HTTP /get_dmx. Both run
// in one namespace (one computer).
func TestInteropSACNIntoOLA(t *testing.T) {
	requireOLA(t)
	a, _ := newVeth(t, "olasacn", false)
	o := startOLAD(t, a, map[string]string{"e131": fmt.Sprintf("ip = %s\ninput_ports = 1\noutput_ports = 1\nignore_preview = true\n", a.ip)})
	o.patch(t, olaE131, 0, true, 1)

	p := startDMXDUnder(t, a.under(), "--output", "1=sacn")
	for _, levels := range [][]int{{255, 128, 1}, {10, 0, 200}} {
		if _, err := a.run(binary, "set", "--universe", "1", "--server", p.Addr,
			fmt.Sprintf("1=%d", levels[0]), fmt.Sprintf("2=%d", levels[1]), fmt.Sprintf("3=%d", levels[2])); err != nil {
			t.Fatal(err)
		}
		o.waitDMX(t, 1, levels, "dmxd's sACN in olad")
	}
}

// TestInteropOLASACNIntoDMXD sends olad's universe 1 (its E1.31 output
// port patched to it, set with ola_set_dmx) to dmxd's sACN input on
// another computer (namespace). olad sends the 3 slots set, once, and
// then nothing: by default dmxd releases the source after E1.31's 2.5 s
// (in HTP its levels fall back; in LTP, the default merge, they stay, as
// a desk's do); with --input-hold it keeps them.
func TestInteropOLASACNIntoDMXD(t *testing.T) {
	requireOLA(t)
	a, b := newVeth(t, "olasacnin", true)
	o := startOLAD(t, a, map[string]string{"e131": fmt.Sprintf("ip = %s\ninput_ports = 1\noutput_ports = 1\n", a.ip)})
	o.patch(t, olaE131, 0, false, 1)

	sources := func(t *testing.T, p *testkit.Process, held bool) func() (bool, string) {
		return func() (bool, string) {
			srcs := dmxdSources(t, b, p)
			ok := len(srcs) == 1 && srcs[0].Protocol == "sacn" && srcs[0].Priority == 100 &&
				strings.HasSuffix(srcs[0].Name, "-OLA Server") && strings.HasPrefix(srcs[0].Address, a.ip+":") && srcs[0].Held == held
			return ok, fmt.Sprintf("/healthz sources %+v, want olad's, held %v", srcs, held)
		}
	}
	released := func(t *testing.T, p *testkit.Process) func() (bool, string) {
		return func() (bool, string) {
			srcs := dmxdSources(t, b, p)
			return len(srcs) == 0, fmt.Sprintf("/healthz sources %+v, want none", srcs)
		}
	}
	for _, tc := range []struct {
		name   string
		args   []string
		levels []int
	}{
		{"htp released", []string{"--merge", "htp"}, []int{10, 20, 30}},
		{"htp held", []string{"--merge", "htp", "--input-hold"}, []int{40, 50, 60}},
		{"ltp released", nil, []int{70, 80, 90}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startDMXDUnder(t, b.under(), append([]string{"--input", "sacn:1"}, tc.args...)...)
			o.setDMX(t, 1, tc.levels)
			waitDMXD(t, o.daemon, b, p, 1, tc.levels, "olad's sACN in dmxd")
			o.waitUntil(t, "olad as dmxd's source", sources(t, p, false))
			switch tc.name {
			case "htp released":
				waitDMXD(t, o.daemon, b, p, 1, []int{0, 0, 0}, "olad's levels released after 2.5 s")
				o.waitUntil(t, "olad's source released", released(t, p))
			case "htp held":
				o.waitUntil(t, "olad's source held", sources(t, p, true))
				if ok, why := hasLevels(dmxdLevels(t, b, p, 1), tc.levels); !ok {
					t.Fatalf("olad's source is held: %s", why)
				}
			case "ltp released":
				o.waitUntil(t, "olad's source released", released(t, p))
				if ok, why := hasLevels(dmxdLevels(t, b, p, 1), tc.levels); !ok {
					t.Fatalf("olad's source is released in LTP: %s", why)
				}
			}
		})
	}
}

// olaArtNetConf is olad's Art-Net plugin bound to h's address, net 0,
// sub-net 0: OLA universe U is port-address U mod 16.
func olaArtNetConf(h netHost) string {
	return fmt.Sprintf("ip = %s\nnet = 0\nsubnet = 0\noutput_ports = 1\n", h.ip)
}

// TestInteropOLAArtNetIntoDMXD sends olad's universe 1 (its Art-Net
// output port patched to it: port-address 1) to dmxd's Art-Net input on
// another computer, which takes port-address 1 into universe 1
// (artnet:1=1). olad sends ArtDmx only to the nodes whose ArtPollReply
// lists port-address 1 as an output, so it must list dmxd first.
func TestInteropOLAArtNetIntoDMXD(t *testing.T) {
	requireOLA(t)
	a, b := newVeth(t, "olaartin", true)
	p := startDMXDUnder(t, b.under(), "--input", "artnet:1=1", "--input-hold")
	o := startOLAD(t, a, map[string]string{"artnet": olaArtNetConf(a)})
	o.patch(t, olaArtNet, 0, false, 1) // olad polls when a port is patched
	o.waitUntil(t, "dmxd among olad's Art-Net nodes of universe 1", func() (bool, string) {
		out, err := a.run("ola_artnet", "-d", fmt.Sprint(o.devices[olaArtNet]), "-u", "1")
		return err == nil && strings.Contains(out, b.ip), fmt.Sprintf("ola_artnet -u 1: %q, %v", out, err)
	})
	for _, levels := range [][]int{{11, 22, 33}, {0, 255, 7}} {
		o.setDMX(t, 1, levels)
		waitDMXD(t, o.daemon, b, p, 1, levels, "olad's ArtDmx in dmxd")
	}
	srcs := dmxdSources(t, b, p)
	if len(srcs) != 1 || srcs[0].Protocol != "artnet" || srcs[0].Address != a.ip+":6454" {
		t.Fatalf("/healthz sources %+v, want olad's ArtDmx from %s:6454", srcs, a.ip)
	}
}

// TestInteropArtNetIntoOLA sends dmxd's universe 1 as ArtDmx to
// port-address 1 (artnet:HOST@1) of olad on another computer, whose
// Art-Net input port is patched to OLA universe 1.
func TestInteropArtNetIntoOLA(t *testing.T) {
	requireOLA(t)
	a, b := newVeth(t, "olaartout", true)
	o := startOLAD(t, a, map[string]string{"artnet": olaArtNetConf(a)})
	o.patch(t, olaArtNet, 0, true, 1)
	p := startDMXDUnder(t, b.under(), "--output", "1=artnet:"+a.ip+"@1")
	for _, levels := range [][]int{{255, 128, 1}, {10, 0, 200}} {
		if _, err := b.run(binary, "set", "--universe", "1", "--server", p.Addr,
			fmt.Sprintf("1=%d", levels[0]), fmt.Sprintf("2=%d", levels[1]), fmt.Sprintf("3=%d", levels[2])); err != nil {
			t.Fatal(err)
		}
		o.waitDMX(t, 1, levels, "dmxd's ArtDmx in olad")
	}
}

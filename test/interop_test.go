package test

// Helpers of the interop tests with real programs (interop_ola_test.go,
// interop_qlcplus_test.go): network namespaces joined by a veth pair, a
// program started in one and stopped at the end, dmxd's levels and
// sources read from inside a namespace.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// interopBound bounds each wait of an interop test for a condition: a
// backstop, not a timing claim.
const interopBound = 10 * time.Second

// netHost is one end of a veth pair: the namespace it is in and its
// address there.
type netHost struct {
	ns string
	ip string
}

// requireInterop skips the test unless it runs as root (it creates
// network namespaces) and every tool is installed; what names the
// programs and pkgs the Debian packages that have the tools.
func requireInterop(t *testing.T, what, pkgs string, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("interop with %s needs root: it creates network namespaces (CAP_SYS_ADMIN, CAP_NET_ADMIN)", what)
	}
	for _, tool := range append([]string{"ip", "curl"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("interop with %s needs %s (Debian packages %s, iproute2, curl): %v", what, tool, pkgs, err)
		}
	}
}

// newVeth creates a veth pair va (10.99.0.1/24) and vb (10.99.0.2/24),
// both up with a route for 224.0.0.0/4, and returns its two ends. With
// apart, va and vb are in two namespaces, NAME-PID-a and NAME-PID-b: two
// computers on one link. Otherwise both are in NAME-PID: one computer
// with two addresses. The namespaces are deleted at the end.
func newVeth(t *testing.T, name string, apart bool) (a, b netHost) {
	t.Helper()
	base := fmt.Sprintf("dmxd-%s-%d", name, os.Getpid())
	a = netHost{ns: base, ip: "10.99.0.1"}
	b = netHost{ns: base, ip: "10.99.0.2"}
	if apart {
		a.ns, b.ns = base+"-a", base+"-b"
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range slices.Compact([]string{a.ns, b.ns}) {
		ip("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
		ip("-n", ns, "link", "set", "lo", "up")
	}
	ip("-n", a.ns, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b.ns)
	for _, h := range []struct {
		netHost
		dev string
	}{{a, "va"}, {b, "vb"}} {
		ip("-n", h.ns, "addr", "add", h.ip+"/24", "broadcast", "+", "dev", h.dev)
		ip("-n", h.ns, "link", "set", h.dev, "up", "multicast", "on")
		if apart || h.dev == "va" { // one computer: multicast leaves by va
			ip("-n", h.ns, "route", "add", "224.0.0.0/4", "dev", h.dev)
		}
	}
	return a, b
}

// command returns name with args run in h's namespace.
func (h netHost) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// run runs name with args in h's namespace, bounded by cliBound, and
// returns its stdout, or an error with its stderr when it fails.
func (h netHost) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliBound)
	defer cancel()
	cmd := h.command(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// under is the setup of startDMXDUnder that runs dmxd in h's namespace.
func (h netHost) under() string { return "exec ip netns exec " + h.ns + ` "$0" "$@"` }

// lockedBuffer collects a program's log from its two pipes.
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

// daemon is a program the test started.
type daemon struct {
	name   string
	log    *lockedBuffer // its stdout and stderr
	exited chan error    // receives Wait's result once
}

// startDaemon starts cmd (whose process must be the program itself: ip
// netns exec and setpriv exec it) with its output in a buffer. At the
// end it is sent SIGTERM and waited for (killed after 10 s, an error),
// and its log is shown if the test failed.
func startDaemon(t *testing.T, name string, cmd *exec.Cmd) *daemon {
	t.Helper()
	d := &daemon{name: name, log: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { d.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second): // a backstop
			_ = cmd.Process.Kill()
			<-d.exited
			t.Errorf("%s did not stop on SIGTERM within 10 s", name)
		}
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, d.log.String())
		}
	})
	return d
}

// waitUntil polls ok every 50 ms until it returns true, failing with
// what ok last said when d exits or interopBound has passed.
func (d *daemon) waitUntil(t *testing.T, what string, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(interopBound)
	for {
		select {
		case err := <-d.exited:
			t.Fatalf("%s exited while the test waited for %s: %v\n%s", d.name, what, err, d.log.String())
		default:
		}
		done, last := ok()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v: %s", what, interopBound, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dmxdLevels reads dmxd's universe u through a desk's get (dmxd get
// --json, a WebSocket client) run in h's namespace, where p listens.
func dmxdLevels(t *testing.T, h netHost, p *testkit.Process, u int) []int {
	t.Helper()
	out, err := h.run(binary, "get", "--universe", fmt.Sprint(u), "--json", "--server", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Values []int `json:"values"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("dmxd get --json: %v: %s", err, out)
	}
	return got.Values
}

// hasLevels reports whether levels start with want, and says what they
// hold.
func hasLevels(levels, want []int) (bool, string) {
	n := min(len(levels), len(want)+1)
	return len(levels) >= len(want) && slices.Equal(levels[:len(want)], want),
		fmt.Sprintf("dmxd holds %v…, want %v first", levels[:n], want)
}

// netSource is a network source as dmxd's /healthz lists it.
type netSource struct {
	Universe int    `json:"universe"`
	Protocol string `json:"protocol"`
	Name     string `json:"name"`
	Address  string `json:"address"`
	Priority int    `json:"priority"`
	Active   bool   `json:"active"`
	Held     bool   `json:"held"`
}

// dmxdSources reads the network sources of dmxd's /healthz with curl in
// h's namespace.
func dmxdSources(t *testing.T, h netHost, p *testkit.Process) []netSource {
	t.Helper()
	out, err := h.run("curl", "-sS", "--max-time", "5", p.URL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Sources []netSource `json:"sources"`
	}
	if err := json.Unmarshal([]byte(out), &health); err != nil {
		t.Fatalf("dmxd's /healthz: %v: %s", err, out)
	}
	return health.Sources
}

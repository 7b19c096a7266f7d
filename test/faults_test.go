package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/test/testkit"
)

// healthz fetches /healthz.
func healthz(t *testing.T, p *testkit.Process) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(p.URL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h
}

// waitHealth polls /healthz until it answers code, within timeout.
func waitHealth(t *testing.T, p *testkit.Process, code int, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, h := healthz(t, p)
		if got == code {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz answered %d (%v), want %d within %v", got, h, code, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUnplugAndReplug closes the pty master (the USB cable is pulled): the
// output goes down, clients hear it, /healthz says 503, the levels are
// kept; a new pty behind the same path brings it back, and its first
// frame carries the current levels, including a change made while down.
func TestUnplugAndReplug(t *testing.T) {
	pty, err := testkit.NewLinkedPTY(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Link)
	d := dial(t, p)
	if err := d.Send(`{"dmx": {"1": 90}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 90 }); err != nil {
		t.Fatal(err)
	}
	if err := pty.Close(); err != nil {
		t.Fatal(err)
	}
	down, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "output" })
	if err != nil || down.State != "down" || down.Driver != "enttec-pro" || down.Universe != 1 {
		t.Fatalf("output message after unplug: %s %v", down.Raw, err)
	}
	h := waitHealth(t, p, 503, 5*time.Second)
	if h["status"] != "degraded" {
		t.Errorf("/healthz status %v, want degraded", h["status"])
	}
	if err := d.Send(`{"dmx": {"2": 45}, "id": 1}`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" }); err != nil {
		t.Fatal(err)
	}
	q, err := pty.Replug()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	first, err := q.WaitFrame(10*time.Second, anyFrame)
	if err != nil {
		t.Fatalf("no frame after replug: %v", err)
	}
	if first.Values[0] != 90 || first.Values[1] != 45 {
		t.Errorf("first frame after replug has 1=%d 2=%d, want 90 and 45", first.Values[0], first.Values[1])
	}
	up, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "output" })
	if err != nil || up.State != "up" {
		t.Fatalf("output message after replug: %s %v", up.Raw, err)
	}
	waitHealth(t, p, 200, 5*time.Second)
}

// TestMissingDeviceStartsDown: a serial path that does not exist yet is
// not an error; the output starts down and comes up when it appears.
func TestMissingDeviceStartsDown(t *testing.T) {
	link := filepath.Join(t.TempDir(), "ttyLATER")
	p := startDMXD(t, "--output", "1=enttec-pro:"+link)
	waitHealth(t, p, 503, 5*time.Second)
	pty := newPTY(t)
	if err := os.Symlink(pty.Path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := pty.WaitFrame(10*time.Second, anyFrame); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, p, 200, 5*time.Second)
}

// TestStalledDeviceIsReportedDown: nobody reads the device, so dmxd's
// writes block. The watchdog reports the output down while clients keep
// being served; once the device reads again the output comes back.
func TestStalledDeviceIsReportedDown(t *testing.T) {
	pty, err := testkit.NewStalledPTY()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pty.Close() })
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	d := dial(t, p)
	down, err := d.Until(15*time.Second, func(m testkit.Message) bool { return m.Type == "output" })
	if err != nil || down.State != "down" {
		t.Fatalf("output message while stalled: %s %v", down.Raw, err)
	}
	waitHealth(t, p, 503, 5*time.Second)
	// The universe is not blocked: commands are still applied and acked.
	if err := d.Send(`{"dmx": {"7": 70}, "id": "x"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" }); err != nil {
		t.Fatal(err)
	}
	pty.Resume()
	if _, err := pty.WaitFrame(10*time.Second, func(f testkit.Frame) bool { return f.Values[6] == 70 }); err != nil {
		t.Fatal(err)
	}
	up, err := d.Until(10*time.Second, func(m testkit.Message) bool { return m.Type == "output" })
	if err != nil || up.State != "up" {
		t.Fatalf("output message after the device read again: %s %v", up.Raw, err)
	}
}

// TestStateSurvivesRestart: levels and blackout are saved and restored,
// and SIGTERM closes clients with 1001 and exits 0 within 5 s.
func TestStateSurvivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "dmxd.json")
	p, err := testkit.Start(binary, "--state", state, "--universes", "2")
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{`{"dmx": {"1": 11, "512": 250}, "id": 1}`, `{"dmx": [9], "start": 300, "universe": 2, "id": 2}`, `{"blackout": true, "universe": 2, "id": 3}`} {
		if err := d.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" }); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, err = d.Until(5*time.Second, func(testkit.Message) bool { return false })
	if !isClose(err, 1001) {
		t.Errorf("desk got %v at shutdown, want close 1001", err)
	}
	code, err := p.Wait(5 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit %d %v, want 0 within 5 s", code, err)
	}
	t.Logf("shutdown took %v", time.Since(start))

	q := startDMXD(t, "--state", state, "--universes", "2")
	e := dial(t, q)
	if st := getState(t, e, 1); st.Values[0] != 11 || st.Values[511] != 250 || st.Blackout {
		t.Fatalf("restored universe 1: %s", st.Raw)
	}
	if st := getState(t, e, 2); st.Values[299] != 9 || !st.Blackout {
		t.Fatalf("restored universe 2: %s", st.Raw)
	}
}

// TestStateSavedWhileRunning: a change reaches the file within about a
// second, without a shutdown (a power cut keeps the look).
func TestStateSavedWhileRunning(t *testing.T) {
	state := filepath.Join(t.TempDir(), "dmxd.json")
	p := startDMXD(t, "--state", state)
	d := dial(t, p)
	if err := d.Send(`{"dmx": {"4": 44}}`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(state)
		if err == nil {
			var f struct {
				Universes []struct {
					Values []int `json:"values"`
				} `json:"universes"`
			}
			if json.Unmarshal(b, &f) == nil && len(f.Universes) == 1 && f.Universes[0].Values[3] == 44 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("state file never held channel 4 = 44: %v %s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCorruptStateIsMovedAside: an unreadable state file is kept under
// another name, never overwritten, and dmxd starts dark with a log line.
func TestCorruptStateIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "dmxd.json")
	garbage := []byte("{\"version\": 1, \"universes\": [oops")
	if err := os.WriteFile(state, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startDMXD(t, "--state", state)
	assertDark(t, getState(t, dial(t, p), 1), "after a corrupt state file")
	matches, _ := filepath.Glob(state + ".bad-*")
	if len(matches) != 1 {
		t.Fatalf("moved-aside files: %v, want one", matches)
	}
	kept, err := os.ReadFile(matches[0])
	if err != nil || string(kept) != string(garbage) {
		t.Errorf("moved-aside file holds %q, want the original bytes", kept)
	}
	found := false
	for _, l := range p.Logs() {
		if msg, _ := l["message"].(string); strings.Contains(msg, "moved aside") {
			found = true
		}
	}
	if !found {
		t.Error("no log line says the state file was moved aside")
	}
}

// TestUnwritableStateExits2: a state file dmxd could not save is an
// operator's mistake found at start — exit status 2 and one line on
// stderr, before anything listens — not an error at the first save and
// exit 1 at SIGTERM.
func TestUnwritableStateExits2(t *testing.T) {
	t.Run("read-only directory", func(t *testing.T) {
		dir, wrap := readOnlyDir(t)
		expectExit2(t, wrap, filepath.Join(dir, "dmxd.json"))
	})
	t.Run("state path is a directory", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(state, 0o755); err != nil {
			t.Fatal(err)
		}
		expectExit2(t, nil, state)
		if st, err := os.Stat(state); err != nil || !st.IsDir() {
			t.Errorf("the directory given as --state is gone: %v", err)
		}
	})
}

// expectExit2 runs dmxd with --state state and checks that it exits 2
// with one line on stderr that names the flag, without listening.
func expectExit2(t *testing.T, wrap []string, state string) {
	t.Helper()
	code, stderr, listened := runUntilExit(t, wrap, "--state", state)
	if listened {
		t.Fatalf("dmxd started with --state %s (exit %d after SIGTERM), want exit 2 before it listens:\n%s",
			state, code, strings.Join(stderr, "\n"))
	}
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if len(stderr) != 1 || !strings.HasPrefix(stderr[0], "dmxd: --state") {
		t.Errorf("stderr %q, want one line about --state", stderr)
	}
	t.Logf("%s", stderr)
}

// readOnlyDir returns a directory in which nothing can be created, and the
// command prefix dmxd must run under for that to hold. Permission bits stop
// a process that is not root: then there is no prefix. Root ignores them,
// so dmxd then runs in a mount namespace of its own (unshare) where the
// directory is a read-only tmpfs. The test is skipped when neither works.
func readOnlyDir(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
	f, err := os.CreateTemp(dir, "probe-*")
	if err != nil {
		return dir, nil
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("permissions do not stop this process from writing (root) and there is no unshare to mount a read-only directory")
	}
	const mountRO = `mount -t tmpfs -o ro dmxd-ro "$1" && shift && exec "$@"`
	var tried []string
	for _, ns := range [][]string{{"--mount"}, {"--user", "--map-root-user", "--mount"}} {
		wrap := append(append([]string{unshare}, ns...), "sh", "-c", mountRO, "sh", dir)
		// The prefix works when the mount succeeds and a write under it fails.
		probe := exec.Command(wrap[0], append(wrap[1:], "sh", "-c", `! touch "$0/probe" 2>/dev/null`, dir)...)
		out, err := probe.CombinedOutput()
		if err == nil {
			return dir, wrap
		}
		tried = append(tried, fmt.Sprintf("unshare %s: %v %s", strings.Join(ns, " "), err, out))
	}
	t.Skipf("permissions do not stop this process from writing (root) and no mount namespace with a read-only tmpfs could be made: %s", tried)
	return "", nil
}

// TestFailedFinalSaveExits1: when the state cannot be saved at shutdown
// (its directory was replaced by a file while dmxd ran), dmxd logs the
// error and exits 1: the levels are lost and the operator must hear of it.
// (A passed shutdown deadline, which loses no levels, still exits 0.)
func TestFailedFinalSaveExits1(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := testkit.Start(binary, "--state", filepath.Join(dir, "dmxd.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, dir+".gone"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Stop(5 * time.Second); err != nil || code != 1 {
		t.Errorf("exit %d %v after SIGTERM with a state file it cannot save, want 1", code, err)
	}
	logged := false
	for _, l := range p.Logs() {
		if l["level"] == "error" && strings.Contains(fmt.Sprint(l["message"]), "cannot save state") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no error logged for the failed save:\n%s", strings.Join(p.RawLogs(), "\n"))
	}
}

// TestShutdownSendsFinalFrame: a level acknowledged just before SIGTERM is
// on the wire in the last frame dmxd writes.
func TestShutdownSendsFinalFrame(t *testing.T) {
	pty := newPTY(t)
	p, err := testkit.Start(binary, "--output", "1=enttec-pro:"+pty.Path)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Send(`{"dmx": {"1": 77}, "id": 1}`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" }); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(5 * time.Second); err != nil || code != 0 {
		t.Fatalf("exit %d %v, want 0", code, err)
	}
	var last testkit.Frame
	for {
		f, err := pty.WaitFrame(500*time.Millisecond, anyFrame)
		if err != nil {
			break
		}
		last = f
	}
	if last.Values[0] != 77 {
		t.Errorf("last frame before exit has channel 1 = %d, want 77", last.Values[0])
	}
}

// TestShutdownDropsAStalledClient: a client that asks for states and
// reads nothing (a 4 KiB receive buffer) is behind when SIGTERM comes;
// shutdown waits for it only until its deadline, drops it, and dmxd exits
// 0 within the protocol's 5 s, while a well-behaved desk gets its 1001.
func TestShutdownDropsAStalledClient(t *testing.T) {
	p, err := testkit.Start(binary)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop(time.Second) })
	dialer := websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			return errors.Join(err, serr)
		}}).DialContext,
	}
	stalled, _, err := dialer.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	desk := dial(t, p)
	metrics := p.URL("/metrics")
	// Each state is ~1 KiB: a few hundred fill the client's buffer, the
	// socket's and dmxd's queue, and the client falls behind.
	deadline := time.Now().Add(10 * time.Second)
	for sent := 0; ; sent++ {
		_ = stalled.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := stalled.WriteMessage(websocket.TextMessage, []byte(`{"get":true}`)); err != nil {
			t.Fatalf("get %d: %v", sent, err)
		}
		if sent%50 == 49 {
			if _, m := scrape(t, metrics, ""); m["dmxd_send_queue_drops_total"] > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the stalled client never fell behind")
		}
	}
	start := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait(shutdownBound)
	took := time.Since(start)
	if err != nil || code != 0 {
		t.Fatalf("exit %d (%v) after %v, want 0 within %v", code, err, took, shutdownBound)
	}
	if _, err := desk.Until(time.Second, func(testkit.Message) bool { return false }); !websocket.IsCloseError(err, 1001) {
		t.Errorf("the desk's connection ended with %v, want close 1001", err)
	}
	for _, l := range p.Logs() {
		if l["level"] == "error" {
			t.Errorf("dmxd logged %v", l)
		}
	}
	t.Logf("exit 0 after %v with a stalled client", took.Round(time.Millisecond))
}

// shutdownBound is the protocol's bound from SIGTERM to the exit.
const shutdownBound = 5 * time.Second

package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// TestSIGHUPStopsGracefully: SIGHUP (the terminal or ssh session that
// started dmxd went away) stops dmxd as SIGTERM does: the desk gets close
// 1001, the last acknowledged level is in the state file, exit 0 within
// the protocol's 5 s. (Before, SIGHUP killed dmxd: status 129 in a shell.)
func TestSIGHUPStopsGracefully(t *testing.T) {
	state := filepath.Join(t.TempDir(), "dmxd.json")
	p, err := testkit.Start(binary, "--state", state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop(time.Second) })
	d := dial(t, p)
	// Two changes in a row: the second is within the saver's second, so
	// only the save at shutdown is sure to hold it.
	for i, level := range []int{54, 55} {
		if err := d.Send(fmt.Sprintf(`{"dmx": {"5": %d}, "id": %d}`, level, i)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" }); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Until(shutdownBound, func(testkit.Message) bool { return false }); !isClose(err, 1001) {
		t.Errorf("desk got %v after SIGHUP, want close 1001", err)
	}
	code, err := p.Wait(shutdownBound)
	if err != nil || code != 0 {
		t.Fatalf("exit %d (%v) after SIGHUP, want 0 within %v", code, err, shutdownBound)
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("no state file after SIGHUP: %v", err)
	}
	var f struct {
		Universes []struct {
			Values []int `json:"values"`
		} `json:"universes"`
	}
	if err := json.Unmarshal(b, &f); err != nil || len(f.Universes) != 1 || f.Universes[0].Values[4] != 55 {
		t.Errorf("state file after SIGHUP: %s (%v), want channel 5 = 55", b, err)
	}
	stopping := false
	for _, l := range p.Logs() {
		if l["message"] == "shutting down" && strings.Contains(fmt.Sprint(l["reason"]), "hangup") {
			stopping = true
		}
	}
	if !stopping {
		t.Error(`no "shutting down" log line names the hangup`)
	}
}

// TestSIGHUPIgnoredUnderNohup: dmxd started with SIGHUP ignored (nohup,
// or a shell trap that ignores HUP) keeps ignoring it, so the hangup nohup was
// asked to survive does not stop dmxd.
func TestSIGHUPIgnoredUnderNohup(t *testing.T) {
	p, err := testkit.StartUnder("trap '' HUP", binary)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if code, err := p.Stop(10 * time.Second); err != nil || code != 0 {
			t.Errorf("stop: exit %d %v, want 0", code, err)
		}
	})
	dial(t, p) // dmxd has installed its signal handlers
	ignored, err := signalMask(p.Pid(), "SigIgn")
	if err != nil {
		t.Fatal(err)
	}
	if hup := uint64(1) << (syscall.SIGHUP - 1); ignored&hup == 0 {
		t.Errorf("SIGHUP is not ignored any more (SigIgn %016x): nohup would not protect dmxd", ignored)
	}
}

// signalMask reads one of the signal masks (SigIgn, SigCgt, …) of process
// pid from /proc.
func signalMask(pid int, field string) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

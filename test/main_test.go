// Package test holds dmxd's end-to-end tests: the built binary, real
// WebSocket clients on 127.0.0.1 and real pseudo-terminals as serial
// devices.
package test

import (
	"fmt"
	"os"
	"testing"

	"github.com/dmxd/dmxd/test/testkit"
)

// binary is the dmxd built once for every test of the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dmxd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary, err = testkit.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// startDMXD starts dmxd with args and stops it when the test ends,
// checking that it exits 0.
func startDMXD(t *testing.T, args ...string) *testkit.Process {
	t.Helper()
	return startDMXDUnder(t, "", args...)
}

// startDMXDUnder is startDMXD with dmxd run after the shell commands
// setup (see testkit.StartUnder).
func startDMXDUnder(t *testing.T, setup string, args ...string) *testkit.Process {
	t.Helper()
	p, err := testkit.StartUnder(setup, binary, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		code, err := p.Stop(10e9)
		if err != nil {
			t.Errorf("stop dmxd: %v", err)
		} else if code != 0 {
			t.Errorf("dmxd exit status %d, want 0", code)
		}
		for _, l := range p.Logs() {
			if l["level"] == "error" || l["level"] == "panic" || l["level"] == "fatal" {
				t.Errorf("dmxd logged %v", l)
			}
		}
		if t.Failed() {
			for _, l := range p.RawLogs() {
				t.Log(l)
			}
		}
	})
	return p
}

// newPTY opens a pty whose frames the test decodes; closed at the end.
func newPTY(t *testing.T) *testkit.PTY {
	t.Helper()
	p, err := testkit.NewPTY()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// dial connects a desk and reads its hello and first state.
func dial(t *testing.T, p *testkit.Process) *testkit.Desk {
	t.Helper()
	d, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	hello, err := d.Next(5e9)
	if err != nil || hello.Type != "hello" {
		t.Fatalf("first message: %+v, %v; want hello", hello, err)
	}
	st, err := d.Next(5e9)
	if err != nil || st.Type != "state" {
		t.Fatalf("second message: %+v, %v; want state", st, err)
	}
	return d
}

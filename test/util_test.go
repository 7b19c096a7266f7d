package test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/test/testkit"
)

// isClose reports whether err is a close frame with code.
func isClose(err error, code int) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) && ce.Code == code
}

// getState asks for universe u's state and returns it. The get carries an
// id: dmxd answers with the state, then the ack, so the state is the last
// one of u before that ack. Without the id, a state still queued from the
// connect (dial reads only the first of them, and with several universes
// they come in any order) could pass for the answer.
func getState(t *testing.T, d *testkit.Desk, u int) testkit.Message {
	t.Helper()
	id := fmt.Sprintf("get-%d-%d", u, time.Now().UnixNano())
	if err := d.Send(fmt.Sprintf(`{"get": true, "universe": %d, "id": %q}`, u, id)); err != nil {
		t.Fatal(err)
	}
	var st testkit.Message
	if _, err := d.Until(5*time.Second, func(m testkit.Message) bool {
		if m.Type == "state" && m.Universe == u {
			st = m
		}
		return m.Type == "ack" && m.ID == id
	}); err != nil {
		t.Fatal(err)
	}
	if st.Type == "" {
		t.Fatalf("the ack of %s came without a state of universe %d", id, u)
	}
	return st
}

// framesWritten asks /healthz how many frames dmxd has written to
// universe u's device: the refresh loop's own count, read as it answers.
func framesWritten(t *testing.T, p *testkit.Process, u int) int64 {
	t.Helper()
	resp, err := http.Get(p.URL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Universes []struct {
			Universe int   `json:"universe"`
			Frames   int64 `json:"frames"`
		} `json:"universes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	for _, o := range h.Universes {
		if o.Universe == u {
			return o.Frames
		}
	}
	t.Fatalf("/healthz has no universe %d", u)
	return 0
}

// assertDark fails unless every level of st is 0.
func assertDark(t *testing.T, st testkit.Message, why string) {
	t.Helper()
	for i, v := range st.Values {
		if v != 0 {
			t.Fatalf("channel %d = %d, want 0 %s", i+1, v, why)
		}
	}
}

// runUntilExit runs dmxd with args (plus --listen 127.0.0.1:0 and JSON
// logs), after the command prefix wrap if any (such as unshare), and waits
// for it to exit: it returns the exit status and the stderr lines. A dmxd
// that listens instead is stopped with SIGTERM, and listened says so.
// Nothing is timed: stderr ends when dmxd exits.
func runUntilExit(t *testing.T, wrap []string, args ...string) (code int, stderr []string, listened bool) {
	t.Helper()
	argv := append(append(slices.Clone(wrap), binary), args...)
	argv = append(argv, "--listen", "127.0.0.1:0", "--log-format", "json")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "DMXD_TOKEN=", "DMXD_OUTPUT=")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		stderr = append(stderr, sc.Text())
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["listen"] != nil && !listened {
			listened = true
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %q: %v", argv, err)
	}
	return cmd.ProcessState.ExitCode(), stderr, listened
}

// waitWholeFrames waits until the pty has decoded at least written enttec
// frames (what dmxd counted as written) and its stream is at a message
// boundary: every byte read belongs to a decoded message. dmxd keeps
// refreshing meanwhile, so at any one look the reader may hold part of
// the next frame, read but not yet decoded; between two frames the
// stream comes to rest, and then bytes == frames × size unless a message
// was cut (the decoder skips what does not start a message, and the
// count never comes even again). 5 s is a backstop, not a timing claim.
func waitWholeFrames(t *testing.T, pty *testkit.PTY, written int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, before := pty.Stream()
		bytes, decoded := pty.Stream()
		if decoded == before && decoded >= written && bytes == decoded*dmx.EnttecFrameSize {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pty read %d bytes and decoded %d whole messages (dmxd counted %d written): a message was cut, or frames are missing", bytes, decoded, written)
		}
		time.Sleep(time.Millisecond)
	}
}

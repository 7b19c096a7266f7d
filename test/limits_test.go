package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dmxd/dmxd/test/testkit"
)

// TestIdleKeepAlivesDoNotLockOutDesks: with the open-files limit at 200,
// 250 clients that each GET /healthz and then keep their connection open
// and idle do not keep a desk out (before, from about the 189th on they
// waited forever: accept failed with EMFILE, logged in plain text, and
// nothing freed a descriptor). Each later client takes the place of the
// longest-idle one. With the limit set before dmxd starts, dmxd keeps its
// connections below it; with the limit lowered while dmxd runs, accept
// fails with EMFILE and dmxd closes an idle connection and retries. Every
// line dmxd logs is JSON.
func TestIdleKeepAlivesDoNotLockOutDesks(t *testing.T) {
	const openFiles, idlers = 200, 250
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *testkit.Process
		log   string // a warning that shows which way dmxd went
	}{
		{"limit at start", func(t *testing.T) *testkit.Process {
			return startDMXDUnder(t, fmt.Sprintf("ulimit -n %d", openFiles))
		}, "the open-files limit allows fewer connections than --max-conns"},
		{"limit lowered while running", func(t *testing.T) *testkit.Process {
			p := startDMXD(t)
			lim := unix.Rlimit{Cur: openFiles, Max: openFiles}
			if err := unix.Prlimit(p.Pid(), unix.RLIMIT_NOFILE, &lim, nil); err != nil {
				t.Fatalf("prlimit: %v", err)
			}
			return p
		}, "cannot accept connections: out of file descriptors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.start(t)
			// /healthz answers 503 until the output's first open is over.
			waitHealth(t, p, http.StatusOK, 10*time.Second)
			for i := range idlers {
				c, err := idleKeepAlive(p.Addr)
				if err != nil {
					t.Fatalf("keep-alive client %d: %v", i+1, err)
				}
				t.Cleanup(func() { _ = c.Close() })
			}
			d := dial(t, p) // hello and state within 5 s
			if err := d.Send(`{"dmx": {"1": 1}, "id": 1}`); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" }); err != nil {
				t.Fatalf("desk after %d idle clients: %v", idlers, err)
			}
			for _, line := range p.RawLogs() {
				if !json.Valid([]byte(line)) {
					t.Errorf("dmxd logged a line that is not JSON: %s", line)
				}
			}
			found := false
			for _, l := range p.Logs() {
				msg, _ := l["message"].(string)
				found = found || l["level"] == "warn" && strings.HasPrefix(msg, tc.log)
			}
			if !found {
				t.Errorf("no warning %q", tc.log)
			}
		})
	}
}

// idleKeepAlive opens a connection to addr, GETs /healthz on it as an
// HTTP/1.1 client does and returns it open and idle.
func idleKeepAlive(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr); err != nil {
		c.Close()
		return nil, fmt.Errorf("send: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("no answer: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		c.Close()
		return nil, fmt.Errorf("answer %d (close %v), want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

package test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/test/testkit"
)

// TestAccessControl checks token, origin and connection limits: each is
// refused with its HTTP status before any upgrade.
func TestAccessControl(t *testing.T) {
	p := startDMXD(t, "--token", "s3cret", "--origins", "http://desk.example:8080", "--max-conns", "2")
	ws := p.WSURL("/ws")
	bearer := http.Header{"Authorization": {"Bearer s3cret"}}
	cases := []struct {
		name   string
		url    string
		header http.Header
		status int
	}{
		{"no token", ws, nil, 401},
		{"wrong token", ws + "?token=nope", nil, 401},
		{"wrong bearer", ws, http.Header{"Authorization": {"Bearer nope"}}, 401},
		{"disallowed origin", ws + "?token=s3cret", http.Header{"Origin": {"http://evil.example"}}, 403},
		{"allowed origin", ws + "?token=s3cret", http.Header{"Origin": {"http://desk.example:8080"}}, 101},
		{"bearer without origin", ws, bearer, 101},
		{"over max-conns", ws + "?token=s3cret", nil, 503},
	}
	for _, c := range cases {
		d, resp, err := testkit.Dial(c.url, c.header)
		got := 0
		if resp != nil {
			got = resp.StatusCode
		}
		if got != c.status {
			t.Errorf("%s: HTTP %d (%v), want %d", c.name, got, err, c.status)
		}
		if d != nil {
			t.Cleanup(func() { _ = d.Close() })
			if _, err := d.Next(5 * time.Second); err != nil {
				t.Errorf("%s: no hello: %v", c.name, err)
			}
		}
	}
	// /healthz and / need no token.
	for _, path := range []string{"/healthz", "/"} {
		resp, err := http.Get(p.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s without token: %d, want 200", path, resp.StatusCode)
		}
	}
}

// TestSameHostOriginByDefault: without --origins only the same host may
// connect from a browser.
func TestSameHostOriginByDefault(t *testing.T) {
	p := startDMXD(t)
	if _, resp, err := testkit.Dial(p.WSURL("/ws"), http.Header{"Origin": {"http://elsewhere.example"}}); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Errorf("foreign origin: %v, want 403", err)
	}
	d, _, err := testkit.Dial(p.WSURL("/ws"), http.Header{"Origin": {"http://" + p.Addr}})
	if err != nil {
		t.Fatalf("same-host origin refused: %v", err)
	}
	d.Close()
}

// TestRateLimit floods past --conn-rate: the excess gets rate_limited
// errors and is not applied; a client that keeps going is closed with 1008.
func TestRateLimit(t *testing.T) {
	p := startDMXD(t, "--conn-rate", "20")
	watcher := dial(t, p)
	d := dial(t, p)
	// 40 commands (the burst) pass, then refusals; 300 in all.
	for i := range 300 {
		if err := d.Send(`{"dmx": {"9": ` + itoa(i%200+1) + `}, "id": ` + itoa(i) + `}`); err != nil {
			break // closed under us: checked below
		}
	}
	limited, acks := 0, 0
	var closeErr error
	for {
		m, err := d.Next(5 * time.Second)
		if err != nil {
			closeErr = err
			break
		}
		switch {
		case m.Type == "error" && m.Code == "rate_limited":
			limited++
			if m.ID == nil {
				t.Errorf("rate_limited error without the command's id: %s", m.Raw)
			}
		case m.Type == "ack":
			acks++
		}
	}
	if !isClose(closeErr, 1008) {
		t.Errorf("flooding client ended with %v, want close 1008", closeErr)
	}
	if limited == 0 || acks == 0 || acks > 60 {
		t.Errorf("acks %d, rate_limited %d: want the burst acked and the rest refused", acks, limited)
	}
	// Only acked commands were applied: the last acked level is the level.
	st, want := getState(t, watcher, 1), (acks-1)%200+1
	if st.Values[8] != want {
		t.Errorf("channel 9 = %d, want %d (the last acknowledged command)", st.Values[8], want)
	}
}

// TestSlowReaderIsClosed: a desk that asks for more than it reads falls
// behind; once it has been behind for longer than the slow-client timeout
// it is closed with 1013, which it reads after what was queued before.
func TestSlowReaderIsClosed(t *testing.T) {
	p := startDMXD(t, "--conn-rate", "0")
	slow := dial(t, p)
	start := time.Now()
	// Ask for 2 KB states as fast as possible and read nothing for 7 s:
	// the kernel buffers fill, then the server's queue.
	for time.Since(start) < 7*time.Second {
		if err := slow.Send(`{"get": true}`); err != nil {
			break
		}
	}
	var err error
	for err == nil {
		_, err = slow.Next(10 * time.Second)
	}
	if !isClose(err, 1013) {
		t.Fatalf("slow desk ended with %v, want close 1013", err)
	}
}

// TestHalfOpenClientIsReaped: a client that stops answering pings is
// dropped after twice the ping interval, and /healthz counts it gone.
func TestHalfOpenClientIsReaped(t *testing.T) {
	p := startDMXD(t, "--ping-interval", "200ms")
	d := dial(t, p)
	// Swallow pings without answering them, and never read again.
	d.Conn.SetPingHandler(func(string) error { return nil })
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, h := healthz(t, p)
		if h["connections"] == float64(0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("half-open client still counted: %v", h)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = websocket.CloseNormalClosure
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}

// TestPacedFloodIsClosed: a client that keeps sending at five times its
// rate is closed with 1008, although the limiter lets one of its commands
// through now and then.
func TestPacedFloodIsClosed(t *testing.T) {
	p := startDMXD(t, "--conn-rate", "20")
	d := dial(t, p)
	closed := make(chan error, 1)
	go func() {
		for {
			if _, err := d.Next(10 * time.Second); err != nil {
				closed <- err
				return
			}
		}
	}()
	deadline := time.After(8 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-closed:
			if !isClose(err, 1008) {
				t.Fatalf("paced flood ended with %v, want close 1008", err)
			}
			return
		case <-deadline:
			t.Fatal("a client sending 100 commands/s against --conn-rate 20 is still open after 8 s")
		case <-tick.C:
			if err := d.Send(`{"dmx": {"3": 3}}`); err != nil {
				// The server closed; the reader reports how.
				select {
				case err := <-closed:
					if !isClose(err, 1008) {
						t.Fatalf("paced flood ended with %v, want close 1008", err)
					}
					return
				case <-time.After(5 * time.Second):
					t.Fatalf("send failed (%v) but no close seen", err)
				}
			}
		}
	}
}

// TestDNSRebindingIsRefused: a page on a site whose name was made to
// resolve to dmxd's address sends that name as Host and, from the same
// name, as Origin; without --token it passed the same-host origin check.
// Every path answers it 421, while the IP address and localhost work.
func TestDNSRebindingIsRefused(t *testing.T) {
	p := startDMXD(t)
	_, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	evil := "evil.example:" + port
	rebound := http.Header{"Host": {evil}, "Origin": {"http://" + evil}}
	if d, resp, err := testkit.Dial(p.WSURL("/ws"), rebound); err == nil || resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
		if d != nil {
			d.Close()
		}
		t.Errorf("WebSocket with Host %s: %v, want 421", evil, err)
	}
	for _, path := range []string{"/", "/healthz", "/metrics"} {
		if got := getWithHost(t, p.URL(path), evil); got != http.StatusMisdirectedRequest {
			t.Errorf("GET %s with Host %s: %d, want 421", path, evil, got)
		}
	}
	for _, host := range []string{p.Addr, "localhost:" + port, "[::1]:" + port} {
		if got := getWithHost(t, p.URL("/healthz"), host); got != http.StatusOK {
			t.Errorf("GET /healthz with Host %s: %d, want 200", host, got)
		}
	}
	d, _, err := testkit.Dial(p.WSURL("/ws"), http.Header{"Host": {"localhost:" + port}, "Origin": {"http://localhost:" + port}})
	if err != nil {
		t.Fatalf("WebSocket from a localhost page: %v", err)
	}
	d.Close()
}

// TestAllowHosts: a name given with --allow-hosts (a LAN name of the dmxd
// machine) is served, from a page of that name too.
func TestAllowHosts(t *testing.T) {
	p := startDMXD(t, "--allow-hosts", "dmxd.lan")
	_, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	host := "DMXD.lan:" + port
	if got := getWithHost(t, p.URL("/"), host); got != http.StatusOK {
		t.Errorf("GET / with Host %s: %d, want 200", host, got)
	}
	d, _, err := testkit.Dial(p.WSURL("/ws"), http.Header{"Host": {host}, "Origin": {"http://" + host}})
	if err != nil {
		t.Fatalf("WebSocket from a page of an allowed name: %v", err)
	}
	d.Close()
	if got := getWithHost(t, p.URL("/"), "other.lan:"+port); got != http.StatusMisdirectedRequest {
		t.Errorf("GET / with a name not allowed: %d, want 421", got)
	}
}

// getWithHost sends GET url with the Host header host and returns the
// status.
func getWithHost(t *testing.T, url, host string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

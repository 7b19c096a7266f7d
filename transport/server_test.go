package transport

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// startServer runs a Server for a real engine behind a real socket on
// 127.0.0.1 (httptest); both are stopped when the test ends.
func startServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	srv, eng := newServer(t, cfg)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		closeServer(srv, eng)
	})
	return srv, hs
}

// newServer returns a Server for a real engine of one universe.
func newServer(t *testing.T, cfg Config) (*Server, *actors.Engine) {
	t.Helper()
	eng, err := actors.Start(actors.Config{Universes: 1, Rate: 44, Merge: dmx.LTP, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return NewServer(eng, cfg), eng
}

// closeServer closes the connections of srv and stops eng, as dmxd does
// at shutdown.
func closeServer(srv *Server, eng *actors.Engine) {
	_ = eng.CloseConnections(actors.CloseGoingAway, "", time.Now().Add(5*time.Second))
	srv.WaitPumps(5 * time.Second)
	_ = eng.Stop()
}

// TestBearerScheme: the token may come as Authorization: Bearer in any
// case (the scheme is case-insensitive, RFC 7235 section 2.1); other
// schemes and malformed headers get 401.
func TestBearerScheme(t *testing.T) {
	_, hs := startServer(t, Config{Token: "s3cret"})
	for _, tc := range []struct {
		header string
		status int
	}{
		{"Bearer s3cret", 200},
		{"bearer s3cret", 200},
		{"BEARER s3cret", 200},
		{"bEaReR s3cret", 200},
		{"Bearer   s3cret", 200},
		{"Bearer nope", 401},
		{"Basic s3cret", 401},
		{"Bearers3cret", 401},
		{"Bearer", 401},
		{"s3cret", 401},
		{"", 401},
	} {
		req, err := http.NewRequest("GET", hs.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("Authorization %q: %d, want %d", tc.header, resp.StatusCode, tc.status)
		}
	}
}

// TestHostCheck: every path answers 421 to a Host that is neither an IP
// literal, localhost, a name under .localhost nor an allowed name (a DNS
// rebinding page sends its own name), before the token is looked at.
func TestHostCheck(t *testing.T) {
	_, hs := startServer(t, Config{AllowedHosts: []string{"Desk.LAN."}})
	for _, tc := range []struct {
		host   string
		status int
	}{
		{"127.0.0.1", 200},
		{"127.0.0.1:8080", 200},
		{"10.0.0.7:80", 200},
		{"[::1]:8080", 200},
		{"[::1]", 200},
		{"[fe80::1%25eth0]:8080", 200},
		{"localhost", 200},
		{"LOCALHOST:8080", 200},
		{"localhost.:8080", 200},
		{"desk.localhost:8080", 200},
		{"desk.lan:8080", 200},
		{"DESK.LAN", 200},
		{"desk.lan.", 200},
		{"evil.example:8080", 421},
		{"evil.example", 421},
		{"localhost.evil.example", 421},
		{"127.0.0.1.evil.example", 421},
		{"desk.lan.evil.example", 421},
		{"xdesk.lan", 421},
		{"notlocalhost", 421},
	} {
		for _, path := range []string{"/", "/healthz", "/metrics", "/ws"} {
			req, err := http.NewRequest("GET", hs.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host
			resp, err := hs.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := tc.status
			if path == "/ws" && want == 200 {
				want = 400 // allowed, but not a WebSocket handshake
			}
			if resp.StatusCode != want {
				t.Errorf("GET %s with Host %q: %d, want %d", path, tc.host, resp.StatusCode, want)
			}
		}
	}
}

// TestPingDelay: every keepalive delay lies in [3/4, 1] of the period, and
// the delays are spread over that range rather than all alike (1,000
// draws all within an eighth of the period has chance 2^-1000).
func TestPingDelay(t *testing.T) {
	for _, period := range []time.Duration{100 * time.Millisecond, DefaultPingPeriod, time.Hour} {
		lo, hi := period, time.Duration(0)
		for range 1000 {
			d := pingDelay(period)
			if d < period*3/4 || d > period {
				t.Fatalf("period %v: delay %v outside [%v, %v]", period, d, period*3/4, period)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if hi-lo < period/8 {
			t.Errorf("period %v: 1,000 delays all within [%v, %v]: not spread", period, lo, hi)
		}
	}
}

package test

import (
	"bufio"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// scrape fetches /metrics with an Authorization header (may be empty) and
// returns the status and the samples by series ("name{labels}").
func scrape(t *testing.T, url, bearer string) (int, map[string]float64) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return resp.StatusCode, samples
}

// TestMetrics checks /metrics: token protection like /ws, and that frames,
// output state, connections and commands are counted.
func TestMetrics(t *testing.T) {
	const token = "s3cret"
	pty := newPTY(t)
	state := filepath.Join(t.TempDir(), "state.json")
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path, "--token", token, "--state", state)

	for _, c := range []struct {
		name, url, bearer string
		want              int
	}{
		{"no token", p.URL("/metrics"), "", http.StatusUnauthorized},
		{"wrong token", p.URL("/metrics?token=nope"), "", http.StatusUnauthorized},
		{"query token", p.URL("/metrics?token=" + token), "", http.StatusOK},
		{"bearer token", p.URL("/metrics"), token, http.StatusOK},
	} {
		if code, _ := scrape(t, c.url, c.bearer); code != c.want {
			t.Errorf("%s: status %d, want %d", c.name, code, c.want)
		}
	}

	d, _, err := testkit.Dial(p.WSURL("/ws?token="+token), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, msg := range []string{`{"dmx": {"1": 9}, "id": 1}`, `{"dmx": {"600": 1}, "id": 2}`, `{"dmx": {"1": 300}, "id": 3}`} {
		if err := d.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "error" && m.Code == "bad_value" }); err != nil {
		t.Fatal(err)
	}
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 9 }); err != nil {
		t.Fatal(err)
	}

	// Frames keep counting: poll until two scrapes show progress.
	var s map[string]float64
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, s = scrape(t, p.URL("/metrics"), token)
		if s[`dmxd_frames_sent_total{universe="1"}`] >= 10 && s[`dmxd_frame_interval_seconds_count{universe="1"}`] >= 9 &&
			s[`dmxd_output_up{driver="enttec-pro",universe="1"}`] == 1 && s[`dmxd_state_saves_total`] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frames %v, intervals %v, output_up %v, state saves %v after 5 s", s[`dmxd_frames_sent_total{universe="1"}`],
				s[`dmxd_frame_interval_seconds_count{universe="1"}`], s[`dmxd_output_up{driver="enttec-pro",universe="1"}`], s[`dmxd_state_saves_total`])
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := map[string]float64{
		`dmxd_connections`:                                1,
		`dmxd_commands_accepted_total`:                    1,
		`dmxd_command_latency_seconds_count`:              1, // the accepted command, read to published
		`dmxd_commands_refused_total{code="bad_channel"}`: 1,
		`dmxd_commands_refused_total{code="bad_value"}`:   1,
		`dmxd_commands_refused_total{code="bad_json"}`:    0,
		`dmxd_send_queue_drops_total`:                     0,
		`dmxd_slow_client_closes_total`:                   0,
	}
	for k, v := range want {
		got, ok := s[k]
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	for _, k := range []string{`dmxd_frame_interval_seconds_count{universe="1"}`, `go_goroutines`, `process_resident_memory_bytes`} {
		if s[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, s[k])
		}
	}
	// The command's latency is in seconds and below the histogram's top
	// bucket (a second), and counted once in it.
	if lat := s[`dmxd_command_latency_seconds_sum`]; lat <= 0 || lat >= 1 || s[`dmxd_command_latency_seconds_bucket{le="1"}`] != 1 {
		t.Errorf("command latency: sum %v s, %v in the 1 s bucket; want one command, under a second", lat, s[`dmxd_command_latency_seconds_bucket{le="1"}`])
	}
	// The histogram is in seconds: no interval is under the enttec-pro
	// minimum gap (1 ms), so their mean is over 1 ms, and the mean of nine
	// or more is under a second (in milliseconds it would be ~22.7).
	n, sum := s[`dmxd_frame_interval_seconds_count{universe="1"}`], s[`dmxd_frame_interval_seconds_sum{universe="1"}`]
	if short := s[`dmxd_frame_interval_seconds_bucket{universe="1",le="0.001"}`]; short != 0 || sum/n <= 0.001 || sum/n >= 1 {
		t.Errorf("frame intervals: %v of %v at most 1 ms, mean %v s; want none, a mean between 1 ms and 1 s", short, n, sum/n)
	}
}

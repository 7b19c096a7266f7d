package test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/test/testkit"
)

const framePeriod = time.Second / 44

// TestSeedMessageReachesTheLight drives the whole path: a WebSocket desk
// sends the seed message, the decoded Enttec frames on the pty carry it,
// and a second desk receives the update. Once dmxd has applied the
// command (a get's ack after it says so), the levels are in one of the
// next two frames it writes (the one under way may have started before),
// every frame before them is dark and every frame after them repeats
// them. How fast the levels reach the pty is a figure of just bench.
func TestSeedMessageReachesTheLight(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	a, b := dial(t, p), dial(t, p)

	var seen int64 // frames read from the pty, which has read every frame since dmxd started
	next := func() testkit.Frame {
		t.Helper()
		f, err := pty.WaitFrame(5*time.Second, anyFrame)
		if err != nil {
			t.Fatalf("after %d frames: %v", seen, err)
		}
		seen++
		return f
	}
	next()
	if err := a.Send(`{"dmx": {"1": 255, "2": 128}}`); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(`{"get": true, "id": "applied"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" && m.ID == "applied" }); err != nil {
		t.Fatal(err)
	}
	written := framesWritten(t, p, 1)
	var f testkit.Frame
	for {
		f = next()
		if f.Values[0] != 0 || f.Values[1] != 0 {
			break
		}
		if f.Values != (dmx.Frame{}) {
			t.Fatalf("frame %d is neither dark nor the seed's levels: %v…", seen, f.Values[:4])
		}
	}
	if f.Values[0] != 255 || f.Values[1] != 128 {
		t.Fatalf("first frame with levels: %v…, want 255 128", f.Values[:4])
	}
	for i := 2; i < 512; i++ {
		if f.Values[i] != 0 {
			t.Fatalf("slot %d = %d, want 0", i+1, f.Values[i])
		}
	}
	if seen > written+2 {
		t.Errorf("the levels came in frame %d; dmxd had written %d frames when it had applied them", seen, written)
	}
	for range 5 {
		if g := next(); g.Values != f.Values {
			t.Fatalf("frame %d after the levels: %v…, want them repeated", seen, g.Values[:4])
		}
	}
	up, err := b.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "update" })
	if err != nil {
		t.Fatal(err)
	}
	if up.Universe != 1 || up.Changes["1"] != 255 || up.Changes["2"] != 128 || len(up.Changes) != 2 {
		t.Errorf("update = %s, want channels 1=255 2=128 of universe 1", up.Raw)
	}
}

// TestFramesKeepComing: with nothing changing, dmxd keeps refreshing the
// output: for 3 s worth of frames at 44 Hz, every frame on the pty repeats
// the same (dark) levels, dmxd counts all but its first frames as
// refreshes, the pty gets every frame dmxd counts, whole, and dmxd never
// writes faster than the rate (no early frames without a change). That it
// keeps 44 Hz under load is a figure of just bench.
func TestFramesKeepComing(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	if _, err := pty.WaitFrame(5*time.Second, anyFrame); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	n0 := framesWritten(t, p, 1)
	const frames = 3 * 44
	for range frames {
		f, err := pty.WaitFrame(5*time.Second, anyFrame)
		if err != nil {
			t.Fatal(err)
		}
		if f.Values != (dmx.Frame{}) {
			t.Fatalf("a refresh carries %v…, want the dark levels again", f.Values[:4])
		}
	}
	n1 := framesWritten(t, p, 1)
	elapsed := time.Since(t0)
	// The frames counted between the two looks were written within
	// elapsed, on a schedule of one a period: a slow machine only loosens
	// the bound.
	if most := int64(elapsed/framePeriod) + 1; n1-n0 > most {
		t.Errorf("dmxd wrote %d frames in %v with nothing changing, want at most %d (one a period)", n1-n0, elapsed, most)
	}
	_, m := scrape(t, p.URL("/metrics"), "")
	sent, refreshes := m[`dmxd_frames_sent_total{universe="1"}`], m[`dmxd_frame_refreshes_total{universe="1"}`]
	// The start publishes the levels twice (restored state, then the
	// output's first request): at most two frames are not refreshes.
	if sent < frames || sent-refreshes > 2 {
		t.Errorf("%v frames sent, %v of them refreshes: want at least %d, all but the first one or two refreshes", sent, refreshes, frames)
	}
	waitWholeFrames(t, pty, n1)
}

// TestHelloStateAckAndGet checks the first messages, acks and get.
func TestHelloStateAckAndGet(t *testing.T) {
	p := startDMXD(t, "--universes", "2")
	d, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	hello, err := d.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Type      string `json:"type"`
		Version   string `json:"version"`
		Universes []int  `json:"universes"`
		Rate      int    `json:"rate"`
		Merge     string `json:"merge"`
	}
	if err := json.Unmarshal([]byte(hello.Raw), &h); err != nil {
		t.Fatal(err)
	}
	if h.Type != "hello" || h.Version == "" || len(h.Universes) != 2 || h.Rate != 44 || h.Merge != "ltp" {
		t.Errorf("hello = %s", hello.Raw)
	}
	seen := map[int]bool{}
	for range 2 {
		st, err := d.Next(5 * time.Second)
		if err != nil || st.Type != "state" || len(st.Values) != 512 {
			t.Fatalf("state: %s %v", st.Raw, err)
		}
		seen[st.Universe] = true
	}
	if !seen[1] || !seen[2] {
		t.Errorf("states for universes %v, want 1 and 2", seen)
	}
	if err := d.Send(`{"dmx": [10, 20, 30], "start": 510, "universe": 2, "id": "a7"}`); err != nil {
		t.Fatal(err)
	}
	ack, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "ack" })
	if err != nil || ack.Raw != `{"type":"ack","id":"a7"}` {
		t.Fatalf("ack = %s, %v", ack.Raw, err)
	}
	st := getState(t, d, 2)
	if st.Universe != 2 || st.Values[509] != 10 || st.Values[510] != 20 || st.Values[511] != 30 || st.Values[0] != 0 {
		t.Errorf("state of universe 2 = %s", st.Raw)
	}
}

// TestErrorsKeepTheConnection sends bad commands: each gets its error code,
// the connection stays open and nothing changes.
func TestErrorsKeepTheConnection(t *testing.T) {
	p := startDMXD(t)
	d := dial(t, p)
	cases := []struct{ send, code string }{
		{`{"dmx": {"1": 255, "513": 1}, "id": 1}`, "bad_channel"},
		{`{"dmx": {"1": 256}, "id": 2}`, "bad_value"},
		{`nope`, "bad_json"},
		{`{"dmx": {"1": 1}, "universe": 7, "id": 3}`, "bad_universe"},
		{`{"frob": 1, "id": 4}`, "bad_request"},
		{`{"dmx": {"1": 1}, "dmx": {"2": 2}, "id": 5}`, "bad_request"},
		{`{"dmx": {"3": 3, "3": 4}, "id": 6}`, "bad_request"},
		{`{"get": true, "universe": 1, "universe": 1, "id": 7}`, "bad_request"},
	}
	for _, c := range cases {
		if err := d.Send(c.send); err != nil {
			t.Fatal(err)
		}
		m, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "error" || m.Type == "ack" })
		if err != nil {
			t.Fatalf("%s: %v", c.send, err)
		}
		if m.Code != c.code || m.Message == "" {
			t.Errorf("%s: got %s, want code %s", c.send, m.Raw, c.code)
		}
	}
	if err := d.Conn.WriteMessage(2, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	m, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "error" })
	if err != nil || m.Code != "unsupported" {
		t.Fatalf("binary frame: %s %v, want unsupported", m.Raw, err)
	}
	assertDark(t, getState(t, d, 1), "after refused commands")
}

// TestTextNotUTF8IsRefused sends a command whose id is not UTF-8: dmxd
// refuses it with bad_json and echoes no byte of it (a browser fails a
// connection on a text frame that is not UTF-8), applies nothing, and
// keeps the connection.
func TestTextNotUTF8IsRefused(t *testing.T) {
	p := startDMXD(t)
	d := dial(t, p)
	if err := d.Send("{\"dmx\": {\"1\": 9}, \"id\": \"cue \xff\"}"); err != nil {
		t.Fatal(err)
	}
	var bad []string
	m, err := d.Until(5*time.Second, func(m testkit.Message) bool {
		if !utf8.ValidString(m.Raw) {
			bad = append(bad, m.Raw)
		}
		return m.Type == "ack" || m.Type == "error"
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("dmxd sent text frames that are not UTF-8: %q", bad)
	}
	if m.Type != "error" || m.Code != "bad_json" || m.ID != nil {
		t.Errorf("answer %q, want error bad_json without an id", m.Raw)
	}
	assertDark(t, getState(t, d, 1), "after a command that is not UTF-8")
}

// TestOversizedMessageCloses1009 sends a message over 64 KiB: just over,
// and 4 MiB, which the client is still writing when dmxd closes. Either way
// the client's write completes and it then reads close 1009, never a
// reset: dmxd reads and drops the rest until the client answers its close.
func TestOversizedMessageCloses1009(t *testing.T) {
	for _, size := range []int{64<<10 + 1, 4 << 20} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			p := startDMXD(t)
			d := dial(t, p)
			big := make([]byte, size)
			for i := range big {
				big[i] = ' '
			}
			// The whole message is written before anything is read: dmxd
			// must keep reading (and dropping) it after its close frame.
			_ = d.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := d.Conn.WriteMessage(1, big); err != nil {
				t.Fatalf("write a %d-byte message: %v (dmxd stopped reading it)", size, err)
			}
			_, err := d.Until(5*time.Second, func(testkit.Message) bool { return false })
			if !isClose(err, 1009) {
				t.Fatalf("read after a %d-byte message: %v, want close 1009", size, err)
			}
		})
	}
}

// TestHealthz checks /healthz.
func TestHealthz(t *testing.T) {
	p := startDMXD(t)
	dial(t, p)
	waitHealth(t, p, http.StatusOK, 10*time.Second) // 503 until the output's first open is over
	resp, err := http.Get(p.URL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Status      string `json:"status"`
		Connections int    `json:"connections"`
		Universes   []struct {
			Universe int    `json:"universe"`
			Output   string `json:"output"`
			State    string `json:"state"`
			Frames   int    `json:"frames"`
		} `json:"universes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || h.Status != "ok" || h.Connections != 1 || len(h.Universes) != 1 ||
		h.Universes[0].Output != "null" || h.Universes[0].State != "up" || h.Universes[0].Universe != 1 {
		t.Errorf("healthz = %d %+v", resp.StatusCode, h)
	}
}

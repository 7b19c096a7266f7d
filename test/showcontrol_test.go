package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// showMessage is a show control message of dmxd (docs/protocol.md, Show
// control), decoded from a testkit.Message's Raw.
type showMessage struct {
	Type     string   `json:"type"`
	Universe int      `json:"universe"`
	Features []string `json:"features"`
	Looks    []struct {
		Name     string `json:"name"`
		Channels int    `json:"channels"`
	} `json:"looks"`
	Cues []struct {
		Look string `json:"look"`
		Ms   int    `json:"ms"`
	} `json:"cues"`
	Current     int               `json:"current"`
	Next        int               `json:"next"`
	Master      int               `json:"master"`
	GrandMaster int               `json:"grand_master"`
	Name        string            `json:"name"`
	Labels      map[string]string `json:"channels"`
	Values      []int             `json:"values"`
	Changes     map[string]int    `json:"changes"`
}

func decodeShow(t *testing.T, m testkit.Message) showMessage {
	t.Helper()
	var s showMessage
	if err := json.Unmarshal([]byte(m.Raw), &s); err != nil {
		t.Fatalf("decode %s: %v", m.Raw, err)
	}
	return s
}

// untilShow reads d's messages until one of type typ satisfies ok.
func untilShow(t *testing.T, d *testkit.Desk, typ string, ok func(showMessage) bool) showMessage {
	t.Helper()
	var got showMessage
	if _, err := d.Until(5*time.Second, func(m testkit.Message) bool {
		if m.Type != typ {
			return false
		}
		got = decodeShow(t, m)
		return ok(got)
	}); err != nil {
		t.Fatalf("no %s message as wanted: %v", typ, err)
	}
	return got
}

// command sends msg with an id and waits for its ack; an error fails the
// test.
func command(t *testing.T, d *testkit.Desk, msg string) {
	t.Helper()
	id := fmt.Sprintf("c%d", time.Now().UnixNano())
	var full map[string]any
	if err := json.Unmarshal([]byte(msg), &full); err != nil {
		t.Fatal(err)
	}
	full["id"] = id
	if err := d.Send(full); err != nil {
		t.Fatal(err)
	}
	m, err := d.Until(5*time.Second, func(m testkit.Message) bool {
		return (m.Type == "ack" || m.Type == "error") && m.ID == id
	})
	if err != nil {
		t.Fatalf("%s: %v", msg, err)
	}
	if m.Type == "error" {
		t.Fatalf("%s refused: %s", msg, m.Raw)
	}
}

func waitLevels(t *testing.T, pty *testkit.PTY, what string, want map[int]byte) {
	t.Helper()
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool {
		for ch, v := range want {
			if f.Values[ch-1] != v {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("%s: no frame with %v: %v", what, want, err)
	}
}

// TestLookSavedOnOneDeskRecalledOnAnother: a look saved on one desk is
// listed live on another, which recalls it with a fade: the pty shows it.
func TestLookSavedOnOneDeskRecalledOnAnother(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	d, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	hello, err := d.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if h := decodeShow(t, hello); !slices.Contains(h.Features, "looks") || !slices.Contains(h.Features, "monitor") {
		t.Fatalf("hello %s lists no show features", hello.Raw)
	}
	a, b := dial(t, p), dial(t, p)
	command(t, a, `{"dmx": {"1": 200, "2": 100}}`)
	command(t, a, `{"look_save": "Warm"}`)
	command(t, a, `{"dmx": {"3": 50}}`)
	command(t, a, `{"look_save": "Spot", "channels": [3]}`)
	untilShow(t, b, "looks", func(s showMessage) bool {
		return len(s.Looks) == 2 && s.Looks[0].Name == "Warm" && s.Looks[0].Channels == 512 && s.Looks[1].Channels == 1
	})
	command(t, a, `{"dmx": [0, 0, 0]}`)
	waitLevels(t, pty, "dark", map[int]byte{1: 0, 2: 0, 3: 0})
	command(t, b, `{"look_recall": "Warm", "ms": 300}`)
	waitLevels(t, pty, "look Warm", map[int]byte{1: 200, 2: 100, 3: 0})
	command(t, b, `{"look_recall": "Spot"}`)
	waitLevels(t, pty, "look Spot over Warm", map[int]byte{1: 200, 2: 100, 3: 50})
	// A look that does not exist is refused, and nothing changes.
	if err := b.Send(`{"look_recall": "Nope", "id": 9}`); err != nil {
		t.Fatal(err)
	}
	if m, err := b.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "error" || m.Type == "ack" }); err != nil || m.Code != "bad_value" {
		t.Fatalf("recall of a missing look: %s %v", m.Raw, err)
	}
	command(t, b, `{"look_rename": "Warm", "to": "Amber"}`)
	command(t, b, `{"look_delete": "Spot"}`)
	untilShow(t, a, "looks", func(s showMessage) bool { return len(s.Looks) == 1 && s.Looks[0].Name == "Amber" })
}

// TestCueListGoBack: GO and BACK from two desks step through the cue list
// with crossfades; a third desk sees the current and next cue.
func TestCueListGoBack(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	a, b, c := dial(t, p), dial(t, p), dial(t, p)
	for _, l := range []struct {
		name  string
		level int
	}{{"One", 60}, {"Two", 120}, {"Three", 180}} {
		command(t, a, fmt.Sprintf(`{"dmx": {"1": %d}}`, l.level))
		command(t, a, fmt.Sprintf(`{"look_save": %q, "channels": [1]}`, l.name))
	}
	command(t, a, `{"dmx": {"1": 0}}`)
	command(t, a, `{"cue_list": [{"look": "One", "ms": 200}, {"look": "Two", "ms": 200}, {"look": "Three"}]}`)
	untilShow(t, c, "cues", func(s showMessage) bool { return len(s.Cues) == 3 && s.Current == 0 && s.Next == 1 })
	steps := []struct {
		desk          *testkit.Desk
		cmd           string
		level         byte
		current, next int
	}{
		{a, `{"go": true}`, 60, 1, 2},
		{b, `{"go": true}`, 120, 2, 3},
		{a, `{"go": true}`, 180, 3, 0},
		{b, `{"back": true}`, 120, 2, 3},
		{a, `{"back": true}`, 60, 1, 2},
	}
	for _, s := range steps {
		command(t, s.desk, s.cmd)
		waitLevels(t, pty, s.cmd, map[int]byte{1: s.level})
		untilShow(t, c, "cues", func(m showMessage) bool { return m.Current == s.current && m.Next == s.next })
	}
}

// TestGrandMasterScalesTheFrameNotTheLevels: masters scale what reaches
// the pty and the monitor; get still reports the levels set.
func TestGrandMasterScalesTheFrameNotTheLevels(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--universes", "2", "--output", "1=enttec-pro:"+pty.Path)
	a, mon, watch := dial(t, p), dial(t, p), dial(t, p)
	command(t, a, `{"dmx": {"1": 200, "2": 255}}`)
	command(t, mon, `{"monitor": true}`)
	command(t, a, `{"grand_master": 128}`)
	waitLevels(t, pty, "grand master 128", map[int]byte{1: 100, 2: 128})
	command(t, a, `{"master": 51}`)
	waitLevels(t, pty, "master 51 under grand master 128", map[int]byte{1: 20, 2: 26})
	if st := getState(t, a, 1); st.Values[0] != 200 || st.Values[1] != 255 {
		t.Fatalf("get reports %d %d under masters, want the levels 200 255", st.Values[0], st.Values[1])
	}
	// The monitor shows what goes out: the full values, then changes.
	var view [512]int
	untilShow(t, mon, "monitor", func(s showMessage) bool {
		if s.Universe != 1 {
			return false
		}
		if s.Values != nil {
			copy(view[:], s.Values)
		}
		for k, v := range s.Changes {
			var ch int
			fmt.Sscan(k, &ch)
			view[ch-1] = v
		}
		return view[0] == 20 && view[1] == 26
	})
	untilShow(t, watch, "masters", func(s showMessage) bool { return s.Universe == 2 && s.GrandMaster == 128 && s.Master == 255 })
	command(t, a, `{"blackout_all": true}`)
	waitLevels(t, pty, "blackout of all universes", map[int]byte{1: 0, 2: 0})
	command(t, a, `{"blackout_all": false}`)
	command(t, a, `{"grand_master": 255}`)
	command(t, a, `{"master": 255}`)
	waitLevels(t, pty, "masters at full", map[int]byte{1: 200, 2: 255})
}

// TestFlashReleasedOnDisconnect: a desk's flash holds channels at full on
// the pty, and is released when the desk goes, by a clean close or a
// dropped TCP connection.
func TestFlashReleasedOnDisconnect(t *testing.T) {
	for _, merge := range []string{"ltp", "htp"} {
		for _, how := range []string{"clean close", "dropped TCP"} {
			t.Run(merge+"/"+how, func(t *testing.T) {
				pty := newPTY(t)
				p := startDMXD(t, "--merge", merge, "--output", "1=enttec-pro:"+pty.Path)
				a, flasher := dial(t, p), dial(t, p)
				command(t, a, `{"dmx": {"1": 30, "2": 40}}`)
				command(t, flasher, `{"flash": [2, 3]}`)
				waitLevels(t, pty, "flash", map[int]byte{1: 30, 2: 255, 3: 255})
				if st := getState(t, a, 1); st.Values[1] != 40 {
					t.Fatalf("flash changed the level of channel 2 to %d", st.Values[1])
				}
				switch how {
				case "clean close":
					if err := flasher.Close(); err != nil {
						t.Fatal(err)
					}
				case "dropped TCP":
					tcp := flasher.Conn.NetConn().(*net.TCPConn)
					if err := tcp.SetLinger(0); err != nil {
						t.Fatal(err)
					}
					if err := tcp.Close(); err != nil {
						t.Fatal(err)
					}
				}
				waitLevels(t, pty, "flash released", map[int]byte{1: 30, 2: 40, 3: 0})
			})
		}
	}
}

// TestShowSurvivesRestart: looks, cues, labels and masters are in the
// state file and come back with dmxd.
func TestShowSurvivesRestart(t *testing.T) {
	pty := newPTY(t)
	state := filepath.Join(t.TempDir(), "state.json")
	first := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path, "--state", state)
	a := dial(t, first)
	command(t, a, `{"dmx": {"1": 255, "2": 10}}`)
	command(t, a, `{"look_save": "Full"}`)
	command(t, a, `{"dmx": {"1": 0}}`)
	command(t, a, `{"cue_list": [{"look": "Full", "ms": 1000}]}`)
	command(t, a, `{"label": {"1": "Front wash", "2": "Back"}}`)
	command(t, a, `{"universe_name": "Stage"}`)
	command(t, a, `{"master": 51}`)
	if code, err := first.Stop(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("first dmxd: exit %d, %v", code, err)
	}
	pty.Drain()
	second := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path, "--state", state)
	waitLevels(t, pty, "restored levels at master 51", map[int]byte{1: 0, 2: 2})
	b, _, err := testkit.Dial(second.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	untilShow(t, b, "looks", func(s showMessage) bool { return len(s.Looks) == 1 && s.Looks[0].Name == "Full" })
	// The rest follows in the universe's order: cues, masters, labels.
	untilShow(t, b, "cues", func(s showMessage) bool { return len(s.Cues) == 1 && s.Cues[0].Ms == 1000 })
	untilShow(t, b, "masters", func(s showMessage) bool { return s.Master == 51 })
	untilShow(t, b, "labels", func(s showMessage) bool {
		return s.Name == "Stage" && s.Labels["1"] == "Front wash" && s.Labels["2"] == "Back"
	})
	command(t, b, `{"master": 255}`)
	command(t, b, `{"go": true}`)
	waitLevels(t, pty, "the restored cue", map[int]byte{1: 255, 2: 10})
}

// TestShowOverPlainHTTP: show commands work over plain HTTP as over a
// WebSocket; look_list answers the looks message, a refusal of the
// universe is a 400 with its code, and flash needs a WebSocket.
func TestShowOverPlainHTTP(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--universes", "2", "--output", "1=enttec-pro:"+pty.Path)
	post := func(u int, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(p.URL(fmt.Sprintf("/api/v1/universes/%d", u)), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		u      int
		body   string
		status int
		answer string // a part of the answer's body
	}{
		{1, `{"dmx": {"1": 90}}`, 200, `"ok":true`},
		{1, `{"look_save": "Ninety", "channels": [1], "id": 5}`, 200, `"id":5`},
		{1, `{"look_list": true}`, 200, `{"type":"looks","universe":1,"looks":[{"name":"Ninety","channels":1}]}`},
		{1, `{"dmx": {"1": 0}}`, 200, `"ok":true`},
		{1, `{"look_recall": "Ninety"}`, 200, `"ok":true`},
		{1, `{"look_recall": "Nope"}`, 400, `"code":"bad_value"`},
		{1, `{"flash": [1]}`, 400, `"code":"bad_request"`},
		{1, `{"monitor": true}`, 400, `"code":"bad_request"`},
		{2, `{"grand_master": 51}`, 200, `"ok":true`},
		{1, `{"grand_master": 51, "universe": 1}`, 400, `"code":"bad_request"`},
	}
	for _, tt := range tests {
		status, body := post(tt.u, tt.body)
		if status != tt.status || !strings.Contains(body, tt.answer) {
			t.Fatalf("POST %s: %d %s, want %d with %s", tt.body, status, body, tt.status, tt.answer)
		}
	}
	waitLevels(t, pty, "look Ninety under the grand master", map[int]byte{1: 18})
}

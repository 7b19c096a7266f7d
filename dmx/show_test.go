package dmx

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestOutputLevels(t *testing.T) {
	var levels Frame
	levels[0], levels[1], levels[2] = 200, 255, 1
	var flash ChannelSet
	flash.Add(3)
	tests := []struct {
		name          string
		master, grand uint8
		flash         bool
		blackout      bool
		want          [4]byte
	}{
		{"full masters", 255, 255, false, false, [4]byte{200, 255, 1, 0}},
		{"master half", 128, 255, false, false, [4]byte{100, 128, 1, 0}},
		{"grand half", 255, 128, false, false, [4]byte{100, 128, 1, 0}},
		{"both half", 128, 128, false, false, [4]byte{50, 64, 0, 0}},
		{"master 0", 0, 255, true, false, [4]byte{0, 0, 0, 0}},
		{"flash at full", 255, 255, true, false, [4]byte{200, 255, 1, 255}},
		{"flash under a master", 51, 255, true, false, [4]byte{40, 51, 0, 51}},
		{"blackout wins", 255, 255, true, true, [4]byte{0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fl ChannelSet
			if tt.flash {
				fl = flash
			}
			var out Frame
			out[511] = 9 // overwritten
			OutputLevels(&out, &levels, &fl, tt.master, tt.grand, tt.blackout)
			if [4]byte(out[:4]) != tt.want || out[511] != 0 {
				t.Errorf("out %v .. %d, want %v .. 0", out[:4], out[511], tt.want)
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		s     string
		max   int
		empty bool
		ok    bool
	}{
		{"Warm wash", 64, false, true},
		{"", 64, false, false},
		{"", 64, true, true},
		{strings.Repeat("é", 32), 64, false, true},
		{strings.Repeat("é", 33), 64, false, false},
		{"tab\there", 64, false, false},
		{"del\x7f", 64, false, false},
		{"c1\u0085", 64, false, false},
		{"bad\xff", 64, false, false},
	}
	for _, tt := range tests {
		if err := CheckName(tt.s, tt.max, tt.empty); (err == nil) != tt.ok {
			t.Errorf("CheckName(%q, %d, %v) = %v, want ok %v", tt.s, tt.max, tt.empty, err, tt.ok)
		}
	}
}

// TestShowStateRoundTrip: a show saved to the state file loads the same,
// the grand master included.
func TestShowStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	show := NewShow()
	show.Name = "Stage left"
	show.Labels = map[uint16]string{1: "Front wash", 512: "Haze"}
	show.Master = 200
	var l Look
	l.Name = "Warm"
	l.Channels.Add(0)
	l.Channels.Add(9)
	l.Levels[0], l.Levels[9] = 255, 7
	show.Looks = []Look{l, {Name: "Empty"}}
	show.Looks[1].Channels.Add(4)
	show.Cues = []Cue{{Look: "Warm", Fade: 1500 * time.Millisecond}, {Look: "Empty"}}
	show.Current = 1
	gm := uint8(77)
	st := UniverseState{Universe: 1, Show: &show, GrandMaster: &gm}
	st.Values[0] = 9
	if err := SaveState(path, []UniverseState{st, {Universe: 2}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got[0].Show, show) || *got[0].GrandMaster != 77 || got[0].Values[0] != 9 {
		t.Errorf("loaded %+v\nwant %+v (grand %d)", *got[0].Show, show, *got[0].GrandMaster)
	}
	if empty := NewShow(); !reflect.DeepEqual(*got[1].Show, empty) || *got[1].GrandMaster != 77 {
		t.Errorf("universe without a show loaded as %+v", *got[1].Show)
	}
}

// TestStateFileBeforeShows: a file written before the show features loads
// with empty shows and full masters.
func TestStateFileBeforeShows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	vs := strings.TrimSuffix(strings.Repeat("0,", Slots), ",")
	old := `{"version":1,"saved":"2026-11-01T10:00:00Z","universes":[{"universe":1,"blackout":false,"values":[` + vs + `]}]}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := got[0].Show; s.Master != FullMaster || len(s.Looks) != 0 || *got[0].GrandMaster != FullMaster {
		t.Errorf("old file loaded as show %+v, grand %d", *s, *got[0].GrandMaster)
	}
}

// TestStateFileBadShow: a show that breaks a rule makes the file
// unreadable (it is then moved aside, as any unreadable file).
func TestStateFileBadShow(t *testing.T) {
	vs := strings.TrimSuffix(strings.Repeat("0,", Slots), ",")
	tests := map[string]string{
		"master over 255":       `"master":256`,
		"label key":             `"labels":{"0":"x"}`,
		"label too long":        `"labels":{"1":"` + strings.Repeat("x", MaxLabelBytes+1) + `"}`,
		"look level":            `"looks":[{"name":"a","levels":{"1":300}}]`,
		"look channel":          `"looks":[{"name":"a","levels":{"513":1}}]`,
		"look named twice":      `"looks":[{"name":"a","levels":{}},{"name":"a","levels":{}}]`,
		"cue of no look":        `"cues":[{"look":"x","ms":0}]`,
		"cue past the list":     `"looks":[{"name":"a","levels":{}}],"cues":[{"look":"a","ms":0}],"cue":2`,
		"cue fade too long":     `"looks":[{"name":"a","levels":{}}],"cues":[{"look":"a","ms":600001}]`,
		"look name empty":       `"looks":[{"name":"","levels":{}}]`,
		"universe name control": `"name":"a\u0001"`,
	}
	for name, fields := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			f := `{"version":1,"saved":"2026-11-01T10:00:00Z","universes":[{"universe":1,"blackout":false,"values":[` + vs + `],` + fields + `}]}`
			if err := os.WriteFile(path, []byte(f), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadState(path); err == nil {
				t.Errorf("loaded a file with %s", name)
			}
		})
	}
}

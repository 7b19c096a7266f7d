package transport

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// showForms are well-formed show commands, for the tests and as fuzz
// seeds.
var showForms = []string{
	`{"look_save": "Warm wash"}`,
	`{"look_save": "Front", "channels": [3, 1, 2, 1], "universe": 2, "id": 1}`,
	`{"look_recall": "Warm wash", "ms": 2000}`,
	`{"look_rename": "Warm wash", "to": "Warm"}`,
	`{"look_delete": "Warm"}`,
	`{"look_list": true}`,
	`{"cue_list": [{"look": "Warm", "ms": 3000}, {"look": "Blue"}]}`,
	`{"cue_list": []}`,
	`{"go": true, "id": "g"}`,
	`{"back": true}`,
	`{"master": 128, "universe": 3}`,
	`{"grand_master": 0}`,
	`{"blackout_all": true}`,
	`{"flash": [1, 2, 512]}`,
	`{"flash": []}`,
	`{"label": {"1": "Front wash", "2": ""}}`,
	`{"universe_name": "Stage left"}`,
	`{"universe_name": ""}`,
	`{"monitor": true}`,
	`{"monitor": false}`,
}

func TestDecodeShowCommands(t *testing.T) {
	tests := []struct {
		in   string
		want actors.Command
	}{
		{`{"look_save": "Warm wash"}`, actors.Command{Kind: actors.KindLookSave, Universe: 1, Name: "Warm wash"}},
		{`{"look_save": "Front", "channels": [3, 1, 2, 1], "universe": 2, "id": 1}`,
			actors.Command{Kind: actors.KindLookSave, Universe: 2, ID: actors.ID("1"), Name: "Front", Channels: []uint16{1, 2, 3}}},
		{`{"look_recall": "Warm wash", "ms": 2000}`, actors.Command{Kind: actors.KindLookRecall, Universe: 1, Name: "Warm wash", Duration: 2 * time.Second}},
		{`{"look_recall": "Ünïcode ✓"}`, actors.Command{Kind: actors.KindLookRecall, Universe: 1, Name: "Ünïcode ✓"}},
		{`{"look_rename": "Warm wash", "to": "Warm"}`, actors.Command{Kind: actors.KindLookRename, Universe: 1, Name: "Warm wash", To: "Warm"}},
		{`{"look_delete": "Warm"}`, actors.Command{Kind: actors.KindLookDelete, Universe: 1, Name: "Warm"}},
		{`{"look_list": true}`, actors.Command{Kind: actors.KindLookList, Universe: 1}},
		{`{"cue_list": [{"look": "Warm", "ms": 3000}, {"ms": 0, "look": "Blue"}]}`, actors.Command{Kind: actors.KindCueList, Universe: 1,
			Cues: []dmx.Cue{{Look: "Warm", Fade: 3 * time.Second}, {Look: "Blue"}}}},
		{`{"cue_list": []}`, actors.Command{Kind: actors.KindCueList, Universe: 1, Cues: []dmx.Cue{}}},
		{`{"go": true, "id": "g"}`, actors.Command{Kind: actors.KindGo, Universe: 1, ID: actors.ID(`"g"`)}},
		{`{"back": true}`, actors.Command{Kind: actors.KindBack, Universe: 1}},
		{`{"master": 128, "universe": 3}`, actors.Command{Kind: actors.KindMaster, Universe: 3, Level: 128}},
		{`{"grand_master": 0}`, actors.Command{Kind: actors.KindGrandMaster, Universe: 1}},
		{`{"blackout_all": true}`, actors.Command{Kind: actors.KindBlackoutAll, Universe: 1, On: true}},
		{`{"flash": [1, 2, 512]}`, actors.Command{Kind: actors.KindFlash, Universe: 1, Channels: []uint16{1, 2, 512}}},
		{`{"flash": []}`, actors.Command{Kind: actors.KindFlash, Universe: 1, Channels: []uint16{}}},
		{`{"label": {"2": "", "1": "Front wash"}}`, actors.Command{Kind: actors.KindLabel, Universe: 1,
			Labels: []actors.Label{{Channel: 1, Text: "Front wash"}, {Channel: 2}}}},
		{`{"universe_name": "Stage left"}`, actors.Command{Kind: actors.KindUniverseName, Universe: 1, Name: "Stage left"}},
		{`{"monitor": true}`, actors.Command{Kind: actors.KindMonitor, Universe: 1, On: true}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			cmd, e := DecodeCommand([]byte(tt.in), testUniverses)
			if e != nil {
				t.Fatalf("refused: %s %s", e.Code, e.Message)
			}
			if !reflect.DeepEqual(*cmd, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *cmd, tt.want)
			}
			checkAgrees(t, []byte(tt.in), testUniverses)
		})
	}
}

func TestDecodeShowRefuses(t *testing.T) {
	long := strings.Repeat("x", dmx.MaxNameBytes+1)
	tests := []struct {
		name, in, code, detail string
	}{
		{"look name not a string", `{"look_save": 1, "id": 3}`, CodeBadRequest, "must be a string"},
		{"look name empty", `{"look_save": ""}`, CodeBadValue, "empty"},
		{"look name too long", `{"look_recall": "` + long + `"}`, CodeBadValue, "at most 64"},
		{"look name control", `{"look_delete": "a\u0007b"}`, CodeBadValue, "control"},
		{"channels not an array", `{"look_save": "a", "channels": 1}`, CodeBadRequest, "array"},
		{"channels empty", `{"look_save": "a", "channels": []}`, CodeBadValue, "at least one"},
		{"channels 0", `{"look_save": "a", "channels": [0]}`, CodeBadChannel, "channel 0"},
		{"channels 513", `{"look_save": "a", "channels": [1, 513]}`, CodeBadChannel, "513"},
		{"channels fraction", `{"look_save": "a", "channels": [1.5]}`, CodeBadChannel, "1.5"},
		{"channels on recall", `{"look_recall": "a", "channels": [1]}`, CodeBadRequest, "channels belongs to look_save"},
		{"ms on save", `{"look_save": "a", "ms": 5}`, CodeBadRequest, "ms belongs to fade and look_recall"},
		{"ms too long", `{"look_recall": "a", "ms": 600001}`, CodeBadValue, "ms"},
		{"ms string", `{"look_recall": "a", "ms": "5"}`, CodeBadRequest, "ms must be an integer"},
		{"rename without to", `{"look_rename": "a"}`, CodeBadRequest, "needs to"},
		{"rename to empty", `{"look_rename": "a", "to": ""}`, CodeBadValue, "empty"},
		{"to on delete", `{"look_delete": "a", "to": "b"}`, CodeBadRequest, "to belongs to look_rename"},
		{"go false", `{"go": false}`, CodeBadRequest, "go must be true"},
		{"back number", `{"back": 1}`, CodeBadRequest, "back must be true"},
		{"look_list false", `{"look_list": false}`, CodeBadRequest, "look_list must be true"},
		{"master 256", `{"master": 256}`, CodeBadValue, "master"},
		{"master string", `{"master": "full"}`, CodeBadValue, "master"},
		{"master fraction", `{"master": 1.0}`, CodeBadValue, "master"},
		{"grand master with universe", `{"grand_master": 1, "universe": 1}`, CodeBadRequest, "takes no universe"},
		{"blackout_all with universe", `{"blackout_all": true, "universe": 2}`, CodeBadRequest, "takes no universe"},
		{"blackout_all null", `{"blackout_all": null}`, CodeBadRequest, "true or false"},
		{"monitor string", `{"monitor": "yes"}`, CodeBadRequest, "true or false"},
		{"flash object", `{"flash": {"1": 255}}`, CodeBadRequest, "array"},
		{"flash 600", `{"flash": [600]}`, CodeBadChannel, "600"},
		{"cue list object", `{"cue_list": {"look": "a"}}`, CodeBadRequest, "array"},
		{"cue not object", `{"cue_list": ["a"]}`, CodeBadRequest, "cue 1 must be an object"},
		{"cue without look", `{"cue_list": [{"look": "a"}, {"ms": 5}]}`, CodeBadRequest, "cue 2 names no look"},
		{"cue unknown key", `{"cue_list": [{"look": "a", "fade": 5}]}`, CodeBadRequest, `unknown key "fade"`},
		{"cue key twice", `{"cue_list": [{"look": "a", "look": "b"}]}`, CodeBadRequest, `"look" appears twice`},
		{"cue ms too long", `{"cue_list": [{"look": "a", "ms": 700000}]}`, CodeBadValue, "cue 1"},
		{"cue look empty", `{"cue_list": [{"look": ""}]}`, CodeBadValue, "cue 1"},
		{"too many cues", `{"cue_list": [` + strings.TrimSuffix(strings.Repeat(`{"look":"a"},`, dmx.MaxCues+1), ",") + `]}`, CodeBadValue, "at most 256"},
		{"label array", `{"label": ["a"]}`, CodeBadRequest, "object"},
		{"label channel 0", `{"label": {"0": "a"}}`, CodeBadChannel, `"0"`},
		{"label channel word", `{"label": {"one": "a"}}`, CodeBadChannel, `"one"`},
		{"label not string", `{"label": {"1": 5}}`, CodeBadRequest, "must be a string"},
		{"label too long", `{"label": {"1": "` + strings.Repeat("y", dmx.MaxLabelBytes+1) + `"}}`, CodeBadValue, "at most 32"},
		{"label key twice", `{"label": {"1": "a", "\u0031": "b"}}`, CodeBadRequest, `"1" appears twice`},
		{"universe name too long", `{"universe_name": "` + long + `"}`, CodeBadValue, "at most 64"},
		{"universe name null", `{"universe_name": null}`, CodeBadRequest, "must be a string"},
		{"two show commands", `{"go": true, "back": true}`, CodeBadRequest, "one command per message"},
		{"show and dmx", `{"go": true, "dmx": [1]}`, CodeBadRequest, "one command per message"},
		{"bad universe", `{"look_save": "a", "universe": 9}`, CodeBadUniverse, "universe 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, e := DecodeCommand([]byte(tt.in), testUniverses)
			if cmd != nil || e == nil {
				t.Fatalf("DecodeCommand(%s) = %+v, %v: want refusal %s", tt.in, cmd, e, tt.code)
			}
			if e.Code != tt.code || !strings.Contains(e.Message, tt.detail) {
				t.Errorf("got %s %q, want %s mentioning %q", e.Code, e.Message, tt.code, tt.detail)
			}
			if strings.ContainsAny(e.Message, "\r\n") {
				t.Errorf("message %q spans lines", e.Message)
			}
		})
	}
}

// TestShowCommandWeights: every show command holds at most a full
// universe's credit, however it is written.
func TestShowCommandWeights(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"flash": [`)
	for i := range 4000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("7")
	}
	sb.WriteString(`]}`)
	for _, in := range append(showForms, sb.String()) {
		cmd, e := DecodeCommand([]byte(in), testUniverses)
		if e != nil {
			t.Fatalf("%s: %s", in, e.Message)
		}
		if w := cmd.Weight(); w < 1 || w > 9 {
			t.Errorf("%.40s: weight %d outside 1..9", in, w)
		}
	}
}

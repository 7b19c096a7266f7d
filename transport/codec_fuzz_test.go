package transport

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// protocolCodes are the error codes DecodeCommand may answer with
// (rate_limited and unsupported come from the read pump, not the decoder).
var protocolCodes = []string{CodeBadJSON, CodeBadRequest, CodeBadChannel, CodeBadValue, CodeBadUniverse}

// FuzzDecodeCommand feeds arbitrary frames to the command decoder. The seed
// corpus is in testdata/fuzz/FuzzDecodeCommand; every crasher found there
// stays as a regular test case.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"dmx": {"1": 255, "2": 128}}`,
		`{"dmx": [255, 128, 0], "start": 10, "id": 1}`,
		`{"fade": {"1": 255}, "ms": 1500, "universe": 2}`,
		`{"fade": [0, 0], "start": 511, "ms": 0, "id": "x"}`,
		`{"blackout": true}`,
		`{"get": true, "id": -1.5}`,
		`{"dmx": {"513": 1}}`,
		`{"dmx": [256]}`,
		`[1, 2]`,
		`{"dmx": [1], "fade": [1]}`,
		`{`,
		"{\"get\": true, \"id\": \"\xff\"}",
		`{"dmx": [1], "dmx": [2], "id": 1}`,
		`{"dmx": {"1": 1, "\u0031": 2}}`,
		`{"get": true, "id": "\ud800"}`,
		`{"cue_list": [{"look": "a", "look": "b"}]}`,
		`{"label": {"1": "a", "\u0031": "b"}}`,
		`{"look_save": "a\u0000"}`,
		`{"grand_master": 1, "universe": 1}`,
	} {
		f.Add([]byte(s), uint16(4))
	}
	for _, s := range showForms {
		f.Add([]byte(s), uint16(4))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		universes := 1 + int(n)%actors.MaxUniverses
		in := slices.Clone(data)
		cmd, e := DecodeCommand(data, universes)
		if !slices.Equal(in, data) {
			t.Fatalf("DecodeCommand modified its input")
		}
		if (cmd == nil) == (e == nil) {
			t.Fatalf("DecodeCommand(%q) = %+v, %+v: want exactly one", data, cmd, e)
		}
		if e != nil {
			if !slices.Contains(protocolCodes, e.Code) {
				t.Fatalf("code %q is not the protocol's", e.Code)
			}
			if e.Message == "" || strings.ContainsAny(e.Message, "\r\n") {
				t.Fatalf("message %q is not one line", e.Message)
			}
			b, err := AppendMessage(nil, e)
			if err != nil || !json.Valid(b) || !utf8.Valid(b) {
				t.Fatalf("error encodes as %q, %v: want valid JSON and UTF-8", b, err)
			}
			if e.ID != nil && !json.Valid(e.ID) {
				t.Fatalf("echoed id %q is not JSON", e.ID)
			}
			return
		}
		if !utf8.Valid(data) || namesAKeyTwice(data) {
			t.Fatalf("DecodeCommand(%q) accepted text that is not UTF-8 or names a key twice", data)
		}
		if cmd.Universe < 1 || cmd.Universe > universes {
			t.Fatalf("universe %d outside 1..%d", cmd.Universe, universes)
		}
		switch cmd.Kind {
		case actors.KindDMX, actors.KindFade:
			for _, c := range cmd.Changes {
				if !dmx.ValidChannel(int(c.Channel)) {
					t.Fatalf("channel %d outside 1..512", c.Channel)
				}
			}
			if cmd.Duration < 0 || cmd.Duration.Milliseconds() > MaxFadeMs {
				t.Fatalf("fade duration %v out of range", cmd.Duration)
			}
			if cmd.Kind == actors.KindDMX && cmd.Duration != 0 {
				t.Fatalf("dmx with duration %v", cmd.Duration)
			}
		case actors.KindBlackout, actors.KindGet:
			if len(cmd.Changes) != 0 || cmd.Duration != 0 {
				t.Fatalf("%d command carries channels", cmd.Kind)
			}
		case actors.KindLookSave, actors.KindLookRecall, actors.KindLookRename, actors.KindLookDelete, actors.KindLookList,
			actors.KindCueList, actors.KindGo, actors.KindBack, actors.KindMaster, actors.KindGrandMaster,
			actors.KindBlackoutAll, actors.KindFlash, actors.KindLabel, actors.KindUniverseName, actors.KindMonitor:
			checkShowCommand(t, cmd)
		default:
			t.Fatalf("unknown kind %d", cmd.Kind)
		}
		if cmd.ID != nil {
			b, err := AppendMessage(nil, &actors.Ack{ID: cmd.ID})
			if err != nil || !json.Valid(b) || !utf8.Valid(b) {
				t.Fatalf("ack encodes as %q, %v: want valid JSON and UTF-8", b, err)
			}
		}
	})
}

// TestNamesAKeyTwice checks the fuzz target's reference.
func TestNamesAKeyTwice(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a": 1, "b": {"a": 1}, "c": [{"a": 1}, {"a": 2}]}`: false,
		`{"a": "a", "b": ["a", "a"]}`:                        false,
		`{"a": 1, "a": 1}`:                                   true,
		`{"a": {"b": 1}, "c": 2, "a": 3}`:                    true,
		`{"x": [{"b": 1, "b": 2}]}`:                          true,
		`{"a": [], "\u0061": 1}`:                             true,
		`[{"a": 1}, {"a": 1}]`:                               false,
	} {
		if got := namesAKeyTwice([]byte(in)); got != want {
			t.Errorf("namesAKeyTwice(%s) = %v, want %v", in, got, want)
		}
	}
}

// namesAKeyTwice reports whether an object in the JSON text data names a
// key twice, as encoding/json's tokenizer reads it: the fuzz target's own
// reference, apart from the decoder's.
func namesAKeyTwice(data []byte) bool {
	type level struct {
		keys map[string]bool // nil in an array
		key  bool            // in an object, the next token is a key
	}
	var stack []*level
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{keys: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if n := len(stack); n > 0 && stack[n-1].key {
				k, _ := tok.(string)
				if stack[n-1].keys[k] {
					return true
				}
				stack[n-1].keys[k], stack[n-1].key = true, false
				continue
			}
		}
		// A value ended: in an object, a key comes next.
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].key = true
		}
	}
}

// checkShowCommand fails when an accepted show command breaks a bound.
func checkShowCommand(t *testing.T, cmd *actors.Command) {
	t.Helper()
	if len(cmd.Changes) != 0 {
		t.Fatalf("show command %d carries levels", cmd.Kind)
	}
	if w := cmd.Weight(); w > 9 {
		t.Fatalf("show command of weight %d", w)
	}
	names := []string{cmd.Name, cmd.To}
	for _, c := range cmd.Cues {
		names = append(names, c.Look)
		if c.Fade < 0 || c.Fade.Milliseconds() > MaxFadeMs {
			t.Fatalf("cue fade %v out of range", c.Fade)
		}
	}
	for _, n := range names {
		if dmx.CheckName(n, dmx.MaxNameBytes, true) != nil {
			t.Fatalf("name %q accepted", n)
		}
	}
	if len(cmd.Cues) > dmx.MaxCues {
		t.Fatalf("%d cues accepted", len(cmd.Cues))
	}
	for _, l := range cmd.Labels {
		if !dmx.ValidChannel(int(l.Channel)) || dmx.CheckName(l.Text, dmx.MaxLabelBytes, true) != nil {
			t.Fatalf("label %+v accepted", l)
		}
	}
	for _, c := range cmd.Channels {
		if !dmx.ValidChannel(int(c)) {
			t.Fatalf("channel %d accepted", c)
		}
	}
	if cmd.Duration < 0 || cmd.Duration.Milliseconds() > MaxFadeMs {
		t.Fatalf("duration %v out of range", cmd.Duration)
	}
}

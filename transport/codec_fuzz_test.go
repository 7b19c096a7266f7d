package transport

import (
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
		`{"get": true, "id": "\ud800"}`,
	} {
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

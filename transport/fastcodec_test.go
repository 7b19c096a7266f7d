package transport

import (
	"slices"
	"strings"
	"testing"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// fastForms are well-formed commands the fast path must take.
var fastForms = []string{
	`{"dmx": {"1": 255}}`,
	`{"dmx":{"17":128},"id":12345}`,
	`{"dmx": {"512": 0, "1": 7, "20": 9}, "universe": 2}`,
	`{"dmx": [1, 2, 3], "start": 510}`,
	`{"dmx": [` + strings.Repeat("7,", 511) + `7]}`,
	`{"dmx": {}}`,
	`{"dmx": []}`,
	`{"fade": {"1": 255, "2": 0}, "ms": 1500, "id": "f1"}`,
	`{"fade": [10, 20], "start": 100, "ms": 0}`,
	`{"fade": [1], "ms": 600000}`,
	`{"blackout": true}`,
	`{"blackout": false, "universe": 2}`,
	`{"get": true, "id": -7}`,
	" \n{ \"dmx\" : { \"2\" : 3 } }\t",
	`{"id": "a-rather-long-identifier-of-40-bytes!", "dmx": [1]}`,
}

// slowForms are inputs the fast path must leave to encoding/json: every
// refusal and every form it does not handle.
var slowForms = []string{
	``, `{`, `{}`, `[]`, `null`, `{"dmx": {"1": 256}}`, `{"dmx": {"0": 1}}`, `{"dmx": {"513": 1}}`,
	`{"dmx": {"01": 1}}`, `{"dmx": {"1": 1, "1": 2}}`, `{"dmx": {"1": -0}}`, `{"dmx": {"1": 1.0}}`,
	`{"dmx": {"1": 1e2}}`, `{"dmx": [1], "start": 512, "x": 1}`, `{"dmx": [1, 2], "start": 512}`,
	`{"dmx": {"1": 1}, "start": 2}`, `{"dmx": [1], "ms": 5}`, `{"fade": [1], "ms": 600001}`,
	`{"dmx": [1], "dmx": [2]}`, `{"dmx": [1], "get": true}`, `{"get": false}`, `{"blackout": null}`,
	`{"dmx": [1], "universe": 0}`, `{"dmx": [1], "universe": 5}`, `{"id": "a\"b", "get": true}`,
	`{"id": 1.5, "get": true}`, `{"id": true, "get": true}`, `{"get": true} x`, `{"d\u006dx": [1]}`,
	`{"dmx": [1,]}`, `{"dmx": {"1": 1,}}`, `{"get": truex}`, `{"id": "é", "get": true}`,
	`{"id": 1, "id": 2, "get": true}`, `{"universe": 1, "universe": 1, "get": true}`, `{"fade": [1], "ms": 5, "ms": 5}`,
	`{"dmx": [1], "start": 2, "start": 2}`, `{"blackout": true, "blackout": true}`,
	"{\"id\": \"\xff\", \"get\": true}", "{\"dmx\": [1], \"\xfe\": 1}", `{"id": "\ud800", "get": true}`,
}

func TestFastPathTakesCommonForms(t *testing.T) {
	for _, in := range fastForms {
		if _, ok := decodeFast([]byte(in), 4); !ok {
			t.Errorf("decodeFast(%s) fell back to encoding/json", in)
		}
		checkAgrees(t, []byte(in), 4)
	}
	for _, in := range slices.Concat(slowForms, showForms) {
		if cmd, ok := decodeFast([]byte(in), 4); ok {
			t.Errorf("decodeFast(%s) = %+v, want it left to encoding/json", in, cmd)
		}
	}
}

// checkAgrees fails when the fast path accepts data and the reference
// decoder does not give the same command.
func checkAgrees(t *testing.T, data []byte, universes int) {
	t.Helper()
	in := slices.Clone(data)
	fast, ok := decodeFast(data, universes)
	if !slices.Equal(in, data) {
		t.Fatalf("decodeFast modified its input")
	}
	if !ok {
		return
	}
	ref, e := decodeCommandJSON(data, universes)
	if e != nil {
		t.Fatalf("decodeFast accepted %q, the reference refuses it: %s %s", data, e.Code, e.Message)
	}
	sorted := func(cs []dmx.Change) []dmx.Change {
		out := slices.Clone(cs)
		slices.SortFunc(out, func(a, b dmx.Change) int { return int(a.Channel) - int(b.Channel) })
		return out
	}
	if fast.Kind != ref.Kind || fast.Universe != ref.Universe || fast.On != ref.On || fast.Duration != ref.Duration ||
		string(fast.ID) != string(ref.ID) || (fast.ID == nil) != (ref.ID == nil) ||
		!slices.Equal(sorted(fast.Changes), sorted(ref.Changes)) {
		t.Fatalf("decode %q:\nfast %+v\nref  %+v", data, *fast, *ref)
	}
}

// FuzzFastDecoderAgrees checks that whatever the fast path accepts, the
// encoding/json decoder accepts as the same command.
func FuzzFastDecoderAgrees(f *testing.F) {
	for _, s := range slices.Concat(fastForms, slowForms, showForms) {
		f.Add([]byte(s), uint16(4))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		universes := 1 + int(n)%actors.MaxUniverses
		checkAgrees(t, data, universes)
	})
}

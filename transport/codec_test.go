package transport

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// testUniverses is the server size the codec tests decode for.
const testUniverses = 4

// sortedChanges returns cs sorted by channel, so that the object form (a
// JSON object has no order) compares deterministically.
func sortedChanges(cs []dmx.Change) []dmx.Change {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b dmx.Change) int { return int(a.Channel) - int(b.Channel) })
	return out
}

// run builds n consecutive changes from channel start, all at level.
func run(start, n int, level uint8) []dmx.Change {
	cs := make([]dmx.Change, n)
	for i := range cs {
		cs[i] = dmx.Change{Channel: uint16(start + i), Level: level}
	}
	return cs
}

func TestDecodeCommandAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want actors.Command
	}{
		{"dmx object", `{"dmx": {"1": 255, "17": 0}}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, Changes: []dmx.Change{ch(1, 255), ch(17, 0)}}},
		{"dmx object edges", `{"dmx": {"512": 1, "1": 0}}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, Changes: []dmx.Change{ch(1, 0), ch(512, 1)}}},
		{"dmx object empty", `{"dmx": {}}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, Changes: []dmx.Change{}}},
		{"dmx array default start", `{"dmx": [255, 128, 0]}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, Changes: []dmx.Change{ch(1, 255), ch(2, 128), ch(3, 0)}}},
		{"dmx array with start", `{"dmx": [255, 128, 0], "start": 10}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, Changes: []dmx.Change{ch(10, 255), ch(11, 128), ch(12, 0)}}},
		{"dmx array ending at 512", `{"dmx": [1, 2], "start": 511}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, Changes: []dmx.Change{ch(511, 1), ch(512, 2)}}},
		{"dmx array full universe", `{"dmx": [` + strings.Repeat("7,", 511) + `7]}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, Changes: run(1, 512, 7)}},
		{"dmx array empty", `{"dmx": []}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, Changes: []dmx.Change{}}},
		{"dmx in universe 3", `{"dmx": {"5": 5}, "universe": 3}`,
			actors.Command{Kind: actors.KindDMX, Universe: 3, Changes: []dmx.Change{ch(5, 5)}}},
		{"dmx in last universe", `{"universe": 4, "dmx": [9]}`,
			actors.Command{Kind: actors.KindDMX, Universe: 4, Changes: []dmx.Change{ch(1, 9)}}},
		{"dmx with whitespace", " \n{ \"dmx\" : { \"2\" : 3 } }\t",
			actors.Command{Kind: actors.KindDMX, Universe: 1, Changes: []dmx.Change{ch(2, 3)}}},
		{"negative zero level", `{"dmx": {"1": -0}}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, Changes: []dmx.Change{ch(1, 0)}}},
		{"fade object", `{"fade": {"1": 255}, "ms": 1500}`,
			actors.Command{Kind: actors.KindFade, Universe: 1, Changes: []dmx.Change{ch(1, 255)}, Duration: 1500 * time.Millisecond}},
		{"fade array with start", `{"fade": [10, 20], "start": 100, "ms": 0}`,
			actors.Command{Kind: actors.KindFade, Universe: 1, Changes: []dmx.Change{ch(100, 10), ch(101, 20)}}},
		{"fade longest", `{"fade": [1], "ms": 600000}`,
			actors.Command{Kind: actors.KindFade, Universe: 1, Changes: []dmx.Change{ch(1, 1)}, Duration: 10 * time.Minute}},
		{"fade without ms", `{"fade": {"3": 30}}`,
			actors.Command{Kind: actors.KindFade, Universe: 1, Changes: []dmx.Change{ch(3, 30)}}},
		{"blackout on", `{"blackout": true}`,
			actors.Command{Kind: actors.KindBlackout, Universe: 1, On: true}},
		{"blackout off", `{"blackout": false, "universe": 2}`,
			actors.Command{Kind: actors.KindBlackout, Universe: 2, On: false}},
		{"get", `{"get": true}`,
			actors.Command{Kind: actors.KindGet, Universe: 1}},
		{"get universe", `{"get": true, "universe": 2}`,
			actors.Command{Kind: actors.KindGet, Universe: 2}},
		{"id number", `{"get": true, "id": 7}`,
			actors.Command{Kind: actors.KindGet, Universe: 1, ID: actors.ID(`7`)}},
		{"id negative fraction", `{"get": true, "id": -1.5e3}`,
			actors.Command{Kind: actors.KindGet, Universe: 1, ID: actors.ID(`-1.5e3`)}},
		{"id string", `{"id": "a\"b", "dmx": {"1": 1}}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, ID: actors.ID(`"a\"b"`), Changes: []dmx.Change{ch(1, 1)}}},
		{"id spaced", `{"id" :  "x" , "blackout": true}`,
			actors.Command{Kind: actors.KindBlackout, Universe: 1, ID: actors.ID(`"x"`), On: true}},
		{"id in UTF-8", `{"id": "cue é ♪ 😀", "get": true}`,
			actors.Command{Kind: actors.KindGet, Universe: 1, ID: actors.ID(`"cue é ♪ 😀"`)}},
		// A lone surrogate written as an escape is JSON's grammar and ASCII
		// text: echoed as sent (encoding/json would read it as U+FFFD).
		{"keys inside strings and values are not keys", `{"id": "\"dmx\": {\"id\": 1}", "dmx": {"1": 1, "2": 2}, "universe" : 1}`,
			actors.Command{Kind: actors.KindDMX, Universe: 1, ID: actors.ID(`"\"dmx\": {\"id\": 1}"`), Changes: []dmx.Change{ch(1, 1), ch(2, 2)}}},
		{"id lone surrogate escape", `{"id": "\ud800", "get": true}`,
			actors.Command{Kind: actors.KindGet, Universe: 1, ID: actors.ID(`"\ud800"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, e := DecodeCommand([]byte(tt.in), testUniverses)
			if e != nil {
				t.Fatalf("DecodeCommand(%s) refused: %s %s", tt.in, e.Code, e.Message)
			}
			if cmd == nil {
				t.Fatalf("DecodeCommand(%s) returned neither command nor error", tt.in)
			}
			if cmd.Kind != tt.want.Kind || cmd.Universe != tt.want.Universe || cmd.On != tt.want.On || cmd.Duration != tt.want.Duration {
				t.Errorf("got kind %d universe %d on %v duration %v, want kind %d universe %d on %v duration %v",
					cmd.Kind, cmd.Universe, cmd.On, cmd.Duration, tt.want.Kind, tt.want.Universe, tt.want.On, tt.want.Duration)
			}
			if string(cmd.ID) != string(tt.want.ID) || (cmd.ID == nil) != (tt.want.ID == nil) {
				t.Errorf("id %q, want %q", cmd.ID, tt.want.ID)
			}
			got, want := sortedChanges(cmd.Changes), tt.want.Changes
			if !slices.Equal(got, want) {
				t.Errorf("changes %v, want %v", got, want)
			}
		})
	}
}

func TestDecodeCommandRefuses(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		code   string
		id     string // the echoed id, "" for none
		detail string // a part of the message
	}{
		// bad_json
		{"empty", ``, CodeBadJSON, "", "JSON"},
		{"garbage", `hello`, CodeBadJSON, "", "JSON"},
		{"truncated", `{"dmx": {"1": 255}`, CodeBadJSON, "", "JSON"},
		{"trailing garbage", `{"get": true} x`, CodeBadJSON, "", "JSON"},
		{"truncated with id", `{"id": 7, "dmx":`, CodeBadJSON, "", "JSON"},
		{"single quotes", `{'get': true}`, CodeBadJSON, "", "JSON"},
		// bad_json: text that is not UTF-8 is not JSON (RFC 8259 8.1); no
		// byte of it, and so no id, is echoed.
		{"id not UTF-8", "{\"get\": true, \"id\": \"\xff\"}", CodeBadJSON, "", "UTF-8"},
		{"id with a truncated sequence", "{\"dmx\": [1], \"id\": \"cue \xe2\x82\"}", CodeBadJSON, "", "UTF-8"},
		{"id with an overlong encoding", "{\"dmx\": [1], \"id\": \"\xc0\xaf\"}", CodeBadJSON, "", "UTF-8"},
		{"id with a surrogate encoded as UTF-8", "{\"get\": true, \"id\": \"\xed\xa0\x80\"}", CodeBadJSON, "", "UTF-8"},
		{"key not UTF-8", "{\"dmx\": [1], \"\xfe\": 1, \"id\": 1}", CodeBadJSON, "", "UTF-8"},
		{"level not UTF-8", "{\"dmx\": {\"1\": \"\x80\"}, \"id\": 2}", CodeBadJSON, "", "UTF-8"},
		{"not UTF-8 outside strings", "{\"get\": true, \"id\": 3}\xff", CodeBadJSON, "", "UTF-8"},

		// bad_request: not an object
		{"array top-level", `[{"get": true}]`, CodeBadRequest, "", "object"},
		{"string top-level", `"dmx"`, CodeBadRequest, "", "object"},
		{"number top-level", `42`, CodeBadRequest, "", "object"},
		{"null top-level", `null`, CodeBadRequest, "", "object"},
		{"true top-level", `true`, CodeBadRequest, "", "object"},
		// bad_request: command keys
		{"no command key", `{}`, CodeBadRequest, "", "no command"},
		{"only options", `{"universe": 1, "id": 3}`, CodeBadRequest, "3", "no command"},
		{"two command keys", `{"dmx": {"1": 1}, "fade": {"1": 1}, "id": 4}`, CodeBadRequest, "4", "one command"},
		{"dmx and get", `{"dmx": [1], "get": true}`, CodeBadRequest, "", "one command"},
		{"unknown key", `{"dmx": [1], "channel": 1, "id": "u"}`, CodeBadRequest, `"u"`, "unknown key"},
		{"misspelled command", `{"dxm": [1]}`, CodeBadRequest, "", "unknown key"},
		{"command key in wrong case", `{"DMX": [1]}`, CodeBadRequest, "", "unknown key"},
		// bad_request: wrong types
		{"dmx string", `{"dmx": "1=255", "id": 1}`, CodeBadRequest, "1", "object or an array"},
		{"dmx number", `{"dmx": 255}`, CodeBadRequest, "", "object or an array"},
		{"dmx null", `{"dmx": null}`, CodeBadRequest, "", "object or an array"},
		{"fade true", `{"fade": true, "ms": 5}`, CodeBadRequest, "", "object or an array"},
		{"universe string", `{"get": true, "universe": "1", "id": 2}`, CodeBadRequest, "2", "universe"},
		{"universe fraction", `{"get": true, "universe": 1.5}`, CodeBadRequest, "", "universe"},
		{"universe null", `{"get": true, "universe": null}`, CodeBadRequest, "", "universe"},
		{"universe exponent", `{"get": true, "universe": 1e0}`, CodeBadRequest, "", "universe"},
		{"start string", `{"dmx": [1], "start": "10", "id": "s"}`, CodeBadRequest, `"s"`, "start"},
		{"start fraction", `{"dmx": [1], "start": 1.5}`, CodeBadRequest, "", "start"},
		{"start with object form", `{"dmx": {"1": 1}, "start": 10, "id": 9}`, CodeBadRequest, "9", "array form"},
		{"start with fade object form", `{"fade": {"1": 1}, "start": 1, "ms": 10}`, CodeBadRequest, "", "array form"},
		{"start on get", `{"get": true, "start": 1}`, CodeBadRequest, "", "start"},
		{"start on blackout", `{"blackout": true, "start": 1}`, CodeBadRequest, "", "start"},
		{"ms string", `{"fade": [1], "ms": "100", "id": 5}`, CodeBadRequest, "5", "ms"},
		{"ms fraction", `{"fade": [1], "ms": 1.5}`, CodeBadRequest, "", "ms"},
		{"ms null", `{"fade": [1], "ms": null}`, CodeBadRequest, "", "ms"},
		{"ms on dmx", `{"dmx": [1], "ms": 100, "id": 6}`, CodeBadRequest, "6", "ms belongs to fade"},
		{"ms on get", `{"get": true, "ms": 100}`, CodeBadRequest, "", "ms belongs to fade"},
		{"blackout number", `{"blackout": 1, "id": "b"}`, CodeBadRequest, `"b"`, "blackout"},
		{"blackout string", `{"blackout": "true"}`, CodeBadRequest, "", "blackout"},
		{"blackout null", `{"blackout": null}`, CodeBadRequest, "", "blackout"},
		{"get false", `{"get": false, "id": 8}`, CodeBadRequest, "8", "get"},
		{"get null", `{"get": null}`, CodeBadRequest, "", "get"},
		{"get number", `{"get": 1}`, CodeBadRequest, "", "get"},
		// bad_request: a key given twice (JSON leaves its meaning open;
		// encoding/json would keep the last), compared as JSON reads keys.
		// The id is echoed unless it is the key given twice.
		{"dmx twice", `{"dmx": {"1": 1}, "dmx": {"2": 2}, "id": 5}`, CodeBadRequest, "5", `"dmx" appears twice`},
		{"dmx twice, once escaped", `{"dmx": [1], "d\u006dx": [2]}`, CodeBadRequest, "", `"dmx" appears twice`},
		{"fade twice", `{"fade": [1], "ms": 5, "fade": [2], "id": "f"}`, CodeBadRequest, `"f"`, `"fade" appears twice`},
		{"blackout twice", `{"blackout": true, "blackout": false}`, CodeBadRequest, "", `"blackout" appears twice`},
		{"get twice", `{"get": true, "get": true}`, CodeBadRequest, "", `"get" appears twice`},
		{"id twice", `{"get": true, "id": 1, "id": 2}`, CodeBadRequest, "", `"id" appears twice`},
		{"id twice, same value", `{"id": 1, "get": true, "id": 1}`, CodeBadRequest, "", `"id" appears twice`},
		{"universe twice", `{"get": true, "universe": 1, "universe": 2, "id": 6}`, CodeBadRequest, "6", `"universe" appears twice`},
		{"start twice", `{"dmx": [1], "start": 1, "start": 1}`, CodeBadRequest, "", `"start" appears twice`},
		{"ms twice", `{"fade": [1], "ms": 10, "ms": 20, "id": 7}`, CodeBadRequest, "7", `"ms" appears twice`},
		{"unknown key twice", `{"get": true, "x": 1, "x": 1}`, CodeBadRequest, "", `"x" appears twice`},
		{"channel twice", `{"dmx": {"1": 10, "1": 20}, "id": 8}`, CodeBadRequest, "8", `dmx: key "1" appears twice`},
		{"channel twice, once escaped", `{"fade": {"\u0031": 10, "2": 0, "1": 20}, "ms": 5}`, CodeBadRequest, "", `fade: key "1" appears twice`},
		{"first repeated key named", `{"get": true, "b": 1, "a": 1, "a": 2, "b": 2}`, CodeBadRequest, "", `"a" appears twice`},

		{"id object", `{"get": true, "id": {"a": 1}}`, CodeBadRequest, "", "id"},
		{"id array", `{"get": true, "id": [1]}`, CodeBadRequest, "", "id"},
		{"id null", `{"get": true, "id": null}`, CodeBadRequest, "", "id"},
		{"id bool", `{"get": true, "id": true}`, CodeBadRequest, "", "id"},

		// bad_channel
		{"channel 0", `{"dmx": {"0": 255}, "id": 10}`, CodeBadChannel, "10", `"0"`},
		{"channel 513", `{"dmx": {"513": 255}}`, CodeBadChannel, "", `"513"`},
		{"channel abc", `{"dmx": {"abc": 255}}`, CodeBadChannel, "", `"abc"`},
		{"channel -1", `{"dmx": {"-1": 255}}`, CodeBadChannel, "", `"-1"`},
		{"channel empty", `{"dmx": {"": 255}}`, CodeBadChannel, "", `""`},
		{"channel spaced", `{"dmx": {" 1": 255}}`, CodeBadChannel, "", `" 1"`},
		{"channel plus", `{"dmx": {"+1": 255}}`, CodeBadChannel, "", `"+1"`},
		{"channel fraction", `{"dmx": {"1.0": 255}}`, CodeBadChannel, "", `"1.0"`},
		{"channel leading zero", `{"dmx": {"01": 255}}`, CodeBadChannel, "", `"01"`},
		{"channel huge", `{"dmx": {"99999999999999999999": 255}}`, CodeBadChannel, "", "channel"},
		{"fade channel 513", `{"fade": {"513": 1}, "ms": 100, "id": "f"}`, CodeBadChannel, `"f"`, `"513"`},
		{"one bad channel among good", `{"dmx": {"1": 255, "2": 255, "600": 1, "3": 3}}`, CodeBadChannel, "", `"600"`},
		{"array past 512", `{"dmx": [1, 2, 3], "start": 511, "id": 11}`, CodeBadChannel, "11", "past channel 512"},
		{"array of 513", `{"dmx": [` + strings.Repeat("0,", 512) + `0]}`, CodeBadChannel, "", "past channel 512"},
		{"fade array past 512", `{"fade": [1, 2], "start": 512, "ms": 1}`, CodeBadChannel, "", "past channel 512"},
		{"start 0", `{"dmx": [1], "start": 0}`, CodeBadChannel, "", "start 0"},
		{"start 513", `{"dmx": [], "start": 513}`, CodeBadChannel, "", "start 513"},
		{"start negative", `{"dmx": [1], "start": -3}`, CodeBadChannel, "", "start -3"},
		{"start huge", `{"dmx": [1], "start": 99999999999999999999}`, CodeBadChannel, "", "start"},

		// bad_value
		{"level 256", `{"dmx": {"1": 256}, "id": 12}`, CodeBadValue, "12", "channel 1"},
		{"level -1", `{"dmx": {"1": -1}}`, CodeBadValue, "", "channel 1"},
		{"level 1.5", `{"dmx": {"1": 1.5}}`, CodeBadValue, "", "channel 1"},
		{"level exponent", `{"dmx": {"1": 1e2}}`, CodeBadValue, "", "channel 1"},
		{"level string", `{"dmx": {"1": "12"}}`, CodeBadValue, "", "channel 1"},
		{"level null", `{"dmx": {"1": null}}`, CodeBadValue, "", "channel 1"},
		{"level true", `{"dmx": {"1": true}}`, CodeBadValue, "", "channel 1"},
		{"level object", `{"dmx": {"1": {}}}`, CodeBadValue, "", "channel 1"},
		{"level huge", `{"dmx": {"1": 99999999999999999999999}}`, CodeBadValue, "", "channel 1"},
		{"array level 256", `{"dmx": [0, 256], "start": 7, "id": "v"}`, CodeBadValue, `"v"`, "channel 8"},
		{"array level -1", `{"dmx": [-1]}`, CodeBadValue, "", "channel 1"},
		{"array level 1.5", `{"dmx": [1.5]}`, CodeBadValue, "", "channel 1"},
		{"array level string", `{"dmx": ["12"]}`, CodeBadValue, "", "channel 1"},
		{"array level null", `{"dmx": [null]}`, CodeBadValue, "", "channel 1"},
		{"array level true", `{"dmx": [true]}`, CodeBadValue, "", "channel 1"},
		{"fade level 256", `{"fade": {"4": 256}, "ms": 10}`, CodeBadValue, "", "channel 4"},
		{"one bad level among good", `{"dmx": [1, 2, 3, 300, 5]}`, CodeBadValue, "", "channel 4"},
		{"ms negative", `{"fade": [1], "ms": -1, "id": 13}`, CodeBadValue, "13", "ms -1"},
		{"ms too long", `{"fade": [1], "ms": 600001}`, CodeBadValue, "", "ms 600001"},
		{"ms huge", `{"fade": [1], "ms": 99999999999999999999}`, CodeBadValue, "", "ms"},

		// bad_universe
		{"universe 0", `{"get": true, "universe": 0, "id": 14}`, CodeBadUniverse, "14", "universe 0"},
		{"universe beyond", `{"dmx": [1], "universe": 5}`, CodeBadUniverse, "", "universe 5"},
		{"universe negative", `{"blackout": true, "universe": -1}`, CodeBadUniverse, "", "universe -1"},
		{"universe huge", `{"get": true, "universe": 99999999999999999999}`, CodeBadUniverse, "", "universe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, e := DecodeCommand([]byte(tt.in), testUniverses)
			if cmd != nil {
				t.Fatalf("DecodeCommand(%s) accepted %+v, want %s", tt.in, cmd, tt.code)
			}
			if e == nil {
				t.Fatalf("DecodeCommand(%s) returned neither command nor error", tt.in)
			}
			if e.Code != tt.code {
				t.Errorf("code %q (%s), want %q", e.Code, e.Message, tt.code)
			}
			if string(e.ID) != tt.id {
				t.Errorf("id %q, want %q", e.ID, tt.id)
			}
			if tt.id == "" && e.ID != nil {
				t.Errorf("id %q present, want none", e.ID)
			}
			if !strings.Contains(e.Message, tt.detail) {
				t.Errorf("message %q does not mention %q", e.Message, tt.detail)
			}
			if strings.ContainsAny(e.Message, "\r\n") {
				t.Errorf("message %q spans lines", e.Message)
			}
		})
	}
}

// TestDecodeCommandDeterministic: a command with several mistakes gets the
// same answer every time, although a JSON object has no order.
func TestDecodeCommandDeterministic(t *testing.T) {
	ins := []string{
		`{"dmx": {"0": 1, "2": 300, "3": 1, "4": -1, "x": 2, "600": 1}}`,
		`{"dmx": {"1": 300, "2": 400, "3": 500, "4": 600, "5": 700}}`,
		`{"dmx": {"600": 1, "700": 1, "800": 1, "900": 1, "a": 1}}`,
	}
	for _, in := range ins {
		_, first := DecodeCommand([]byte(in), testUniverses)
		if first == nil {
			t.Fatalf("DecodeCommand(%s) accepted", in)
		}
		for range 50 {
			_, e := DecodeCommand([]byte(in), testUniverses)
			if e == nil || e.Code != first.Code || e.Message != first.Message {
				t.Fatalf("DecodeCommand(%s): %+v, earlier %+v", in, e, first)
			}
		}
	}
}

// TestDecodeCommandBadChannelChangesNothing: a command with one bad channel
// is refused whole. The decoder returns no command at all, so there is
// nothing a universe could apply; the universe actor's tests check the
// other half (a command applies whole).
func TestDecodeCommandBadChannelChangesNothing(t *testing.T) {
	for _, in := range []string{
		`{"dmx": {"1": 255, "2": 255, "513": 255}}`,
		`{"dmx": {"1": 255, "2": 256}}`,
		`{"dmx": [255, 255, 255], "start": 511}`,
		`{"dmx": [255, 255, "x"]}`,
		`{"fade": {"1": 255, "0": 1}, "ms": 100}`,
	} {
		cmd, e := DecodeCommand([]byte(in), testUniverses)
		if cmd != nil || e == nil {
			t.Errorf("DecodeCommand(%s) = %+v, %+v; want no command and an error", in, cmd, e)
		}
	}
}

// TestDecodeCommandKeepsNoReference: the returned id does not alias the
// input buffer, which the read pump reuses.
func TestDecodeCommandKeepsNoReference(t *testing.T) {
	buf := []byte(`{"get": true, "id": "abc"}`)
	cmd, e := DecodeCommand(buf, 1)
	if e != nil {
		t.Fatal(e)
	}
	for i := range buf {
		buf[i] = 'X'
	}
	if string(cmd.ID) != `"abc"` {
		t.Errorf("id %q changed with the input buffer", cmd.ID)
	}
}

// ch is a dmx.Change, short for the tables.
func ch(channel uint16, level uint8) dmx.Change { return dmx.Change{Channel: channel, Level: level} }

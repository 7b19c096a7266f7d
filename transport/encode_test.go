package transport

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// stateJSON is the expected encoding of a state whose values are 0 except
// for the given channels.
func stateJSON(universe string, set map[int]string, blackout string) string {
	vs := make([]string, dmx.Slots)
	for i := range vs {
		vs[i] = "0"
		if v, ok := set[i+1]; ok {
			vs[i] = v
		}
	}
	return `{"type":"state","universe":` + universe + `,"values":[` + strings.Join(vs, ",") + `],"blackout":` + blackout + `}`
}

func TestAppendMessage(t *testing.T) {
	var lit dmx.Frame
	lit[0], lit[16], lit[511] = 255, 7, 1
	tests := []struct {
		name string
		msg  any
		want string
	}{
		{"update", &actors.Update{Universe: 1, Changes: []dmx.Change{ch(1, 255), ch(17, 0), ch(512, 9)}},
			`{"type":"update","universe":1,"changes":{"1":255,"17":0,"512":9}}`},
		{"update one", &actors.Update{Universe: 3, Changes: []dmx.Change{ch(2, 128)}},
			`{"type":"update","universe":3,"changes":{"2":128}}`},
		{"update empty", &actors.Update{Universe: 2},
			`{"type":"update","universe":2,"changes":{}}`},
		{"ack number", &actors.Ack{ID: actors.ID(`7`)}, `{"type":"ack","id":7}`},
		{"ack string", &actors.Ack{ID: actors.ID(`"cue \"5\""`)}, `{"type":"ack","id":"cue \"5\""}`},
		{"ack float", &actors.Ack{ID: actors.ID(`-1.5e3`)}, `{"type":"ack","id":-1.5e3}`},
		{"state dark", &actors.State{Universe: 1}, stateJSON("1", nil, "false")},
		{"state lit blackout", &actors.State{Universe: 2, Values: lit, Blackout: true},
			stateJSON("2", map[int]string{1: "255", 17: "7", 512: "1"}, "true")},
		{"blackout on", &actors.Blackout{Universe: 1, On: true}, `{"type":"blackout","universe":1,"on":true}`},
		{"blackout off", &actors.Blackout{Universe: 4, On: false}, `{"type":"blackout","universe":4,"on":false}`},
		{"error with id", &actors.Error{ID: actors.ID(`7`), Code: CodeBadChannel, Message: "channel 513 is outside 1..512"},
			`{"type":"error","id":7,"code":"bad_channel","message":"channel 513 is outside 1..512"}`},
		{"error with string id", &actors.Error{ID: actors.ID(`"x"`), Code: CodeBadValue, Message: "m"},
			`{"type":"error","id":"x","code":"bad_value","message":"m"}`},
		{"error without id", &actors.Error{Code: CodeBadJSON, Message: `not valid JSON: "<x>" & more`},
			`{"type":"error","code":"bad_json","message":"not valid JSON: \"\u003cx\u003e\" \u0026 more"}`},
		{"output down", &actors.OutputStatus{Universe: 1, Driver: "enttec-pro", Up: false, Error: "write: input/output error"},
			`{"type":"output","universe":1,"driver":"enttec-pro","state":"down","error":"write: input/output error"}`},
		{"output up", &actors.OutputStatus{Universe: 2, Driver: "open-dmx", Up: true},
			`{"type":"output","universe":2,"driver":"open-dmx","state":"up"}`},
		{"hello", &actors.Hello{Version: "0.1.0", Universes: 1, Rate: 44, Merge: "ltp"},
			`{"type":"hello","version":"0.1.0","universes":[1],"rate":44,"merge":"ltp"}`},
		{"hello three", &actors.Hello{Version: "v", Universes: 3, Rate: 10, Merge: "htp"},
			`{"type":"hello","version":"v","universes":[1,2,3],"rate":10,"merge":"htp"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := AppendMessage(prefix, tt.msg)
			if err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
			if !strings.HasPrefix(string(got), "prefix") {
				t.Fatalf("AppendMessage dropped what dst held: %q", got)
			}
			body := got[len("prefix"):]
			if string(body) != tt.want {
				t.Errorf("got  %s\nwant %s", body, tt.want)
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("output does not parse: %v\n%s", err, body)
			}
			if m["type"] == nil {
				t.Errorf("no type in %s", body)
			}
		})
	}
}

// TestAppendMessageParsesBack decodes encoded messages with encoding/json
// into the protocol's shapes, as a client would.
func TestAppendMessageParsesBack(t *testing.T) {
	var v dmx.Frame
	for i := range v {
		v[i] = byte(i)
	}
	b, err := AppendMessage(nil, &actors.State{Universe: 5, Values: v, Blackout: true})
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Type     string `json:"type"`
		Universe int    `json:"universe"`
		Values   []int  `json:"values"`
		Blackout bool   `json:"blackout"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != "state" || st.Universe != 5 || !st.Blackout || len(st.Values) != dmx.Slots {
		t.Fatalf("state parsed as %+v", st)
	}
	for i, x := range st.Values {
		if x != i%256 {
			t.Fatalf("values[%d] = %d, want %d", i, x, i%256)
		}
	}

	b, err = AppendMessage(nil, &actors.Update{Universe: 1, Changes: []dmx.Change{ch(1, 255), ch(2, 128)}})
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		Changes map[string]int `json:"changes"`
	}
	if err := json.Unmarshal(b, &up); err != nil {
		t.Fatal(err)
	}
	if len(up.Changes) != 2 || up.Changes["1"] != 255 || up.Changes["2"] != 128 {
		t.Errorf("update changes parsed as %v", up.Changes)
	}
}

// TestAppendMessageEchoesDecodedID: every id the decoder accepts comes back
// as written, in an ack and an error that parse as JSON and are UTF-8.
func TestAppendMessageEchoesDecodedID(t *testing.T) {
	for _, id := range []string{`0`, `-7`, `1.25`, `1e400`, `"x"`, `""`, `"\u00e9\n"`, `"😀"`, `"\ud800"`, `"\udc00\ud800"`} {
		cmd, e := DecodeCommand([]byte(`{"get": true, "id": `+id+`}`), 1)
		if e != nil {
			t.Fatalf("id %s refused: %+v", id, e)
		}
		for _, msg := range []any{&actors.Ack{ID: cmd.ID}, &actors.Error{ID: cmd.ID, Code: CodeBadValue, Message: "m"}} {
			b, err := AppendMessage(nil, msg)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil || !utf8.Valid(b) {
				t.Fatalf("%q does not parse or is not UTF-8: %v", b, err)
			}
			if string(m["id"]) != id {
				t.Errorf("%s: id %s, want %s", b, m["id"], id)
			}
		}
	}
}

// TestAppendMessageRefusesIDNotUTF8: an id that is not UTF-8 (the decoder
// never accepts one) is not echoed: the ack or error is not encoded.
func TestAppendMessageRefusesIDNotUTF8(t *testing.T) {
	id := actors.ID("\"cue \xff\"")
	for _, msg := range []any{&actors.Ack{ID: id}, &actors.Error{ID: id, Code: CodeBadValue, Message: "m"}} {
		got, err := AppendMessage([]byte("x"), msg)
		if err == nil || !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("AppendMessage(%T) error %v, want one about UTF-8", msg, err)
		}
		if string(got) != "x" {
			t.Errorf("AppendMessage(%T) appended %q", msg, got[1:])
		}
	}
}

func TestAppendMessageUnknown(t *testing.T) {
	got, err := AppendMessage([]byte("x"), struct{}{})
	if err == nil {
		t.Fatal("no error for an unknown message")
	}
	if string(got) != "x" {
		t.Errorf("dst changed to %q", got)
	}
}

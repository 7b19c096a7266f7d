package test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dmxd/dmxd/test/testkit"
)

// schemaDir holds the protocol's JSON Schemas, relative to this package.
const schemaDir = "../docs/schema"

// protocolSchemas are the compiled schemas of docs/schema.
type protocolSchemas struct {
	// command is client/command.json, any client command.
	command *jsonschema.Schema
	// message is server/message.json, any server message.
	message *jsonschema.Schema
	// byType is the schema of each server message type, from
	// server/TYPE.json.
	byType map[string]*jsonschema.Schema
	// fields are the top-level properties each type's schema names. The
	// schemas leave other fields open (clients ignore fields they do not
	// know), so the test checks against these that dmxd sends none that
	// is undocumented.
	fields map[string][]string
	// files are every schema file with its examples.
	files map[string][]any
}

// loadSchemas compiles every schema of docs/schema against the draft
// 2020-12 metaschema.
func loadSchemas(t *testing.T) *protocolSchemas {
	t.Helper()
	dir, err := filepath.Abs(schemaDir)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	compile := func(rel string) *jsonschema.Schema {
		t.Helper()
		s, err := c.Compile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatalf("compile %s: %v", rel, err)
		}
		return s
	}
	ps := &protocolSchemas{
		command: compile("client/command.json"),
		message: compile("server/message.json"),
		byType:  map[string]*jsonschema.Schema{},
		fields:  map[string][]string{},
		files:   map[string][]any{},
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(dir, "common.json"))
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Schema     string                     `json:"$schema"`
			Properties map[string]json.RawMessage `json:"properties"`
			Examples   []any                      `json:"examples"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema is %q, want draft 2020-12", rel, doc.Schema)
		}
		ps.files[rel] = doc.Examples
		typ, ok := strings.CutPrefix(strings.TrimSuffix(rel, ".json"), "server"+string(filepath.Separator))
		if !ok || typ == "message" {
			continue
		}
		ps.byType[typ] = compile(rel)
		ps.fields[typ] = slices.Sorted(maps.Keys(doc.Properties))
	}
	return ps
}

// parse decodes JSON text as the schema validator wants it.
func parse(t *testing.T, text string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		t.Fatalf("not JSON: %s: %v", text, err)
	}
	return v
}

// checkServerMessage validates one message dmxd sent against the schema
// of its type and against server/message.json, and checks that it has no
// field its schema does not name.
func (ps *protocolSchemas) checkServerMessage(t *testing.T, raw string) {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		t.Errorf("server message is not a JSON object: %s: %v", raw, err)
		return
	}
	var typ string
	if err := json.Unmarshal(obj["type"], &typ); err != nil {
		t.Errorf("server message without a string type: %s", raw)
		return
	}
	s, ok := ps.byType[typ]
	if !ok {
		t.Errorf("server message of type %q has no schema (docs/schema/server/%s.json): %s", typ, typ, raw)
		return
	}
	v := parse(t, raw)
	if err := s.Validate(v); err != nil {
		t.Errorf("server message does not match server/%s.json: %s\n%v", typ, raw, err)
	}
	if err := ps.message.Validate(v); err != nil {
		t.Errorf("server message does not match server/message.json: %s\n%v", raw, err)
	}
	for k := range obj {
		if !slices.Contains(ps.fields[typ], k) {
			t.Errorf("server message has field %q that server/%s.json does not name: %s", k, typ, raw)
		}
	}
}

// TestSchemaExamples: every schema compiles against the metaschema, and
// the examples each schema file gives match it.
func TestSchemaExamples(t *testing.T) {
	ps := loadSchemas(t)
	if len(ps.byType) == 0 {
		t.Fatal("no server message schemas found")
	}
	for rel, examples := range ps.files {
		for _, ex := range examples {
			text, err := json.Marshal(ex)
			if err != nil {
				t.Fatal(err)
			}
			switch dir := filepath.Dir(rel); dir {
			case "client":
				if err := ps.command.Validate(parse(t, string(text))); err != nil {
					t.Errorf("%s: example %s does not match client/command.json: %v", rel, text, err)
				}
			case "server":
				ps.checkServerMessage(t, string(text))
			default:
				t.Errorf("%s: examples outside client/ and server/", rel)
			}
		}
	}
}

// docSpan matches an inline code span of Markdown that holds a JSON object.
var docSpan = regexp.MustCompile("`(\\{[^`]*\\})`")

// TestDocExamplesMatchSchemas: every JSON command and server message that
// README.md and docs/protocol.md show in a code span matches its schema.
// Spans that are not JSON (placeholders such as "…512 integers…") and
// objects that are neither (the /healthz answer, the plain HTTP routes'
// answers) are skipped.
func TestDocExamplesMatchSchemas(t *testing.T) {
	ps := loadSchemas(t)
	commands, messages := 0, 0
	for _, doc := range []string{"../README.md", "../docs/protocol.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range docSpan.FindAllStringSubmatch(string(text), -1) {
			span := m[1]
			var obj map[string]json.RawMessage
			if json.Unmarshal([]byte(span), &obj) != nil {
				continue
			}
			switch {
			case obj["error"] != nil:
				// An answer of the plain HTTP routes (OLA's /get_dmx among
				// them), not a WebSocket message.
			case obj["type"] != nil:
				messages++
				ps.checkServerMessage(t, span)
			case slices.ContainsFunc(commandKeys, func(k string) bool { return obj[k] != nil }):
				commands++
				if err := ps.command.Validate(parse(t, span)); err != nil {
					t.Errorf("%s: command %s does not match client/command.json: %v", doc, span, err)
				}
			}
		}
	}
	// The protocol shows every command and most server messages inline:
	// finding fewer means the extraction broke, not that all is well.
	if commands < 6 || messages < 5 {
		t.Errorf("found %d commands and %d server messages in the docs, want at least 6 and 5", commands, messages)
	}
}

// commandKeys are the command keys of the protocol, version 1's and show
// control's.
var commandKeys = []string{"dmx", "fade", "blackout", "get", "look_save", "look_recall", "look_rename", "look_delete",
	"look_list", "cue_list", "go", "back", "master", "grand_master", "blackout_all", "flash", "label", "universe_name", "monitor"}

// commandCase is a client message with the answer dmxd gives it.
type commandCase struct {
	text string
	// code is the error code dmxd refuses it with; "" when it is applied
	// (every applied case carries an id, so dmxd acks it).
	code string
	// unexpressible says why the command schema cannot reject a refused
	// command; empty when it must reject it.
	unexpressible string
}

// commandCases run on a dmxd with 2 universes, in order.
var commandCases = []commandCase{
	// Applied.
	{text: `{"dmx": {"1": 255, "17": 0}, "id": 1}`},
	{text: `{"dmx": [255, 128, 0], "start": 10, "id": "arr"}`},
	{text: `{"dmx": [1, 2, 3], "id": 1.5}`},
	{text: `{"dmx": {}, "id": 4}`},
	{text: `{"fade": {"1": 0}, "ms": 200, "id": 5}`},
	{text: `{"fade": [50, 60], "start": 511, "ms": 0, "id": 6}`},
	{text: `{"fade": {"2": 9}, "id": 7}`},
	{text: `{"blackout": true, "id": 8}`},
	{text: `{"blackout": true, "id": 9}`},
	{text: `{"blackout": false, "universe": 1, "id": 10}`},
	{text: `{"get": true, "id": 11}`},
	{text: `{"get": true, "universe": 2, "id": "g2"}`},
	{text: `{"dmx": {"5": 5}, "universe": 2, "id": 13}`},
	{text: `{"get": true, "id": "caf\u00e9 \"q\""}`},
	{text: `{"dmx": {"512": 255}, "universe": 2, "id": -3e2}`},
	// bad_json: not JSON at all.
	{text: `{"dmx": {"1": 255}`, code: "bad_json", unexpressible: "not JSON"},
	// bad_request.
	{text: `[{"dmx": {"1": 1}}]`, code: "bad_request"},
	{text: `"dmx"`, code: "bad_request"},
	{text: `{"id": 20}`, code: "bad_request"},
	{text: `{"dmx": {"1": 1}, "get": true, "id": 21}`, code: "bad_request"},
	{text: `{"dmx": {"1": 1}, "level": 3, "id": 22}`, code: "bad_request"},
	{text: `{"get": false, "id": 23}`, code: "bad_request"},
	{text: `{"blackout": "on", "id": 24}`, code: "bad_request"},
	{text: `{"blackout": null, "id": 25}`, code: "bad_request"},
	{text: `{"dmx": {"1": 1}, "ms": 100, "id": 26}`, code: "bad_request"},
	{text: `{"get": true, "start": 3, "id": 27}`, code: "bad_request"},
	{text: `{"dmx": {"1": 1}, "start": 3, "id": 28}`, code: "bad_request"},
	{text: `{"dmx": 255, "id": 29}`, code: "bad_request"},
	{text: `{"get": true, "universe": "1", "id": 30}`, code: "bad_request"},
	{text: `{"get": true, "id": null}`, code: "bad_request"},
	{text: `{"get": true, "id": {"n": 1}}`, code: "bad_request"},
	{text: `{"dmx": [1], "start": 1.5, "id": 31}`, code: "bad_request"},
	{text: `{"get": true, "universe": 1.0, "id": 32}`, code: "bad_request", unexpressible: "1.0 is an integer to JSON Schema"},
	{text: `{"fade": {"1": 1}, "ms": 1e3, "id": 33}`, code: "bad_request", unexpressible: "1e3 is an integer to JSON Schema"},
	{text: `{"dmx": {"1": 1}, "dmx": {"2": 2}, "id": 34}`, code: "bad_request", unexpressible: "a parsed object has no repeated keys"},
	// bad_channel.
	{text: `{"dmx": {"513": 1}, "id": 40}`, code: "bad_channel"},
	{text: `{"dmx": {"0": 1}, "id": 41}`, code: "bad_channel"},
	{text: `{"dmx": {"01": 1}, "id": 42}`, code: "bad_channel"},
	{text: `{"dmx": {"one": 1}, "id": 43}`, code: "bad_channel"},
	{text: `{"dmx": [1], "start": 0, "id": 44}`, code: "bad_channel"},
	{text: `{"dmx": [1], "start": 513, "id": 45}`, code: "bad_channel"},
	{text: `{"fade": {"600": 0}, "ms": 10, "id": 47}`, code: "bad_channel"},
	{text: `{"dmx": [1, 2], "start": 512, "id": 46}`, code: "bad_channel", unexpressible: "start plus the array's length is arithmetic"},
	// bad_value.
	{text: `{"dmx": {"1": 256}, "id": 50}`, code: "bad_value"},
	{text: `{"dmx": {"1": -1}, "id": 51}`, code: "bad_value"},
	{text: `{"dmx": {"1": "255"}, "id": 52}`, code: "bad_value"},
	{text: `{"dmx": [0, 1.5], "id": 53}`, code: "bad_value"},
	{text: `{"fade": {"1": 1}, "ms": 600001, "id": 54}`, code: "bad_value"},
	{text: `{"fade": {"1": 1}, "ms": -1, "id": 55}`, code: "bad_value"},
	{text: `{"dmx": {"1": 1.0}, "id": 56}`, code: "bad_value", unexpressible: "1.0 is an integer to JSON Schema"},
	// bad_universe.
	{text: `{"get": true, "universe": 0, "id": 60}`, code: "bad_universe"},
	{text: `{"get": true, "universe": 3, "id": 61}`, code: "bad_universe", unexpressible: "the number of universes is the server's"},
}

// showCommandCases run after commandCases, on the same dmxd.
var showCommandCases = []commandCase{
	// Applied.
	{text: `{"look_save": "Warm", "id": 70}`},
	{text: `{"look_save": "Spot", "channels": [1, 2], "universe": 2, "id": 71}`},
	{text: `{"look_recall": "Warm", "ms": 100, "id": 72}`},
	{text: `{"look_rename": "Warm", "to": "Amber", "id": 73}`},
	{text: `{"look_list": true, "id": 74}`},
	{text: `{"cue_list": [{"look": "Amber", "ms": 0}, {"look": "Amber"}], "id": 75}`},
	{text: `{"go": true, "id": 76}`},
	{text: `{"back": true, "id": 77}`},
	{text: `{"look_save": "Gone", "id": 78}`},
	{text: `{"look_delete": "Gone", "id": 79}`},
	{text: `{"monitor": true, "id": 80}`},
	{text: `{"master": 200, "id": 81}`},
	{text: `{"grand_master": 255, "id": 82}`},
	{text: `{"blackout_all": false, "id": 83}`},
	{text: `{"flash": [3], "id": 84}`},
	{text: `{"flash": [], "id": 85}`},
	{text: `{"label": {"1": "Front", "2": ""}, "id": 86}`},
	{text: `{"universe_name": "Stage", "universe": 2, "id": 87}`},
	{text: `{"master": 255, "id": 88}`},
	// Refused.
	{text: `{"look_save": 5, "id": 90}`, code: "bad_request"},
	{text: `{"look_save": "a", "ms": 5, "id": 91}`, code: "bad_request"},
	{text: `{"look_rename": "Amber", "id": 92}`, code: "bad_request"},
	{text: `{"go": false, "id": 93}`, code: "bad_request"},
	{text: `{"grand_master": 1, "universe": 1, "id": 94}`, code: "bad_request"},
	{text: `{"cue_list": [{"look": "Amber", "fade": 1}], "id": 95}`, code: "bad_request"},
	{text: `{"monitor": "yes", "id": 96}`, code: "bad_request"},
	{text: `{"flash": [513], "id": 97}`, code: "bad_channel"},
	{text: `{"label": {"0": "x"}, "id": 98}`, code: "bad_channel"},
	{text: `{"look_save": "", "id": 99}`, code: "bad_value"},
	{text: `{"master": 256, "id": 100}`, code: "bad_value"},
	{text: `{"look_recall": "Nope", "id": 101}`, code: "bad_value", unexpressible: "which looks exist is the server's"},
	{text: `{"look_delete": "Amber", "id": 102}`, code: "bad_value", unexpressible: "which looks the cue list names is the server's"},
	{text: `{"look_save": "` + strings.Repeat("é", 40) + `", "id": 103}`, code: "bad_value", unexpressible: "a schema counts characters, dmxd bytes"},
	{text: `{"label": {"1": "x"}, "universe": 3, "id": 104}`, code: "bad_universe", unexpressible: "the number of universes is the server's"},
}

// TestCommandSchemaAgreesWithServer checks that the command schema
// accepts every case of commandCases that dmxd applies and rejects every
// one it refuses, except where a schema cannot say it (the case names why,
// and the schema must then indeed accept it, so the list stays true).
// TestServerMessagesMatchSchemas sends the same cases to a real dmxd and
// checks that it answers each as the case says.
func TestCommandSchemaAgreesWithServer(t *testing.T) {
	ps := loadSchemas(t)
	for _, c := range slices.Concat(commandCases, showCommandCases) {
		if c.code == "bad_json" {
			continue
		}
		err := ps.command.Validate(parse(t, c.text))
		switch {
		case c.code == "" && err != nil:
			t.Errorf("dmxd applies %s, the schema rejects it: %v", c.text, err)
		case c.code != "" && c.unexpressible == "" && err == nil:
			t.Errorf("dmxd refuses %s with %s, the schema accepts it", c.text, c.code)
		case c.code != "" && c.unexpressible != "" && err != nil:
			t.Errorf("%s: marked as beyond the schema (%s), but the schema rejects it: %v", c.text, c.unexpressible, err)
		}
	}
}

// recorder reads desks and keeps every message they receive.
type recorder struct {
	t    *testing.T
	msgs []testkit.Message
}

// dial connects a desk and reads its hello and the state of each of
// universes (a number of universes).
func (r *recorder) dial(p *testkit.Process, universes int) *testkit.Desk {
	r.t.Helper()
	d, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = d.Close() })
	hello := r.until(d, func(testkit.Message) bool { return true })
	if hello.Type != "hello" {
		r.t.Fatalf("first message %s, want hello", hello.Raw)
	}
	// The universes answer independently: their states come in any order.
	waiting := universes
	seen := map[int]bool{}
	r.until(d, func(m testkit.Message) bool {
		if m.Type == "state" && !seen[m.Universe] {
			seen[m.Universe] = true
			waiting--
		}
		return waiting == 0
	})
	return d
}

// until reads d until ok, keeping every message read.
func (r *recorder) until(d *testkit.Desk, ok func(testkit.Message) bool) testkit.Message {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var seen []string
	for {
		m, err := d.Next(time.Until(deadline))
		if err != nil {
			r.t.Fatalf("waiting for a message: %v; read meanwhile: %s", err, strings.Join(seen, " "))
		}
		seen = append(seen, m.Raw)
		r.msgs = append(r.msgs, m)
		if ok(m) {
			return m
		}
	}
}

// send writes text and reads d until its answer (ack or error).
func (r *recorder) send(d *testkit.Desk, text string) testkit.Message {
	r.t.Helper()
	if err := d.Send(text); err != nil {
		r.t.Fatal(err)
	}
	return r.until(d, func(m testkit.Message) bool { return m.Type == "ack" || m.Type == "error" })
}

// TestServerMessagesMatchSchemas drives a real dmxd through every command
// kind, refusals of every error code, a blackout, fades, an output
// unplugged and plugged in again and a desk that connects meanwhile, and
// validates every message it sent against the schema of its type.
func TestServerMessagesMatchSchemas(t *testing.T) {
	ps := loadSchemas(t)
	r := &recorder{t: t}

	pty, err := testkit.NewLinkedPTY(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := startDMXD(t, "--universes", "2", "--output", "1=enttec-pro:"+pty.Link, "--output", "2=null")
	if _, err := pty.WaitFrame(10*time.Second, anyFrame); err != nil {
		t.Fatal(err)
	}
	desk := r.dial(p, 2)
	watcher := r.dial(p, 2)

	run := func(cases []commandCase) {
		for _, c := range cases {
			m := r.send(desk, c.text)
			switch {
			case c.code == "" && m.Type != "ack":
				t.Errorf("%s: dmxd answered %s, want an ack", c.text, m.Raw)
			case c.code != "" && (m.Type != "error" || m.Code != c.code):
				t.Errorf("%s: dmxd answered %s, want error %s", c.text, m.Raw, c.code)
			}
		}
	}
	run(commandCases)
	if err := desk.Conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	r.until(desk, func(m testkit.Message) bool { return m.Type == "error" && m.Code == "unsupported" })
	// The fade of channel 1 to 0 over 200 ms ends in an update with 1=0.
	r.until(watcher, func(m testkit.Message) bool {
		v, ok := m.Changes["1"]
		return m.Type == "update" && m.Universe == 1 && ok && v == 0
	})
	// The show broadcasts reach the watcher before the output messages
	// below, and are checked with every message.
	run(showCommandCases)

	// Unplug: every desk hears the output go down, a desk that connects
	// while it is down hears it after the universe's state. The link goes
	// too, so that the output stays down until the replug, even if the
	// pty's number is reused meanwhile.
	if err := pty.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(pty.Link); err != nil {
		t.Fatal(err)
	}
	r.until(desk, func(m testkit.Message) bool { return m.Type == "output" && m.State == "down" })
	late, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = late.Close() })
	r.until(late, func(m testkit.Message) bool { return m.Type == "output" && m.State == "down" && m.Universe == 1 })
	q, err := pty.Replug()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	for _, d := range []*testkit.Desk{desk, watcher, late} {
		r.until(d, func(m testkit.Message) bool { return m.Type == "output" && m.State == "up" })
	}

	// rate_limited needs a dmxd with a low limit: 1 command a second,
	// bursts of 2.
	limited := startDMXD(t, "--conn-rate", "1")
	fast := r.dial(limited, 1)
	for i := range 5 {
		if err := fast.Send(fmt.Sprintf(`{"dmx": {"1": %d}, "id": %d}`, i, i)); err != nil {
			t.Fatal(err)
		}
	}
	r.until(fast, func(m testkit.Message) bool { return m.Type == "error" && m.Code == "rate_limited" })

	types, codes := map[string]int{}, map[string]bool{}
	for _, m := range r.msgs {
		ps.checkServerMessage(t, m.Raw)
		types[m.Type]++
		if m.Type == "error" {
			codes[m.Code] = true
		}
	}
	t.Logf("validated %d server messages: %v", len(r.msgs), types)
	// The desk that monitors got the whole output, then its changes (the
	// master moved): both forms were checked.
	if !slices.ContainsFunc(r.msgs, func(m testkit.Message) bool { return m.Type == "monitor" && m.Values != nil }) ||
		!slices.ContainsFunc(r.msgs, func(m testkit.Message) bool { return m.Type == "monitor" && m.Changes != nil }) {
		t.Errorf("no monitor message with values and one with changes")
	}
	for typ := range ps.byType {
		if types[typ] == 0 {
			t.Errorf("dmxd sent no %s message in this test: the schema server/%s.json went unchecked", typ, typ)
		}
	}
	for _, code := range []string{"bad_json", "bad_request", "bad_channel", "bad_value", "bad_universe", "rate_limited", "unsupported"} {
		if !codes[code] {
			t.Errorf("no error with code %s was seen", code)
		}
	}
}

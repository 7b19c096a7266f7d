package actors

import (
	"reflect"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/dmxd/dmxd/dmx"
)

// wireMessages are the Go messages that cross between an edge and a core,
// each with every field set that its kind uses.
func wireMessages() map[string]remote.RootSerializable {
	var frame dmx.Frame
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	conn := actor.NewPID("10.0.0.2:7001", "$42")
	readAt := time.Unix(0, 1_700_000_000_123_456_789)
	cues := []dmx.Cue{{Look: "warm", Fade: 1500 * time.Millisecond}, {Look: "cold", Fade: 0}}
	labels := []Label{{Channel: 1, Text: "front"}, {Channel: 512, Text: "haze ☁"}}
	msgs := map[string]remote.RootSerializable{
		"attach":       &attach{conn: conn},
		"syncReq":      &syncReq{},
		"syncDone":     &syncDone{},
		"apply resync": &apply{from: conn, cmd: &Command{Kind: kindResync, Universe: 3}, missed: partLooks | partLabels},
		"apply fan":    &apply{from: conn, cmd: &Command{Kind: KindGrandMaster, Universe: 2, Level: 128}, weight: 1, fan: 77},
		"applied": &applied{weight: 12, replies: []any{
			&State{Universe: 1, Values: frame, Blackout: true},
			&Ack{ID: ID(`"a1"`)},
			&Error{ID: ID(`7`), Code: CodeBadValue, Message: "universe 1 has no look named x"},
			&Error{Code: CodeBadRequest, Message: "no id"},
			&fanDone{seq: 9},
			&Looks{Universe: 1, Looks: []LookInfo{{Name: "warm", Channels: 512}, {Name: "b", Channels: 3}}},
			&Cues{Universe: 1, Cues: cues, Current: 1, Next: 2},
			&Masters{Universe: 1, Master: 200, GrandMaster: 255},
			&Labels{Universe: 1, Name: "stage", Channels: labels},
			&MonitorState{Universe: 1, Values: frame},
			&Update{Universe: 1, Monitor: true, Changes: []dmx.Change{{Channel: 5, Level: 9}}},
		}},
		"applied empty": &applied{},
		"state":         &State{Universe: 1024, Values: frame},
		"update":        &Update{Universe: 7, Changes: []dmx.Change{{Channel: 1, Level: 0}, {Channel: 512, Level: 255}}},
		"update empty":  &Update{Universe: 7, Changes: []dmx.Change{}},
		"monitor":       &Update{Universe: 7, Monitor: true, Changes: []dmx.Change{{Channel: 3, Level: 4}}},
		"blackout":      &Blackout{Universe: 2, On: true},
		"output status": &OutputStatus{Universe: 2, Driver: "enttec-pro", Target: "/dev/ttyUSB0", Error: "unplugged", slot: 1},
		"output up":     &OutputStatus{Universe: 2, Driver: "null", Up: true},
		"ack":           &Ack{ID: ID(`{"n":1}`)},
		"ack no id":     &Ack{},
		"error":         &Error{ID: ID(`"x"`), Code: "rate_limited", Message: "slow down"},
		"looks":         &Looks{Universe: 4},
		"cues":          &Cues{Universe: 4, Cues: cues, Current: 2},
		"masters":       &Masters{Universe: 4, Master: 0, GrandMaster: 17},
		"labels":        &Labels{Universe: 4, Name: "", Channels: labels},
		"monitor state": &MonitorState{Universe: 4, Values: frame},
		"fanout update": &fanout{conns: []string{"$1", "$2"}, msg: &Update{Universe: 1, Changes: []dmx.Change{{Channel: 9, Level: 1}}}},
		"fanout state":  &fanout{conns: []string{"$3"}, msg: &State{Universe: 2, Values: frame}},
		"fanout output": &fanout{conns: []string{"$3"}, msg: &OutputStatus{Universe: 2, Driver: "null", Up: true}},
		"fanout labels": &fanout{conns: []string{"$3"}, msg: &Labels{Universe: 2, Name: "x", Channels: labels}},
		"fanout black":  &fanout{conns: []string{"$3"}, msg: &Blackout{Universe: 2, On: true}},
	}
	// Every command kind, each with the fields it uses.
	cmds := map[string]*Command{
		"dmx":            {Kind: KindDMX, Universe: 1, ID: ID(`"1"`), ReadAt: readAt, Changes: []dmx.Change{{Channel: 1, Level: 255}, {Channel: 512, Level: 1}}},
		"fade":           {Kind: KindFade, Universe: 2, ID: ID(`2`), Changes: []dmx.Change{{Channel: 10, Level: 100}}, Duration: 2500 * time.Millisecond},
		"blackout":       {Kind: KindBlackout, Universe: 3, On: true},
		"get":            {Kind: KindGet, Universe: 4, ID: ID(`"g"`)},
		"look save all":  {Kind: KindLookSave, Universe: 1, Name: "warm"},
		"look save some": {Kind: KindLookSave, Universe: 1, Name: "warm", Channels: []uint16{1, 2, 512}},
		"look recall":    {Kind: KindLookRecall, Universe: 1, Name: "warm", Duration: time.Second},
		"look rename":    {Kind: KindLookRename, Universe: 1, Name: "warm", To: "hot"},
		"look delete":    {Kind: KindLookDelete, Universe: 1, Name: "hot"},
		"look list":      {Kind: KindLookList, Universe: 1},
		"cue list":       {Kind: KindCueList, Universe: 1, Cues: cues},
		"go":             {Kind: KindGo, Universe: 1},
		"back":           {Kind: KindBack, Universe: 1},
		"master":         {Kind: KindMaster, Universe: 1, Level: 128},
		"grand master":   {Kind: KindGrandMaster, Universe: 1, Level: 0},
		"blackout all":   {Kind: KindBlackoutAll, Universe: 1, On: true},
		"flash":          {Kind: KindFlash, Universe: 1, Channels: []uint16{5, 6}},
		"flash off":      {Kind: KindFlash, Universe: 1, Channels: []uint16{}},
		"label":          {Kind: KindLabel, Universe: 1, Labels: labels},
		"universe name":  {Kind: KindUniverseName, Universe: 1, Name: "Bühne"},
		"monitor":        {Kind: KindMonitor, Universe: 1, On: true},
	}
	for name, c := range cmds {
		msgs["apply "+name] = &apply{from: conn, cmd: c, weight: c.Weight(), quiet: name == "dmx"}
	}
	return msgs
}

// roundTrip sends m the way remote does: Serialize, marshal, unmarshal,
// Deserialize.
func roundTrip(t *testing.T, m remote.RootSerializable) remote.RootSerializable {
	t.Helper()
	w, err := m.Serialize()
	if err != nil {
		t.Fatalf("serialize %T: %v", m, err)
	}
	pm := w.(proto.Message)
	b, err := proto.Marshal(pm)
	if err != nil {
		t.Fatalf("marshal %T: %v", pm, err)
	}
	back := pm.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(b, back); err != nil {
		t.Fatalf("unmarshal %T: %v", back, err)
	}
	got, err := back.(remote.RootSerialized).Deserialize()
	if err != nil {
		t.Fatalf("deserialize %T: %v", back, err)
	}
	return got
}

func TestWireRoundTrip(t *testing.T) {
	for name, m := range wireMessages() {
		t.Run(name, func(t *testing.T) {
			got := roundTrip(t, m)
			if !reflect.DeepEqual(got, m) {
				t.Errorf("round trip changed the message:\n got %#v\nwant %#v", got, m)
			}
		})
	}
}

// TestUpdateSerializeIsDone: a remote desk's delivery of a broadcast update
// ends when it is handed to the link.
func TestUpdateSerializeIsDone(t *testing.T) {
	up := NewUpdate(1, []dmx.Change{{Channel: 1, Level: 2}}, 3)
	for want := int64(2); want >= 0; want-- {
		if _, err := up.Serialize(); err != nil {
			t.Fatal(err)
		}
		if got := up.Pending(); got != want {
			t.Fatalf("pending = %d, want %d", got, want)
		}
	}
}

// TestFanoutSerializeIsDone: a fan-out of an update to an edge's desks
// ends its way to each of them.
func TestFanoutSerializeIsDone(t *testing.T) {
	up := NewUpdate(1, nil, 5)
	if _, err := (&fanout{conns: []string{"$1", "$2", "$3"}, msg: up}).Serialize(); err != nil {
		t.Fatal(err)
	}
	if got := up.Pending(); got != 2 {
		t.Fatalf("pending = %d, want 2", got)
	}
}

// TestWireRepairs: values no Serialize makes are repaired or dropped, never
// an error (which would end the stream).
func TestWireRepairs(t *testing.T) {
	pid := &WirePid{Address: "a:1", Id: "$1"}
	tests := []struct {
		name string
		wire remote.RootSerialized
		want remote.RootSerializable
	}{
		{"bad channels dropped, level kept", &WireApply{From: pid, Cmd: &WireCommand{Kind: uint32(KindDMX), Universe: 1,
			Changes: &WireChanges{Channels: []uint32{0, 1, 513, 70000}, Levels: []byte{1, 2, 3}}}},
			&apply{from: actor.NewPID("a:1", "$1"), cmd: &Command{Kind: KindDMX, Universe: 1, Changes: []dmx.Change{{Channel: 1, Level: 2}}}}},
		{"clamped level, fade, weight, parts", &WireApply{From: pid, Weight: -3, Missed: 0xff, Cmd: &WireCommand{Kind: uint32(KindFade), Universe: 1,
			Level: 1000, DurationNs: int64(time.Hour), Channels: []uint32{0, 2}, ChannelsSet: true,
			Labels: []*WireLabel{{Channel: 0, Text: "x"}, {Channel: 3, Text: "y"}}, Cues: []*WireCue{{Look: "a", FadeNs: -5}}}},
			&apply{from: actor.NewPID("a:1", "$1"), missed: allShowParts, cmd: &Command{Kind: KindFade, Universe: 1, Level: 255,
				Duration: wireMaxFade, Channels: []uint16{2}, Labels: []Label{{Channel: 3, Text: "y"}}, Cues: []dmx.Cue{{Look: "a"}}}}},
		{"apply without source", &WireApply{Cmd: &WireCommand{Kind: 1, Universe: 1}}, &dropped{what: "apply without a source or a valid universe"}},
		{"apply without command", &WireApply{From: pid}, &dropped{what: "apply without a source or a valid universe"}},
		{"apply universe 0", &WireApply{From: pid, Cmd: &WireCommand{Kind: 1}}, &dropped{what: "apply without a source or a valid universe"}},
		{"apply universe too high", &WireApply{From: pid, Cmd: &WireCommand{Kind: 1, Universe: MaxUniverses + 1}}, &dropped{what: "apply without a source or a valid universe"}},
		{"attach without pid", &WireAttach{Conn: &WirePid{Id: "$1"}}, &dropped{what: "attach without a connection"}},
		{"short state", &WireState{Universe: 1, Values: []byte{9}}, &State{Universe: 1, Values: dmx.Frame{9}}},
		{"long state", &WireMonitorState{Universe: 1, Values: make([]byte, 600)}, &MonitorState{Universe: 1}},
		{"state universe -1", &WireState{Universe: -1}, &dropped{what: "state"}},
		{"masters clamped", &WireMasters{Universe: 1, Master: 256, GrandMaster: 1 << 31}, &Masters{Universe: 1, Master: 255, GrandMaster: 255}},
		{"applied drops bad replies", &WireApplied{Weight: -1, Replies: []*WireReply{nil, {}, {Reply: &WireReply_State{}},
			{Reply: &WireReply_Ack{}}, {Reply: &WireReply_Ack{Ack: &WireAck{}}}, {Reply: &WireReply_Update{Update: &WireUpdate{Universe: 2}}}}},
			&applied{replies: []any{&Ack{}, &Update{Universe: 2}}}},
		{"fanout without message", &WireFanout{Conns: []string{"$1"}}, &dropped{what: "fanout"}},
		{"fanout of a fanDone", &WireFanout{Conns: []string{"$1"}, Msg: &WireReply{Reply: &WireReply_FanDone{FanDone: 1}}}, &dropped{what: "fanout"}},
		{"fanout empty ids", &WireFanout{Conns: []string{"", "$1"}, Msg: &WireReply{Reply: &WireReply_Ack{Ack: &WireAck{}}}},
			&fanout{conns: []string{"$1"}, msg: &Ack{}}},
		{"cues negative", &WireCues{Universe: 1, Current: -1, Next: -2}, &Cues{Universe: 1}},
		{"looks channels clamped", &WireLooks{Universe: 1, Looks: []*WireLookInfo{nil, {Name: "a", Channels: 9999}}},
			&Looks{Universe: 1, Looks: []LookInfo{{Name: "a", Channels: dmx.Slots}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.wire.Deserialize()
			if err != nil {
				t.Fatalf("deserialize: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestWireInvalidUTF8: a string that is not UTF-8 would fail protobuf's
// marshal (and lose the message): Serialize repairs it.
func TestWireInvalidUTF8(t *testing.T) {
	got := roundTrip(t, &Error{Code: "x\xff", Message: "bad \xc3"}).(*Error)
	if got.Code != "x\uFFFD" || got.Message != "bad \uFFFD" {
		t.Errorf("got %q %q", got.Code, got.Message)
	}
}

// wireTypes are one value of every Wire message that has a Deserialize.
func wireTypes() []proto.Message {
	return []proto.Message{&WireAttach{}, &WireApply{}, &WireApplied{}, &WireSyncReq{}, &WireSyncDone{},
		&WireState{}, &WireUpdate{}, &WireBlackout{}, &WireOutputStatus{}, &WireAck{}, &WireError{},
		&WireLooks{}, &WireCues{}, &WireMasters{}, &WireLabels{}, &WireMonitorState{}, &WireFanout{}}
}

// FuzzWireDeserialize feeds arbitrary bytes to every Wire message: what
// protobuf accepts must deserialize without an error or a panic, into a
// message whose values are valid.
func FuzzWireDeserialize(f *testing.F) {
	for _, m := range wireMessages() {
		w, err := m.Serialize()
		if err != nil {
			f.Fatal(err)
		}
		b, err := proto.Marshal(w.(proto.Message))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x12, 0x04, 0x08, 0x00, 0x10, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range wireTypes() {
			w := typ.ProtoReflect().New().Interface()
			if proto.Unmarshal(b, w) != nil {
				continue
			}
			got, err := w.(remote.RootSerialized).Deserialize()
			if err != nil || got == nil {
				t.Fatalf("%T: deserialize = %v, %v", w, got, err)
			}
			checkValid(t, got)
		}
	})
}

// checkValid fails t when a deserialized message holds a value no
// Serialize makes.
func checkValid(t *testing.T, m any) {
	t.Helper()
	universe := func(u int) {
		if u < 1 || u > MaxUniverses {
			t.Fatalf("%T: universe %d", m, u)
		}
	}
	changes := func(cs []dmx.Change) {
		for _, c := range cs {
			if !dmx.ValidChannel(int(c.Channel)) {
				t.Fatalf("%T: channel %d", m, c.Channel)
			}
		}
	}
	switch m := m.(type) {
	case *apply:
		if m.from == nil || m.weight < 0 || m.missed&^allShowParts != 0 {
			t.Fatalf("apply: %+v", m)
		}
		universe(m.cmd.Universe)
		changes(m.cmd.Changes)
		if m.cmd.Duration < 0 || m.cmd.Duration > wireMaxFade {
			t.Fatalf("apply: duration %v", m.cmd.Duration)
		}
		for _, c := range m.cmd.Channels {
			if !dmx.ValidChannel(int(c)) {
				t.Fatalf("apply: channel %d", c)
			}
		}
		for _, l := range m.cmd.Labels {
			if !dmx.ValidChannel(int(l.Channel)) {
				t.Fatalf("apply: label channel %d", l.Channel)
			}
		}
	case *applied:
		if m.weight < 0 {
			t.Fatalf("applied: weight %d", m.weight)
		}
		for _, r := range m.replies {
			if r == nil {
				t.Fatal("applied: nil reply")
			}
			checkValid(t, r)
		}
	case *fanout:
		for _, c := range m.conns {
			if c == "" {
				t.Fatal("fanout: empty connection id")
			}
		}
		if _, ok := m.msg.(*fanDone); ok || m.msg == nil {
			t.Fatalf("fanout: message %T", m.msg)
		}
		checkValid(t, m.msg)
	case *attach:
		if m.conn == nil {
			t.Fatal("attach: no conn")
		}
	case *State:
		universe(m.Universe)
	case *Update:
		universe(m.Universe)
		changes(m.Changes)
	case *Labels:
		universe(m.Universe)
		for _, l := range m.Channels {
			if !dmx.ValidChannel(int(l.Channel)) {
				t.Fatalf("labels: channel %d", l.Channel)
			}
		}
	case *Cues:
		universe(m.Universe)
		if m.Current < 0 || m.Next < 0 {
			t.Fatalf("cues: %+v", m)
		}
	}
}

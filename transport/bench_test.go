package transport

import (
	"strings"
	"testing"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// decodeForms are the command forms the decoder benchmark covers.
var decodeForms = []struct{ name, msg string }{
	{"dmx1", `{"dmx": {"1": 255}}`},
	{"dmx1+id", `{"dmx":{"17":128},"id":12345}`},
	{"dmx8", `{"dmx": {"1": 255, "2": 128, "3": 0, "4": 17, "5": 99, "6": 1, "7": 2, "8": 3}}`},
	{"array16+start", `{"dmx": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16], "start": 100, "universe": 1}`},
	{"fade", `{"fade": {"1": 255, "2": 0}, "ms": 1500, "id": "f1"}`},
	{"blackout", `{"blackout": true}`},
	{"get", `{"get": true, "id": 7}`},
	{"bad_value", `{"dmx": {"1": 256}, "id": 3}`},
	{"array511", `{"dmx":[` + strings.Repeat("200,", 510) + `7]}`},
}

func BenchmarkDecodeCommand(b *testing.B) {
	for _, f := range decodeForms {
		data := []byte(f.msg)
		b.Run(f.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				_, _ = DecodeCommand(data, 4)
			}
		})
	}
}

func BenchmarkAppendMessage(b *testing.B) {
	up1 := &actors.Update{Universe: 1, Changes: []dmx.Change{{Channel: 1, Level: 255}}}
	up64 := &actors.Update{Universe: 1}
	for i := range 64 {
		up64.Changes = append(up64.Changes, dmx.Change{Channel: uint16(1 + i*8), Level: uint8(i * 4)})
	}
	st := &actors.State{Universe: 1}
	for i := range st.Values {
		st.Values[i] = byte(i)
	}
	for _, c := range []struct {
		name string
		msg  any
	}{
		{"update1", up1},
		{"update64", up64},
		{"state", st},
		{"ack", &actors.Ack{ID: actors.ID("12345")}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendMessage(buf[:0], c.msg)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

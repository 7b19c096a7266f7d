package transport

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// AppendMessage appends the JSON encoding of a server message (one of the
// actors package's server message types) to dst.
func AppendMessage(dst []byte, msg any) ([]byte, error) {
	switch m := msg.(type) {
	case *actors.Update:
		if m.Monitor {
			dst = append(dst, `{"type":"monitor","universe":`...)
		} else {
			dst = append(dst, `{"type":"update","universe":`...)
		}
		dst = strconv.AppendInt(dst, int64(m.Universe), 10)
		dst = append(dst, `,"changes":{`...)
		for i, c := range m.Changes {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = strconv.AppendUint(dst, uint64(c.Channel), 10)
			dst = append(dst, '"', ':')
			dst = strconv.AppendUint(dst, uint64(c.Level), 10)
		}
		return append(dst, '}', '}'), nil
	case *actors.Ack:
		if !validUTF8(m.ID) {
			return dst, errIDNotUTF8(m.ID)
		}
		dst = append(dst, `{"type":"ack","id":`...)
		dst = append(dst, m.ID...)
		return append(dst, '}'), nil
	case *actors.State:
		dst = append(dst, `{"type":"state","universe":`...)
		dst = strconv.AppendInt(dst, int64(m.Universe), 10)
		dst = appendValues(dst, &m.Values)
		dst = append(dst, `,"blackout":`...)
		dst = strconv.AppendBool(dst, m.Blackout)
		return append(dst, '}'), nil
	case *actors.Blackout:
		dst = append(dst, `{"type":"blackout","universe":`...)
		dst = strconv.AppendInt(dst, int64(m.Universe), 10)
		dst = append(dst, `,"on":`...)
		dst = strconv.AppendBool(dst, m.On)
		return append(dst, '}'), nil
	case *actors.Error:
		if !validUTF8(m.ID) {
			return dst, errIDNotUTF8(m.ID)
		}
		return appendJSON(dst, struct {
			Type    string          `json:"type"`
			ID      json.RawMessage `json:"id,omitempty"`
			Code    string          `json:"code"`
			Message string          `json:"message"`
		}{"error", json.RawMessage(m.ID), m.Code, m.Message})
	case *actors.OutputStatus:
		state := "up"
		if !m.Up {
			state = "down"
		}
		return appendJSON(dst, struct {
			Type     string `json:"type"`
			Universe int    `json:"universe"`
			Driver   string `json:"driver"`
			Target   string `json:"target,omitempty"`
			State    string `json:"state"`
			Error    string `json:"error,omitempty"`
		}{"output", m.Universe, m.Driver, m.Target, state, m.Error})
	case *actors.Hello:
		us := make([]int, m.Universes)
		for i := range us {
			us[i] = i + 1
		}
		return appendJSON(dst, struct {
			Type      string   `json:"type"`
			Version   string   `json:"version"`
			Universes []int    `json:"universes"`
			Rate      int      `json:"rate"`
			Merge     string   `json:"merge"`
			Features  []string `json:"features,omitempty"`
		}{"hello", m.Version, us, m.Rate, m.Merge, m.Features})
	case *actors.MonitorState:
		dst = append(dst, `{"type":"monitor","universe":`...)
		dst = strconv.AppendInt(dst, int64(m.Universe), 10)
		dst = appendValues(dst, &m.Values)
		return append(dst, '}'), nil
	case *actors.Masters:
		return appendJSON(dst, struct {
			Type        string `json:"type"`
			Universe    int    `json:"universe"`
			Master      uint8  `json:"master"`
			GrandMaster uint8  `json:"grand_master"`
		}{"masters", m.Universe, m.Master, m.GrandMaster})
	case *actors.Looks:
		type look struct {
			Name     string `json:"name"`
			Channels int    `json:"channels"`
		}
		ls := make([]look, len(m.Looks))
		for i, l := range m.Looks {
			ls[i] = look{l.Name, l.Channels}
		}
		return appendJSON(dst, struct {
			Type     string `json:"type"`
			Universe int    `json:"universe"`
			Looks    []look `json:"looks"`
		}{"looks", m.Universe, ls})
	case *actors.Cues:
		type cue struct {
			Look string `json:"look"`
			Ms   int64  `json:"ms"`
		}
		cs := make([]cue, len(m.Cues))
		for i, c := range m.Cues {
			cs[i] = cue{c.Look, c.Fade.Milliseconds()}
		}
		return appendJSON(dst, struct {
			Type     string `json:"type"`
			Universe int    `json:"universe"`
			Cues     []cue  `json:"cues"`
			Current  int    `json:"current"`
			Next     int    `json:"next"`
		}{"cues", m.Universe, cs, m.Current, m.Next})
	case *actors.Labels:
		chs := make(map[string]string, len(m.Channels))
		for _, l := range m.Channels {
			chs[strconv.Itoa(int(l.Channel))] = l.Text
		}
		return appendJSON(dst, struct {
			Type     string            `json:"type"`
			Universe int               `json:"universe"`
			Name     string            `json:"name"`
			Channels map[string]string `json:"channels"`
		}{"labels", m.Universe, m.Name, chs})
	}
	return dst, fmt.Errorf("encode: unknown server message %T", msg)
}

// appendValues appends `,"values":[…]` with the 512 levels of f.
func appendValues(dst []byte, f *dmx.Frame) []byte {
	dst = append(dst, `,"values":[`...)
	for i, v := range f {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(v), 10)
	}
	return append(dst, ']')
}

// validUTF8 is utf8.Valid, faster for the short ASCII ids desks send.
func validUTF8(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.Valid(b)
		}
	}
	return true
}

// errIDNotUTF8 is AppendMessage's refusal to echo an id that is not UTF-8:
// every text frame dmxd writes is UTF-8 (a browser fails the connection on
// one that is not). DecodeCommand accepts only UTF-8 text, so this does not
// happen; the other strings dmxd writes go through encoding/json, which
// replaces invalid bytes.
func errIDNotUTF8(id actors.ID) error {
	return fmt.Errorf("encode: id %q is not UTF-8", id)
}

func appendJSON(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("encode %T: %w", v, err)
	}
	return append(dst, b...), nil
}

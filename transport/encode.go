package transport

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/dmxd/dmxd/actors"
)

// AppendMessage appends the JSON encoding of a server message (one of the
// actors package's server message types) to dst.
func AppendMessage(dst []byte, msg any) ([]byte, error) {
	switch m := msg.(type) {
	case *actors.Update:
		dst = append(dst, `{"type":"update","universe":`...)
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
		dst = append(dst, `,"values":[`...)
		for i, v := range m.Values {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendUint(dst, uint64(v), 10)
		}
		dst = append(dst, `],"blackout":`...)
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
			Type      string `json:"type"`
			Version   string `json:"version"`
			Universes []int  `json:"universes"`
			Rate      int    `json:"rate"`
			Merge     string `json:"merge"`
		}{"hello", m.Version, us, m.Rate, m.Merge})
	}
	return dst, fmt.Errorf("encode: unknown server message %T", msg)
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

package transport

import (
	"time"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// Sizes of the fast decoder's single allocation per command.
const (
	inlineChanges = 16 // changes stored beside the command
	inlineID      = 24 // id bytes stored beside the command
	maxIntDigits  = 6  // longest integer the fast path parses (600000 ms)
)

// DecodeCommand decodes and validates one client text frame for a server
// with universes 1..universes. It returns either the command or the error
// to send back; a refused command changes nothing. It does not keep data.
//
// Well-formed commands in their common forms take a hand-written fast path
// that allocates once; anything else — every refusal, escapes in strings,
// bytes beyond ASCII, fractional ids, duplicate keys — goes to the
// encoding/json decoder, so the answers are exactly those of
// decodeCommandJSON. Text that is not UTF-8 is refused (bad_json): an
// accepted command's id is valid UTF-8.
func DecodeCommand(data []byte, universes int) (*actors.Command, *actors.Error) {
	if cmd, ok := decodeFast(data, universes); ok {
		return cmd, nil
	}
	return decodeCommandJSON(data, universes)
}

// commandBox holds a command and, when they fit, its changes and id, so
// that a decoded command costs one allocation.
type commandBox struct {
	cmd     actors.Command
	changes [inlineChanges]dmx.Change
	id      [inlineID]byte
}

// scanner walks a JSON text for decodeFast.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// eat consumes c (after whitespace) if it comes next.
func (s *scanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes and returns its
// contents.
func (s *scanner) str() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// delimited reports whether the token that ended at s.i is followed by
// whitespace, a separator or the end.
func (s *scanner) delimited() bool {
	if s.i >= len(s.b) {
		return true
	}
	switch s.b[s.i] {
	case ' ', '\t', '\n', '\r', ',', '}', ']', ':':
		return true
	}
	return false
}

// uint reads a non-negative JSON integer of at most maxIntDigits digits,
// without sign, leading zero, fraction or exponent.
func (s *scanner) uint() (int, bool) {
	s.ws()
	start, n := s.i, 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > maxIntDigits || (digits > 1 && s.b[start] == '0') {
		return 0, false
	}
	return n, s.delimited()
}

// level reads a level 0..255. Arrays of levels are the bulk of big
// commands, so the compact form (digits then ',' or ']') is read by a
// loop of its own; anything else takes uint's way, with its checks.
func (s *scanner) level() (uint8, bool) {
	b, i := s.b, s.i
	if i < len(b) && b[i]-'0' <= 9 {
		v := uint(b[i] - '0')
		i++
		for k := 0; v != 0 && k < 2 && i < len(b) && b[i]-'0' <= 9; k++ {
			v = v*10 + uint(b[i]-'0')
			i++
		}
		if i < len(b) && (b[i] == ',' || b[i] == ']') && v <= dmx.MaxLevel {
			s.i = i
			return uint8(v), true
		}
	}
	v, ok := s.uint()
	if !ok || v > dmx.MaxLevel {
		return 0, false
	}
	return uint8(v), true
}

// literal reads true or false.
func (s *scanner) literal() (bool, bool) {
	s.ws()
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.i += 4
		return true, s.delimited()
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.i += 5
		return false, s.delimited()
	}
	return false, false
}

// id reads a string without escapes or an integer, and returns its raw
// JSON text.
func (s *scanner) id() ([]byte, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '"' {
		if _, ok := s.str(); !ok {
			return nil, false
		}
		return s.b[start:s.i], true
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || n > 18 || (n > 1 && s.b[digits] == '0') || !s.delimited() {
		return nil, false
	}
	return s.b[start:s.i], true
}

// levels is the value of a dmx or fade key while decoding.
type levels struct {
	array   bool
	n       int
	changes [dmx.Slots]dmx.Change // object form: channel and level; array form: level only
	seen    dmx.ChannelSet
}

// parse reads the object form {"1": 255} or the array form [255, 128].
func (l *levels) parse(s *scanner) bool {
	switch {
	case s.eat('{'):
		if s.eat('}') {
			return true
		}
		for {
			k, ok := s.str()
			if !ok || len(k) == 0 || len(k) > 3 || k[0] == '0' {
				return false
			}
			ch := 0
			for _, c := range k {
				if c < '0' || c > '9' {
					return false
				}
				ch = ch*10 + int(c-'0')
			}
			if !dmx.ValidChannel(ch) || l.seen.Has(ch-1) || !s.eat(':') {
				return false
			}
			l.seen.Add(ch - 1)
			v, ok := s.uint()
			if !ok || v > dmx.MaxLevel {
				return false
			}
			l.changes[l.n] = dmx.Change{Channel: uint16(ch), Level: uint8(v)}
			l.n++
			if s.eat(',') {
				continue
			}
			return s.eat('}')
		}
	case s.eat('['):
		l.array = true
		if s.eat(']') {
			return true
		}
		for {
			v, ok := s.level()
			if !ok || l.n == dmx.Slots {
				return false
			}
			l.changes[l.n].Level = v
			l.n++
			if s.eat(',') {
				continue
			}
			return s.eat(']')
		}
	}
	return false
}

// decodeFast decodes a well-formed command in a common form. It reports
// false for anything else, refusals included; decodeCommandJSON then
// answers.
func decodeFast(data []byte, universes int) (*actors.Command, bool) {
	s := scanner{b: data}
	if !s.eat('{') || s.eat('}') {
		return nil, false
	}
	var (
		name                                string
		lv                                  levels
		on                                  bool
		id                                  []byte
		universe, start, ms                 int
		hasUniverse, hasStart, hasMs, hasID bool
	)
	for {
		key, ok := s.str()
		if !ok || !s.eat(':') {
			return nil, false
		}
		switch string(key) {
		case keyDMX, keyFade, keyBlackout, keyGet:
			if name != "" {
				return nil, false
			}
			switch string(key) {
			case keyDMX:
				name, ok = keyDMX, lv.parse(&s)
			case keyFade:
				name, ok = keyFade, lv.parse(&s)
			case keyBlackout:
				name = keyBlackout
				on, ok = s.literal()
			case keyGet:
				name = keyGet
				on, ok = s.literal()
				ok = ok && on
			}
		case keyUniverse:
			ok = !hasUniverse
			hasUniverse = true
			if ok {
				universe, ok = s.uint()
			}
		case keyStart:
			ok = !hasStart
			hasStart = true
			if ok {
				start, ok = s.uint()
			}
		case keyMs:
			ok = !hasMs
			hasMs = true
			if ok {
				ms, ok = s.uint()
			}
		case keyID:
			ok = !hasID
			hasID = true
			if ok {
				id, ok = s.id()
			}
		default:
			return nil, false
		}
		if !ok {
			return nil, false
		}
		if s.eat(',') {
			continue
		}
		if !s.eat('}') {
			return nil, false
		}
		break
	}
	s.ws()
	if s.i != len(s.b) || name == "" {
		return nil, false
	}
	if hasUniverse && (universe < 1 || universe > universes) {
		return nil, false
	}
	if hasMs && (name != keyFade || ms > MaxFadeMs) {
		return nil, false
	}
	if hasStart && (name != keyDMX && name != keyFade || !lv.array || !dmx.ValidChannel(start)) {
		return nil, false
	}
	if !hasStart {
		start = 1
	}
	if lv.array && start+lv.n-1 > dmx.Slots {
		return nil, false
	}

	box := &commandBox{}
	cmd := &box.cmd
	cmd.Universe = 1
	if hasUniverse {
		cmd.Universe = universe
	}
	if hasID {
		if len(id) <= inlineID {
			cmd.ID = actors.ID(box.id[:copy(box.id[:], id)])
		} else {
			cmd.ID = actors.ID(append([]byte(nil), id...))
		}
	}
	switch name {
	case keyDMX, keyFade:
		cmd.Kind = actors.KindDMX
		if name == keyFade {
			cmd.Kind = actors.KindFade
			cmd.Duration = msDuration(ms)
		}
		changes := box.changes[:0]
		if lv.n > inlineChanges {
			changes = make([]dmx.Change, 0, lv.n)
		}
		changes = append(changes, lv.changes[:lv.n]...)
		if lv.array {
			for i := range changes {
				changes[i].Channel = uint16(start + i)
			}
		}
		cmd.Changes = changes
	case keyBlackout:
		cmd.Kind, cmd.On = actors.KindBlackout, on
	case keyGet:
		cmd.Kind = actors.KindGet
	}
	return cmd, true
}

// msDuration converts a fade time in milliseconds.
func msDuration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }

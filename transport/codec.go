package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// Error codes of the protocol.
const (
	CodeBadJSON     = "bad_json"
	CodeBadRequest  = actors.CodeBadRequest
	CodeBadChannel  = "bad_channel"
	CodeBadValue    = actors.CodeBadValue
	CodeBadUniverse = "bad_universe"
	CodeRateLimited = "rate_limited"
	CodeUnsupported = "unsupported"
)

// refusalCodes are the codes a command may be refused with.
var refusalCodes = []string{
	CodeBadJSON, CodeBadRequest, CodeBadChannel, CodeBadValue,
	CodeBadUniverse, CodeRateLimited, CodeUnsupported,
}

// MaxFadeMs is the longest fade a command may ask for (10 minutes).
const MaxFadeMs = 600000

// command keys and option keys of client messages.
const (
	keyDMX      = "dmx"
	keyFade     = "fade"
	keyBlackout = "blackout"
	keyGet      = "get"
	keyUniverse = "universe"
	keyID       = "id"
	keyStart    = "start"
	keyMs       = "ms"
	// Show control (docs/protocol.md, Show control).
	keyLookSave     = "look_save"
	keyLookRecall   = "look_recall"
	keyLookRename   = "look_rename"
	keyLookDelete   = "look_delete"
	keyLookList     = "look_list"
	keyCueList      = "cue_list"
	keyGo           = "go"
	keyBack         = "back"
	keyMaster       = "master"
	keyGrandMaster  = "grand_master"
	keyBlackoutAll  = "blackout_all"
	keyFlash        = "flash"
	keyLabel        = "label"
	keyUniverseName = "universe_name"
	keyMonitor      = "monitor"
	keyChannels     = "channels"
	keyTo           = "to"
	keyCueLook      = "look"
)

// commandKinds maps every command key to its kind.
var commandKinds = map[string]actors.Kind{
	keyDMX: actors.KindDMX, keyFade: actors.KindFade, keyBlackout: actors.KindBlackout, keyGet: actors.KindGet,
	keyLookSave: actors.KindLookSave, keyLookRecall: actors.KindLookRecall, keyLookRename: actors.KindLookRename,
	keyLookDelete: actors.KindLookDelete, keyLookList: actors.KindLookList, keyCueList: actors.KindCueList,
	keyGo: actors.KindGo, keyBack: actors.KindBack, keyMaster: actors.KindMaster, keyGrandMaster: actors.KindGrandMaster,
	keyBlackoutAll: actors.KindBlackoutAll, keyFlash: actors.KindFlash, keyLabel: actors.KindLabel,
	keyUniverseName: actors.KindUniverseName, keyMonitor: actors.KindMonitor,
}

// optionOwners names, for each option key, the commands it belongs to
// (universe and id belong to every command but two, see decodeCommandJSON).
var optionOwners = map[string][]string{
	keyStart:    {keyDMX, keyFade},
	keyMs:       {keyFade, keyLookRecall},
	keyChannels: {keyLookSave},
	keyTo:       {keyLookRename},
}

func refuse(id actors.ID, code, format string, args ...any) *actors.Error {
	return &actors.Error{ID: id, Code: code, Message: fmt.Sprintf(format, args...)}
}

// decodeCommandJSON is DecodeCommand through encoding/json: the reference
// decoder, which answers every input, refusals included.
func decodeCommandJSON(data []byte, universes int) (*actors.Command, *actors.Error) {
	// JSON text between systems is UTF-8 (RFC 8259 8.1): other text is not
	// JSON, and nothing of it is echoed. encoding/json would read it, and
	// an id's raw bytes would go back in a text frame that is not UTF-8.
	if !utf8.Valid(data) {
		return nil, refuse(nil, CodeBadJSON, "not valid JSON: the text is not UTF-8")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		var probe any
		if json.Unmarshal(data, &probe) == nil {
			return nil, refuse(nil, CodeBadRequest, "a command is a JSON object")
		}
		return nil, refuse(nil, CodeBadJSON, "not valid JSON: %v", err)
	}
	if obj == nil {
		return nil, refuse(nil, CodeBadRequest, "a command is a JSON object")
	}
	cmd := &actors.Command{Universe: 1}
	twice, repeated := repeatedKey(data, len(obj))
	if raw, ok := obj[keyID]; ok && twice != keyID {
		if !isStringOrNumber(raw) {
			return nil, refuse(nil, CodeBadRequest, "id must be a string or a number")
		}
		cmd.ID = actors.ID(bytes.Clone(raw))
	}
	if repeated {
		return nil, refuse(cmd.ID, CodeBadRequest, "key %q appears twice", twice)
	}
	var name string
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		_, isCommand := commandKinds[k]
		_, isOption := optionOwners[k]
		switch {
		case isCommand:
			if name != "" {
				return nil, refuse(cmd.ID, CodeBadRequest, "one command per message: got %q and %q", name, k)
			}
			name = k
		case isOption, k == keyUniverse, k == keyID:
		default:
			return nil, refuse(cmd.ID, CodeBadRequest, "unknown key %q", k)
		}
	}
	if name == "" {
		return nil, refuse(cmd.ID, CodeBadRequest, "no command: want one of dmx, fade, blackout, get (or a show command)")
	}
	cmd.Kind = commandKinds[name]
	if _, ok := obj[keyUniverse]; ok && cmd.Kind.AllUniverses() {
		return nil, refuse(cmd.ID, CodeBadRequest, "%s is for every universe: it takes no universe", name)
	}
	if raw, ok := obj[keyUniverse]; ok {
		u, ok := parseInt(raw)
		if !ok {
			return nil, refuse(cmd.ID, CodeBadRequest, "universe must be an integer")
		}
		if u < 1 || u > int64(universes) {
			return nil, refuse(cmd.ID, CodeBadUniverse, "universe %s is outside 1..%d", bytes.TrimSpace(raw), universes)
		}
		cmd.Universe = int(u)
	}
	for _, opt := range slices.Sorted(maps.Keys(optionOwners)) {
		owners := optionOwners[opt]
		if _, ok := obj[opt]; ok && !slices.Contains(owners, name) {
			return nil, refuse(cmd.ID, CodeBadRequest, "%s belongs to %s only", opt, strings.Join(owners, " and "))
		}
	}
	_, hasStart := obj[keyStart]
	switch name {
	case keyDMX, keyFade:
		cmd.Kind = actors.KindDMX
		if name == keyFade {
			cmd.Kind = actors.KindFade
		}
		changes, e := decodeLevels(obj[name], obj[keyStart], hasStart, name)
		if e != nil {
			e.ID = cmd.ID
			return nil, e
		}
		cmd.Changes = changes
	case keyBlackout:
		cmd.Kind = actors.KindBlackout
		if err := json.Unmarshal(obj[name], &cmd.On); err != nil || isNull(obj[name]) {
			return nil, refuse(cmd.ID, CodeBadRequest, "blackout must be true or false")
		}
	case keyGet:
		cmd.Kind = actors.KindGet
		var b bool
		if err := json.Unmarshal(obj[name], &b); err != nil || !b {
			return nil, refuse(cmd.ID, CodeBadRequest, "get must be true")
		}
	}
	if e := decodeShow(cmd, name, obj); e != nil {
		e.ID = cmd.ID
		return nil, e
	}
	if raw, ok := obj[keyMs]; ok {
		d, e := decodeMs(raw)
		if e != nil {
			e.ID = cmd.ID
			return nil, e
		}
		cmd.Duration = d
	}
	return cmd, nil
}

// decodeMs decodes a fade time in milliseconds, 0..MaxFadeMs.
func decodeMs(raw json.RawMessage) (time.Duration, *actors.Error) {
	ms, ok := parseInt(raw)
	if !ok {
		return 0, refuse(nil, CodeBadRequest, "ms must be an integer")
	}
	if ms < 0 || ms > MaxFadeMs {
		return 0, refuse(nil, CodeBadValue, "ms %s is outside 0..%d", bytes.TrimSpace(raw), MaxFadeMs)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// decodeLevels decodes the object form {"1": 255} or the array form
// [255, 128] (from start) of dmx and fade.
func decodeLevels(raw, rawStart json.RawMessage, hasStart bool, name string) ([]dmx.Change, *actors.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, refuse(nil, CodeBadRequest, "%s must be an object or an array", name)
	}
	switch raw[0] {
	case '{':
		if hasStart {
			return nil, refuse(nil, CodeBadRequest, "start belongs to the array form of %s", name)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, refuse(nil, CodeBadRequest, "%s: %v", name, err)
		}
		if k, ok := repeatedKey(raw, len(m)); ok {
			return nil, refuse(nil, CodeBadRequest, "%s: key %q appears twice", name, k)
		}
		changes := make([]dmx.Change, 0, len(m))
		// Sorted keys: a command with several mistakes gets the same
		// answer every time, although a JSON object has no order.
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v := m[k]
			ch, ok := parseChannelKey(k)
			if !ok {
				return nil, refuse(nil, CodeBadChannel, "channel %q is not a number 1..%d", k, dmx.Slots)
			}
			lv, ok := parseLevel(v)
			if !ok {
				return nil, refuse(nil, CodeBadValue, "level %s of channel %d is not an integer 0..%d", v, ch, dmx.MaxLevel)
			}
			changes = append(changes, dmx.Change{Channel: uint16(ch), Level: lv})
		}
		return changes, nil
	case '[':
		start := int64(1)
		if hasStart {
			s, ok := parseInt(rawStart)
			if !ok {
				return nil, refuse(nil, CodeBadRequest, "start must be an integer")
			}
			if !dmx.ValidChannel(int(min(max(s, 0), dmx.Slots+1))) {
				return nil, refuse(nil, CodeBadChannel, "start %s is outside 1..%d", bytes.TrimSpace(rawStart), dmx.Slots)
			}
			start = s
		}
		var vs []json.RawMessage
		if err := json.Unmarshal(raw, &vs); err != nil {
			return nil, refuse(nil, CodeBadRequest, "%s: %v", name, err)
		}
		if last := start + int64(len(vs)) - 1; last > dmx.Slots {
			return nil, refuse(nil, CodeBadChannel, "%d levels from channel %d run past channel %d", len(vs), start, dmx.Slots)
		}
		changes := make([]dmx.Change, len(vs))
		for i, v := range vs {
			ch := int(start) + i
			lv, ok := parseLevel(v)
			if !ok {
				return nil, refuse(nil, CodeBadValue, "level %s of channel %d is not an integer 0..%d", v, ch, dmx.MaxLevel)
			}
			changes[i] = dmx.Change{Channel: uint16(ch), Level: lv}
		}
		return changes, nil
	}
	return nil, refuse(nil, CodeBadRequest, "%s must be an object or an array", name)
}

// repeatedKey returns the first key that the JSON object obj names a
// second time, given n, the number of keys encoding/json read from it (it
// keeps the last value of a repeated key, where the protocol refuses the
// message). Keys are compared as encoding/json reads them: "dmx" and
// "d\u006dx" are one key. obj must be valid JSON.
func repeatedKey(obj []byte, n int) (string, bool) {
	count := 0
	for range objectKeys(obj) {
		count++
	}
	if count == n {
		return "", false
	}
	seen := make(map[string]bool, count)
	for raw := range objectKeys(obj) {
		var k string
		if err := json.Unmarshal(raw, &k); err != nil {
			continue // not reached: raw is a JSON string
		}
		if seen[k] {
			return k, true
		}
		seen[k] = true
	}
	return "", false // not reached: count > n means a key came twice
}

// objectKeys yields the keys of the JSON object obj, each as its JSON
// string (quotes and escapes included), in the text's order. obj must be
// valid JSON.
func objectKeys(obj []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		depth := 0
		for i := 0; i < len(obj); i++ {
			switch obj[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			case '"':
				start := i
				for i++; i < len(obj) && obj[i] != '"'; i++ {
					if obj[i] == '\\' {
						i++
					}
				}
				if i >= len(obj) {
					return // not JSON: a string without its end
				}
				// In the outer object, a string followed by ':' is a key.
				if depth == 1 && nextByte(obj, i+1) == ':' && !yield(obj[start:i+1]) {
					return
				}
			}
		}
	}
}

// nextByte returns the first byte of b from i on that is not JSON
// whitespace, or 0.
func nextByte(b []byte, i int) byte {
	for ; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return b[i]
		}
	}
	return 0
}

// parseChannelKey parses an object key "1".."512", written without
// leading zeros (otherwise "1" and "01" would name one channel twice).
func parseChannelKey(k string) (int, bool) {
	if k == "" || len(k) > 3 || k[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < '0' || k[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(k)
	if err != nil || !dmx.ValidChannel(n) {
		return 0, false
	}
	return n, true
}

// parseInt parses a JSON integer literal (no fraction, no exponent). An
// integer beyond int64 saturates: it is of the right type, only out of
// every range the protocol allows.
func parseInt(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return n, true
	}
	return n, err == nil
}

// parseLevel parses a JSON integer 0..255.
func parseLevel(raw json.RawMessage) (uint8, bool) {
	n, ok := parseInt(raw)
	if !ok || n < 0 || n > dmx.MaxLevel {
		return 0, false
	}
	return uint8(n), true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// isStringOrNumber reports whether raw (valid JSON) is a string or a number.
func isStringOrNumber(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	c := raw[0]
	return c == '"' || c == '-' || (c >= '0' && c <= '9')
}

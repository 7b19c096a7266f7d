package transport

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// decodeShow decodes the value (and options) of a show control command
// named name into cmd; it does nothing for the commands of version 1. Like
// the rest of decodeCommandJSON it refuses the whole command at its first
// mistake; the caller sets the refusal's id. The fast path takes none of
// these commands: they are rare next to levels.
func decodeShow(cmd *actors.Command, name string, obj map[string]json.RawMessage) *actors.Error {
	raw := obj[name]
	var e *actors.Error
	switch name {
	case keyLookSave:
		if cmd.Name, e = decodeName(raw, name, dmx.MaxNameBytes, false); e != nil {
			return e
		}
		if rawCh, ok := obj[keyChannels]; ok {
			if cmd.Channels, e = decodeChannelList(rawCh, keyChannels); e != nil {
				return e
			}
			if len(cmd.Channels) == 0 {
				return refuse(nil, CodeBadValue, "channels of a look must name at least one channel (leave it out for all)")
			}
		}
	case keyLookRecall, keyLookDelete:
		cmd.Name, e = decodeName(raw, name, dmx.MaxNameBytes, false)
	case keyLookRename:
		if cmd.Name, e = decodeName(raw, name, dmx.MaxNameBytes, false); e != nil {
			return e
		}
		rawTo, ok := obj[keyTo]
		if !ok {
			return refuse(nil, CodeBadRequest, "look_rename needs to, the new name")
		}
		cmd.To, e = decodeName(rawTo, keyTo, dmx.MaxNameBytes, false)
	case keyLookList, keyGo, keyBack:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil || !b {
			return refuse(nil, CodeBadRequest, "%s must be true", name)
		}
	case keyBlackoutAll, keyMonitor:
		if err := json.Unmarshal(raw, &cmd.On); err != nil || isNull(raw) {
			return refuse(nil, CodeBadRequest, "%s must be true or false", name)
		}
	case keyMaster, keyGrandMaster:
		lv, ok := parseLevel(raw)
		if !ok {
			return refuse(nil, CodeBadValue, "%s %s is not an integer 0..%d", name, bytes.TrimSpace(raw), dmx.MaxLevel)
		}
		cmd.Level = lv
	case keyFlash:
		cmd.Channels, e = decodeChannelList(raw, name)
	case keyCueList:
		cmd.Cues, e = decodeCues(raw)
	case keyLabel:
		cmd.Labels, e = decodeLabels(raw)
	case keyUniverseName:
		cmd.Name, e = decodeName(raw, name, dmx.MaxNameBytes, true)
	}
	return e
}

// decodeName decodes a JSON string that names a look or a universe, or
// labels a channel: a string (else bad_request) that dmx.CheckName accepts
// (else bad_value).
func decodeName(raw json.RawMessage, what string, maxBytes int, empty bool) (string, *actors.Error) {
	var s string
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '"' || json.Unmarshal(t, &s) != nil {
		return "", refuse(nil, CodeBadRequest, "%s must be a string", what)
	}
	if err := dmx.CheckName(s, maxBytes, empty); err != nil {
		return "", refuse(nil, CodeBadValue, "%s %s: %v", what, dmx.Quote(s), err)
	}
	return s, nil
}

// decodeChannelList decodes an array of channel numbers 1..512; a channel
// named twice counts once (the list is a set), so the result holds at most
// 512 channels, in ascending order.
func decodeChannelList(raw json.RawMessage, what string) ([]uint16, *actors.Error) {
	var vs []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '[' || json.Unmarshal(t, &vs) != nil {
		return nil, refuse(nil, CodeBadRequest, "%s must be an array of channels", what)
	}
	var set dmx.ChannelSet
	for _, v := range vs {
		n, ok := parseInt(v)
		if !ok || !dmx.ValidChannel(int(min(max(n, 0), dmx.Slots+1))) {
			return nil, refuse(nil, CodeBadChannel, "%s: channel %s is not an integer 1..%d", what, bytes.TrimSpace(v), dmx.Slots)
		}
		set.Add(int(n) - 1)
	}
	chs := make([]uint16, 0, set.Len())
	set.Each(func(i int) { chs = append(chs, uint16(i+1)) })
	return chs, nil
}

// decodeCues decodes a cue list: an array of at most dmx.MaxCues objects
// {"look": NAME, "ms": N} (ms optional).
func decodeCues(raw json.RawMessage) ([]dmx.Cue, *actors.Error) {
	var items []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '[' || json.Unmarshal(t, &items) != nil {
		return nil, refuse(nil, CodeBadRequest, "cue_list must be an array of cues")
	}
	if len(items) > dmx.MaxCues {
		return nil, refuse(nil, CodeBadValue, "cue_list has %d cues, at most %d", len(items), dmx.MaxCues)
	}
	cues := make([]dmx.Cue, len(items))
	for i, it := range items {
		var m map[string]json.RawMessage
		if t := bytes.TrimSpace(it); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &m) != nil {
			return nil, refuse(nil, CodeBadRequest, "cue %d must be an object {\"look\": NAME, \"ms\": N}", i+1)
		}
		if k, twice := repeatedKey(it, len(m)); twice {
			return nil, refuse(nil, CodeBadRequest, "cue %d: key %q appears twice", i+1, k)
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if k != keyCueLook && k != keyMs {
				return nil, refuse(nil, CodeBadRequest, "cue %d: unknown key %q", i+1, k)
			}
		}
		rawLook, ok := m[keyCueLook]
		if !ok {
			return nil, refuse(nil, CodeBadRequest, "cue %d names no look", i+1)
		}
		name, e := decodeName(rawLook, "look", dmx.MaxNameBytes, false)
		if e != nil {
			e.Message = "cue " + strconv.Itoa(i+1) + ": " + e.Message
			return nil, e
		}
		cues[i].Look = name
		if rawMs, ok := m[keyMs]; ok {
			d, e := decodeMs(rawMs)
			if e != nil {
				e.Message = "cue " + strconv.Itoa(i+1) + ": " + e.Message
				return nil, e
			}
			cues[i].Fade = d
		}
	}
	return cues, nil
}

// decodeLabels decodes {"1": "Front wash", "2": ""}: labels of channels,
// "" to remove one.
func decodeLabels(raw json.RawMessage) ([]actors.Label, *actors.Error) {
	var m map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &m) != nil {
		return nil, refuse(nil, CodeBadRequest, "label must be an object of channels and their labels")
	}
	if k, twice := repeatedKey(raw, len(m)); twice {
		return nil, refuse(nil, CodeBadRequest, "label: key %q appears twice", k)
	}
	labels := make([]actors.Label, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		ch, ok := parseChannelKey(k)
		if !ok {
			return nil, refuse(nil, CodeBadChannel, "channel %q is not a number 1..%d", k, dmx.Slots)
		}
		text, e := decodeName(m[k], "label of channel "+strconv.Itoa(ch), dmx.MaxLabelBytes, true)
		if e != nil {
			return nil, e
		}
		labels = append(labels, actors.Label{Channel: uint16(ch), Text: text})
	}
	return labels, nil
}

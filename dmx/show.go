package dmx

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Bounds of a universe's show: they bound the state file, the memory of a
// universe and the size of every message that carries its show.
const (
	MaxLooks       = 64  // looks per universe
	MaxNameBytes   = 64  // a look's or a universe's name, in bytes of UTF-8
	MaxLabelBytes  = 32  // a channel's label, in bytes of UTF-8
	MaxCues        = 256 // cues per universe
	MaxCueFade     = 10 * time.Minute
	FullMaster     = MaxLevel // a master that scales nothing
	maxNameDisplay = 80       // how much of a refused name an error quotes
)

// Look is a stored set of channel levels of one universe (a scene).
type Look struct {
	Name     string
	Channels ChannelSet // the channels the look holds
	Levels   Frame      // their levels; 0 for channels outside Channels
}

// Changes returns the look's channels and levels, in channel order.
func (l *Look) Changes() []Change {
	cs := make([]Change, 0, l.Channels.Len())
	l.Channels.Each(func(i int) {
		cs = append(cs, Change{Channel: uint16(i + 1), Level: l.Levels[i]})
	})
	return cs
}

// Cue is one step of a cue list: a look, recalled with a fade time.
type Cue struct {
	Look string
	Fade time.Duration
}

// Show is what a universe keeps besides its levels: its name, channel
// labels, master, looks and cue list. Its zero value is an empty show with
// its master at 0: use NewShow.
type Show struct {
	Name   string
	Labels map[uint16]string // channel → label; no empty labels
	Master uint8
	Looks  []Look // in the order they were first saved
	Cues   []Cue
	// Current is the cue last gone to, 1-based; 0 before the first.
	Current int
}

// NewShow returns an empty show with its master at full.
func NewShow() Show { return Show{Master: FullMaster} }

// Clone returns a deep copy of s.
func (s *Show) Clone() Show {
	c := *s
	if s.Labels != nil {
		c.Labels = make(map[uint16]string, len(s.Labels))
		for k, v := range s.Labels {
			c.Labels[k] = v
		}
	}
	c.Looks = append([]Look(nil), s.Looks...)
	c.Cues = append([]Cue(nil), s.Cues...)
	return c
}

// Look returns the index of the look named name, or -1.
func (s *Show) Look(name string) int {
	for i := range s.Looks {
		if s.Looks[i].Name == name {
			return i
		}
	}
	return -1
}

// Validate checks a show read from outside (a state file): names, labels,
// bounds, and that every cue names a look.
func (s *Show) Validate() error {
	if err := CheckName(s.Name, MaxNameBytes, true); err != nil {
		return fmt.Errorf("universe name: %w", err)
	}
	for ch, l := range s.Labels {
		if !ValidChannel(int(ch)) {
			return fmt.Errorf("label of channel %d: outside 1..%d", ch, Slots)
		}
		if err := CheckName(l, MaxLabelBytes, false); err != nil {
			return fmt.Errorf("label of channel %d: %w", ch, err)
		}
	}
	if len(s.Looks) > MaxLooks {
		return fmt.Errorf("%d looks, at most %d", len(s.Looks), MaxLooks)
	}
	for i, l := range s.Looks {
		if err := CheckName(l.Name, MaxNameBytes, false); err != nil {
			return fmt.Errorf("look %d: %w", i+1, err)
		}
		if s.Look(l.Name) != i {
			return fmt.Errorf("look %q named twice", l.Name)
		}
	}
	if len(s.Cues) > MaxCues {
		return fmt.Errorf("%d cues, at most %d", len(s.Cues), MaxCues)
	}
	for i, c := range s.Cues {
		if s.Look(c.Look) < 0 {
			return fmt.Errorf("cue %d names look %q, which does not exist", i+1, c.Look)
		}
		if c.Fade < 0 || c.Fade > MaxCueFade {
			return fmt.Errorf("cue %d: fade %v outside 0..%v", i+1, c.Fade, MaxCueFade)
		}
	}
	if s.Current < 0 || s.Current > len(s.Cues) {
		return fmt.Errorf("current cue %d outside 0..%d", s.Current, len(s.Cues))
	}
	return nil
}

// ErrName is the error of a name or label CheckName refuses.
var ErrName = errors.New("bad name")

// CheckName checks a look's or universe's name or a channel's label: valid
// UTF-8 of at most maxBytes bytes, without control characters, and not
// empty unless empty is allowed.
func CheckName(s string, maxBytes int, empty bool) error {
	switch {
	case s == "" && !empty:
		return fmt.Errorf("%w: empty", ErrName)
	case len(s) > maxBytes:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrName, len(s), maxBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: not UTF-8", ErrName)
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return fmt.Errorf("%w: holds a control character", ErrName)
		}
	}
	return nil
}

// Quote returns s quoted for an error message, shortened when long.
func Quote(s string) string {
	if len(s) > maxNameDisplay {
		cut := maxNameDisplay
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

// OutputLevels computes what goes out of a universe into dst: 0 everywhere in a
// blackout; otherwise each channel's level (full for a channel in flash)
// scaled by master and grand, rounded to the nearest level. At full
// masters the levels go out unchanged.
func OutputLevels(dst *Frame, levels *Frame, flash *ChannelSet, master, grand uint8, blackout bool) {
	if blackout {
		*dst = Frame{}
		return
	}
	scale := uint32(master) * uint32(grand)
	const full = MaxLevel * MaxLevel
	if scale == full && flash.Empty() {
		*dst = *levels
		return
	}
	for i, v := range levels {
		l := uint32(v)
		if flash.Has(i) {
			l = MaxLevel
		}
		dst[i] = byte((l*scale + full/2) / full)
	}
}

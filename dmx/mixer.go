package dmx

import (
	"fmt"
	"math/bits"
	"time"
)

// Merge is how the levels of several sources combine into one universe.
type Merge int

const (
	// LTP (latest takes precedence): every source writes the same levels;
	// levels stay when their source leaves.
	LTP Merge = iota
	// HTP (highest takes precedence): every source has its own layer; a
	// channel's level is the highest of all layers; a source's layer is
	// released when it leaves.
	HTP
)

// String returns the protocol name of the merge mode.
func (m Merge) String() string {
	if m == HTP {
		return "htp"
	}
	return "ltp"
}

// ParseMerge parses "ltp" or "htp".
func ParseMerge(s string) (Merge, error) {
	switch s {
	case "ltp":
		return LTP, nil
	case "htp":
		return HTP, nil
	}
	return LTP, fmt.Errorf("merge mode %q is not ltp or htp", s)
}

// Source identifies who sent a command. In HTP mode every source has its
// own layer. BaseSource is the layer that restored state lives in.
type Source uint64

// BaseSource is the layer shared by every source in LTP mode, and the layer
// restored levels are loaded into.
const BaseSource Source = 0

// ChannelSet is a set of channels, indexed 0..511 (channel number - 1).
type ChannelSet [Slots / 64]uint64

// Add puts the channel at index i into the set.
func (s *ChannelSet) Add(i int) { s[i>>6] |= 1 << (uint(i) & 63) }

// Has reports whether index i is in the set.
func (s *ChannelSet) Has(i int) bool { return s[i>>6]&(1<<(uint(i)&63)) != 0 }

// Empty reports whether the set holds no channel.
func (s *ChannelSet) Empty() bool { return *s == ChannelSet{} }

// Len returns how many channels the set holds.
func (s *ChannelSet) Len() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// Each calls fn for every index in the set, in ascending order.
func (s *ChannelSet) Each(fn func(i int)) {
	for wi, w := range s {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			fn(wi*64 + b)
			w &^= 1 << uint(b)
		}
	}
}

// fade moves one channel of one layer linearly from From to To.
type fade struct {
	from, to uint8
	start    time.Time
	dur      time.Duration
}

// level returns the fade's level at now and whether it has finished.
func (f *fade) level(now time.Time) (uint8, bool) {
	e := now.Sub(f.start)
	if e >= f.dur {
		return f.to, true
	}
	if e <= 0 {
		return f.from, false
	}
	diff := int64(f.to) - int64(f.from)
	num := diff * int64(e)
	d := int64(f.dur)
	// Round half away from zero; monotonic in e for either direction.
	var step int64
	if num >= 0 {
		step = (num + d/2) / d
	} else {
		step = -((-num + d/2) / d)
	}
	return uint8(int64(f.from) + step), false
}

// layer is one source's levels and running fades.
type layer struct {
	levels Frame
	fading ChannelSet
	fades  *[Slots]fade // allocated on the first fade
}

// Mixer merges the commands of many sources into the levels of one
// universe and runs their fades. The zero value is not usable; use NewMixer.
type Mixer struct {
	mode    Merge
	layers  map[Source]*layer
	base    *layer // layers[BaseSource], the only layer in LTP mode
	merged  Frame
	changed ChannelSet
	fading  int // layers with at least one running fade
}

// NewMixer returns an empty (all dark) mixer for the merge mode.
func NewMixer(mode Merge) *Mixer {
	base := &layer{}
	return &Mixer{mode: mode, layers: map[Source]*layer{BaseSource: base}, base: base}
}

// Mode returns the merge mode.
func (m *Mixer) Mode() Merge { return m.mode }

// Levels returns the merged levels. The array must not be modified.
func (m *Mixer) Levels() *Frame { return &m.merged }

// Sources returns how many layers the mixer holds (the base layer included).
func (m *Mixer) Sources() int { return len(m.layers) }

func (m *Mixer) layerFor(src Source) *layer {
	if m.mode == LTP || src == BaseSource {
		return m.base
	}
	l, ok := m.layers[src]
	if !ok {
		l = &layer{}
		m.layers[src] = l
	}
	return l
}

// Set sets channels of src's layer at once, cancelling their fades.
func (m *Mixer) Set(src Source, changes []Change) {
	l := m.layerFor(src)
	for _, c := range changes {
		i := int(c.Channel) - 1
		m.yieldBase(src, l, i)
		m.stopFade(l, i)
		m.setLevel(l, i, c.Level)
	}
}

// setLevel sets channel index i of layer l to v and brings the merged
// level up to date without looking at every layer where it can: in LTP
// the base layer is the merged level; in HTP a level at or above the
// merged one is the new highest, and only lowering the highest layer
// needs a look at every layer.
func (m *Mixer) setLevel(l *layer, i int, v uint8) {
	old := l.levels[i]
	l.levels[i] = v
	switch {
	case m.mode == LTP || v >= m.merged[i]:
		m.setMerged(i, v)
	case old == m.merged[i]:
		m.remerge(i)
	}
}

// setMerged records v as channel index i's merged level.
func (m *Mixer) setMerged(i int, v uint8) {
	if m.merged[i] != v {
		m.merged[i] = v
		m.changed.Add(i)
	}
}

// yieldBase hands the base layer's (restored) level of channel index i to
// layer l when another source takes the channel in HTP mode: restored
// levels hold the look until a desk takes over a channel, and from then on
// that desk's layer holds it (so a fade starts from what is on stage) and
// releases it when the desk leaves.
func (m *Mixer) yieldBase(src Source, l *layer, i int) {
	if m.mode != HTP || src == BaseSource {
		return
	}
	b := m.base
	if b.levels[i] == 0 {
		return
	}
	m.stopFade(b, i)
	if l.levels[i] < b.levels[i] {
		l.levels[i] = b.levels[i]
	}
	b.levels[i] = 0
	m.remerge(i)
}

// Load replaces the base layer with levels (used to restore saved state).
func (m *Mixer) Load(levels *Frame) {
	l := m.base
	for i := range levels {
		m.stopFade(l, i)
		l.levels[i] = levels[i]
		m.remerge(i)
	}
}

// Fade starts fades of src's layer from each channel's current level to
// the target over dur, starting at now. A zero dur sets at once.
func (m *Mixer) Fade(src Source, changes []Change, dur time.Duration, now time.Time) {
	if dur <= 0 {
		m.Set(src, changes)
		return
	}
	l := m.layerFor(src)
	if l.fades == nil {
		l.fades = new([Slots]fade)
	}
	wasFading := !l.fading.Empty()
	for _, c := range changes {
		i := int(c.Channel) - 1
		m.yieldBase(src, l, i)
		l.fades[i] = fade{from: l.levels[i], to: c.Level, start: now, dur: dur}
		l.fading.Add(i)
	}
	if !wasFading && !l.fading.Empty() {
		m.fading++
	}
}

func (m *Mixer) stopFade(l *layer, i int) {
	if !l.fading.Has(i) {
		return
	}
	l.fading[i>>6] &^= 1 << (uint(i) & 63)
	if l.fading.Empty() {
		m.fading--
	}
}

// Fading reports whether any fade is running.
func (m *Mixer) Fading() bool { return m.fading > 0 }

// Step advances every running fade to now.
func (m *Mixer) Step(now time.Time) {
	if m.fading == 0 {
		return
	}
	for _, l := range m.layers {
		if l.fading.Empty() {
			continue
		}
		for wi := range l.fading {
			w := l.fading[wi]
			for w != 0 {
				b := bits.TrailingZeros64(w)
				w &^= 1 << uint(b)
				i := wi*64 + b
				v, done := l.fades[i].level(now)
				if done {
					l.fading[wi] &^= 1 << uint(b)
				}
				if l.levels[i] != v {
					l.levels[i] = v
					m.remerge(i)
				}
			}
		}
		if l.fading.Empty() {
			m.fading--
		}
	}
}

// Release drops src's layer (HTP); the merged levels fall back to the
// remaining layers. It does nothing in LTP mode or for the base layer.
func (m *Mixer) Release(src Source) {
	if m.mode == LTP || src == BaseSource {
		return
	}
	l, ok := m.layers[src]
	if !ok {
		return
	}
	if !l.fading.Empty() {
		m.fading--
	}
	delete(m.layers, src)
	for i := range l.levels {
		if l.levels[i] != 0 && l.levels[i] >= m.merged[i] {
			m.remerge(i)
		}
	}
}

// remerge recomputes the merged level of channel index i.
func (m *Mixer) remerge(i int) {
	var v uint8
	if m.mode == LTP {
		v = m.base.levels[i]
	} else {
		for _, l := range m.layers {
			if l.levels[i] > v {
				v = l.levels[i]
			}
		}
	}
	m.setMerged(i, v)
}

// Changed reports whether a merged level changed since the last TakeChanged.
func (m *Mixer) Changed() bool { return !m.changed.Empty() }

// TakeChanged returns the channels whose merged level changed since the
// last call, and clears the record.
func (m *Mixer) TakeChanged() ChannelSet {
	c := m.changed
	m.changed = ChannelSet{}
	return c
}

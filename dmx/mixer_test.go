package dmx_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
)

// op is one step of a mixer script.
type op struct {
	set     []dmx.Change // Set from src
	fade    []dmx.Change // Fade from src over dur, at t0+at
	dur     time.Duration
	step    bool // Step at t0+at
	release bool // Release src
	load    *dmx.Frame
	src     dmx.Source
	at      time.Duration
}

// levels is a sparse expectation: channel → level; others must be 0.
type levels map[uint16]uint8

func c(ch uint16, lv uint8) dmx.Change { return dmx.Change{Channel: ch, Level: lv} }

func checkLevels(t *testing.T, m *dmx.Mixer, want levels) {
	t.Helper()
	got := m.Levels()
	for i, v := range got {
		if w := want[uint16(i+1)]; v != w {
			t.Errorf("channel %d = %d, want %d", i+1, v, w)
		}
	}
}

var t0 = time.Date(2024, 1, 1, 20, 0, 0, 0, time.UTC)

func play(m *dmx.Mixer, ops []op) {
	for _, o := range ops {
		switch {
		case o.set != nil:
			m.Set(o.src, o.set)
		case o.fade != nil:
			m.Fade(o.src, o.fade, o.dur, t0.Add(o.at))
		case o.step:
			m.Step(t0.Add(o.at))
		case o.release:
			m.Release(o.src)
		case o.load != nil:
			m.Load(o.load)
		}
	}
}

func TestMixer(t *testing.T) {
	full := new(dmx.Frame)
	for i := range full {
		full[i] = 10
	}
	tests := []struct {
		name string
		mode dmx.Merge
		ops  []op
		want levels
	}{
		{"dark at start", dmx.LTP, nil, levels{}},
		{"ltp set", dmx.LTP, []op{{set: []dmx.Change{c(1, 255), c(512, 7)}}}, levels{1: 255, 512: 7}},
		{"ltp latest wins", dmx.LTP, []op{
			{src: 1, set: []dmx.Change{c(1, 255)}},
			{src: 2, set: []dmx.Change{c(1, 10)}},
		}, levels{1: 10}},
		{"ltp lower value wins when later", dmx.LTP, []op{
			{src: 1, set: []dmx.Change{c(5, 200), c(6, 200)}},
			{src: 2, set: []dmx.Change{c(5, 0)}},
		}, levels{6: 200}},
		{"ltp release keeps levels", dmx.LTP, []op{
			{src: 1, set: []dmx.Change{c(1, 255)}},
			{src: 1, release: true},
		}, levels{1: 255}},
		{"ltp same channel twice in one command", dmx.LTP, []op{
			{set: []dmx.Change{c(3, 1), c(3, 2)}},
		}, levels{3: 2}},
		{"htp highest layer", dmx.HTP, []op{
			{src: 1, set: []dmx.Change{c(1, 100), c(2, 200)}},
			{src: 2, set: []dmx.Change{c(1, 150), c(2, 50)}},
		}, levels{1: 150, 2: 200}},
		{"htp lowering own layer falls back to the others", dmx.HTP, []op{
			{src: 1, set: []dmx.Change{c(1, 100)}},
			{src: 2, set: []dmx.Change{c(1, 150)}},
			{src: 2, set: []dmx.Change{c(1, 0)}},
		}, levels{1: 100}},
		{"htp release falls back", dmx.HTP, []op{
			{src: 1, set: []dmx.Change{c(1, 100), c(3, 30)}},
			{src: 2, set: []dmx.Change{c(1, 150), c(2, 50)}},
			{src: 2, release: true},
		}, levels{1: 100, 3: 30}},
		{"htp release of the lower layer changes nothing", dmx.HTP, []op{
			{src: 1, set: []dmx.Change{c(1, 100)}},
			{src: 2, set: []dmx.Change{c(1, 50)}},
			{src: 2, release: true},
		}, levels{1: 100}},
		{"htp release of an unknown source", dmx.HTP, []op{
			{src: 1, set: []dmx.Change{c(1, 100)}},
			{src: 9, release: true},
		}, levels{1: 100}},
		{"htp equal layers, one released", dmx.HTP, []op{
			{src: 1, set: []dmx.Change{c(1, 100)}},
			{src: 2, set: []dmx.Change{c(1, 100)}},
			{src: 1, release: true},
		}, levels{1: 100}},
		{"htp restored levels hold until a desk takes the channel", dmx.HTP, []op{
			{load: full},
			{src: 1, set: []dmx.Change{c(1, 200)}},
			{src: 2, fade: []dmx.Change{c(2, 0)}, dur: time.Second},
			{src: 1, release: true},
			{src: 2, release: true},
		}, func() levels {
			l := levels{}
			for ch := uint16(3); ch <= 512; ch++ {
				l[ch] = 10
			}
			return l // channels 1 and 2 were taken over, then released: dark
		}()},
		{"htp base layer cannot be released", dmx.HTP, []op{
			{set: []dmx.Change{c(4, 44)}}, // src 0: the base layer
			{src: dmx.BaseSource, release: true},
		}, levels{4: 44}},
		{"ltp load replaces", dmx.LTP, []op{
			{set: []dmx.Change{c(1, 1)}},
			{load: &dmx.Frame{2: 3}},
		}, levels{3: 3}},
		{"fade zero duration sets", dmx.LTP, []op{
			{fade: []dmx.Change{c(1, 200)}, dur: 0},
		}, levels{1: 200}},
		{"fade half way", dmx.LTP, []op{
			{fade: []dmx.Change{c(1, 200)}, dur: time.Second},
			{step: true, at: 500 * time.Millisecond},
		}, levels{1: 100}},
		{"fade before its start", dmx.LTP, []op{
			{set: []dmx.Change{c(1, 50)}},
			{fade: []dmx.Change{c(1, 200)}, dur: time.Second, at: time.Second},
			{step: true, at: 0},
		}, levels{1: 50}},
		{"fade exact at end", dmx.LTP, []op{
			{fade: []dmx.Change{c(1, 255), c(2, 1)}, dur: 3 * time.Second},
			{step: true, at: 3 * time.Second},
		}, levels{1: 255, 2: 1}},
		{"fade exact long after end", dmx.LTP, []op{
			{set: []dmx.Change{c(1, 255)}},
			{fade: []dmx.Change{c(1, 3)}, dur: time.Second},
			{step: true, at: time.Hour},
		}, levels{1: 3}},
		{"set cancels fade", dmx.LTP, []op{
			{fade: []dmx.Change{c(1, 200), c(2, 200)}, dur: time.Second},
			{step: true, at: 250 * time.Millisecond},
			{set: []dmx.Change{c(1, 7)}},
			{step: true, at: time.Second},
		}, levels{1: 7, 2: 200}},
		{"new fade restarts from the current level", dmx.LTP, []op{
			{fade: []dmx.Change{c(1, 200)}, dur: time.Second},
			{step: true, at: 500 * time.Millisecond}, // 100
			{fade: []dmx.Change{c(1, 0)}, dur: time.Second, at: 500 * time.Millisecond},
			{step: true, at: time.Second}, // half way from 100 to 0
		}, levels{1: 50}},
		{"fade to the same level", dmx.LTP, []op{
			{set: []dmx.Change{c(1, 80)}},
			{fade: []dmx.Change{c(1, 80)}, dur: time.Second},
			{step: true, at: 400 * time.Millisecond},
		}, levels{1: 80}},
		{"htp fade in one layer", dmx.HTP, []op{
			{src: 1, set: []dmx.Change{c(1, 100)}},
			{src: 2, fade: []dmx.Change{c(1, 255)}, dur: time.Second},
			{step: true, at: 200 * time.Millisecond}, // layer 2 at 51
		}, levels{1: 100}},
		{"htp fade rises above", dmx.HTP, []op{
			{src: 1, set: []dmx.Change{c(1, 100)}},
			{src: 2, fade: []dmx.Change{c(1, 255)}, dur: time.Second},
			{step: true, at: 800 * time.Millisecond}, // layer 2 at 204
		}, levels{1: 204}},
		{"htp release of a fading layer", dmx.HTP, []op{
			{src: 1, set: []dmx.Change{c(1, 100)}},
			{src: 2, fade: []dmx.Change{c(1, 255)}, dur: time.Second},
			{step: true, at: 800 * time.Millisecond},
			{src: 2, release: true},
			{step: true, at: time.Second},
		}, levels{1: 100}},
		{"ltp fade from another source shares the level", dmx.LTP, []op{
			{src: 1, set: []dmx.Change{c(1, 100)}},
			{src: 2, fade: []dmx.Change{c(1, 0)}, dur: time.Second},
			{step: true, at: 500 * time.Millisecond},
		}, levels{1: 50}},
		{"load cancels fades", dmx.LTP, []op{
			{fade: []dmx.Change{c(1, 200)}, dur: time.Second},
			{load: &dmx.Frame{0: 9}},
			{step: true, at: time.Second},
		}, levels{1: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := dmx.NewMixer(tt.mode)
			play(m, tt.ops)
			checkLevels(t, m, tt.want)
		})
	}
}

// TestMixerFadeLinear: every step of a fade is the linear level, rounded,
// both up and down, and the sequence is monotonic.
func TestMixerFadeLinear(t *testing.T) {
	tests := []struct {
		from, to uint8
		dur      time.Duration
	}{
		{0, 255, time.Second},
		{255, 0, time.Second},
		{10, 11, 1500 * time.Millisecond},
		{200, 3, 7 * time.Second},
		{0, 255, 10 * time.Minute},
		{128, 127, 23 * time.Millisecond},
	}
	const period = time.Second / 44
	for _, tt := range tests {
		m := dmx.NewMixer(dmx.LTP)
		m.Set(1, []dmx.Change{c(1, tt.from)})
		m.Fade(1, []dmx.Change{c(1, tt.to)}, tt.dur, t0)
		if !m.Fading() {
			t.Fatalf("%d→%d: not fading after Fade", tt.from, tt.to)
		}
		prev := tt.from
		for e := time.Duration(0); ; e += period {
			m.Step(t0.Add(e))
			got := m.Levels()[0]
			frac := float64(min(e, tt.dur)) / float64(tt.dur)
			want := float64(tt.from) + (float64(tt.to)-float64(tt.from))*frac
			if d := float64(got) - want; d > 0.5 || d < -0.5 {
				t.Fatalf("%d→%d over %v at %v: %d, want %.2f", tt.from, tt.to, tt.dur, e, got, want)
			}
			if (tt.to >= tt.from && got < prev) || (tt.to < tt.from && got > prev) {
				t.Fatalf("%d→%d at %v: %d after %d is not monotonic", tt.from, tt.to, e, got, prev)
			}
			prev = got
			if e >= tt.dur {
				break
			}
		}
		if got := m.Levels()[0]; got != tt.to {
			t.Errorf("%d→%d: ended at %d", tt.from, tt.to, got)
		}
		if m.Fading() {
			t.Errorf("%d→%d: still fading after its end", tt.from, tt.to)
		}
	}
}

// TestMixerFading tracks Fading across set, release and the end of fades.
func TestMixerFading(t *testing.T) {
	m := dmx.NewMixer(dmx.HTP)
	if m.Fading() {
		t.Fatal("fading at start")
	}
	m.Fade(1, []dmx.Change{c(1, 100), c(2, 100)}, time.Second, t0)
	m.Fade(2, []dmx.Change{c(3, 100)}, 2*time.Second, t0)
	m.Set(1, []dmx.Change{c(1, 0)})
	if !m.Fading() {
		t.Fatal("a set on one channel stopped every fade")
	}
	m.Set(1, []dmx.Change{c(2, 0)})
	m.Step(t0.Add(time.Second))
	if !m.Fading() {
		t.Fatal("layer 2's fade stopped with layer 1's")
	}
	m.Release(2)
	if m.Fading() {
		t.Fatal("fading after the fading layer was released")
	}
	m.Step(t0.Add(3 * time.Second)) // must not touch a released layer
	checkLevels(t, m, levels{})
	if n := m.Sources(); n != 2 {
		t.Errorf("%d sources, want the base layer and layer 1", n)
	}
}

// TestMixerTakeChanged: changes coalesce until taken; a channel set back to
// its old level before being taken still counts (the merged level moved),
// and a set to the current level does not.
func TestMixerTakeChanged(t *testing.T) {
	m := dmx.NewMixer(dmx.LTP)
	if cs := m.TakeChanged(); !cs.Empty() {
		t.Fatalf("changes at start: %d", cs.Len())
	}
	for lv := range uint8(50) {
		m.Set(1, []dmx.Change{c(1, lv+1), c(7, 255)})
	}
	m.Set(1, []dmx.Change{c(9, 0)}) // no change: already 0
	cs := m.TakeChanged()
	var got []int
	cs.Each(func(i int) { got = append(got, i+1) })
	if !slices.Equal(got, []int{1, 7}) {
		t.Fatalf("changed channels %v, want [1 7]", got)
	}
	if l := m.Levels(); l[0] != 50 || l[6] != 255 {
		t.Fatalf("levels %d %d, want the latest 50 255", l[0], l[6])
	}
	if cs := m.TakeChanged(); !cs.Empty() {
		t.Fatalf("changes not cleared: %d", cs.Len())
	}
	m.Set(1, []dmx.Change{c(7, 255)})
	if cs := m.TakeChanged(); !cs.Empty() {
		t.Fatalf("setting the current level is a change")
	}
	m.Fade(1, []dmx.Change{c(2, 100)}, time.Second, t0)
	if cs := m.TakeChanged(); !cs.Empty() {
		t.Fatalf("starting a fade changed a level before any step")
	}
	m.Step(t0.Add(100 * time.Millisecond))
	m.Step(t0.Add(200 * time.Millisecond))
	cs = m.TakeChanged()
	if cs.Len() != 1 || !cs.Has(1) {
		t.Fatalf("fade steps: %d changes, want channel 2", cs.Len())
	}

	h := dmx.NewMixer(dmx.HTP)
	h.Set(1, []dmx.Change{c(1, 100)})
	h.Set(2, []dmx.Change{c(1, 50)})
	h.TakeChanged()
	h.Release(2)
	if cs := h.TakeChanged(); !cs.Empty() {
		t.Errorf("releasing a lower layer is a change")
	}
	h.Release(1)
	if cs := h.TakeChanged(); cs.Len() != 1 || !cs.Has(0) {
		t.Errorf("releasing the top layer: %d changes, want channel 1", cs.Len())
	}
}

func TestChannelSet(t *testing.T) {
	tests := []struct {
		name string
		add  []int
	}{
		{"empty", nil},
		{"first", []int{0}},
		{"last", []int{511}},
		{"word edges", []int{63, 64, 127, 128, 0, 511}},
		{"duplicates", []int{5, 5, 5}},
		{"all", func() []int {
			var a []int
			for i := range dmx.Slots {
				a = append(a, i)
			}
			return a
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s dmx.ChannelSet
			want := map[int]bool{}
			for _, i := range tt.add {
				s.Add(i)
				want[i] = true
			}
			if s.Len() != len(want) || s.Empty() != (len(want) == 0) {
				t.Errorf("Len %d Empty %v, want %d", s.Len(), s.Empty(), len(want))
			}
			for i := range dmx.Slots {
				if s.Has(i) != want[i] {
					t.Errorf("Has(%d) = %v", i, s.Has(i))
				}
			}
			var got []int
			s.Each(func(i int) { got = append(got, i) })
			if !slices.IsSorted(got) || len(got) != len(want) {
				t.Errorf("Each gave %v", got)
			}
			for _, i := range got {
				if !want[i] {
					t.Errorf("Each gave %d, never added", i)
				}
			}
		})
	}
}

func TestParseMerge(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want dmx.Merge
		ok   bool
	}{
		{"ltp", dmx.LTP, true}, {"htp", dmx.HTP, true},
		{"", 0, false}, {"LTP", 0, false}, {"max", 0, false}, {" htp", 0, false},
	} {
		m, err := dmx.ParseMerge(tt.in)
		if (err == nil) != tt.ok || (tt.ok && m != tt.want) {
			t.Errorf("ParseMerge(%q) = %v, %v", tt.in, m, err)
		}
		if tt.ok && m.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", m, m.String(), tt.in)
		}
	}
}

// TestMixerHTPMatchesHighestLayer drives an HTP mixer with random sets
// and releases from a few sources (the base layer's restored levels
// included) and checks every merged level against the highest of the
// layers kept here, after every step: the merged level is kept up to date
// without a full look at every layer where a set cannot lower it.
func TestMixerHTPMatchesHighestLayer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := dmx.NewMixer(dmx.HTP)
	var restored dmx.Frame
	for i := range 8 {
		restored[i] = uint8(rng.IntN(256))
	}
	m.Load(&restored)
	layers := map[dmx.Source]*dmx.Frame{dmx.BaseSource: &restored}
	for step := range 20000 {
		src := dmx.Source(1 + rng.IntN(4))
		if rng.IntN(20) == 0 {
			m.Release(src)
			delete(layers, src)
		} else {
			l := layers[src]
			if l == nil {
				l = &dmx.Frame{}
				layers[src] = l
			}
			ch := rng.IntN(8)
			v := uint8(rng.IntN(256))
			m.Set(src, []dmx.Change{{Channel: uint16(ch + 1), Level: v}})
			// A desk that takes a channel takes the restored level over.
			if b := layers[dmx.BaseSource]; b[ch] != 0 {
				if l[ch] < b[ch] {
					l[ch] = b[ch]
				}
				b[ch] = 0
			}
			l[ch] = v
		}
		for ch := range 8 {
			var want uint8
			for _, l := range layers {
				want = max(want, l[ch])
			}
			if got := m.Levels()[ch]; got != want {
				t.Fatalf("step %d: channel %d merged %d, want %d (the highest layer)", step, ch+1, got, want)
			}
		}
	}
}

package dmx

import (
	"testing"
	"time"
)

// BenchmarkAppendEnttecFrame encodes one label 6 message into a reused buffer.
func BenchmarkAppendEnttecFrame(b *testing.B) {
	var f Frame
	for i := range f {
		f[i] = byte(i)
	}
	buf := make([]byte, 0, EnttecFrameSize)
	b.SetBytes(EnttecFrameSize)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEnttecFrame(buf[:0], &f)
	}
}

// BenchmarkMixer covers merge: setting channels, stepping with and
// without fades, and releasing an HTP layer.
func BenchmarkMixer(b *testing.B) {
	one := []Change{{Channel: 1, Level: 255}}
	many := make([]Change, 64)
	for i := range many {
		many[i] = Change{Channel: uint16(1 + i*8), Level: uint8(i)}
	}
	for _, mode := range []Merge{LTP, HTP} {
		b.Run(mode.String()+"/Set1", func(b *testing.B) {
			m := NewMixer(mode)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				one[0].Level = uint8(i)
				m.Set(Source(1+i%8), one)
			}
		})
		b.Run(mode.String()+"/Set64", func(b *testing.B) {
			m := NewMixer(mode)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				m.Set(Source(1+i%8), many)
			}
		})
		b.Run(mode.String()+"/StepIdle", func(b *testing.B) {
			m := NewMixer(mode)
			m.Set(1, many)
			m.TakeChanged()
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				m.Step(now)
				m.TakeChanged()
			}
		})
		b.Run(mode.String()+"/Step64Fades", func(b *testing.B) {
			m := NewMixer(mode)
			start := time.Now()
			m.Fade(1, many, 1000*time.Hour, start)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				m.Step(start.Add(time.Duration(i) * time.Millisecond))
				m.TakeChanged()
			}
		})
	}
	b.Run("htp/Release", func(b *testing.B) {
		m := NewMixer(HTP)
		for s := Source(1); s <= 8; s++ {
			m.Set(s, many)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			src := Source(9 + i)
			m.Set(src, one)
			m.Release(src)
		}
	})
}

// TestFrameWorkAllocatesNothing asserts that the per-frame work of this
// package allocates nothing.
func TestFrameWorkAllocatesNothing(t *testing.T) {
	var f Frame
	buf := make([]byte, 0, EnttecFrameSize)
	mixer := NewMixer(HTP)
	mixer.Set(1, []Change{{Channel: 1, Level: 9}})
	mixer.Set(2, []Change{{Channel: 2, Level: 9}})
	mixer.TakeChanged()
	now := time.Now()
	cases := []struct {
		name string
		fn   func()
	}{
		{"AppendEnttecFrame into a reused buffer", func() { buf = AppendEnttecFrame(buf[:0], &f) }},
		{"Mixer.Step without fades", func() { mixer.Step(now); _ = mixer.TakeChanged() }},
		{"Mixer.Levels copy", func() { f = *mixer.Levels() }},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(1000, c.fn); n != 0 {
			t.Errorf("%s: %v allocations per frame, want 0", c.name, n)
		}
	}
}

package harness

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/test/testkit"
)

// frameLog records every frame decoded on the ptys of one universe (one
// pty after another across replugs) and the intervals in which the device
// was plugged in and dmxd running: frames must flow steadily inside them.
type frameLog struct {
	universe int
	mu       sync.Mutex
	frames   []testkit.Frame
	marks    []mark
	wg       sync.WaitGroup
}

// mark opens (up) or closes (!up) a plugged-in interval at a moment.
type mark struct {
	at time.Time
	up bool
}

// source is a device whose frames a frameLog follows.
type source interface {
	Frames() <-chan testkit.Frame
	Done() <-chan struct{}
}

// follow records the frames of p until it is unplugged.
func (l *frameLog) follow(p source) {
	l.wg.Add(1)
	record := func(f testkit.Frame) {
		l.mu.Lock()
		l.frames = append(l.frames, f)
		l.mu.Unlock()
	}
	go func() {
		defer l.wg.Done()
		for {
			select {
			case f := <-p.Frames():
				record(f)
			case <-p.Done():
				for { // what was decoded before the unplug
					select {
					case f := <-p.Frames():
						record(f)
					default:
						return
					}
				}
			}
		}
	}()
}

// up marks that the device is plugged in and dmxd running from at.
func (l *frameLog) up(at time.Time) { l.mark(mark{at: at, up: true}) }

// down marks the end of a plugged-in interval.
func (l *frameLog) down(at time.Time) { l.mark(mark{at: at}) }

func (l *frameLog) mark(m mark) {
	l.mu.Lock()
	l.marks = append(l.marks, m)
	l.mu.Unlock()
}

// firstAfter polls for the first frame that arrived after t.
func (l *frameLog) firstAfter(t time.Time, timeout time.Duration) (testkit.Frame, error) {
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		for i := len(l.frames) - 1; i >= 0 && l.frames[i].At.After(t); i-- {
			if i == 0 || !l.frames[i-1].At.After(t) {
				f := l.frames[i]
				l.mu.Unlock()
				return f, nil
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			return testkit.Frame{}, fmt.Errorf("universe %d: no frame within %v", l.universe, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// latest returns the last frame recorded, if any.
func (l *frameLog) latest() (testkit.Frame, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.frames) == 0 {
		return testkit.Frame{}, false
	}
	return l.frames[len(l.frames)-1], true
}

// carrying polls for the first frame that arrived after t with slot ch
// (1-based) at v. dark reports whether a blacked-out frame (every slot 0)
// arrived after t before it: the level was then held back by a blackout,
// and the wait for it measures that, not dmxd's delay. Frames of a
// universe arrive in time order, so the first one after t is searched.
func (l *frameLog) carrying(t time.Time, ch int, v uint8, timeout time.Duration) (f testkit.Frame, dark bool, err error) {
	deadline := time.Now().Add(timeout)
	i := -1
	for {
		l.mu.Lock()
		if i < 0 {
			i = sort.Search(len(l.frames), func(k int) bool { return l.frames[k].At.After(t) })
		}
		for ; i < len(l.frames); i++ {
			switch {
			case l.frames[i].Values[ch-1] == v:
				f = l.frames[i]
				l.mu.Unlock()
				return f, dark, nil
			case l.frames[i].Values == dmx.Frame{}:
				dark = true
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			return testkit.Frame{}, dark, fmt.Errorf("universe %d: no frame with channel %d at %d within %v", l.universe, ch, v, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// gapAt is one gap between frames, for the summary.
type gapAt struct {
	gap  time.Duration
	at   time.Time
	next []time.Time
}

// burstSpacing is how close the frame after a gap must follow it for the
// two to have been read at once: frames written a period apart that reach
// the recorder together were held up on the way.
const burstSpacing = 2 * time.Millisecond

// analyse measures every plugged-in interval: frames per whole 1-second
// window from its first frame, and gaps between consecutive frames.
//
// A gap over maxGap is a violation, except a late delivery: when dmxd
// timed none of its own writes of this universe over the bound in the
// whole run (writerLate == 0), the gap is at most twice the bound and the
// next frame follows it within burstSpacing, the frames were written on
// time and held up between dmxd and the recorder — in a pty, by the
// kernel worker thread that hands a write to the reader, which a USB
// adapter does not need. Those are counted in LateDeliveries instead.
func (l *frameLog) analyse(st *stats, minFrames int, maxGap time.Duration, writerLate int) (out OutputStats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out = OutputStats{Universe: l.universe, Frames: len(l.frames), MinWindowFrames: -1}
	var worst []gapAt
	defer func() {
		slices.SortFunc(worst, func(a, b gapAt) int { return cmp.Compare(b.gap, a.gap) })
		for _, g := range worst[:min(3, len(worst))] {
			var next []string
			for k := 1; k < len(g.next); k++ {
				next = append(next, g.next[k].Sub(g.next[k-1]).Round(100*time.Microsecond).String())
			}
			out.WorstGaps = append(out.WorstGaps, fmt.Sprintf("%v at %s, then %s", g.gap.Round(100*time.Microsecond), g.at.Format("15:04:05.000"), strings.Join(next, " ")))
		}
	}()
	for i := 0; i < len(l.marks); i++ {
		if !l.marks[i].up {
			continue
		}
		start := l.marks[i].at
		end := time.Time{}
		if i+1 < len(l.marks) && !l.marks[i+1].up {
			end = l.marks[i+1].at
		}
		if end.IsZero() {
			st.violate("universe %d: plugged-in interval from %s never closed", l.universe, start.Format("15:04:05.000"))
			continue
		}
		var in []time.Time
		for _, f := range l.frames {
			if !f.At.Before(start) && !f.At.After(end) {
				in = append(in, f.At)
			}
		}
		if len(in) == 0 {
			st.violate("universe %d: no frame between %s and %s", l.universe, start.Format("15:04:05.000"), end.Format("15:04:05.000"))
			continue
		}
		for j := 1; j < len(in); j++ {
			gap := in[j].Sub(in[j-1])
			if gap > out.MaxGap {
				out.MaxGap = gap
			}
			if gap > maxGap {
				worst = append(worst, gapAt{gap, in[j-1], in[j:min(j+4, len(in))]})
				// The spacing of the next frames tells a late writer (normal
				// spacing) from a late reader (a burst read at once).
				var next []string
				for k := j + 1; k < len(in) && k <= j+3; k++ {
					next = append(next, in[k].Sub(in[k-1]).Round(100*time.Microsecond).String())
				}
				burst := j+1 < len(in) && in[j+1].Sub(in[j]) < burstSpacing
				if writerLate == 0 && burst && gap <= 2*maxGap {
					out.LateDeliveries++
					continue
				}
				st.violate("universe %d: %v without a frame at %s (bound %v; then %s)", l.universe, gap.Round(100*time.Microsecond), in[j-1].Format("15:04:05.000"), maxGap.Round(100*time.Microsecond), strings.Join(next, " "))
			}
		}
		j := 0
		for w := in[0]; !w.Add(time.Second).After(end); w = w.Add(time.Second) {
			n := 0
			for j < len(in) && in[j].Before(w) {
				j++
			}
			for k := j; k < len(in) && in[k].Before(w.Add(time.Second)); k++ {
				n++
			}
			out.Windows++
			if out.MinWindowFrames < 0 || n < out.MinWindowFrames {
				out.MinWindowFrames = n
			}
			if n < minFrames {
				st.violate("universe %d: %d frames in the second from %s (want ≥ %d)", l.universe, n, w.Format("15:04:05.000"), minFrames)
			}
		}
	}
	return out
}

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
// and the wait for it measures that, not dmxd's delay. A level that never
// shows before timeout while a blackout came after t is reported as dark
// too, without an error: the blackout can last until a newer level has
// replaced it (the flood probe changes its channel twice a second, and a
// blackout lasts up to half a second plus its switch-off's answer).
// Frames of a universe arrive in time order, so the first one after t is
// searched.
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
			if dark {
				return testkit.Frame{}, true, nil
			}
			return testkit.Frame{}, false, fmt.Errorf("universe %d: no frame with channel %d at %d within %v", l.universe, ch, v, timeout)
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

// analyse checks arrival at the recorder over every plugged-in interval:
// the gaps between consecutive frames and the frames in each whole
// 1-second window from the interval's first frame. Gaps over maxGap and
// windows under minFrames are counted and reported; a gap over
// arrivalMaxGap (a freeze anyone would see) is a violation. Whether dmxd
// wrote on time is the writer-timing check, from dmxd's own clock (see
// harness.checkWriterTiming): a frame written on time can reach the
// recorder late, held up in the pty's kernel worker thread of normal
// priority on a loaded machine, which a USB adapter does not have, and
// neither check hides the other.
func (l *frameLog) analyse(st *stats, minFrames int, maxGap, arrivalMaxGap time.Duration) (out OutputStats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out = OutputStats{Universe: l.universe, Frames: len(l.frames), MinWindowFrames: -1, ArrivalMaxGap: arrivalMaxGap}
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
			st.violate("arrival: universe %d: no frame between %s and %s", l.universe, start.Format("15:04:05.000"), end.Format("15:04:05.000"))
			continue
		}
		for j := 1; j < len(in); j++ {
			gap := in[j].Sub(in[j-1])
			out.MaxGap = max(out.MaxGap, gap)
			if gap <= maxGap {
				continue
			}
			out.ArrivalLate++
			worst = append(worst, gapAt{gap, in[j-1], in[j:min(j+4, len(in))]})
			if gap > arrivalMaxGap {
				// The spacing of the next frames tells a late writer (normal
				// spacing) from a late reader (a burst read at once).
				var next []string
				for k := j + 1; k < len(in) && k <= j+3; k++ {
					next = append(next, in[k].Sub(in[k-1]).Round(100*time.Microsecond).String())
				}
				st.violate("arrival: universe %d: %v without a frame at the recorder from %s (arrival bound %v; then %s)", l.universe, gap.Round(100*time.Microsecond), in[j-1].Format("15:04:05.000"), arrivalMaxGap, strings.Join(next, " "))
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
				out.ShortWindows++
			}
		}
	}
	return out
}

package harness

import (
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// TestAnalyseArrival: at the recorder, a gap over the gap bound is counted
// and reported, a gap over the arrival bound is a violation, and so is a
// plugged-in interval without frames; whether dmxd wrote on time is not
// analyse's to judge (see TestWriterTiming).
func TestAnalyseArrival(t *testing.T) {
	const period = 22727 * time.Microsecond
	const bound = 2 * period
	const arrival = 250 * time.Millisecond
	cases := []struct {
		name       string
		delay      time.Duration // the late frame's delay past its period
		burst      bool          // the next frame follows the late one at once
		violations int
		late       int
	}{
		{"on time", 0, false, 0, 0},
		{"held up on the way", 35 * time.Millisecond, true, 0, 1},
		{"written late", 35 * time.Millisecond, false, 0, 1},
		{"over the arrival bound", arrival, true, 1, 1},
		{"written late over the arrival bound", arrival, false, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			l := &frameLog{universe: 1}
			l.marks = []mark{{at: start, up: true}, {at: start.Add(4 * time.Second)}}
			for i := range 170 {
				at := start.Add(time.Duration(i+1) * period)
				switch {
				case c.burst && i == 60: // held up on the way...
					at = at.Add(c.delay)
				case c.burst && i == 61: // ...and delivered with the next one
					at = start.Add(61 * period).Add(c.delay + 100*time.Microsecond)
				case !c.burst && i >= 60: // written late: the schedule restarts from it
					at = at.Add(c.delay)
				}
				l.frames = append(l.frames, testkit.Frame{At: at})
			}
			st := newStats()
			out := l.analyse(st, 30, bound, arrival)
			if st.nviol != c.violations || out.ArrivalLate != c.late {
				t.Errorf("%d violations and %d late arrivals, want %d and %d (max gap %v, %v)", st.nviol, out.ArrivalLate, c.violations, c.late, out.MaxGap, st.violations)
			}
		})
	}
	t.Run("no frame", func(t *testing.T) {
		start := time.Unix(1000, 0)
		l := &frameLog{universe: 1, marks: []mark{{at: start, up: true}, {at: start.Add(time.Second)}}}
		st := newStats()
		l.analyse(st, 30, bound, arrival)
		if st.nviol != 1 {
			t.Errorf("%d violations, want 1", st.nviol)
		}
	})
}

// TestWriterTiming: a frame the refresh loop started late, or histograms
// that could not be read, fail the writer-timing check whatever the
// recorder saw; an interval a slow write (the device) made long is
// reported only.
func TestWriterTiming(t *testing.T) {
	for _, c := range []struct {
		name             string
		late, loop, viol int
	}{
		{"on time", 0, 0, 0},
		{"held by the device", 2, 0, 0},
		{"loop late", 1, 1, 1},
		{"interval histogram unread", -1, 0, 1},
		{"wait histogram unread", 0, -1, 1},
	} {
		h := &harness{st: newStats(), cfg: DefaultConfig(), writerLate: map[int]int{2: c.late}, loopLate: map[int]int{2: c.loop}}
		h.checkWriterTiming(2)
		if h.st.nviol != c.viol {
			t.Errorf("%s (late %d, loop %d): %d violations, want %d", c.name, c.late, c.loop, h.st.nviol, c.viol)
		}
	}
}

package harness

import (
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// TestAnalyseTellsLateDeliveriesFromLateFrames: a gap over the bound is a
// violation unless dmxd timed all its writes on schedule and the frames
// after the gap arrived in a burst (written on time, delivered late), and
// even then not when the gap is over twice the bound.
func TestAnalyseTellsLateDeliveriesFromLateFrames(t *testing.T) {
	const period = 22727 * time.Microsecond
	const bound = 2 * period
	cases := []struct {
		name       string
		gap        time.Duration // the late frame's delay past its period
		burst      bool          // the next frame follows the late one at once
		writerLate int
		violations int
		late       int
	}{
		{"on time", 0, false, 0, 0, 0},
		{"late delivery", 35 * time.Millisecond, true, 0, 0, 1},
		{"late delivery, dmxd late elsewhere", 35 * time.Millisecond, true, 1, 1, 0},
		{"late delivery, dmxd timing unknown", 35 * time.Millisecond, true, -1, 1, 0},
		{"late frame, no burst", 35 * time.Millisecond, false, 0, 1, 0},
		{"late delivery over twice the bound", 2 * bound, true, 0, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			l := &frameLog{universe: 1}
			l.marks = []mark{{at: start, up: true}, {at: start.Add(3 * time.Second)}}
			for i := range 130 {
				at := start.Add(time.Duration(i+1) * period)
				switch {
				case c.burst && i == 60: // held up on the way...
					at = at.Add(c.gap)
				case c.burst && i == 61: // ...and delivered with the next one
					at = start.Add(61 * period).Add(c.gap + 100*time.Microsecond)
				case !c.burst && i >= 60: // written late: the schedule restarts from it
					at = at.Add(c.gap)
				}
				l.frames = append(l.frames, testkit.Frame{At: at})
			}
			st := newStats()
			out := l.analyse(st, 30, bound, c.writerLate)
			if st.nviol != c.violations || out.LateDeliveries != c.late {
				t.Errorf("%d violations and %d late deliveries, want %d and %d (max gap %v, %v)", st.nviol, out.LateDeliveries, c.violations, c.late, out.MaxGap, st.violations)
			}
		})
	}
}

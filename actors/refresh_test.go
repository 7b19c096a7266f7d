package actors

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors/metrics"
	"github.com/dmxd/dmxd/dmx"
)

// TestWriterRefreshesWhenTheUniverseIsLate: with no new frame coming, the
// writer keeps re-sending the last one, and a new frame replaces it.
func TestWriterRefreshesWhenTheUniverseIsLate(t *testing.T) {
	drv := newRecordingDriver(time.Millisecond)
	pool := newFramePool()
	w := newWriter(drv, pool, 20*time.Millisecond, metrics.New().Output(1, drv.Name()), zerolog.Nop())
	w.report = func(writerEvent) {}
	go w.run()
	defer func() { close(w.stop); <-w.done }()

	f := pool.get()
	f.frame = dmx.Frame{0: 7}
	w.put(f)
	// Nobody puts another frame: the same levels keep going out.
	for range 3 {
		drv.waitFrame(t, "channel 1 at 7", func(f *dmx.Frame) bool { return f[0] == 7 })
	}
	g := pool.get()
	g.frame = dmx.Frame{0: 9}
	w.put(g)
	drv.waitFrame(t, "channel 1 at 9", func(f *dmx.Frame) bool { return f[0] == 9 })
	for range 3 {
		drv.waitFrame(t, "channel 1 still at 9", func(f *dmx.Frame) bool {
			if f[0] != 9 {
				t.Fatalf("refresh sent channel 1 = %d after 9 was written", f[0])
			}
			return true
		})
	}
}

package actors

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/dmx"
)

// TestWriterRefreshesWhenTheUniverseIsLate: with no new frame coming, the
// writer keeps re-sending the last one on its device (a real pipe), and a
// new frame replaces it.
func TestWriterRefreshesWhenTheUniverseIsLate(t *testing.T) {
	drv := newRecordingDriver(time.Millisecond)
	w, err := newWriter(drv, 20*time.Millisecond, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	w.report = func(writerEvent) {}
	go w.run()
	defer func() { w.loop.Stop(); close(w.stop); <-w.done }()

	publish := func(level byte) {
		f := dmx.Frame{0: level}
		w.loop.Publish(f[:], true)
	}
	publish(7)
	// Nobody publishes another frame: the same levels keep going out.
	for range 3 {
		drv.waitFrame(t, "channel 1 at 7", func(f *dmx.Frame) bool { return f[0] == 7 })
	}
	publish(9)
	drv.waitFrame(t, "channel 1 at 9", func(f *dmx.Frame) bool { return f[0] == 9 })
	for range 3 {
		drv.waitFrame(t, "channel 1 still at 9", func(f *dmx.Frame) bool {
			if f[0] != 9 {
				t.Fatalf("refresh sent channel 1 = %d after 9 was written", f[0])
			}
			return true
		})
	}
	if s := w.loop.Stats(); s.Refreshes < 4 {
		t.Errorf("refreshes counted: %d, want ≥ 4 (%+v)", s.Refreshes, s)
	}
}

// TestReopenBackoff: reopen attempts start at once, back off from 100 ms
// and never wait more than maxRetry, so that a replugged device is written
// to within a second however long it was out (and the protocol's 5 s
// bound holds).
func TestReopenBackoff(t *testing.T) {
	want := []time.Duration{100, 200, 400, 750, 750, 750}
	d := time.Duration(0)
	for i, w := range want {
		d = nextBackoff(d)
		if d != w*time.Millisecond {
			t.Fatalf("attempt %d: backoff %v, want %v", i+1, d, w*time.Millisecond)
		}
	}
}

package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// enttecMinGap is the enttec-pro driver's minimum gap between frames
// (dmx.EnttecPro.MinGap), the bound a flood of changes must respect.
const enttecMinGap = 5 * time.Millisecond

// TestFloodNeverRaisesFrameRateAboveMinGap floods dmxd (no rate limit) with
// changes from two desks and counts the frames on the pty over a window:
// early frames go out (more than the 44 Hz refresh), but never more than
// one per minGap.
func TestFloodNeverRaisesFrameRateAboveMinGap(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path, "--conn-rate", "0")
	desks := []*testkit.Desk{dial(t, p), dial(t, p)}
	watcher := dial(t, p)
	var updates []time.Time
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			m, err := watcher.Next(5 * time.Second)
			if err != nil {
				return
			}
			if m.Type == "update" {
				updates = append(updates, time.Now())
			}
		}
	}()
	if _, err := pty.WaitFrame(5*time.Second, func(testkit.Frame) bool { return true }); err != nil {
		t.Fatalf("no frame before the flood: %v", err)
	}

	stop := make(chan struct{})
	errs := make(chan error, len(desks))
	for i, d := range desks {
		go func() {
			// Read and drop the updates so that dmxd never closes us as slow.
			go func() {
				for {
					if _, _, err := d.Conn.ReadMessage(); err != nil {
						return
					}
				}
			}()
			for n := 0; ; n++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				msg := fmt.Sprintf(`{"dmx": {"%d": %d}}`, i+1, n%256)
				if err := d.Send(msg); err != nil {
					errs <- err
					return
				}
			}
		}()
	}

	// Let the flood settle, then count frames over a window.
	time.Sleep(200 * time.Millisecond)
	pty.Drain()
	const window = 2 * time.Second
	first, err := pty.WaitFrame(time.Second, func(testkit.Frame) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		f, err := pty.WaitFrame(time.Second, func(testkit.Frame) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		if f.At.Sub(first.At) > window {
			break
		}
		n++
	}
	close(stop)
	for range desks {
		if err := <-errs; err != nil {
			t.Fatalf("flood: %v", err)
		}
	}

	hz := float64(n) / window.Seconds()
	maxFrames := int(window/enttecMinGap) + 2 // +2: frames at the window's edges
	if n > maxFrames {
		t.Errorf("%d frames in %v (%.0f Hz) under a flood, want at most %d (1/minGap = %v)", n, window, hz, maxFrames, enttecMinGap)
	}
	// Sanity: early frames go out at all (well above the 44 Hz refresh).
	if hz < 60 {
		t.Errorf("%.0f frames/s under a flood, want early frames above the 44 Hz refresh", hz)
	}
	t.Logf("%d frames in %v under a flood: %.0f Hz (limit %.0f Hz)", n, window, hz, 1/enttecMinGap.Seconds())

	// Updates stay at most one per refresh period, however many frames.
	_ = watcher.Conn.Close()
	<-watched
	in := 0
	for _, u := range updates {
		if !u.Before(first.At) && u.Sub(first.At) <= window {
			in++
		}
	}
	if maxUpdates := int(window/framePeriod) + 2; in > maxUpdates || in == 0 {
		t.Errorf("%d updates in %v under a flood, want 1..%d (one per 1/rate)", in, window, maxUpdates)
	}
}

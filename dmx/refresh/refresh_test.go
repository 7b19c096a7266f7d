package refresh_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/dmx/refresh"
	"github.com/dmxd/dmxd/test/testkit"
)

// waitTimeout bounds every wait; what the tests wait for normally happens
// within a few frames.
const waitTimeout = 5 * time.Second

// pipeDevice is a real pipe: the loop writes 512-byte frames to its write
// end and a goroutine hands every frame read from the other end to frames.
type pipeDevice struct {
	w      *os.File
	frames chan dmx.Frame
}

func newPipeDevice(t *testing.T) *pipeDevice {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &pipeDevice{w: w, frames: make(chan dmx.Frame, 4096)}
	go func() {
		defer r.Close()
		var f dmx.Frame
		for {
			if _, err := io.ReadFull(r, f[:]); err != nil {
				close(d.frames)
				return
			}
			d.frames <- f
		}
	}()
	return d
}

// next returns the next frame the loop wrote.
func (d *pipeDevice) next(t *testing.T) dmx.Frame {
	t.Helper()
	select {
	case f, ok := <-d.frames:
		if !ok {
			t.Fatal("the device was closed")
		}
		return f
	case <-time.After(waitTimeout):
		t.Fatalf("no frame within %v", waitTimeout)
	}
	return dmx.Frame{}
}

// start runs l on dev in a goroutine; the returned channel gets Run's error.
func start(l *refresh.Loop, dev refresh.Device) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.Run(dev) }()
	return done
}

// ended waits for Run's result.
func ended(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("Run did not return within %v", waitTimeout)
	}
	return nil
}

// loops runs test once for each loop built in: the C loop (where it is)
// and the Go loop; portable is the Config.Portable that picks it.
func loops(t *testing.T, test func(t *testing.T, portable bool)) {
	for _, c := range []struct {
		name     string
		portable bool
	}{{"c", false}, {"go", true}} {
		t.Run(c.name, func(t *testing.T) {
			if !c.portable && !refresh.NativeLoop {
				t.Skip("the C loop is not built in (needs Linux and cgo)")
			}
			test(t, c.portable)
		})
	}
}

// newLoop allocates a loop for cfg, the Go loop when portable.
func newLoop(t *testing.T, portable bool, cfg refresh.Config) *refresh.Loop {
	t.Helper()
	cfg.Portable = portable
	l, err := refresh.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func frameAt(level byte) dmx.Frame { return dmx.Frame{0: level, 511: level} }

func publish(l *refresh.Loop, level byte, changed bool) {
	f := frameAt(level)
	l.Publish(f[:], changed)
}

// TestRefreshKeepsSendingTheNewestFrame: without new frames the loop
// re-sends the last one every period; a new one replaces it.
func TestRefreshKeepsSendingTheNewestFrame(t *testing.T) {
	loops(t, testRefreshKeepsSendingTheNewestFrame)
}

func testRefreshKeepsSendingTheNewestFrame(t *testing.T, portable bool) {
	l := newLoop(t, portable, refresh.Config{Period: 10 * time.Millisecond, MinGap: time.Millisecond})
	defer l.Free()
	d := newPipeDevice(t)
	publish(l, 7, false)
	done := start(l, d.w)
	for range 5 {
		if f := d.next(t); f != frameAt(7) {
			t.Fatalf("got channel 1 = %d, want 7", f[0])
		}
	}
	publish(l, 9, false)
	for d.next(t) != frameAt(9) {
	}
	for range 3 {
		if f := d.next(t); f != frameAt(9) {
			t.Fatalf("after 9 was written, channel 1 = %d", f[0])
		}
	}
	l.Stop()
	if err := ended(t, done); err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
	s := l.Stats()
	if s.Published != 2 || s.Frames < 9 || s.Refreshes != s.Frames-2 {
		t.Errorf("stats %+v: want 2 published, ≥ 9 frames, all but 2 of them refreshes", s)
	}
	var n int
	l.Intervals(func(ft refresh.FrameTiming) {
		n++
		if ft.Interval <= 0 || ft.Wait <= 0 || ft.Wait >= ft.Interval || ft.Late < 0 || ft.Late >= ft.Interval {
			t.Errorf("%+v: want 0 < wait < interval and 0 ≤ late < interval", ft)
		}
	})
	if n < 8 {
		t.Errorf("%d intervals observed, want ≥ 8", n)
	}
}

// TestChangedFramesGoOutEarlyButNoFasterThanMinGap: with a period far
// longer than the test, changed frames still go out, never closer than the
// minimum gap, and the last one is always written. Frames published within
// one gap coalesce: the loop writes the newest, never an older one after
// it, and no more frames than the gap allows in the time the test took.
func TestChangedFramesGoOutEarlyButNoFasterThanMinGap(t *testing.T) {
	loops(t, testChangedFramesGoOutEarlyButNoFasterThanMinGap)
}

func testChangedFramesGoOutEarlyButNoFasterThanMinGap(t *testing.T, portable bool) {
	const gap = 30 * time.Millisecond
	l := newLoop(t, portable, refresh.Config{Period: time.Hour, MinGap: gap})
	defer l.Free()
	d := newPipeDevice(t)
	done := start(l, d.w)
	t0 := time.Now()
	for level := range byte(20) {
		publish(l, level+1, true)
		time.Sleep(2 * time.Millisecond)
	}
	var levels []byte
	for {
		f := d.next(t)
		if len(levels) > 0 && f[0] <= levels[len(levels)-1] {
			t.Fatalf("frame %d written after %d: levels %v", f[0], levels[len(levels)-1], levels)
		}
		levels = append(levels, f[0])
		if f[0] == 20 {
			break
		}
	}
	elapsed := time.Since(t0)
	l.Intervals(func(ft refresh.FrameTiming) {
		if d := ft.Interval; d < gap {
			t.Errorf("two frames %v apart, want ≥ %v", d, gap)
		}
	})
	// Every frame starts at least a gap after the previous one, within
	// elapsed: a slow machine only loosens the bound.
	if most := 1 + int(elapsed/gap); len(levels) > most {
		t.Errorf("%d frames read in %v (of %d published), want at most %d", len(levels), elapsed, l.Stats().Published, most)
	}
	l.Stop()
	if err := ended(t, done); err != nil {
		t.Fatal(err)
	}
}

// TestStopWritesTheNewestFrame: Stop sends the newest frame once more,
// even one the schedule would have sent an hour later, and a Run that
// starts after Stop does only that.
func TestStopWritesTheNewestFrame(t *testing.T) { loops(t, testStopWritesTheNewestFrame) }

func testStopWritesTheNewestFrame(t *testing.T, portable bool) {
	l := newLoop(t, portable, refresh.Config{Period: time.Hour, MinGap: time.Millisecond})
	defer l.Free()
	d := newPipeDevice(t)
	for level := range byte(10) {
		publish(l, level+1, false) // only the newest survives
	}
	done := start(l, d.w)
	if f := d.next(t); f != frameAt(10) {
		t.Fatalf("first frame has channel 1 = %d, want the newest, 10", f[0])
	}
	publish(l, 11, false) // unchanged: due in an hour
	l.Stop()
	if err := ended(t, done); err != nil {
		t.Fatal(err)
	}
	if f := d.next(t); f != frameAt(11) {
		t.Fatalf("final frame has channel 1 = %d, want 11", f[0])
	}
	if err := l.Run(d.w); err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
	if f := d.next(t); f != frameAt(11) {
		t.Fatalf("Run after Stop wrote channel 1 = %d, want 11", f[0])
	}
	if s := l.Stats(); s.Frames != 3 {
		t.Errorf("%d frames counted, want 3 (the first, and the final frame of each Run)", s.Frames)
	}
}

// TestDriversOnPTY runs the real drivers on a pseudo-terminal and
// decodes the bytes on the master. A pty shows no
// break on the line, but the break and drain ioctls run against a real
// kernel tty, and the loop measures how long it held the line in break
// and then in mark: at least what it was asked, and nothing for a driver
// that makes no break.
func TestDriversOnPTY(t *testing.T) { loops(t, testDriversOnPTY) }

func testDriversOnPTY(t *testing.T, portable bool) {
	cases := []struct {
		drv    func(path string) dmx.Driver
		newPTY func() (*testkit.PTY, error)
	}{
		{func(p string) dmx.Driver { return dmx.EnttecPro{Path: p} }, testkit.NewPTY},
		{func(p string) dmx.Driver { return dmx.OpenDMX{Path: p} }, testkit.NewRawPTY},
	}
	for _, c := range cases {
		p, err := c.newPTY()
		if err != nil {
			t.Fatal(err)
		}
		drv := c.drv(p.Path)
		t.Run(drv.Name(), func(t *testing.T) {
			defer p.Close()
			dev, err := drv.Open()
			if err != nil {
				t.Fatalf("open %s: %v", p.Path, err)
			}
			defer dev.Close()
			l := newLoop(t, portable, refresh.Config{Period: 20 * time.Millisecond, MinGap: drv.MinGap(), Break: drv.Break(), MarkAfterBreak: drv.MarkAfterBreak()})
			defer l.Free()
			done := start(l, dev)
			var buf []byte
			for n := range 3 {
				var f dmx.Frame
				f[0], f[1], f[511] = 0x7E, byte(n), 0xE7
				buf = drv.AppendFrame(buf[:0], &f)
				l.Publish(buf, true)
				if _, err := p.WaitFrame(waitTimeout, func(got testkit.Frame) bool { return got.Values == f }); err != nil {
					t.Fatalf("frame %d: %v (Run: %v)", n, err, l.Stats())
				}
			}
			l.Stop()
			if err := ended(t, done); err != nil {
				t.Fatalf("Run: %v", err)
			}
			s := l.Stats()
			if drv.Break() == 0 && (s.LastBreak != 0 || s.LastMarkAfterBreak != 0) {
				t.Errorf("no break asked, but the loop held one of %v and a mark of %v", s.LastBreak, s.LastMarkAfterBreak)
			}
			if s.LastBreak < drv.Break() || s.LastMarkAfterBreak < drv.MarkAfterBreak() {
				t.Errorf("the last break held the line %v and the mark %v, want at least %v and %v",
					s.LastBreak, s.LastMarkAfterBreak, drv.Break(), drv.MarkAfterBreak())
			}
			t.Logf("%s: last break %v, mark after break %v", drv.Name(), s.LastBreak, s.LastMarkAfterBreak)
		})
	}
}

// TestRunReportsAPulledDevice: when the device goes away (the pty's master
// closes, as a USB adapter's tty does when pulled), Run returns a write
// error with the errno.
func TestRunReportsAPulledDevice(t *testing.T) { loops(t, testRunReportsAPulledDevice) }

func testRunReportsAPulledDevice(t *testing.T, portable bool) {
	p, err := testkit.NewPTY()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := dmx.EnttecPro{Path: p.Path}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	l := newLoop(t, portable, refresh.Config{Period: 5 * time.Millisecond, MinGap: time.Millisecond})
	defer l.Free()
	buf := dmx.AppendEnttecFrame(nil, &dmx.Frame{})
	l.Publish(buf, true)
	done := start(l, dev)
	if _, err := p.WaitFrame(waitTimeout, func(testkit.Frame) bool { return true }); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	err = ended(t, done)
	var op *refresh.OpError
	if !errors.As(err, &op) || op.Op != "write" || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Run returned %v, want a write error with EIO", err)
	}
}

// stalledLoop runs a loop, on a pty that nobody reads, whose first frame
// is first, until a write is blocked mid-frame (Busy grows). The pty and
// the loop are freed when the test ends; the channel gets Run's result.
func stalledLoop(t *testing.T, portable bool, first dmx.Frame) (*testkit.PTY, *refresh.Loop, <-chan error) {
	t.Helper()
	p, err := testkit.NewStalledPTY()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	dev, err := dmx.EnttecPro{Path: p.Path}.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	l := newLoop(t, portable, refresh.Config{Period: time.Millisecond, MinGap: time.Millisecond})
	l.Publish(dmx.AppendEnttecFrame(nil, &first), true)
	// Run's result, then closed: the cleanup can wait for Run whether or
	// not the test has read it.
	done := make(chan error, 1)
	go func() {
		done <- l.Run(dev)
		close(done)
	}()
	t.Cleanup(func() {
		l.Stop()
		<-done
		l.Free()
	})
	deadline := time.Now().Add(waitTimeout)
	for l.Busy() < 50*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("the write never stalled: %+v", l.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	return p, l, done
}

// TestStopEndsAStalledWrite: a device that takes no data blocks the
// frame under way (Busy grows), and Stop still ends Run.
func TestStopEndsAStalledWrite(t *testing.T) { loops(t, testStopEndsAStalledWrite) }

func testStopEndsAStalledWrite(t *testing.T, portable bool) {
	_, l, done := stalledLoop(t, portable, dmx.Frame{})
	l.Stop()
	if err := ended(t, done); err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
	if b := l.Busy(); b != 0 {
		t.Errorf("Busy after Run returned: %v", b)
	}
}

// TestNewRefusesABadSchedule covers New's argument check.
func TestNewRefusesABadSchedule(t *testing.T) { loops(t, testNewRefusesABadSchedule) }

func testNewRefusesABadSchedule(t *testing.T, portable bool) {
	for _, cfg := range []refresh.Config{{}, {Period: -1}, {Period: time.Second, MinGap: -1}, {Period: time.Second, Break: -1}, {Period: time.Second, MarkAfterBreak: -1}} {
		if l, err := refresh.New(refresh.Config{Period: cfg.Period, MinGap: cfg.MinGap, Break: cfg.Break, MarkAfterBreak: cfg.MarkAfterBreak, Portable: portable}); err == nil {
			l.Free()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// BenchmarkPublish measures handing one encoded frame to the loop.
func BenchmarkPublish(b *testing.B) {
	benchLoops(b, func(b *testing.B, portable bool) {
		l, err := refresh.New(refresh.Config{Period: time.Second, MinGap: time.Millisecond, Portable: portable})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Free()
		buf := dmx.AppendEnttecFrame(nil, &dmx.Frame{})
		b.ReportAllocs()
		for b.Loop() {
			l.Publish(buf, false)
		}
	})
}

// benchLoops runs bench for each loop built in, as loops does for tests.
func benchLoops(b *testing.B, bench func(b *testing.B, portable bool)) {
	for _, c := range []struct {
		name     string
		portable bool
	}{{"c", false}, {"go", true}} {
		b.Run(c.name, func(b *testing.B) {
			if !c.portable && !refresh.NativeLoop {
				b.Skip("the C loop is not built in (needs Linux and cgo)")
			}
			bench(b, c.portable)
		})
	}
}

// BenchmarkInterval runs a loop at 44 Hz on a pipe, one frame interval
// an iteration (-benchtime 440x is 10 s), and reports how far the
// intervals between frame starts strayed from the period: the median,
// the 99th percentile and the largest deviation, in microseconds. The
// loop runs at the benchmark's priority, without the writer's
// LockOSThread and real-time priority.
func BenchmarkInterval(b *testing.B) {
	benchLoops(b, func(b *testing.B, portable bool) {
		const period = time.Second / 44
		l, err := refresh.New(refresh.Config{Period: period, MinGap: time.Millisecond, Portable: portable})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Free()
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		publish(l, 1, false)
		done := start(l, w)
		var f dmx.Frame
		var devs []time.Duration
		for b.Loop() {
			if _, err := io.ReadFull(r, f[:]); err != nil {
				b.Fatal(err)
			}
			l.Intervals(func(ft refresh.FrameTiming) { devs = append(devs, (ft.Interval - period).Abs()) })
		}
		l.Stop()
		_, _ = io.ReadFull(r, f[:]) // the final frame
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if len(devs) == 0 {
			return
		}
		slices.Sort(devs)
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
		b.ReportMetric(us(devs[len(devs)/2]), "p50-µs")
		b.ReportMetric(us(devs[len(devs)*99/100]), "p99-µs")
		b.ReportMetric(us(devs[len(devs)-1]), "max-µs")
		b.ReportMetric(0, "ns/op")
	})
}

// TestStopMidFrameLeavesWholeMessages: a stop that comes while a frame
// is half written (the device took part of it and then nothing) finishes
// that frame once the device takes data again, and then writes the
// newest frame: the device sees whole label 6 messages only, never half
// of one followed by another.
func TestStopMidFrameLeavesWholeMessages(t *testing.T) { loops(t, testStopMidFrameLeavesWholeMessages) }

func testStopMidFrameLeavesWholeMessages(t *testing.T, portable bool) {
	old, newest := dmx.Frame{0: 1}, dmx.Frame{0: 2}
	p, l, done := stalledLoop(t, portable, old)
	l.Publish(dmx.AppendEnttecFrame(nil, &newest), true)
	l.Stop()
	p.Resume() // the device takes data again, within the final frame's wait
	if err := ended(t, done); err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
	last, err := p.WaitFrame(waitTimeout, func(f testkit.Frame) bool { return f.Values[0] == newest[0] })
	if err != nil {
		t.Fatalf("the newest frame never arrived: %v", err)
	}
	if last.Values != newest {
		t.Fatalf("last frame %v…, want the newest", last.Values[:4])
	}
	// Everything written is read by now: the newest frame was the last.
	bytes, frames := p.Stream()
	if bytes != frames*dmx.EnttecFrameSize {
		t.Errorf("the device read %d bytes and %d whole messages (%d bytes): a message was cut", bytes, frames, frames*dmx.EnttecFrameSize)
	}
	if s := l.Stats(); s.Frames != uint64(frames) {
		t.Errorf("the loop counted %d frames written, the device read %d", s.Frames, frames)
	}
}

// TestWaitLeavesOutTheWrite: a frame whose write a full device held up
// for 50 ms or more is followed by an interval of which the loop's own wait
// leaves that write out.
func TestWaitLeavesOutTheWrite(t *testing.T) { loops(t, testWaitLeavesOutTheWrite) }

func testWaitLeavesOutTheWrite(t *testing.T, portable bool) {
	const held = 50 * time.Millisecond // stalledLoop's Busy, at least
	p, l, _ := stalledLoop(t, portable, frameAt(1))
	p.Resume()
	deadline := time.Now().Add(waitTimeout)
	var seen []string
	for {
		found := false
		l.Intervals(func(ft refresh.FrameTiming) {
			if ft.Wait <= 0 || ft.Wait > ft.Interval {
				t.Errorf("%+v: want 0 < wait ≤ interval", ft)
			}
			found = found || ft.Interval-ft.Wait >= held
			seen = append(seen, fmt.Sprintf("%v/%v", ft.Interval, ft.Wait))
		})
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no interval whose write took ≥ %v; intervals/waits: %v", held, seen)
		}
		time.Sleep(time.Millisecond)
	}
}

package refresh

import (
	"errors"
	"io"
	"sync/atomic"
	"time"
)

// Go loop timing.
const (
	// spinBelow: Go's timers wake a sleep shorter than a millisecond only
	// after about a millisecond (measured here: 1.1 ms for a 100 µs
	// sleep), so shorter holds of the line (the break and the mark after
	// it, 100 µs and 20 µs on Open DMX) spin on the clock instead.
	spinBelow = time.Millisecond
	// stopCheck is how often a write that waits for a full device looks
	// for a Stop.
	stopCheck = 10 * time.Millisecond
	// finalWrite bounds the final frame's wait for a full device at stop,
	// each time the device takes nothing (as the C loop's finalWriteMs).
	finalWrite = time.Second
)

// errGaveUp is writeFrame's own: stopped, and the device took no byte of
// the frame under way for finalWrite. Run reports it as a stop.
var errGaveUp = errors.New("stopped: the device takes no data")

// goBuf is one of the triple buffer's frames.
type goBuf struct {
	b [MaxFrame]byte
	n int
}

// goLoop is the loop in Go, for every platform: the same schedule and
// triple buffer as the C loop (loop.c), on a goroutine.
type goLoop struct {
	cfg  Config
	base time.Time // the loop's clock: nanoseconds since base, always > 0

	bufs  [3]goBuf
	mid   atomic.Uint32 // the middle buffer's index, | fresh when the loop has not taken it
	back  uint32        // the producer's buffer
	front uint32        // the loop's buffer: the frame it writes

	change   atomic.Bool   // a changed frame was published and not written yet
	changeAt atomic.Int64  // clock when the publish that raised change did
	stopped  atomic.Bool   // Stop was called
	kick     chan struct{} // wakes the loop: a change or a stop (capacity 1)

	// The loop's own state; it survives a reopen of the device.
	has   bool // front holds a frame
	fresh bool // front has not been written yet
	timer *time.Timer

	// Statistics, read at any time.
	published, frames, refreshes atomic.Uint64
	busySince                    atomic.Int64           // clock when the frame under way started, 0 when idle
	lastBreak, lastMAB           atomic.Int64           // ns the last break and mark after break lasted, at least
	ring, ringWait, ringLate     [ringSize]atomic.Int64 // see Intervals
	ringW                        atomic.Uint64          // intervals ever written into ring
	ringR                        uint64                 // intervals Intervals has read
}

// fresh marks the middle buffer as not yet taken by the loop.
const freshBit = 4

func newGoLoop(cfg Config) *goLoop {
	l := &goLoop{
		cfg: cfg,
		// A nanosecond before now, so that the clock is never 0, which
		// busySince keeps for "idle".
		base:  time.Now().Add(-time.Nanosecond),
		back:  0,
		front: 2,
		kick:  make(chan struct{}, 1),
	}
	l.mid.Store(1)
	return l
}

func (l *goLoop) now() int64 { return int64(time.Since(l.base)) }

func (l *goLoop) free() {
	if l.timer != nil {
		l.timer.Stop()
	}
}

func (l *goLoop) wake() {
	select {
	case l.kick <- struct{}{}:
	default: // a wake-up is pending already
	}
}

func (l *goLoop) publish(frame []byte, changed bool) {
	b := &l.bufs[l.back]
	b.n = copy(b.b[:], frame)
	old := l.mid.Swap(l.back | freshBit)
	l.back = old &^ freshBit
	l.published.Add(1)
	// Only the change that raises the flag wakes the loop: the flag stays
	// up until the loop writes, so a flood of publishes between two
	// frames costs one wake-up, not one each.
	if changed && !l.change.Swap(true) {
		l.changeAt.Store(l.now()) // see loop.c's dmx_loop_publish
		l.wake()
	}
}

func (l *goLoop) stop() {
	l.stopped.Store(true)
	l.wake()
}

func (l *goLoop) busy() time.Duration {
	b := l.busySince.Load()
	if b == 0 {
		return 0
	}
	return time.Duration(l.now() - b)
}

func (l *goLoop) stats() Stats {
	return Stats{
		Published:          l.published.Load(),
		Frames:             l.frames.Load(),
		Refreshes:          l.refreshes.Load(),
		LastBreak:          time.Duration(l.lastBreak.Load()),
		LastMarkAfterBreak: time.Duration(l.lastMAB.Load()),
	}
}

func (l *goLoop) intervals(fn func(FrameTiming)) {
	w := l.ringW.Load()
	if w-l.ringR > ringSize {
		l.ringR = w - ringSize // older ones were overwritten
	}
	for ; l.ringR < w; l.ringR++ {
		i := l.ringR % ringSize
		fn(FrameTiming{Interval: time.Duration(l.ring[i].Load()), Wait: time.Duration(l.ringWait[i].Load()), Late: time.Duration(l.ringLate[i].Load())})
	}
}

// take makes the newest published frame the loop's own.
func (l *goLoop) take() {
	if l.mid.Load()&freshBit == 0 {
		return
	}
	old := l.mid.Swap(l.front)
	l.front = old &^ freshBit
	l.has, l.fresh = true, true
}

// wait waits at most d for a wake-up and consumes it.
func (l *goLoop) wait(d time.Duration) {
	if l.timer == nil {
		l.timer = time.NewTimer(d)
	} else {
		l.timer.Reset(d)
	}
	select {
	case <-l.kick:
	case <-l.timer.C:
	}
}

// countFrame counts a frame written, and a refresh when it repeated one.
func (l *goLoop) countFrame() {
	l.frames.Add(1)
	if !l.fresh {
		l.refreshes.Add(1)
	}
	l.fresh = false
}

// port is how the Go loop writes to one opened device: through its file
// descriptor (fdPort, Linux and macOS) or its Write method (writerPort).
type port interface {
	// write writes p whole. A full device is waited for; a Stop during
	// that wait, or final, waits at most finalWrite each time the device
	// takes nothing, and then returns errGaveUp. Failures are *OpError.
	write(l *goLoop, p []byte, final bool) error
	// lineBreak drains the line and holds it in break, then in mark, and
	// records both in l's statistics. Failures are *OpError.
	lineBreak(l *goLoop) error
}

func (l *goLoop) run(dev Device) error {
	p, err := openPort(dev, l.cfg.Break > 0)
	if err != nil {
		return &OpError{Op: "setup", Err: err}
	}
	period, gap := int64(l.cfg.Period), int64(l.cfg.MinGap)
	var last int64    // start of the last frame written to dev
	var lastEnd int64 // when writing it ended
	due := l.now()    // the schedule: a (re)opened device gets the newest frame at once
	for {
		l.take()
		if l.stopped.Load() {
			if !l.has {
				return nil
			}
			err := l.writeFrame(p, true)
			if err == nil {
				l.countFrame()
			}
			if err == errGaveUp {
				return nil
			}
			return err
		}
		now := l.now()
		if !l.has {
			l.wait(l.cfg.Period)
			continue
		}
		// A changed frame waits to go out before due. The flag stays up
		// until the frame is written.
		at := due
		ready := due // when the frame could have started: for its lateness
		if l.change.Load() {
			e := now
			if last != 0 {
				e = last + gap
			}
			at = min(at, e)
			ready = min(ready, max(e, l.changeAt.Load()))
		}
		if now < at {
			l.wait(time.Duration(at - now))
			continue
		}

		// Lower the flag, then take the newest frame: Publish raises the
		// flag after the frame is in the middle buffer, so a change
		// published from here on is either taken now or wakes the loop
		// for one more frame.
		l.change.Store(false)
		l.take()
		start := l.now()
		l.busySince.Store(start)
		err := l.writeFrame(p, false)
		l.busySince.Store(0)
		if err == errGaveUp {
			return nil // stopped during a stalled write
		}
		if err != nil {
			return err
		}

		now = l.now()
		l.countFrame()
		if last != 0 {
			w := l.ringW.Load()
			l.ring[w%ringSize].Store(start - last)
			l.ringWait[w%ringSize].Store(start - lastEnd)
			l.ringLate[w%ringSize].Store(max(start-ready, 0))
			l.ringW.Store(w + 1)
		}
		last, lastEnd = start, now
		// The next frame is due a period after this one was due (an
		// absolute schedule, no drift), or a period after an early frame,
		// or a period from now after a stall.
		if at < due {
			due = start
		}
		due += period
		if due < now {
			due = now + period
		}
	}
}

// writeFrame writes the loop's frame, whole, after a break if the
// schedule has one: a device must only ever see whole messages.
func (l *goLoop) writeFrame(p port, final bool) error {
	if l.cfg.Break > 0 {
		if err := p.lineBreak(l); err != nil {
			return err
		}
	}
	b := &l.bufs[l.front]
	return p.write(l, b.b[:b.n], final)
}

// hold waits d without a wake-up: for the break and the mark after it.
func hold(d time.Duration) {
	if d >= spinBelow {
		time.Sleep(d)
		return
	}
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

// breaker is a device without a descriptor that can make a break itself
// (go.bug.st/serial's Port).
type breaker interface {
	Drain() error
	Break(time.Duration) error
}

// errNoBreak is the setup error of a schedule with breaks on a device
// that cannot make one.
var errNoBreak = errors.New("the device cannot hold the line in break")

// writerPort writes through the device's Write method, which blocks as
// long as the device does: a Stop cannot end a stalled write.
type writerPort struct{ w io.Writer }

// newWriterPort returns the port for a device without a descriptor.
func newWriterPort(dev Device, breaks bool) (port, error) {
	if _, ok := dev.(breaker); breaks && !ok {
		return nil, errNoBreak
	}
	return writerPort{w: dev}, nil
}

func (p writerPort) write(_ *goLoop, b []byte, _ bool) error {
	for off := 0; off < len(b); {
		n, err := p.w.Write(b[off:])
		off += n
		if err != nil {
			return &OpError{Op: "write", Err: err}
		}
		if n == 0 {
			return &OpError{Op: "write", Err: io.ErrShortWrite}
		}
	}
	return nil
}

func (p writerPort) lineBreak(l *goLoop) error {
	br := p.w.(breaker) // checked by newWriterPort
	if err := br.Drain(); err != nil {
		return &OpError{Op: "drain", Err: err}
	}
	brk := l.now()
	if err := br.Break(l.cfg.Break); err != nil {
		return &OpError{Op: "break", Err: err}
	}
	mark := l.now()
	if l.cfg.MarkAfterBreak > 0 {
		hold(l.cfg.MarkAfterBreak)
	}
	l.lastMAB.Store(l.now() - mark)
	l.lastBreak.Store(mark - brk)
	return nil
}

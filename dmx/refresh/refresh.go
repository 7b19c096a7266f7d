// Package refresh is an output's refresh loop: it writes the newest frame
// to a device every period, and a changed frame as soon as the device's
// minimum gap allows.
//
// There are two loops with one behaviour. On Linux with cgo the loop is C
// code running on the calling goroutine's OS thread for as long as Run
// lasts, so it never waits for the Go scheduler: with thousands of busy
// connection goroutines on two cores, a goroutine that wakes up for its
// frame can wait tens of milliseconds for a processor, while an OS thread
// of raised priority that sleeps in the kernel and writes without
// returning to Go is on time. Everywhere else (and with Config.Portable)
// the loop is Go code, built for every platform: its frames are as
// punctual as the Go scheduler lets them be (NativeLoop says which loop
// New picks). Go keeps everything that is not time-critical: opening,
// reopening with backoff, encoding, health and metrics.
//
// Frames pass from Publish to the loop through a triple buffer: neither
// side ever waits for the other, and the loop always takes the newest.
//
// Concurrency: Publish and Stop belong to one producer goroutine at a
// time, Run to one writer goroutine; Stats and Busy may be called from
// anywhere, Intervals from one goroutine at a time.
package refresh

import (
	"fmt"
	"io"
	"time"
)

// Sizes of a loop.
const (
	// MaxFrame is the largest encoded frame Publish takes, in bytes.
	MaxFrame = 1024
	// ringSize is how many intervals between frame starts a loop keeps
	// for Intervals.
	ringSize = 256
)

// Config is a loop's schedule.
type Config struct {
	// Period is the time between two refreshes (1/44 s at 44 Hz).
	Period time.Duration
	// MinGap is the shortest time between the starts of two frames: a
	// changed frame goes out early, but never sooner than this.
	MinGap time.Duration
	// Break, when not 0, is how long the line is held in break before
	// each frame, after the previous frame has drained (Open DMX).
	Break time.Duration
	// MarkAfterBreak is how long the line is then held in mark before
	// the frame's first byte (with a Break only).
	MarkAfterBreak time.Duration
	// Portable runs the Go loop even where the C loop is built in: for
	// an output that writes nowhere (it needs no thread of its own) and
	// for tests of the Go loop.
	Portable bool
}

// Device is what Run writes frames to. When it also has a file
// descriptor (a method Fd() uintptr) on a platform with one (Linux,
// macOS), the loop makes that descriptor non-blocking and writes to it
// directly, so that Stop can end a stalled write; otherwise it calls
// Write, which may block as long as the device does (Windows). Breaks
// need the descriptor, or else methods Drain() error and
// Break(time.Duration) error (go.bug.st/serial's Port has both).
type Device interface {
	io.Writer
}

// Loop is one output's refresh loop. Publish and Stop belong to one
// producer goroutine at a time, Run to one writer goroutine; Stats and
// Busy may be called from anywhere.
type Loop struct{ e engine }

// engine is one implementation of the loop: the C loop (cLoop) or the Go
// loop (goLoop). Each method is the Loop method of the same name.
type engine interface {
	publish(frame []byte, changed bool)
	stop()
	run(dev Device) error
	stats() Stats
	busy() time.Duration
	intervals(fn func(FrameTiming))
	free()
}

// New allocates a loop: the C loop where it is built in (NativeLoop)
// unless cfg.Portable, the Go loop otherwise.
func New(cfg Config) (*Loop, error) {
	if cfg.Period <= 0 || cfg.MinGap < 0 || cfg.Break < 0 || cfg.MarkAfterBreak < 0 {
		return nil, fmt.Errorf("refresh loop: bad schedule %+v", cfg)
	}
	if NativeLoop && !cfg.Portable {
		e, err := newCLoop(cfg)
		if err != nil {
			return nil, fmt.Errorf("refresh loop: %w", err)
		}
		return &Loop{e: e}, nil
	}
	return &Loop{e: newGoLoop(cfg)}, nil
}

// Free releases the loop. Run must have returned, and no Publish, Stop,
// Stats or Busy may follow.
func (l *Loop) Free() { l.e.free() }

// Publish makes frame (encoded for the device) the newest one. A changed
// frame wakes the loop to go out as soon as the minimum gap allows; others
// go out on the schedule. It never blocks. Frames longer than MaxFrame are
// cut.
func (l *Loop) Publish(frame []byte, changed bool) {
	if len(frame) == 0 {
		return
	}
	l.e.publish(frame[:min(len(frame), MaxFrame)], changed)
}

// Stop asks Run to write the newest frame a last time and return nil. It
// also makes every later Run do just that.
func (l *Loop) Stop() { l.e.stop() }

// Run writes frames to dev until Stop, when it writes the newest frame
// once more and returns nil, or until the device fails, when it returns
// an *OpError. The C loop blocks the calling goroutine's thread for that
// long: lock the goroutine to its thread (runtime.LockOSThread) to give
// the thread a priority.
//
// The frame and the schedule survive a return: after a reopen, the next
// Run writes the newest frame at once.
func (l *Loop) Run(dev Device) error { return l.e.run(dev) }

// Stats returns the loop's counters.
func (l *Loop) Stats() Stats { return l.e.stats() }

// Busy returns how long the frame under way has been writing, 0 when the
// loop is not writing.
func (l *Loop) Busy() time.Duration { return l.e.busy() }

// Intervals calls fn with the timing of each frame written since the
// previous call (the last 256 at most; not the first frame after Run
// began). Only one goroutine at a time may call it.
func (l *Loop) Intervals(fn func(FrameTiming)) { l.e.intervals(fn) }

// FrameTiming is one frame's timing by the loop's own clock.
type FrameTiming struct {
	// Interval is the time from the previous frame's start to this one's.
	Interval time.Duration
	// Wait is the part of Interval after the previous frame's write had
	// ended: Interval is that write (as long as the device takes to
	// accept the bytes) and then the loop's own wait, which a late loop
	// lengthens.
	Wait time.Duration
	// Late is how long after it could go out the frame's write started:
	// after its due time for a refresh, after the later of its publish
	// and the minimum gap for a changed frame. It is the loop's wake-up
	// latency (its thread waiting for a CPU), at least 0.
	Late time.Duration
}

// OpError is why Run ended without a Stop.
type OpError struct {
	Op  string // "setup", "drain", "break", "write" or "poll"
	Err error  // a syscall.Errno for a file descriptor, else the device's error
}

func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }

func (e *OpError) Unwrap() error { return e.Err }

// Stats are a loop's counters since New.
type Stats struct {
	// Published is how many frames were published.
	Published uint64
	// Frames is how many frames were written.
	Frames uint64
	// Refreshes is how many of them repeated a frame already written,
	// because no newer one had been published.
	Refreshes uint64
	// LastBreak is how long the last break held the line, at least: from
	// the return of the call that began it to the call that ended it (0
	// without breaks). A device without a descriptor begins and ends the
	// break in one call (Break): then it is that call's duration.
	LastBreak time.Duration
	// LastMarkAfterBreak is how long the line stayed in mark after the
	// last break, at least: from the return of the call that ended the
	// break to the frame's first write.
	LastMarkAfterBreak time.Duration
}

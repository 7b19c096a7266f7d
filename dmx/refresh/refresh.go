// Package refresh is an output's refresh loop: it writes the newest frame
// to a device every period, and a changed frame as soon as the device's
// minimum gap allows.
//
// The loop is C code running on the calling goroutine's OS thread for as
// long as Run lasts, so it never waits for the Go scheduler: with
// thousands of busy connection goroutines on two cores, a goroutine that
// wakes up for its frame can wait tens of milliseconds for a processor,
// while an OS thread of raised priority that sleeps in the kernel and
// writes without returning to Go is on time. Go keeps everything that is
// not time-critical: opening, reopening with backoff, encoding, health and
// metrics.
//
// Frames pass from Publish to the loop through a triple buffer: neither
// side ever waits for the other, and the loop always takes the newest.
package refresh

/*
#cgo CFLAGS: -O2 -Wall -std=gnu11
#include "loop.h"
*/
import "C"

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

// MaxFrame is the largest encoded frame Publish takes, in bytes.
const MaxFrame = C.DMX_MAX_FRAME

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
}

// Loop is one output's refresh loop. Publish and Stop belong to one
// producer goroutine at a time, Run to one writer goroutine; Stats and
// Busy may be called from anywhere.
type Loop struct {
	l         *C.struct_dmx_loop
	intervals [64]C.int64_t
}

// New allocates a loop.
func New(cfg Config) (*Loop, error) {
	if cfg.Period <= 0 || cfg.MinGap < 0 || cfg.Break < 0 || cfg.MarkAfterBreak < 0 {
		return nil, fmt.Errorf("refresh loop: bad schedule %+v", cfg)
	}
	var errno C.int
	l := C.dmx_loop_new(C.int64_t(cfg.Period), C.int64_t(cfg.MinGap), C.int64_t(cfg.Break), C.int64_t(cfg.MarkAfterBreak), &errno)
	if l == nil {
		return nil, fmt.Errorf("refresh loop: %w", syscall.Errno(errno))
	}
	return &Loop{l: l}, nil
}

// Free releases the loop. Run must have returned, and no Publish, Stop,
// Stats or Busy may follow.
func (l *Loop) Free() {
	C.dmx_loop_free(l.l)
	l.l = nil
}

// Publish makes frame (encoded for the device) the newest one. A changed
// frame wakes the loop to go out as soon as the minimum gap allows; others
// go out on the schedule. It never blocks. Frames longer than MaxFrame are
// cut.
func (l *Loop) Publish(frame []byte, changed bool) {
	if len(frame) == 0 {
		return
	}
	ch := C.int(0)
	if changed {
		ch = 1
	}
	C.dmx_loop_publish(l.l, (*C.uint8_t)(unsafe.Pointer(&frame[0])), C.uint32_t(min(len(frame), MaxFrame)), ch)
}

// Stop asks Run to write the newest frame a last time and return nil. It
// also makes every later Run do just that.
func (l *Loop) Stop() { C.dmx_loop_stop(l.l) }

// OpError is why Run ended without a Stop.
type OpError struct {
	Op  string // "setup", "drain", "break", "write" or "poll"
	Err error  // a syscall.Errno
}

func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }

func (e *OpError) Unwrap() error { return e.Err }

// opName names what the loop was doing when it failed.
func opName(op C.int) string {
	switch op {
	case C.DMX_OP_SETUP:
		return "setup"
	case C.DMX_OP_DRAIN:
		return "drain"
	case C.DMX_OP_BREAK:
		return "break"
	case C.DMX_OP_WRITE:
		return "write"
	case C.DMX_OP_POLL:
		return "poll"
	}
	return fmt.Sprintf("op %d", int(op))
}

// Run writes frames to the open file descriptor fd (which it makes
// non-blocking) until Stop, when it writes the newest frame once more and
// returns nil, or until the device fails, when it returns an *OpError. It
// blocks the calling goroutine's thread for that long: lock the goroutine
// to its thread (runtime.LockOSThread) to give the thread a priority.
//
// The frame and the schedule survive a return: after a reopen, the next
// Run writes the newest frame at once.
func (l *Loop) Run(fd uintptr) error {
	var errno C.int
	op := C.dmx_loop_run(l.l, C.int(fd), &errno)
	if op == C.DMX_OP_STOPPED {
		return nil
	}
	return &OpError{Op: opName(op), Err: syscall.Errno(errno)}
}

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
	// the return of the ioctl that began it to the call of the one that
	// ended it (0 without breaks).
	LastBreak time.Duration
	// LastMarkAfterBreak is how long the line stayed in mark after the
	// last break, at least: from the return of the ioctl that ended the
	// break to the frame's first write.
	LastMarkAfterBreak time.Duration
}

// Stats returns the loop's counters.
func (l *Loop) Stats() Stats {
	s := C.dmx_loop_stats(l.l)
	return Stats{
		Published:          uint64(s.published),
		Frames:             uint64(s.frames),
		Refreshes:          uint64(s.refreshes),
		LastBreak:          time.Duration(s.last_break),
		LastMarkAfterBreak: time.Duration(s.last_mab),
	}
}

// Busy returns how long the frame under way has been writing, 0 when the
// loop is not writing.
func (l *Loop) Busy() time.Duration { return time.Duration(C.dmx_loop_busy(l.l)) }

// Intervals calls fn with each interval between two frame starts since
// the previous call (the last 256 at most). Only one goroutine at a time
// may call it.
func (l *Loop) Intervals(fn func(time.Duration)) {
	for {
		n := C.dmx_loop_intervals(l.l, &l.intervals[0], C.uint32_t(len(l.intervals)))
		for _, d := range l.intervals[:n] {
			fn(time.Duration(d))
		}
		if int(n) < len(l.intervals) {
			return
		}
	}
}

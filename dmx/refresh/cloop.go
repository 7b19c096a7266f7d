//go:build linux && cgo

package refresh

/*
#cgo CFLAGS: -O2 -Wall -std=gnu11
#include "loop.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

// NativeLoop reports whether the C loop is built in (Linux with cgo):
// New then picks it unless Config.Portable.
const NativeLoop = true

// The C side's sizes are the Go side's.
var (
	_ [MaxFrame - C.DMX_MAX_FRAME]struct{}
	_ [C.DMX_MAX_FRAME - MaxFrame]struct{}
	_ [ringSize - C.DMX_RING]struct{}
	_ [C.DMX_RING - ringSize]struct{}
)

// cLoop is the C loop (loop.c): it runs on the calling goroutine's OS
// thread, sleeps in the kernel and writes to the file descriptor without
// returning to Go.
type cLoop struct {
	l         *C.struct_dmx_loop
	intervalb [64]C.int64_t
	waitb     [64]C.int64_t
	lateb     [64]C.int64_t
}

func newCLoop(cfg Config) (*cLoop, error) {
	var errno C.int
	l := C.dmx_loop_new(C.int64_t(cfg.Period), C.int64_t(cfg.MinGap), C.int64_t(cfg.Break), C.int64_t(cfg.MarkAfterBreak), &errno)
	if l == nil {
		return nil, syscall.Errno(errno)
	}
	return &cLoop{l: l}, nil
}

func (l *cLoop) free() {
	C.dmx_loop_free(l.l)
	l.l = nil
}

func (l *cLoop) publish(frame []byte, changed bool) {
	ch := C.int(0)
	if changed {
		ch = 1
	}
	C.dmx_loop_publish(l.l, (*C.uint8_t)(unsafe.Pointer(&frame[0])), C.uint32_t(len(frame)), ch)
}

func (l *cLoop) stop() { C.dmx_loop_stop(l.l) }

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

// errNoFd is the C loop's answer to a device without a file descriptor.
var errNoFd = errors.New("the device has no file descriptor for the C loop")

func (l *cLoop) run(dev Device) error {
	fd, ok := dev.(interface{ Fd() uintptr })
	if !ok {
		return &OpError{Op: "setup", Err: errNoFd}
	}
	var errno C.int
	op := C.dmx_loop_run(l.l, C.int(fd.Fd()), &errno)
	if op == C.DMX_OP_STOPPED {
		return nil
	}
	return &OpError{Op: opName(op), Err: syscall.Errno(errno)}
}

func (l *cLoop) stats() Stats {
	s := C.dmx_loop_stats(l.l)
	return Stats{
		Published:          uint64(s.published),
		Frames:             uint64(s.frames),
		Refreshes:          uint64(s.refreshes),
		LastBreak:          time.Duration(s.last_break),
		LastMarkAfterBreak: time.Duration(s.last_mab),
	}
}

func (l *cLoop) busy() time.Duration { return time.Duration(C.dmx_loop_busy(l.l)) }

func (l *cLoop) intervals(fn func(FrameTiming)) {
	for {
		n := C.dmx_loop_intervals(l.l, &l.intervalb[0], &l.waitb[0], &l.lateb[0], C.uint32_t(len(l.intervalb)))
		for i, d := range l.intervalb[:n] {
			fn(FrameTiming{Interval: time.Duration(d), Wait: time.Duration(l.waitb[i]), Late: time.Duration(l.lateb[i])})
		}
		if int(n) < len(l.intervalb) {
			return
		}
	}
}

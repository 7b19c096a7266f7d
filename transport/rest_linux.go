package transport

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// rester lets a fan-out worker rest (see fanoutRest) with its goroutine
// parked in Go's network poller on a timerfd: the processor is free for
// other goroutines at once (a desk's command, the universe), and when Go
// has nothing else to run, the thread sleeps in the kernel and the CPU is
// free for other threads and processes. The timer wakes to the
// microsecond: time.Sleep would wake a program with nothing else to do only
// to the millisecond (the poller's timeout), and sleeping in a system call
// (select, nanosleep) keeps the processor until Go's monitor takes it back,
// which cost `just chaos` its flood probe's bound.
//
// A rester belongs to one goroutine.
type rester struct {
	f  *os.File // the timerfd, pollable; its Fd is never called (that would make it blocking)
	fd int
}

// newRester returns a rester; nil if the system has no timerfd, and then
// rest falls back to time.Sleep.
func newRester() *rester {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	return &rester{f: os.NewFile(uintptr(fd), "fanout-rest"), fd: fd}
}

// rest parks the calling goroutine for d (a d of 0 or less returns at
// once: a zero timer would never fire).
func (r *rester) rest(d time.Duration) {
	if d <= 0 {
		return
	}
	if r != nil {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
		if unix.TimerfdSettime(r.fd, 0, &spec, nil) == nil {
			var expirations [8]byte
			if _, err := r.f.Read(expirations[:]); err == nil {
				return
			}
		}
	}
	time.Sleep(d)
}

// close releases the timer.
func (r *rester) close() {
	if r != nil {
		_ = r.f.Close()
	}
}

//go:build linux || darwin

package refresh

import (
	"time"

	"golang.org/x/sys/unix"
)

// fdPort writes to the device's file descriptor, made non-blocking, so
// that a write waiting for a full device sees a Stop.
type fdPort struct{ fd int }

// openPort returns the port for dev: its descriptor when it has one.
func openPort(dev Device, breaks bool) (port, error) {
	f, ok := dev.(interface{ Fd() uintptr })
	if !ok {
		return newWriterPort(dev, breaks)
	}
	fd := int(f.Fd())
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, err
	}
	return fdPort{fd: fd}, nil
}

func (p fdPort) write(l *goLoop, b []byte, final bool) error {
	var idle int64 // when a final write last saw the device take data, 0 before it waits
	for off := 0; off < len(b); {
		n, err := unix.Write(p.fd, b[off:])
		if n > 0 {
			off += n
			idle = 0
			continue
		}
		switch {
		case err == nil:
			return &OpError{Op: "write", Err: unix.EIO}
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return &OpError{Op: "write", Err: err}
		}
		// Stopped mid-frame: finish this frame as a final one.
		final = final || l.stopped.Load()
		wait := stopCheck
		if final {
			now := l.now()
			if idle == 0 {
				idle = now
			}
			wait = finalWrite - time.Duration(now-idle)
			if wait <= 0 {
				return errGaveUp // the device takes nothing: give up
			}
		}
		if err := waitWritable(p.fd, wait); err != nil {
			return err
		}
	}
	return nil
}

// ioctl runs a tty ioctl, again after an interrupted call.
func ioctl(fd int, req uint, arg int) error {
	for {
		err := unix.IoctlSetInt(fd, req, arg)
		if err != unix.EINTR {
			return err
		}
	}
}

// lineBreak holds the line in break for the schedule's Break, after the
// previous frame has left it, then in mark for MarkAfterBreak: the mark
// after break is held, not left to the time the write takes to start.
// Both durations are recorded as measured from the return of the ioctl
// that begins each to the call that ends it, a bound the line's own
// timing can only exceed.
func (p fdPort) lineBreak(l *goLoop) error {
	if err := drain(p.fd); err != nil {
		return &OpError{Op: "drain", Err: err}
	}
	if err := ioctl(p.fd, unix.TIOCSBRK, 0); err != nil {
		return &OpError{Op: "break", Err: err}
	}
	brk := l.now()
	hold(l.cfg.Break)
	brkEnd := l.now()
	if err := ioctl(p.fd, unix.TIOCCBRK, 0); err != nil {
		return &OpError{Op: "break", Err: err}
	}
	mark := l.now()
	if l.cfg.MarkAfterBreak > 0 {
		hold(l.cfg.MarkAfterBreak)
	}
	// The frame's first write follows: the mark lasts at least until now.
	l.lastMAB.Store(l.now() - mark)
	l.lastBreak.Store(brkEnd - brk)
	return nil
}

// ms is d in whole milliseconds, at least 1.
func ms(d time.Duration) int { return max(int(d/time.Millisecond), 1) }

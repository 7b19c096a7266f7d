package refresh

import (
	"time"

	"golang.org/x/sys/unix"
)

// drain waits until the device has sent everything written (tcdrain).
func drain(fd int) error { return ioctl(fd, unix.TCSBRK, 1) }

// waitWritable waits at most d for fd to take data again. A device that
// is gone is a write error, never a spin.
func waitWritable(fd int, d time.Duration) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(pfd, ms(d))
	switch {
	case err == unix.EINTR, n == 0:
		return nil
	case err != nil:
		return &OpError{Op: "poll", Err: err}
	case pfd[0].Revents&unix.POLLNVAL != 0:
		return &OpError{Op: "write", Err: unix.EBADF}
	case pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0:
		// Gone, though write said "try again".
		return &OpError{Op: "write", Err: unix.EIO}
	}
	return nil
}

//go:build linux || darwin

package dmx

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// tty is a serial device opened and configured here with termios, so
// that the refresh loop gets its file descriptor in the documented way.
type tty struct{ fd int }

// Fd returns the device's file descriptor.
func (t *tty) Fd() uintptr { return uintptr(t.fd) }

// Write writes p whole. It blocks on a full device until a refresh loop
// has run on the descriptor, which leaves it non-blocking: Write then
// returns EAGAIN instead.
func (t *tty) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := unix.Write(t.fd, p[n:])
		if k > 0 {
			n += k
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Close gives up the exclusive use and closes the descriptor.
func (t *tty) Close() error {
	_ = unix.IoctlSetInt(t.fd, unix.TIOCNXCL, 0)
	return unix.Close(t.fd)
}

// openSerial opens path at 250000 baud 8N2 in raw mode, without flow
// control, for this process alone (TIOCEXCL), as go.bug.st/serial did
// before. It never touches the modem status lines (their ioctls fail on
// ptys and some adapters).
func openSerial(path string) (Device, error) {
	// O_NONBLOCK: the open must not wait for a carrier.
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := configure(fd); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TIOCEXCL, 0); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("open %s: exclusive use: %w", path, err)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &tty{fd: fd}, nil
}

// makeRaw sets t to raw mode, 8N2, without flow control: bytes go out
// as written, and nothing the device sends is interpreted.
func makeRaw(t *unix.Termios) {
	t.Cflag |= unix.CREAD | unix.CLOCAL
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.PARODD | unix.CRTSCTS
	t.Cflag |= unix.CS8 | unix.CSTOPB
	t.Lflag &^= unix.ICANON | unix.ECHO | unix.ECHOE | unix.ECHOK | unix.ECHONL |
		unix.ECHOCTL | unix.ECHOPRT | unix.ECHOKE | unix.ISIG | unix.IEXTEN
	t.Iflag &^= unix.IXON | unix.IXOFF | unix.IXANY | unix.INPCK | unix.IGNPAR |
		unix.PARMRK | unix.ISTRIP | unix.IGNBRK | unix.BRKINT | unix.INLCR |
		unix.IGNCR | unix.ICRNL
	t.Oflag &^= unix.OPOST
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
}

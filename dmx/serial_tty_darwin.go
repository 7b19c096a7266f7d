package dmx

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// iossiospeed is IOKit's ioctl for a speed outside the B* table
// (IOSSIOSPEED in IOKit/serial/ioss.h), as go.bug.st/serial sends it;
// macOS takes it only after the other settings.
const iossiospeed = 0x80045402

// configure sets fd to raw 8N2, then to serialBaud.
func configure(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TIOCGETA)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	makeRaw(t)
	if err := unix.IoctlSetTermios(fd, unix.TIOCSETA, t); err != nil {
		return fmt.Errorf("set termios (8N2, raw): %w", err)
	}
	if err := unix.IoctlSetPointerInt(fd, iossiospeed, serialBaud); err != nil {
		return fmt.Errorf("set %d baud: %w", serialBaud, err)
	}
	return nil
}

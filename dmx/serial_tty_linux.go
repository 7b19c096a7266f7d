package dmx

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// configure sets fd to raw 8N2 at serialBaud, a speed outside the B*
// table: termios2 with BOTHER (see tcgets2).
func configure(fd int) error {
	t, err := unix.IoctlGetTermios(fd, tcgets2)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	makeRaw(t)
	t.Cflag &^= unix.CMSPAR
	t.Iflag &^= unix.IUCLC
	t.Cflag &^= unix.CBAUD
	t.Cflag |= unix.BOTHER
	t.Ispeed, t.Ospeed = serialBaud, serialBaud
	if err := unix.IoctlSetTermios(fd, tcsets2, t); err != nil {
		return fmt.Errorf("set termios (%d baud 8N2, raw): %w", serialBaud, err)
	}
	return nil
}

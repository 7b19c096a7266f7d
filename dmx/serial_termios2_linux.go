//go:build !ppc64 && !ppc64le

package dmx

import "golang.org/x/sys/unix"

// tcgets2 and tcsets2 read and write the termios that carries the line
// speed in numbers (struct termios2).
const (
	tcgets2 = unix.TCGETS2
	tcsets2 = unix.TCSETS2
)

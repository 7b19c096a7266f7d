//go:build linux && (ppc64 || ppc64le)

package dmx

import "golang.org/x/sys/unix"

// tcgets2 and tcsets2: on powerpc the ordinary termios carries the line
// speed in numbers already, and there is no TCGETS2.
const (
	tcgets2 = unix.TCGETS
	tcsets2 = unix.TCSETS
)

package refresh

import (
	"time"

	"golang.org/x/sys/unix"
)

// drain waits until the device has sent everything written (tcdrain).
func drain(fd int) error { return ioctl(fd, unix.TIOCDRAIN, 0) }

// fullRetry is how often a write to a full device is tried again on
// macOS, whose poll(2) does not support devices (its BUGS section) and
// whose select(2) takes no descriptor above 1023.
const fullRetry = time.Millisecond

// waitWritable waits fullRetry, or d when shorter: the next write finds
// out whether the device takes data again.
func waitWritable(_ int, d time.Duration) error {
	time.Sleep(min(d, fullRetry))
	return nil
}

//go:build unix

package transport

import "golang.org/x/sys/unix"

// rawIO says whether readNow and writeNow work here.
const rawIO = true

// readNow reads what the socket fd holds now into b, without waiting.
func readNow(fd uintptr, b []byte) (int, error) { return unix.Read(int(fd), b) }

// writeNow writes to the socket fd what its buffer takes now, without
// waiting: a full socket is (0, nil).
func writeNow(fd uintptr, b []byte) (int, error) {
	n, err := unix.Write(int(fd), b)
	if err == unix.EAGAIN {
		return 0, nil
	}
	return max(n, 0), err
}

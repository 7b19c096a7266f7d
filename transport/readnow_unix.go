//go:build unix

package transport

import "golang.org/x/sys/unix"

// readNow reads what the socket fd holds now into b, without waiting.
func readNow(fd uintptr, b []byte) (int, error) { return unix.Read(int(fd), b) }

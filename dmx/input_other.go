//go:build !unix

package dmx

import (
	"errors"
	"syscall"
)

// reuseControl sets nothing where x/sys/unix does not reach: the port
// must be free.
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }

// joinGroup is not supported on this system: sACN input takes unicast.
func joinGroup(syscall.Conn, [4]byte) error {
	return errors.New("multicast is not supported on this system")
}

//go:build unix

package dmx

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseControl sets SO_REUSEADDR and SO_REUSEPORT on a socket before it
// binds: olad binds 5568 and 6454, QLC+ *:6454, and dmxd must be able to
// listen beside them (each socket then gets the unicast datagrams of its
// own bound address, and every one of them multicast and broadcast).
func reuseControl(_, _ string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		if opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); opErr != nil {
			return
		}
		opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return opErr
}

// joinGroup joins the IPv4 multicast group g on the default interface.
func joinGroup(conn syscall.Conn, g [4]byte) error {
	return rawControl(conn, func(fd uintptr) error {
		return unix.SetsockoptIPMreq(int(fd), unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &unix.IPMreq{Multiaddr: g})
	})
}

package dmx

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"github.com/dmxd/dmxd/dmx/sacn"
)

// ListenInput opens the UDP socket of in, with address reuse (see
// reuseControl) so that dmxd can listen beside olad or QLC+ on the same
// computer. For sACN it joins the multicast group of every universe of
// in; the groups it could not join are returned as warnings (a loopback
// test or a host without a multicast route still gets unicast).
func ListenInput(in *Input) (*net.UDPConn, []error, error) {
	lc := net.ListenConfig{Control: reuseControl}
	pc, err := lc.ListenPacket(context.Background(), "udp4", in.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("input %s: listen %s: %w", in.Proto, in.Addr, err)
	}
	conn := pc.(*net.UDPConn)
	var warns []error
	if in.Proto == InputSACN {
		for _, n := range in.NetUniverses() {
			g := sacn.MulticastGroup(n)
			if err := joinGroup(conn, g); err != nil {
				warns = append(warns, fmt.Errorf("input sacn: join %v for universe %d: %w", net.IP(g[:]), n, err))
			}
		}
	}
	return conn, warns, nil
}

// rawControl runs fn on the socket's descriptor.
func rawControl(conn syscall.Conn, fn func(fd uintptr) error) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = fn(fd) }); err != nil {
		return err
	}
	return opErr
}

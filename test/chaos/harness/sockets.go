package harness

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
)

// serverHolds reports whether dmxd still holds the server side of the
// client connection whose local address is local: the socket from the
// server port to that client port exists in /proc/net/tcp with an inode
// (an orphaned socket, closed by dmxd while data drains, has inode 0).
// Only the server's side tells: a client that reads slowly sees the close
// only after everything queued before it.
func (h *harness) serverHolds(local net.Addr) (bool, error) {
	ta, ok := local.(*net.TCPAddr)
	if !ok {
		return false, fmt.Errorf("not a TCP address: %v", local)
	}
	_, port, err := net.SplitHostPort(h.proc.Load().Addr)
	if err != nil {
		return false, fmt.Errorf("server address: %w", err)
	}
	var sp int
	if _, err := fmt.Sscan(port, &sp); err != nil {
		return false, fmt.Errorf("server port %q: %w", port, err)
	}
	// 127.0.0.1 is 0100007F in /proc/net/tcp (little-endian hex).
	srv := fmt.Sprintf("0100007F:%04X", sp)
	cli := fmt.Sprintf("0100007F:%04X", ta.Port)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return false, fmt.Errorf("open /proc/net/tcp: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[1] != srv || fs[2] != cli {
			continue
		}
		return fs[9] != "0", nil
	}
	return false, sc.Err()
}

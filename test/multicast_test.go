package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSACNMulticastOutAndIn sends sACN by multicast through the kernel and
// takes it in again, in a network namespace the test creates (its
// loopback with multicast on and a route for 224.0.0.0/4), so nothing
// leaves the machine and the host's network is untouched. Universe 1's
// frames go out as sACN universe 7 to 239.255.0.7; the same dmxd's sACN
// input joins that group and takes sACN universe 7 into universe 2. A
// level set on universe 1 must show on universe 2, and a second change
// too (the source stays one source).
func TestSACNMulticastOutAndIn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	ns := fmt.Sprintf("dmxd-mcast-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	ip("-n", ns, "link", "set", "lo", "up", "multicast", "on")
	ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo")

	p := startDMXDUnder(t, "exec ip netns exec "+ns+` "$0" "$@"`,
		"--universes", "2", "--output", "1=sacn@7", "--input", "sacn:2=7")
	cli := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), cliBound)
		defer cancel()
		all := append([]string{"netns", "exec", ns, binary}, append(args, "--server", p.Addr)...)
		out, err := exec.CommandContext(ctx, "ip", all...).Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("dmxd %s: exit %d: %s", strings.Join(args, " "), exit.ExitCode(), exit.Stderr)
		}
		if err != nil {
			t.Fatalf("dmxd %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	roundTrips(t, cli, "universe 1's multicast sACN")
}

// TestArtNetOutToIn sends Art-Net from an output to an input of the same
// dmxd on 127.0.0.1: universe 1 goes out as port-address 5, and the input
// takes port-address 5 into universe 2.
func TestArtNetOutToIn(t *testing.T) {
	port := freeUDPPort(t)
	p := startDMXD(t, "--universes", "2",
		"--output", fmt.Sprintf("1=artnet:127.0.0.1:%d@5", port),
		"--input", fmt.Sprintf("artnet@127.0.0.1:%d:2=5", port))
	cli := func(args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(t, nil, append(args, "--server", p.Addr)...)
		if code != 0 {
			t.Fatalf("dmxd %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	roundTrips(t, cli, "universe 1's ArtDmx")
}

// roundTrips sets channels 1 and 2 of universe 1 twice, with cli running
// dmxd's commands, and waits each time for universe 2 to hold the same
// levels (what came back in over the network, named by what).
func roundTrips(t *testing.T, cli func(args ...string) string, what string) {
	t.Helper()
	for _, levels := range [][2]int{{255, 128}, {10, 20}} {
		cli("set", "--universe", "1", fmt.Sprintf("1=%d", levels[0]), fmt.Sprintf("2=%d", levels[1]))
		deadline := time.Now().Add(10 * time.Second) // a backstop, not a timing claim
		for {
			var got struct {
				Values []int `json:"values"`
			}
			out := cli("get", "--universe", "2", "--json")
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("get --json: %v: %s", err, out)
			}
			if len(got.Values) >= 2 && got.Values[0] == levels[0] && got.Values[1] == levels[1] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("universe 2 holds %v, want %v first: %s did not come back in", got.Values[:min(len(got.Values), 4)], levels, what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/test/testkit"
)

// The reference relay is the least a WebSocket server written in Go can
// do between a desk's command and the pty: the bench binary, re-executed
// with relayEnv set to a pty's slave path, accepts WebSocket connections
// on 127.0.0.1 and, on the goroutine that read each message, writes a
// frame carrying the probe channel's level to the pty with one blocking
// write(2). No actor, no second goroutine, no refresh loop, no minimum gap.
//
// Probed alternately with dmxd, by the same desk code, through a reader of
// the same kind, it shares with dmxd everything that is not dmxd: the
// bench's write, loopback TCP, Go's network poller waking a thread, the
// kernel's pty worker and the reader's wake. Its percentiles are the floor
// this machine puts under a Go WebSocket server at that moment; dmxd's
// minus the relay's is what dmxd adds.
const relayEnv = "DMXD_BENCH_RELAY"

// runRelayIfAsked runs the relay and exits when relayEnv is set.
func runRelayIfAsked() {
	path := os.Getenv(relayEnv)
	if path == "" {
		return
	}
	if err := runRelay(path); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runRelay serves until SIGTERM (Go's default handling ends the process)
// or a failure. It logs one JSON line with "listen", as dmxd does, so that
// testkit starts it like dmxd.
func runRelay(path string) error {
	dev, err := dmx.EnttecPro{Path: path}.Open()
	if err != nil {
		return err
	}
	defer dev.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	line, _ := json.Marshal(map[string]string{"listen": ln.Addr().String()})
	fmt.Fprintln(os.Stderr, string(line))
	r := &relayServer{dev: dev, failed: make(chan error, 1)}
	go func() { r.failed <- http.Serve(ln, r) }()
	return <-r.failed
}

// relayServer writes the probe channel's level of every message it reads
// to dev. Each connection has a frame of its own; the bench connects one.
type relayServer struct {
	dev    dmx.Device
	failed chan error
}

var relayUpgrader = websocket.Upgrader{ReadBufferSize: clientBufferSize, WriteBufferSize: clientBufferSize}

func (r *relayServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	c, err := relayUpgrader.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	defer c.Close()
	var frame dmx.Frame
	buf := make([]byte, 0, dmx.EnttecFrameSize)
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return // the desk left
		}
		level, err := probeLevel(msg)
		if err != nil {
			r.fail(err)
			return
		}
		frame[probeChannel-1] = level
		buf = dmx.AppendEnttecFrame(buf[:0], &frame)
		if _, err := r.dev.Write(buf); err != nil {
			r.fail(fmt.Errorf("write pty: %w", err))
			return
		}
	}
}

func (r *relayServer) fail(err error) {
	select {
	case r.failed <- err:
	default:
	}
}

// probeKey is how the probe desk's command names the probe channel.
var probeKey = []byte(`"` + strconv.Itoa(probeChannel) + `":`)

// probeLevel reads the level the probe desk's command gives the probe
// channel: {"dmx":{"512":N}…}.
func probeLevel(msg []byte) (byte, error) {
	i := bytes.Index(msg, probeKey)
	if i < 0 {
		return 0, fmt.Errorf("no channel %d in %q", probeChannel, msg)
	}
	rest := msg[i+len(probeKey):]
	end := bytes.IndexAny(rest, ",}")
	if end < 0 {
		return 0, fmt.Errorf("no level in %q", msg)
	}
	v, err := strconv.Atoi(string(rest[:end]))
	if err != nil || v < 0 || v > maxLevel {
		return 0, fmt.Errorf("bad level in %q", msg)
	}
	return byte(v), nil
}

// relay is the reference relay of a latency run, seen from the bench: its
// process, the probe desk connected to it and its pty's frames.
type relay struct {
	proc   *testkit.Process
	desk   *probeDesk
	log    *frameLog
	unplug func() error
}

// startRelay starts the relay on a new pty read at normal priority, as
// universe 2's is, and connects a probe desk to it.
func startRelay() (*relay, error) {
	dev, err := testkit.StartNormalDevice("")
	if err != nil {
		return nil, err
	}
	r := &relay{log: newFrameLog(dev.Frames(), probeChannel), unplug: dev.Unplug}
	self, err := os.Executable()
	if err != nil {
		r.close()
		return nil, fmt.Errorf("own executable: %w", err)
	}
	if r.proc, err = testkit.StartUnder("export "+relayEnv+"="+dev.Path, self); err != nil {
		r.close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	if r.desk, err = dialProbe(r.proc.WSURL("/"), false); err != nil {
		r.close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	return r, nil
}

// target is the relay as a probe target of another desk's loop.
func (r *relay) target() probeTarget { return probeTarget{log: r.log, via: r.desk} }

func (r *relay) close() {
	if r.desk != nil {
		r.desk.close()
	}
	if r.proc != nil {
		_, _ = r.proc.Stop(stopWait)
	}
	r.log.close()
	_ = r.unplug()
}

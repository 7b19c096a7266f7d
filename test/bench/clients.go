package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/test/testkit"
)

// clkTck is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat (100 on every Linux platform Go supports).
const clkTck = 100

// dial opens a WebSocket to url with small client buffers (the bench holds
// thousands of them; dmxd's side is what is measured).
func dial(url string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return c, nil
}

// drain reads and discards every message on c until it fails, counting
// them, so that dmxd never closes the client as too slow.
func drain(c *websocket.Conn, count *atomic.Int64) {
	for {
		_, r, err := c.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
		if count != nil {
			count.Add(1)
		}
	}
}

// frameLog records the arrival times of the frames decoded on one pty (by
// its device's recorder process) and answers the latency probe: when a
// frame carries level want on probeSlot, its arrival time goes to hit.
type frameLog struct {
	frames    <-chan testkit.Frame
	probeSlot int // 0-based
	want      atomic.Int32
	hit       chan time.Time
	mu        sync.Mutex
	on        bool
	at        []time.Time
	stop      chan struct{}
	done      chan struct{}
}

func newFrameLog(frames <-chan testkit.Frame, probeChannel int) *frameLog {
	l := &frameLog{
		frames:    frames,
		probeSlot: probeChannel - 1,
		hit:       make(chan time.Time, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	l.want.Store(-1)
	go l.run()
	return l
}

func (l *frameLog) run() {
	defer close(l.done)
	for {
		select {
		case <-l.stop:
			return
		case f := <-l.frames:
			if w := l.want.Load(); w >= 0 && int32(f.Values[l.probeSlot]) == w {
				l.want.Store(-1)
				select {
				case l.hit <- f.At:
				default:
				}
			}
			l.mu.Lock()
			if l.on {
				l.at = append(l.at, f.At)
			}
			l.mu.Unlock()
		}
	}
}

// record starts recording arrival times, dropping earlier ones.
func (l *frameLog) record() {
	l.mu.Lock()
	l.on, l.at = true, l.at[:0]
	l.mu.Unlock()
}

// take stops recording and returns the arrival times.
func (l *frameLog) take() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	return append([]time.Time(nil), l.at...)
}

func (l *frameLog) close() {
	close(l.stop)
	<-l.done
}

// procCPU returns the user+system CPU time pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat: %w", err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// procRSS returns the resident set size of pid in bytes.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// appendClientFrame appends one masked client text frame carrying payload
// (shorter than 126 bytes) with a zero masking key, so the payload goes
// out as is: a client may pick any key, and the server unmasks either way.
func appendClientFrame(dst, payload []byte) []byte {
	if len(payload) >= 126 {
		panic("appendClientFrame: payload too long")
	}
	dst = append(dst, 0x81, 0x80|byte(len(payload)), 0, 0, 0, 0)
	return append(dst, payload...)
}

// rawConn returns c's network connection, for writing pre-built frames.
// The caller must not use c's own write methods afterwards.
func rawConn(c *websocket.Conn) net.Conn { return c.NetConn() }

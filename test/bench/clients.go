package main

import (
	"bytes"
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

// The bench's WebSocket clients: small buffers (the bench holds thousands
// of them; dmxd's side is what is measured).
const (
	dialTimeout      = 10 * time.Second
	clientBufferSize = 1024
)

// dial opens a WebSocket to url.
func dial(url string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: dialTimeout, ReadBufferSize: clientBufferSize, WriteBufferSize: clientBufferSize}
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
// a recorder process) and answers the latency
// probe: the first frame that carries the expected level on probeSlot
// sends its arrival time to hit.
type frameLog struct {
	frames    <-chan testkit.Frame
	probeSlot int // 0-based
	want      atomic.Int32
	hit       chan frameHit
	mu        sync.Mutex
	on        bool
	at        []time.Time
	stop      chan struct{}
	done      chan struct{}
}

// frameHit is the arrival of the first frame carrying an expected level.
type frameHit struct {
	level int32
	at    time.Time
}

// hitQueue holds hits until the prober reads them; a stale hit from an
// earlier probe must never make room for the current one's.
const hitQueue = 4

// noLevel is want when no level is expected.
const noLevel = -1

func newFrameLog(frames <-chan testkit.Frame, probeChannel int) *frameLog {
	l := &frameLog{
		frames:    frames,
		probeSlot: probeChannel - 1,
		hit:       make(chan frameHit, hitQueue),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	l.want.Store(noLevel)
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
			w := l.want.Load()
			if w != noLevel && int32(f.Values[l.probeSlot]) == w && l.want.CompareAndSwap(w, noLevel) {
				select {
				case l.hit <- frameHit{level: w, at: f.At}:
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

// expect makes the next frame carrying level on the probe slot a hit and
// drops hits of earlier probes.
func (l *frameLog) expect(level int32) {
	l.want.Store(level)
	for {
		select {
		case <-l.hit:
		default:
			return
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

// WebSocket framing of a client text frame (RFC 6455 section 5.2).
const (
	wsFinText   = 0x81   // FIN and opcode 1 (text)
	wsMasked    = 0x80   // the mask bit of the length byte
	wsLen16     = 126    // length byte: a 16-bit length follows
	wsMaxLen7   = 125    // longest payload with the length in the length byte
	wsMaxLen16  = 0xFFFF // longest payload with a 16-bit length
	wsMaskBytes = 4
)

// appendClientFrame appends one masked client text frame carrying payload
// (at most 65535 bytes) with a zero masking key, so the payload goes out as
// is: a client may pick any key, and the server unmasks either way.
func appendClientFrame(dst, payload []byte) []byte {
	n := len(payload)
	switch {
	case n <= wsMaxLen7:
		dst = append(dst, wsFinText, wsMasked|byte(n))
	case n <= wsMaxLen16:
		dst = append(dst, wsFinText, wsMasked|wsLen16, byte(n>>8), byte(n))
	default:
		panic("appendClientFrame: payload too long")
	}
	dst = append(dst, make([]byte, wsMaskBytes)...)
	return append(dst, payload...)
}

// rawConn returns c's network connection, for writing pre-built frames.
// The caller must not use c's own write methods afterwards. It also stops
// c's reader from writing: pings go unanswered (dmxd's pong wait, 30 s,
// outlasts every bench phase, and it extends its read deadline on every
// message it reads) and close frames are not echoed, so that no control
// frame lands in the middle of a frame the caller is writing.
func rawConn(c *websocket.Conn) net.Conn {
	c.SetPingHandler(func(string) error { return nil })
	c.SetCloseHandler(func(int, string) error { return nil })
	return c.NetConn()
}

// Heads of dmxd's replies (docs/protocol.md, Server to client).
const (
	ackHead   = `{"type":"ack","id":`
	errorHead = `{"type":"error"`
	errorIDAt = `{"type":"error","id":`
	// replyHead is how much of a message the bench clients read to classify
	// it: enough for any head above and the id or error code after it.
	replyHead = 64
)

// replyID returns the numeric id a reply starts with after head, if any.
func replyID(msg []byte, head string) (int64, bool) {
	rest, ok := bytes.CutPrefix(msg, []byte(head))
	if !ok {
		return 0, false
	}
	var id int64
	n := 0
	for _, b := range rest {
		if b < '0' || b > '9' {
			break
		}
		id = id*10 + int64(b-'0')
		n++
	}
	return id, n > 0
}

// readHead reads the first replyHead bytes of c's next message into head
// and discards the rest; it returns the part of head that was filled.
func readHead(c *websocket.Conn, head []byte) ([]byte, error) {
	_, r, err := c.NextReader()
	if err != nil {
		return nil, err
	}
	n, _ := io.ReadFull(r, head)
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	return head[:n], nil
}

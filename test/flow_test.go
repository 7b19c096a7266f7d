package test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/test/testkit"
)

// Sizes of the flood test. Before the credit window, 16 clients flooding
// small commands took dmxd's heap to 1.8 GB in 11 s.
const (
	flooders      = 16
	floodChannels = 511 // channels 1..511: the probe's 512 stays its own
	floodIDEvery  = 25  // every 25th flood command carries an id
	floodProbes   = 20
	floodMaxTime  = 20 * time.Second // the flood ends by then whatever happens
	probeAckWait  = 5 * time.Second
	// floodAckWait bounds the wait for the flood's last acks once the
	// flooders stop: what they wrote into the kernel's buffers is still
	// read and applied first. A liveness bound, not a timing claim.
	floodAckWait = 30 * time.Second
	// floodSendBuffer keeps each flooder's kernel send buffer small, so
	// that what "was sent" is close to what dmxd reads next.
	floodSendBuffer = 64 << 10
	heapSampleStep  = 20 * time.Millisecond
	// floodHeapBound is what dmxd's Go heap may grow by during the flood:
	// each connection holds at most its window (32 units, 3 commands of
	// 511 channels, ~2 KB each decoded) and one message being read
	// (~2.5 KB here), so 16 flooders need well under 1 MiB; the rest is
	// room for the garbage collector's pace.
	floodHeapBound = 48 << 20
)

// TestFloodIsBoundedAndFair floods one universe from 16 desks that send
// full-universe arrays as fast as TCP lets them (no rate limit), and
// checks what the credit window promises: dmxd's heap stays bounded
// however fast they send (TCP pushes back on them instead), a probe
// desk's commands are applied and acknowledged while the flood goes on,
// and every flood command that asked for an ack gets it.
func TestFloodIsBoundedAndFair(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path, "--conn-rate", "0")
	metrics := p.URL("/metrics")
	_, before := scrape(t, metrics, "")
	baseHeap := before["go_memstats_heap_inuse_bytes"]

	stop := make(chan struct{})
	var sent atomic.Int64
	results := make([]floodResult, flooders)
	var wg sync.WaitGroup
	endFlood := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	t.Cleanup(endFlood) // a failed probe ends the test early
	for i := range flooders {
		d := dial(t, p)
		if tc, ok := d.Conn.NetConn().(*net.TCPConn); ok {
			_ = tc.SetWriteBuffer(floodSendBuffer)
		}
		wg.Go(func() { results[i] = flood(t, d, i, stop, &sent) })
	}

	// Sample the heap while the flood runs.
	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(heapSampleStep):
			}
			if _, m := scrape(t, metrics, ""); m != nil {
				if h := int64(m["go_memstats_heap_inuse_bytes"]); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	}()

	// The probe: a command at a time, each acknowledged and on the pty
	// before the next, while the flooders keep sending.
	probe := dial(t, p)
	deadline := time.Now().Add(floodMaxTime)
	for i := range floodProbes {
		level := 1 + i
		id := "p" + strconv.Itoa(i)
		if err := probe.Send(fmt.Sprintf(`{"dmx":{"512":%d},"id":%q}`, level, id)); err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
		if _, err := probe.Until(probeAckWait, func(m testkit.Message) bool { return m.Type == "ack" && m.ID == id }); err != nil {
			t.Fatalf("probe %d: no ack within %v during the flood: %v", i, probeAckWait, err)
		}
		if _, err := pty.WaitFrame(probeAckWait, func(f testkit.Frame) bool { return f.Values[511] == byte(level) }); err != nil {
			t.Fatalf("probe %d: acknowledged but level %d never reached the pty: %v", i, level, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe took more than %v for %d commands", floodMaxTime, i+1)
		}
	}
	floodersStillSending := sent.Load()
	endFlood()
	<-sampled

	_, after := scrape(t, metrics, "")
	var wantAcks, acks, slow int64
	for _, r := range results {
		if r.slow {
			slow++
			continue
		}
		wantAcks += r.ids
		acks += r.acks
	}
	t.Logf("flood: %d commands sent by %d desks (%d closed as too slow to read), %d of %d acks; heap %.1f MiB before, peak %.1f MiB; window waits %v",
		sent.Load(), flooders, slow, acks, wantAcks, baseHeap/(1<<20), float64(peak.Load())/(1<<20), after["dmxd_window_waits_total"])
	if floodersStillSending == 0 {
		t.Fatal("the flooders sent nothing")
	}
	if grew := float64(peak.Load()) - baseHeap; grew > floodHeapBound {
		t.Errorf("heap grew by %.1f MiB during the flood, want at most %d MiB", grew/(1<<20), floodHeapBound>>20)
	}
	if slow > flooders/2 {
		t.Errorf("%d of %d flooders were closed as too slow to read: the ack check covered too few", slow, flooders)
	}
	if acks != wantAcks {
		t.Errorf("flooders got %d acks for %d commands with ids: acknowledged commands lost", acks, wantAcks)
	}
}

// floodResult is what one flooder saw: the commands it sent with ids,
// the acks it read, and whether dmxd closed it as too slow (1013).
type floodResult struct {
	ids, acks int64
	slow      bool
}

func flood(t *testing.T, d *testkit.Desk, i int, stop <-chan struct{}, sent *atomic.Int64) (r floodResult) {
	levels := make([]string, floodChannels)
	for ch := range levels {
		levels[ch] = strconv.Itoa((i + ch) % 256)
	}
	body := `{"dmx":[` + strings.Join(levels, ",") + `]`
	plain := []byte(body + `}`)
	lastID := make(chan int64, 1)
	var mine atomic.Int64      // acks read, by id order
	var closedSlow atomic.Bool // dmxd closed this reader with 1013
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			_, data, err := d.Conn.ReadMessage()
			if err != nil {
				// On a loaded machine this reader can fall more than 5 s
				// behind, and dmxd closes it as too slow, as the protocol
				// says (1013): its acks are not counted.
				closedSlow.Store(websocket.IsCloseError(err, 1013))
				return
			}
			if strings.HasPrefix(string(data), `{"type":"ack"`) {
				n := mine.Add(1)
				select {
				case want := <-lastID:
					if n == want {
						return
					}
					lastID <- want
				default:
				}
			}
		}
	}()
	var n, ids int64 // commands sent, of them with ids
	for {
		select {
		case <-stop:
			if ids > 0 && mine.Load() < ids {
				lastID <- ids
				select {
				case <-read:
				case <-time.After(floodAckWait):
				}
			}
			r.ids, r.acks, r.slow = ids, mine.Load(), closedSlow.Load()
			return r
		default:
		}
		msg := plain
		if n%floodIDEvery == 0 {
			ids++
			msg = []byte(fmt.Sprintf(`%s,"id":%d}`, body, n))
		}
		_ = d.Conn.SetWriteDeadline(time.Now().Add(floodMaxTime))
		if err := d.Conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			select { // a broken connection ends the reader too
			case <-read:
			case <-time.After(floodAckWait):
			}
			r.ids, r.acks, r.slow = ids, mine.Load(), closedSlow.Load()
			if !r.slow {
				t.Errorf("flooder %d: %v", i, err)
			}
			return r
		}
		n++
		sent.Add(1)
	}
}

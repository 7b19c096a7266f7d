package transport

import (
	"sync"
	"time"

	"github.com/dmxd/dmxd/actors"
)

// fanoutPool writes broadcasts (see broadcast) for the connections that
// have nothing else to write. A universe's update goes to every desk at
// once; with a writer goroutine per desk, thousands of goroutines became
// runnable at each update, and a desk's command waited behind all of them for its read
// pump and its universe to be scheduled (Go's run queue is first come,
// first served): tens of milliseconds at 5,000 desks. Here a few workers
// take such connections in turn, and yield between them, so the run
// queue stays short. A connection whose queue holds anything else (an
// ack, a state, an error, a pong, the keepalive, a close) gets its own
// writer at once, as before, even if it already waits in the pool.
//
// A worker never waits for a socket: it writes what the kernel takes at
// once (a non-blocking write), and hands a connection whose socket is
// full to a writer of its own with the rest of the bytes.
//
// Concurrency: push may be called from any goroutine, with the
// connection's mutex held (pool.mu is taken after conn.mu, never the
// other way round); workers start on demand and end when the pool is
// empty.
type fanoutPool struct {
	mu      sync.Mutex
	queue   []pooled // FIFO from head
	head    int
	running int // workers
	workers int // the most workers at once
}

// pooled is one turn of a connection in the pool; seq tells a stale turn
// (the connection got a writer of its own meanwhile) from its current one.
type pooled struct {
	c   *conn
	seq uint64
}

// A worker writes for fanoutWrite, then rests for fanoutRest, parked (see
// rester), so the fan-out takes at most about a third of one core however
// many desks there are. A fan-out is a burst of socket writes —
// 1,000 desks took 12–23 ms of one core here, and the desks' own reads as
// much of the other — and a desk's command that arrived meanwhile waited
// for a CPU: its read pump was woken up to 7 ms late (stage timestamps,
// `just bench` with 1,000 desks). While the worker rests, a CPU is free
// for the commands, the output and the kernel's own work for the device.
// The broadcasts reach the desks over a longer time (a fan-out to 1,000
// desks takes about 40 ms instead of 15); held back, the changes gather,
// and the next update carries the latest level of each.
//
// Yielding to other goroutines alone (runtime.Gosched every 200 µs, as
// before) freed no CPU: the thread ran on, and the contention is with
// other threads and processes. Sleeping in a system call freed the CPU
// but kept the worker's Go processor, which cost the flood (see rester).
const (
	fanoutWrite = 100 * time.Microsecond
	fanoutRest  = 200 * time.Microsecond
)

func newFanoutPool(workers int) *fanoutPool { return &fanoutPool{workers: max(workers, 1)} }

// push queues c's turn and starts a worker if fewer than the most run.
func (p *fanoutPool) push(c *conn, seq uint64) {
	p.mu.Lock()
	p.queue = append(p.queue, pooled{c, seq})
	start := p.running < p.workers
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.work()
	}
}

// pop takes the next turn; ok false when the pool is empty, and then the
// worker has counted itself out.
func (p *fanoutPool) pop() (pooled, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
		p.running--
		return pooled{}, false
	}
	t := p.queue[p.head]
	p.queue[p.head] = pooled{}
	p.head++
	if p.head > 1024 && p.head*2 > len(p.queue) {
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:]) // no stale references to closed connections
		p.queue, p.head = p.queue[:n], 0
	}
	return t, true
}

func (p *fanoutPool) work() {
	var r *rester // made at the first rest: most fan-outs are shorter
	defer func() { r.close() }()
	since := time.Now()
	for {
		t, ok := p.pop()
		if !ok {
			return
		}
		t.c.poolTurn(t.seq)
		if time.Since(since) > fanoutWrite {
			if r == nil {
				r = newRester()
			}
			r.rest(fanoutRest)
			since = time.Now()
		}
	}
}

// broadcast reports whether msg is one that every desk gets at once (an
// update, a blackout switched, an output down or up, a change of the
// show, the monitor's output levels): those wait for a
// turn in the fan-out pool. Everything else answers this desk (an ack, an
// error, a state) and gets a writer of its own at once.
func broadcast(msg any) bool {
	switch msg.(type) {
	case *actors.Update, *actors.Blackout, *actors.OutputStatus,
		*actors.Looks, *actors.Cues, *actors.Masters, *actors.Labels, *actors.MonitorState:
		return true
	}
	return false
}

// urgent reports whether the outbox holds anything but broadcasts. c.mu
// must be held.
func (c *conn) urgent() bool {
	if c.pong != nil || c.ping || c.closing {
		return true
	}
	for _, m := range c.queue {
		if !broadcast(m) {
			return true
		}
	}
	return false
}

// poolTurn is c's turn in the fan-out pool: it writes the queued broadcasts
// without waiting for the socket.
func (c *conn) poolTurn(seq uint64) {
	c.mu.Lock()
	if c.writer != writerPooled || c.poolSeq != seq {
		c.mu.Unlock()
		return // stale: it got a writer of its own, or was shut
	}
	c.writer = writerRunning
	msgs := c.queue
	c.queue = nil
	c.mu.Unlock()

	rc, _ := c.ws.NetConn().(*readConn)
	if rc == nil || rc.raw == nil || !rawIO {
		// Not a socket the pool can write without waiting: the
		// connection's own writer writes them.
		c.requeue(msgs)
		go c.write()
		return
	}
	wb := c.srv.bufs.get()
	for _, msg := range msgs {
		if err := wb.appendFrame(msg); err != nil {
			c.log.Error().Err(err).Msg("encode")
		}
	}
	var n int
	var werr error
	// A deadline left by an earlier blocking write would fail this one
	// at once: the pool never waits, so it needs none.
	_ = rc.SetWriteDeadline(time.Time{})
	err := rc.raw.Write(func(fd uintptr) bool {
		n, werr = writeNow(fd, wb.frames)
		return true // never wait: a full socket goes to a writer of its own
	})
	if err != nil || werr != nil {
		c.srv.bufs.put(wb)
		updatesDone(msgs)
		c.shut()
		return
	}
	if n < len(wb.frames) {
		// The socket is full: a writer of its own waits for it.
		go c.finish(wb, n, msgs)
		return
	}
	c.srv.bufs.put(wb)
	updatesDone(msgs)
	c.afterWrite(msgs)
	c.mu.Lock()
	c.writer = writerIdle
	c.wakeWriter(c.urgent())
	c.mu.Unlock()
}

// requeue puts msgs back at the front of the outbox. c.mu must not be
// held.
func (c *conn) requeue(msgs []any) {
	c.mu.Lock()
	c.queue = append(msgs, c.queue...)
	c.mu.Unlock()
}

// finish writes what the pool could not, from byte n of wb, then goes on
// as the connection's writer.
func (c *conn) finish(wb *writeBuf, n int, msgs []any) {
	nc := c.ws.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteWait))
	_, err := nc.Write(wb.frames[n:])
	c.srv.bufs.put(wb)
	updatesDone(msgs)
	if err != nil {
		c.shut()
		return
	}
	c.afterWrite(msgs)
	c.write()
}

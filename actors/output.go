package actors

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/dmxd/dmxd/actors/metrics"
	"github.com/dmxd/dmxd/dmx"
)

// Output timing.
const (
	// firstRetry is the wait before the first reopen of a failed device.
	firstRetry = 100 * time.Millisecond
	// maxRetry caps the backoff between reopen attempts.
	maxRetry = 5 * time.Second
	// stallTimeout is how long one frame write may take before the output
	// is reported down (a frame is 518 bytes; at 250 kbaud that is 23 ms).
	stallTimeout = time.Second
	// framePoolSize is how many frame buffers circulate between a universe
	// and its writer.
	framePoolSize = 4
)

// frameBuf is one frame on its way from a universe to its writer. Buffers
// circulate through a framePool so that the frame path allocates nothing.
type frameBuf struct {
	frame dmx.Frame
	// changed is set when a command changed the levels since the previous
	// frame: the writer sends it as soon as the minimum gap allows. Other
	// frames (refreshes, fade steps) wait for the writer's own schedule.
	changed bool
}

func (*frameBuf) IgnoreDeadLetterLogging() {}

// framePool recycles frame buffers between one universe and its writer.
type framePool struct{ free chan *frameBuf }

func newFramePool() *framePool {
	p := &framePool{free: make(chan *frameBuf, framePoolSize)}
	for range framePoolSize {
		p.free <- new(frameBuf)
	}
	return p
}

func (p *framePool) get() *frameBuf {
	select {
	case f := <-p.free:
		return f
	default:
		return new(frameBuf)
	}
}

func (p *framePool) put(f *frameBuf) {
	select {
	case p.free <- f:
	default:
	}
}

// writerEvent is the writer's report of its device's state.
type writerEvent struct {
	up  bool
	err string
}

func (*writerEvent) IgnoreDeadLetterLogging() {}

// healthQuery is answered with an OutputHealth.
type healthQuery struct{}

// OutputHealth is one output's state for /healthz.
type OutputHealth struct {
	Universe int    `json:"universe"`
	Output   string `json:"output"`
	State    string `json:"state"`
	Frames   uint64 `json:"frames"`
	Error    string `json:"error,omitempty"`
}

// writer is the only goroutine that writes to and closes one device. It
// always writes the latest frame it was given (a one-slot mailbox where a
// newer frame replaces an unsent one) and reopens the device with backoff
// when a write fails.
//
// It also keeps the output's schedule: it writes the newest frame every
// period on its own timer, and a changed frame as soon as the driver's
// minimum gap allows (then the period restarts from that write). So the
// refresh never depends on how quickly the universe's tick travels through
// the actor system: under a starved CPU the light gets the last levels on
// time, with one goroutine wake-up per frame, on an OS thread of raised
// priority.
type writer struct {
	drv       dmx.Driver
	pool      *framePool
	slot      chan *frameBuf
	stop      chan struct{}
	done      chan struct{}
	frames    atomic.Uint64
	busySince atomic.Int64 // unix nanos of the write under way, 0 when idle
	lastStart int64        // unix nanos of the last written frame's start, 0 after (re)open
	last      dmx.Frame    // the newest frame seen
	hasLast   bool
	fresh     bool // last has not been written yet
	period    time.Duration
	minGap    time.Duration
	metrics   metrics.Output
	report    func(writerEvent)
	log       zerolog.Logger
}

func newWriter(drv dmx.Driver, pool *framePool, period time.Duration, m metrics.Output, log zerolog.Logger) *writer {
	return &writer{
		drv:     drv,
		pool:    pool,
		metrics: m,
		period:  period,
		minGap:  min(drv.MinGap(), period),
		slot:    make(chan *frameBuf, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		log:     log,
	}
}

// put hands over the newest frame, replacing one not yet written. Only the
// output actor calls it.
func (w *writer) put(f *frameBuf) {
	select {
	case w.slot <- f:
		return
	default:
	}
	select {
	case old := <-w.slot:
		w.pool.put(old)
	default:
	}
	select {
	case w.slot <- f:
	default:
		w.pool.put(f)
	}
}

// stalledFor returns how long the write under way has been blocked.
func (w *writer) stalledFor(now time.Time) time.Duration {
	b := w.busySince.Load()
	if b == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, b))
}

func (w *writer) run() {
	defer close(w.done)
	w.raisePriority()
	var fw dmx.FrameWriter
	backoff := time.Duration(0)
	for fw == nil {
		if !w.waitRetry(&backoff) {
			return
		}
		fw = w.open(&backoff)
	}
	due := time.Now().Add(w.period)
	timer := time.NewTimer(w.period)
	defer timer.Stop()
	for {
		select {
		case <-w.stop:
			// Send a final frame with the newest levels, then close.
			select {
			case f := <-w.slot:
				w.take(f)
			default:
			}
			if w.hasLast {
				_ = w.write(fw)
			}
			if err := fw.Close(); err != nil {
				w.log.Warn().Err(err).Msg("close output")
			}
			return
		case f := <-w.slot:
			changed := f.changed
			w.take(f)
			if !changed {
				continue // the schedule sends it
			}
			now := time.Now()
			if gap := time.Unix(0, w.lastStart).Add(w.minGap); w.lastStart != 0 && gap.After(now) {
				if gap.Before(due) {
					due = gap
					timer.Reset(time.Until(due))
				}
				continue
			}
			due = now // write it now
		case <-timer.C:
		}
		if !w.hasLast {
			due = time.Now().Add(w.period)
			timer.Reset(w.period)
			continue
		}
		if err := w.write(fw); err != nil {
			if cerr := fw.Close(); cerr != nil {
				w.log.Debug().Err(cerr).Msg("close failed output")
			}
			fw = nil
			w.report(writerEvent{up: false, err: err.Error()})
			for fw == nil {
				if !w.waitRetry(&backoff) {
					return
				}
				fw = w.open(&backoff)
			}
		}
		// The next frame is due a period after this one was due (an
		// absolute schedule, no drift), or a period from now after a stall.
		if due = due.Add(w.period); due.Before(time.Now()) {
			due = time.Now().Add(w.period)
		}
		timer.Reset(time.Until(due))
	}
}

// writerNice is the scheduling priority of a writer's OS thread: above
// every ordinary thread of the machine (clients, load, dmxd's own network
// work), so that a busy CPU delays the light last.
const writerNice = -10

// raisePriority locks the writer to its own OS thread and raises that
// thread's priority. Without the privilege (CAP_SYS_NICE) the writer runs
// at normal priority; that is logged once, at debug level.
func (w *writer) raisePriority() {
	runtime.LockOSThread() // for the writer's life: the goroutine ends with it
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), writerNice); err != nil {
		w.log.Debug().Err(err).Msg("writer runs at normal priority")
	}
}

// take makes f the newest frame and returns its buffer to the pool.
func (w *writer) take(f *frameBuf) {
	w.last, w.hasLast, w.fresh = f.frame, true, true
	w.pool.put(f)
}

// write sends the newest frame.
func (w *writer) write(fw dmx.FrameWriter) error {
	start := time.Now().UnixNano()
	w.busySince.Store(start)
	err := fw.WriteFrame(&w.last)
	w.busySince.Store(0)
	if !w.fresh {
		w.metrics.Refreshes.Inc() // the universe's frame was late
	}
	w.fresh = false
	if err != nil {
		w.lastStart = 0
		return err
	}
	w.frames.Add(1)
	w.metrics.Frames.Inc()
	if w.lastStart != 0 {
		w.metrics.Interval.Observe(float64(start-w.lastStart) / 1e9)
	}
	w.lastStart = start
	return nil
}

// open tries to open the device once and reports a success.
func (w *writer) open(backoff *time.Duration) dmx.FrameWriter {
	fw, err := w.drv.Open()
	if err != nil {
		if *backoff == 0 {
			w.report(writerEvent{up: false, err: err.Error()})
		}
		*backoff = nextBackoff(*backoff)
		return nil
	}
	*backoff = 0
	w.report(writerEvent{up: true})
	return fw
}

// waitRetry waits for the backoff (dropping the frames that arrive
// meanwhile) and reports false when the writer must stop.
func (w *writer) waitRetry(backoff *time.Duration) bool {
	if *backoff == 0 {
		return true
	}
	t := time.NewTimer(*backoff)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return false
		case f := <-w.slot:
			w.take(f) // the first frame after a reopen carries the newest levels
		case <-t.C:
			return true
		}
	}
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return firstRetry
	}
	d *= 2
	if d > maxRetry {
		d = maxRetry
	}
	return d
}

// outputActor owns one universe's output: its writer, its state and the
// watchdog on stalled writes.
type outputActor struct {
	universe int
	drv      dmx.Driver
	w        *writer
	owner    *actor.PID // the universe actor, told of state changes
	up       bool       // the writer's last report
	stalled  bool       // a write has been blocked for stallTimeout
	lastErr  string
	reported bool // a state has been reported
	wasUp    bool // the state last reported
	log      zerolog.Logger
}

func (o *outputActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		o.w.report = func(e writerEvent) { root.Send(self, &e) }
		go o.w.run()
	case *frameBuf:
		o.w.put(m)
		stalled := o.w.stalledFor(time.Now()) > stallTimeout
		if stalled != o.stalled {
			o.stalled = stalled
			o.publish(ctx)
		}
	case *writerEvent:
		o.up = m.up
		if !m.up {
			o.lastErr = m.err
		}
		o.publish(ctx)
	case *healthQuery:
		h := &OutputHealth{Universe: o.universe, Output: o.drv.Name(), State: "up", Frames: o.w.frames.Load()}
		if !o.isUp() {
			h.State = "down"
			h.Error = o.errText()
		}
		ctx.Respond(h)
	case *actor.Stopping:
		close(o.w.stop)
	}
}

func (o *outputActor) isUp() bool { return o.up && !o.stalled }

func (o *outputActor) errText() string {
	if o.stalled {
		return "write stalled: the device accepts no data"
	}
	return o.lastErr
}

// publish tells the universe when the output's state changed.
func (o *outputActor) publish(ctx actor.Context) {
	up := o.isUp()
	if o.reported && up == o.wasUp {
		return
	}
	first := !o.reported
	o.reported, o.wasUp = true, up
	if up {
		o.w.metrics.Up.Set(1)
	} else {
		o.w.metrics.Up.Set(0)
	}
	ev := o.log.Info()
	if !up {
		ev = o.log.Warn().Str("error", o.errText())
	}
	ev.Bool("up", up).Msg("output state")
	if first && up {
		return // clients assume an output is up
	}
	msg := &OutputStatus{Universe: o.universe, Driver: o.drv.Name(), Up: up}
	if !up {
		msg.Error = o.errText()
	}
	ctx.Send(o.owner, msg)
}

package actors

import (
	"runtime"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors/metrics"
	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/dmx/refresh"
)

// Output timing.
const (
	// firstRetry is the wait before the first reopen of a failed device.
	firstRetry = 100 * time.Millisecond
	// maxRetry caps the backoff between reopen attempts. The protocol
	// allows up to 5 s; at 750 ms frames resume within a second of any
	// replug, however long the device was out, for the price of one failed
	// open(2) a second while it is.
	maxRetry = 750 * time.Millisecond
	// stallTimeout is how long one frame write may take before the output
	// is reported down (a frame is 518 bytes; at 250 kbaud that is 23 ms).
	stallTimeout = time.Second
	// framePoolSize is how many frame buffers circulate between a universe
	// and its output actor.
	framePoolSize = 4
	// watchPeriod is how often the output actor checks its writer for a
	// stalled write and brings the metrics up to date: a stall is reported
	// within stallTimeout + watchPeriod.
	watchPeriod = 250 * time.Millisecond
)

// frameBuf is one frame on its way from a universe to its output actor:
// new levels, which the refresh loop sends as soon as the driver's
// minimum gap allows. Buffers circulate through a framePool so that the
// frame path allocates nothing.
type frameBuf struct {
	frame dmx.Frame
}

func (*frameBuf) IgnoreDeadLetterLogging() {}

// framePool recycles frame buffers between one universe and its output
// actor.
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

// watch is the output actor's periodic look at its writer (see
// watchPeriod).
type watch struct{}

func (*watch) IgnoreDeadLetterLogging() {}

// OutputHealth is one output's state for /healthz.
type OutputHealth struct {
	Universe int    `json:"universe"`
	Output   string `json:"output"`
	Target   string `json:"target,omitempty"`
	// Node names the output node (dmxd node --name) of a remote output,
	// whose Target is then "NODE:TARGET"; absent for the core's own.
	Node   string `json:"node,omitempty"`
	State  string `json:"state"`
	Frames uint64 `json:"frames"`
	// Packets and SendErrors count a network output's datagrams (one per
	// destination per frame); absent for other outputs.
	Packets    *uint64 `json:"packets,omitempty"`
	SendErrors *uint64 `json:"send_errors,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// writer is the only goroutine that opens, writes to and closes one
// device. For a device with hardware it runs the output's refresh loop
// (package refresh) on its own OS thread of raised priority: the loop
// writes the newest frame every period and a changed frame as soon as the
// driver's minimum gap allows, in C where it is built in, without waiting
// for the Go scheduler. So the light gets its frames on time even when
// thousands of connection goroutines keep both cores busy. The null and
// network outputs (drivers with a Portable method that says so) need no
// such thread: they run the Go loop on an ordinary goroutine.
// When the device fails, the writer closes it, reports it down and
// reopens it with backoff; the loop keeps the newest frame meanwhile, so
// the first frame after a reopen carries the newest levels.
type writer struct {
	drv    dmx.Driver
	rt     bool // the loop runs on a thread of its own, of raised priority
	loop   *refresh.Loop
	stop   chan struct{} // closed by the output actor after loop.Stop
	done   chan struct{} // closed when the writer has ended and freed the loop
	report func(writerEvent)
	log    zerolog.Logger
}

func newWriter(drv dmx.Driver, period time.Duration, log zerolog.Logger) (*writer, error) {
	p, ok := drv.(interface{ Portable() bool })
	portable := ok && p.Portable()
	loop, err := refresh.New(refresh.Config{
		Period: period, MinGap: min(drv.MinGap(), period), Break: drv.Break(), MarkAfterBreak: drv.MarkAfterBreak(),
		Portable: portable,
	})
	if err != nil {
		return nil, err
	}
	return &writer{
		drv:  drv,
		rt:   !portable,
		loop: loop,
		stop: make(chan struct{}),
		done: make(chan struct{}),
		log:  log,
	}, nil
}

func (w *writer) run() {
	defer close(w.done)
	if w.rt {
		runtime.LockOSThread() // for the writer's life: the goroutine ends with it
		w.raisePriority()
	}
	backoff := time.Duration(0)
	for w.waitRetry(&backoff) {
		dev := w.open(&backoff)
		if dev == nil {
			continue
		}
		err := w.loop.Run(dev)
		if cerr := dev.Close(); cerr != nil {
			w.log.Debug().Err(cerr).Msg("close output")
		}
		if err == nil {
			break // stopped, after the final frame
		}
		w.report(writerEvent{up: false, err: err.Error()})
	}
	<-w.stop // the output actor is done with the loop
	w.loop.Free()
}

// open tries to open the device once and reports a success.
func (w *writer) open(backoff *time.Duration) dmx.Device {
	dev, err := w.drv.Open()
	if err != nil {
		if *backoff == 0 {
			w.report(writerEvent{up: false, err: err.Error()})
		}
		*backoff = nextBackoff(*backoff)
		return nil
	}
	*backoff = 0
	w.report(writerEvent{up: true})
	return dev
}

// waitRetry waits for the backoff and reports false when the writer must
// stop.
func (w *writer) waitRetry(backoff *time.Duration) bool {
	if *backoff == 0 {
		select {
		case <-w.stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-w.stop:
		return false
	case <-t.C:
		return true
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

// outputActor owns one output of a universe: its writer, its state and
// the watchdog on stalled writes.
type outputActor struct {
	universe int
	slot     int // which of the universe's outputs, in patch order
	drv      dmx.Driver
	net      *dmx.NetStats // a network output's datagram counters, else nil
	netDone  [2]uint64     // the datagrams (sent, errors) already in metrics
	w        *writer
	pool     *framePool                // where frames go back to their universe
	encoded  []byte                    // the frame encoded for the device
	metrics  metrics.Output            // fed from the loop's counters
	counted  refresh.Stats             // the counters already in metrics
	observe  func(refresh.FrameTiming) // observeTiming, bound once
	owner    *actor.PID                // the universe actor, told of state changes
	up       bool                      // the writer's last report
	stalled  bool                      // a write has been blocked for stallTimeout
	lastErr  string
	reported bool          // a state has been reported
	wasUp    bool          // the state last reported
	stopping bool          // the loop is stopped and about to be freed: never touch it again
	watcher  chan struct{} // closed at Stopping: ends the watch ticker
	log      zerolog.Logger
}

func (o *outputActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		o.w.report = func(e writerEvent) { root.Send(self, &e) }
		o.observe = o.observeTiming
		go o.w.run()
		o.watcher = make(chan struct{})
		go watchEvery(watchPeriod, o.watcher, func() { root.Send(self, &watch{}) })
		ctx.Send(o.owner, &frameRequest{})
	case *frameBuf:
		if o.stopping {
			o.pool.put(m)
			return
		}
		o.send(m)
	case *watch:
		if o.stopping {
			return
		}
		o.count()
		stalled := o.w.loop.Busy() > stallTimeout
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
		if !o.stopping {
			o.count()
		}
		h := &OutputHealth{Universe: o.universe, Output: o.drv.Name(), Target: o.drv.Target(), State: "up", Frames: o.counted.Frames}
		if o.net != nil {
			sent, errs := o.netDone[0], o.netDone[1]
			h.Packets, h.SendErrors = &sent, &errs
		}
		if !o.isUp() {
			h.State = "down"
			h.Error = o.errText()
		}
		ctx.Respond(h)
	case *actor.Stopping:
		close(o.watcher)
		o.count()
		o.stopping = true
		o.w.loop.Stop()
		close(o.w.stop)
	}
}

// send hands f to the refresh loop and returns its buffer to the pool.
func (o *outputActor) send(f *frameBuf) {
	o.encoded = o.drv.AppendFrame(o.encoded[:0], &f.frame)
	o.w.loop.Publish(o.encoded, true)
	o.pool.put(f)
}

// watchEvery calls fn every period until stop is closed.
func watchEvery(period time.Duration, stop <-chan struct{}, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// observeTiming feeds one frame's timing to the metrics.
func (o *outputActor) observeTiming(t refresh.FrameTiming) {
	o.metrics.Interval.Observe(t.Interval.Seconds())
	o.metrics.Wait.Observe(t.Wait.Seconds())
	o.metrics.StartLate.Observe(t.Late.Seconds())
}

// count adds what the loop counted since the last call to the metrics.
func (o *outputActor) count() {
	s := o.w.loop.Stats()
	o.metrics.Frames.Add(float64(s.Frames - o.counted.Frames))
	o.metrics.Refreshes.Add(float64(s.Refreshes - o.counted.Refreshes))
	o.counted = s
	o.w.loop.Intervals(o.observe)
	if o.net != nil {
		sent, errs := o.net.Sent.Load(), o.net.Errors.Load()
		o.metrics.Packets.Add(float64(sent - o.netDone[0]))
		o.metrics.SendErrors.Add(float64(errs - o.netDone[1]))
		o.netDone = [2]uint64{sent, errs}
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
		o.metrics.Up.Set(1)
	} else {
		o.metrics.Up.Set(0)
	}
	ev := o.log.Info()
	if !up {
		ev = o.log.Warn().Str("error", o.errText())
	}
	ev.Bool("up", up).Msg("output state")
	if first && up {
		return // clients assume an output is up
	}
	msg := &OutputStatus{Universe: o.universe, Driver: o.drv.Name(), Target: o.drv.Target(), Up: up, slot: o.slot}
	if !up {
		msg.Error = o.errText()
	}
	ctx.Send(o.owner, msg)
}

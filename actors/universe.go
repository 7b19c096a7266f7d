package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/dmxd/dmxd/dmx"
)

// Messages of the universe actor.
type (
	// attach subscribes a connection actor to the universe: it is watched,
	// gets the state now and every update from now on.
	attach struct{ conn *actor.PID }
	// apply carries a command from a connection actor. Weight is the
	// credit it holds in its connection's window (0 for the actor's own
	// requests); it comes back in the batch's applied message.
	apply struct {
		from   *actor.PID
		cmd    *Command
		weight int
		quiet  bool      // its connection had nothing else in flight (see quietPriority)
		fan    uint64    // a part of a command for every universe: answered with fanDone, not an ack
		missed showParts // kindResync: the show messages the connection missed while behind
	}
	// endBatch closes the batch of commands that were waiting when its
	// first command arrived: the universe sends itself one, so that it
	// queues behind everything already in the mailbox.
	endBatch struct{}
	// endQuietBatch closes the batch as soon as the quiet commands waiting
	// are applied (see quietPriority).
	endQuietBatch struct{}
	// tick steps fades and sends the update of the changes since the
	// last one; the universe arms one a period ahead while it needs it.
	tick struct{}
	// flush asks for a final frame now and is answered with flushed.
	flush   struct{}
	flushed struct{}
	// syncReq is answered with syncDone once every message the universe
	// received before it has been handled and answered (a barrier).
	syncReq  struct{}
	syncDone struct{}
	// frameRequest asks for a frame of the current levels; the output
	// sends it when it starts.
	frameRequest struct{}
	// addOutput adds an output to a running universe (a request): it is
	// sent every frame from then on, has the next slot for its
	// OutputStatus, gets the current frame at once and is answered with
	// outputAdded.
	addOutput   struct{ link outLink }
	outputAdded struct{ slot int }
	// snapshotQuery is answered with a *dmx.UniverseState.
	snapshotQuery struct{}
	// applied answers the commands of one connection in one batch, after
	// the batch's frame went to the output: their replies (acks and
	// states) in command order, and the window credit they held.
	applied struct {
		weight  int
		replies []any
	}
)

func (*attach) IgnoreDeadLetterLogging()        {}
func (*syncReq) IgnoreDeadLetterLogging()       {}
func (*syncDone) IgnoreDeadLetterLogging()      {}
func (*apply) IgnoreDeadLetterLogging()         {}
func (*applied) IgnoreDeadLetterLogging()       {}
func (*tick) IgnoreDeadLetterLogging()          {}
func (*endBatch) IgnoreDeadLetterLogging()      {}
func (*endQuietBatch) IgnoreDeadLetterLogging() {}

// quietPriority is the mailbox priority of a command from a connection
// that had nothing else in flight, and of the batch end it asks for. A
// universe's mailbox is a priority mailbox (actor.UnboundedPriorityMpsc):
// such a command overtakes whatever other connections have queued — up
// to a window of commands from every flooding desk — is applied at once,
// and the frame carrying it goes out before the universe turns to the
// rest. A desk that waits for its commands to be applied before it sends
// more (a person at a fader, a script awaiting acks) is always quiet; a
// flooding desk is quiet for one command each time its window empties, so
// the lane stays short. Order within one connection is kept: a quiet
// command is the only one of its connection in the mailbox.
const quietPriority = actor.DefaultPriority + 2

// GetPriority makes the universe's priority mailbox take quiet commands
// first (see quietPriority).
func (m *apply) GetPriority() int8 {
	if m.quiet {
		return quietPriority
	}
	return actor.DefaultPriority
}

// GetPriority: the end of a batch that quiet commands joined comes right
// after them (see quietPriority).
func (*endQuietBatch) GetPriority() int8 { return quietPriority }

// subscriber is a connection actor watching a universe, with its merge
// layer; monitor is set while it follows the output.
type subscriber struct {
	pid     *actor.PID
	src     dmx.Source
	monitor bool
}

// universeActor owns the levels of one universe. It applies commands in
// batches: the first command of a batch queues an endBatch behind every
// message already waiting, and at endBatch the universe hands one frame
// to its output (whose refresh loop alone decides when it goes out),
// answers every connection of the batch with one applied message, and
// sends the update if the update pace allows. A command therefore waits
// behind at most one batch, whoever else is sending: each connection has
// at most its credit window of commands in the mailbox.
type universeActor struct {
	number    int
	period    time.Duration
	mixer     *dmx.Mixer
	blackout  bool
	outputs   []outLink             // every output of the universe, each sent every frame
	subs      map[string]subscriber // by key
	edges     map[string]*edgeDesks // the subscribers in other processes, by address (see fanout)
	address   string                // the universe's own address (see key)
	nextSrc   dmx.Source
	outStatus []*OutputStatus // each output's last reported state (by slot), nil before one
	updates   *rate.Limiter   // paces updates to one per period
	fanout    *Update         // the last update sent, whose deliveries are counted
	fanoutAt  time.Time       // when the last update was sent
	budget    *updateBudget   // update messages of all universes; nil: none
	dirty     bool            // levels or blackout changed since the last frame
	batching  bool            // an endBatch is queued
	replies   map[string]*applied
	order     []*actor.PID // the connections of the batch, in arrival order
	timer     *time.Timer  // sends the tick; made once in Started, reset for each tick
	armed     bool         // a tick is due
	nextTick  time.Time    // when the armed tick is due
	onChange  func()       // called when levels, blackout or the show change (persistence)
	net       *netSources  // network input sources; nil without inputs
	quietEnd  bool         // an endQuietBatch is in the mailbox
	// readAt holds when each desk command of the current batch was read,
	// for dmxd_command_latency_seconds (latency nil: not measured).
	readAt  []time.Time
	latency prometheus.Observer
	// The show (see show.go).
	show      dmx.Show
	grand     uint8                     // the grand master's copy
	flashes   map[string]dmx.ChannelSet // each desk's flash, by connection
	flashAll  dmx.ChannelSet            // every flash together
	out       dmx.Frame                 // what went out last (see computeOut)
	monSent   dmx.Frame                 // the output as the monitoring desks were last told it
	monitors  int                       // subscribers with monitor set
	showDirty showParts                 // show messages owed to the desks
	showPace  *rate.Limiter             // paces show broadcasts to one of each a period
}

// updateBurst lets an update go out on a tick that comes a little early
// after the previous one, so that the jitter of ticks never delays one by
// a whole period.
const updateBurst = 2

// outLink is one output of a universe: its actor and the pool its frame
// buffers circulate through. Each output has its own pool, so a slow one
// never takes another's buffers.
type outLink struct {
	pid    *actor.PID
	frames *framePool
}

// newUniverseActor returns the actor of universe number, dark, stepping
// fades every period and sending frames to every one of outputs.
func newUniverseActor(number int, period time.Duration, mode dmx.Merge, outputs []outLink) *universeActor {
	return &universeActor{
		number:    number,
		period:    period,
		mixer:     dmx.NewMixer(mode),
		outputs:   outputs,
		outStatus: make([]*OutputStatus, len(outputs)),
		subs:      map[string]subscriber{},
		replies:   map[string]*applied{},
		updates:   rate.NewLimiter(rate.Every(period), updateBurst),
		show:      dmx.NewShow(),
		grand:     dmx.FullMaster,
		showPace:  rate.NewLimiter(rate.Every(period), updateBurst),
	}
}

var (
	endBatchMsg      = &endBatch{}
	endQuietBatchMsg = &endQuietBatch{}
	tickMsg          = &tick{}
)

func (u *universeActor) Receive(ctx actor.Context) {
	if u.receiveNet(ctx, ctx.Message()) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		u.address = self.Address
		u.timer = time.AfterFunc(time.Hour, func() { root.Send(self, tickMsg) })
		u.timer.Stop()
	case *actor.Stopping:
		u.timer.Stop()
	case *apply:
		u.apply(ctx, m)
	case *endBatch:
		u.endBatch(ctx)
	case *endQuietBatch:
		u.quietEnd = false
		if u.batching {
			u.endBatch(ctx)
		}
	case *tick:
		u.tick(ctx)
	case *attach:
		u.nextSrc++
		key := u.key(m.conn)
		if _, again := u.subs[key]; !again && u.remote(m.conn) {
			u.addEdgeDesk(m.conn)
		}
		u.subs[key] = subscriber{pid: m.conn, src: u.nextSrc}
		ctx.Watch(m.conn)
		ctx.Send(m.conn, u.state())
		for _, msg := range u.showMsgs(u.attachParts()) {
			ctx.Send(m.conn, msg)
		}
		for _, st := range u.outStatus {
			if st != nil && !st.Up {
				ctx.Send(m.conn, st)
			}
		}
	case *actor.Terminated:
		key := u.key(m.Who)
		if s, ok := u.subs[key]; ok {
			delete(u.subs, key)
			if u.remote(m.Who) {
				u.removeEdgeDesk(m.Who)
			}
			if s.monitor {
				u.monitors--
			}
			// However the desk went, its flash goes with it.
			u.setFlash(ctx, key, dmx.ChannelSet{})
			if u.mixer.Mode() == dmx.HTP {
				u.mixer.Release(s.src)
				u.changed(ctx)
			}
		}
	case *OutputStatus:
		if m.slot >= 0 && m.slot < len(u.outStatus) {
			u.outStatus[m.slot] = m
		}
		u.broadcast(ctx, m)
	case *syncReq:
		// Everything received before the barrier is answered before it.
		u.endBatch(ctx)
		ctx.Respond(&syncDone{})
	case *addOutput:
		// An output joined while the universe runs (a node's, through its
		// link): it gets a slot for its states and the current frame now.
		slot := len(u.outputs)
		u.outputs = append(u.outputs, m.link)
		u.outStatus = append(u.outStatus, nil)
		f := m.link.frames.get()
		f.frame = u.out
		ctx.Send(m.link.pid, f)
		ctx.Respond(&outputAdded{slot: slot})
	case *frameRequest:
		// The output started (it asks once): it gets the levels at once.
		u.dirty = true
		u.publish(ctx)
	case *flush:
		u.endBatch(ctx)
		u.dirty = true
		u.publish(ctx)
		ctx.Respond(&flushed{})
	case *snapshotQuery:
		show, grand := u.show.Clone(), u.grand
		ctx.Respond(&dmx.UniverseState{Universe: u.number, Values: *u.mixer.Levels(), Blackout: u.blackout, Show: &show, GrandMaster: &grand})
	}
}

// key is the key of a connection (or a future) in subs, replies and
// flashes: its id when it runs in this process, its address and id when
// it runs in another (an edge's), since two edges count their ids alike.
func (u *universeActor) key(pid *actor.PID) string {
	if pid.Address == u.address {
		return pid.Id
	}
	return pid.Address + "/" + pid.Id
}

func (u *universeActor) state() *State {
	return &State{Universe: u.number, Values: *u.mixer.Levels(), Blackout: u.blackout}
}

// apply applies one command at once; its answers wait for the end of the
// batch, after the frame that carries it.
func (u *universeActor) apply(ctx actor.Context, m *apply) {
	src := dmx.BaseSource
	key := u.key(m.from)
	if s, ok := u.subs[key]; ok {
		src = s.src
	}
	r := u.replies[key]
	if r == nil {
		r = &applied{}
		u.replies[key] = r
		u.order = append(u.order, m.from)
	}
	r.weight += m.weight
	if u.latency != nil && !m.cmd.ReadAt.IsZero() {
		u.readAt = append(u.readAt, m.cmd.ReadAt)
	}
	var refused *Error
	switch m.cmd.Kind {
	case KindDMX:
		u.mixer.Set(src, m.cmd.Changes)
		u.changed(ctx)
	case KindFade:
		u.mixer.Fade(src, m.cmd.Changes, m.cmd.Duration, time.Now())
		u.changed(ctx)
	case KindBlackout, KindBlackoutAll:
		if u.blackout != m.cmd.On {
			u.blackout = m.cmd.On
			u.broadcast(ctx, &Blackout{Universe: u.number, On: u.blackout})
			u.changed(ctx)
		}
	case KindGet:
		r.replies = append(r.replies, u.state())
	default:
		refused = u.applyShow(ctx, m, r)
	}
	switch {
	case refused != nil:
		r.replies = append(r.replies, refused)
	case m.fan != 0:
		r.replies = append(r.replies, &fanDone{seq: m.fan})
	case m.cmd.ID != nil:
		r.replies = append(r.replies, &Ack{ID: m.cmd.ID})
	}
	u.openBatch(ctx)
	if m.quiet && !u.quietEnd {
		u.quietEnd = true
		ctx.Send(ctx.Self(), endQuietBatchMsg)
	}
}

// openBatch queues the endBatch of the current batch unless it is queued.
func (u *universeActor) openBatch(ctx actor.Context) {
	if !u.batching {
		u.batching = true
		ctx.Send(ctx.Self(), endBatchMsg)
	}
}

// changed marks the levels changed: the batch ends with a frame, and
// persistence hears of it.
func (u *universeActor) changed(ctx actor.Context) {
	u.dirty = true
	u.openBatch(ctx)
	if u.onChange != nil {
		u.onChange()
	}
}

// endBatch publishes the batch's frame, then answers every connection of
// the batch (an ack means the frame carrying the command is with the
// output). The update to every desk waits for the next tick, a period
// later (see tick): the light goes first.
func (u *universeActor) endBatch(ctx actor.Context) {
	u.batching = false
	u.publish(ctx)
	if len(u.readAt) > 0 {
		now := time.Now()
		for _, t := range u.readAt {
			u.latency.Observe(now.Sub(t).Seconds())
		}
		u.readAt = u.readAt[:0]
	}
	for _, pid := range u.order {
		key := u.key(pid)
		r := u.replies[key]
		delete(u.replies, key)
		u.fillMonitor(r)
		ctx.Send(pid, r)
	}
	clear(u.order)
	u.order = u.order[:0]
	u.sendShow(ctx)
	u.armTick()
}

// tick steps fades (each step is a frame) and sends the update of what
// changed since the last one, when the pace allows.
//
// Updates go out on ticks only, never at the end of the batch that made
// them: a fan-out is a burst of socket writes to every desk (1,000 desks
// take milliseconds of CPU, and their readers as much), and started with
// the frame it would compete for the CPUs with whatever carries that frame
// to the light. A period later the frame is long out. Desks see a change
// a period later (1/44 s at 44 Hz) unless the pace holds the update back,
// as the protocol allows; the command's own ack is not delayed.
func (u *universeActor) tick(ctx actor.Context) {
	u.armed = false
	if u.mixer.Fading() {
		u.mixer.Step(time.Now())
		u.dirty = true
		if u.onChange != nil {
			u.onChange()
		}
	}
	u.publish(ctx)
	u.sendUpdate(ctx)
	u.sendShow(ctx)
	u.armTick()
}

// armTick arms the next tick while fades run or an update waits: one
// period after the previous tick (an absolute schedule, so fade steps do
// not drift), or one period from now.
func (u *universeActor) armTick() {
	if u.armed || (!u.mixer.Fading() && !u.mixer.Changed() && !u.monitorPending() && u.showDirty == 0) {
		return
	}
	now := time.Now()
	next := u.nextTick.Add(u.period)
	if next.Before(now) {
		next = now.Add(u.period)
	}
	u.nextTick = next
	u.armed = true
	u.timer.Reset(next.Sub(now))
}

// publish hands the levels to every output when they changed since the
// last frame. Each output's refresh loop sends it as soon as its driver's
// minimum gap allows, and refreshes it every period until a newer one.
// Sending never waits for an output, so one that fails delays no other.
func (u *universeActor) publish(ctx actor.Context) {
	if !u.dirty {
		return
	}
	u.dirty = false
	u.computeOut()
	for _, o := range u.outputs {
		f := o.frames.get()
		f.frame = u.out
		ctx.Send(o.pid, f)
	}
}

// sendUpdate sends every desk the channels changed since the last update,
// at most once a period on average: desks need no more, and a flood of
// changes costs one fan-out per period. The limiter's burst of 2 absorbs
// the jitter of ticks. An update also waits while the previous one is
// still on its way to many desks (see fanningOut) and while the engine's
// update budget is spent; the changes gather meanwhile and the next tick
// tries again.
func (u *universeActor) sendUpdate(ctx actor.Context) {
	now := time.Now()
	levelsChanged, monitor := u.mixer.Changed(), u.monitorPending()
	if !levelsChanged && !monitor || u.fanningOut(now) || !u.budget.ready(now) || !u.updates.Allow() {
		return
	}
	if monitor {
		u.sendMonitor(ctx)
	}
	if !levelsChanged {
		return
	}
	u.budget.charge(len(u.subs))
	changed := u.mixer.TakeChanged()
	levels := u.mixer.Levels()
	changes := make([]dmx.Change, 0, changed.Len())
	changed.Each(func(i int) {
		changes = append(changes, dmx.Change{Channel: uint16(i + 1), Level: levels[i]})
	})
	up := NewUpdate(u.number, changes, len(u.subs))
	u.fanout, u.fanoutAt = up, now
	u.broadcast(ctx, up)
}

// The fan-out pace. Writing one update to thousands of desks is most of
// what a busy dmxd does (a system call per desk), and the clock alone
// would start the next fan-out every period however far behind the
// writers are: their goroutines would crowd the run queue where a desk's
// command waits to be read and answered. So the next update waits until
// the previous one is done for all but fanoutSlack desks, or a quarter of
// them (slow and stalled readers hold theirs for seconds), and never
// longer than fanoutMaxWait (a desk whose actor stopped never reports its
// update done). An idle machine writes a fan-out within a period and
// keeps one update a period; a saturated one sends fewer, bigger updates.
const (
	fanoutSlack     = 8
	fanoutSlackPart = 4
	fanoutMaxWait   = time.Second
)

// fanningOut reports whether the previous update is still on its way to
// more desks than the pace allows.
func (u *universeActor) fanningOut(now time.Time) bool {
	if u.fanout == nil || now.Sub(u.fanoutAt) >= fanoutMaxWait {
		return false
	}
	return u.fanout.Pending() > max(fanoutSlack, int64(len(u.subs)/fanoutSlackPart))
}

// broadcast sends msg to every subscriber: to those of this process one
// by one, to those of each edge in one fan-out.
func (u *universeActor) broadcast(ctx actor.Context, msg any) {
	for _, s := range u.subs {
		if len(u.edges) == 0 || !u.remote(s.pid) {
			ctx.Send(s.pid, msg)
		}
	}
	for _, g := range u.edges {
		ctx.Send(g.fanout, &fanout{conns: g.ids, msg: msg})
	}
}

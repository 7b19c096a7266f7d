package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/dmxd/dmxd/dmx"
)

// Messages of the universe actor.
type (
	// attach subscribes a connection actor to the universe: it is watched,
	// gets the state now and every update from now on.
	attach struct{ conn *actor.PID }
	// apply carries a command from a connection actor.
	apply struct {
		from *actor.PID
		cmd  *Command
	}
	// tick asks for one output frame; sent by the universe's clock.
	tick struct{}
	// flush asks for a final frame now and is answered with flushed.
	flush   struct{}
	flushed struct{}
	// syncReq is answered with syncDone once every message the universe
	// received before it has been handled (a barrier).
	syncReq  struct{}
	syncDone struct{}
	// snapshotQuery is answered with a *dmx.UniverseState.
	snapshotQuery struct{}
)

func (*attach) IgnoreDeadLetterLogging()   {}
func (*syncReq) IgnoreDeadLetterLogging()  {}
func (*syncDone) IgnoreDeadLetterLogging() {}
func (*apply) IgnoreDeadLetterLogging()    {}
func (*tick) IgnoreDeadLetterLogging()     {}

// subscriber is a connection actor watching a universe, with its merge layer.
type subscriber struct {
	pid *actor.PID
	src dmx.Source
}

// universeActor owns the levels of one universe.
type universeActor struct {
	number    int
	period    time.Duration
	minGap    time.Duration
	mixer     *dmx.Mixer
	blackout  bool
	output    *actor.PID
	frames    *framePool
	subs      map[string]subscriber
	nextSrc   dmx.Source
	clock     *clock
	outStatus *OutputStatus // the output's last reported state
	updates   *rate.Limiter // paces updates to one per period
	dirty     bool          // a command changed the levels since the last frame
	onChange  func()        // called when levels or blackout change (persistence)
	tickMsg   *tick
}

// updateBurst lets two updates go out back to back after a quiet period,
// so that the jitter of ticks never delays one by a whole period.
const updateBurst = 2

// newUniverseActor returns the actor of universe number, dark, refreshing
// every period and sending frames to output.
func newUniverseActor(number int, period, minGap time.Duration, mode dmx.Merge, output *actor.PID, frames *framePool) *universeActor {
	return &universeActor{
		number:  number,
		period:  period,
		minGap:  minGap,
		mixer:   dmx.NewMixer(mode),
		output:  output,
		frames:  frames,
		subs:    map[string]subscriber{},
		tickMsg: &tick{},
		updates: rate.NewLimiter(rate.Every(period), updateBurst),
	}
}

func (u *universeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		u.clock = newClock(u.period, u.minGap, func() { root.Send(self, u.tickMsg) })
		go u.clock.run()
	case *actor.Stopping:
		u.clock.Stop()
	case *tick:
		u.render(ctx)
	case *apply:
		u.apply(ctx, m)
	case *attach:
		u.nextSrc++
		u.subs[m.conn.Id] = subscriber{pid: m.conn, src: u.nextSrc}
		ctx.Watch(m.conn)
		ctx.Send(m.conn, u.state())
		if u.outStatus != nil && !u.outStatus.Up {
			ctx.Send(m.conn, u.outStatus)
		}
	case *actor.Terminated:
		if s, ok := u.subs[m.Who.Id]; ok {
			delete(u.subs, m.Who.Id)
			if u.mixer.Mode() == dmx.HTP {
				u.mixer.Release(s.src)
				u.changed()
			}
		}
	case *OutputStatus:
		u.outStatus = m
		u.broadcast(ctx, m)
	case *syncReq:
		ctx.Respond(&syncDone{})
	case *flush:
		u.render(ctx)
		ctx.Respond(&flushed{})
	case *snapshotQuery:
		ctx.Respond(&dmx.UniverseState{Universe: u.number, Values: *u.mixer.Levels(), Blackout: u.blackout})
	}
}

func (u *universeActor) state() *State {
	return &State{Universe: u.number, Values: *u.mixer.Levels(), Blackout: u.blackout}
}

func (u *universeActor) apply(ctx actor.Context, m *apply) {
	src := dmx.BaseSource
	if s, ok := u.subs[m.from.Id]; ok {
		src = s.src
	}
	switch m.cmd.Kind {
	case KindDMX:
		u.mixer.Set(src, m.cmd.Changes)
		u.changed()
	case KindFade:
		u.mixer.Fade(src, m.cmd.Changes, m.cmd.Duration, time.Now())
		u.changed()
	case KindBlackout:
		if u.blackout != m.cmd.On {
			u.blackout = m.cmd.On
			u.broadcast(ctx, &Blackout{Universe: u.number, On: u.blackout})
			u.changed()
		}
	case KindGet:
		ctx.Send(m.from, u.state())
	}
	if m.cmd.ID != nil {
		ctx.Send(m.from, &Ack{ID: m.cmd.ID})
	}
}

// changed marks the next frame as carrying a change (its writer sends it
// as early as the driver allows), asks for that frame now and tells
// persistence.
func (u *universeActor) changed() {
	u.dirty = true
	u.clock.Kick()
	if u.onChange != nil {
		u.onChange()
	}
}

// render advances fades, hands the frame to the output actor first (it is
// what the light waits for), then sends one coalesced update to every
// subscriber — at most once a period.
func (u *universeActor) render(ctx actor.Context) {
	if u.mixer.Fading() {
		u.mixer.Step(time.Now())
		if u.onChange != nil {
			u.onChange()
		}
	}
	f := u.frames.get()
	f.changed, u.dirty = u.dirty, false
	if u.blackout {
		f.frame = dmx.Frame{}
	} else {
		f.frame = *u.mixer.Levels()
	}
	ctx.Send(u.output, f)
	// Updates go out at most once a period on average, early frames or
	// not: desks need no more, and a flood of changes costs one fan-out per
	// period. The limiter's burst of 2 absorbs the jitter of regular ticks.
	if u.mixer.Changed() && u.updates.Allow() {
		changed := u.mixer.TakeChanged()
		levels := u.mixer.Levels()
		up := &Update{Universe: u.number, Changes: make([]dmx.Change, 0, changed.Len())}
		changed.Each(func(i int) {
			up.Changes = append(up.Changes, dmx.Change{Channel: uint16(i + 1), Level: levels[i]})
		})
		u.broadcast(ctx, up)
	}
}

func (u *universeActor) broadcast(ctx actor.Context, msg any) {
	for _, s := range u.subs {
		ctx.Send(s.pid, msg)
	}
}

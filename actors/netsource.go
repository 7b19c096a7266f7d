package actors

import (
	"cmp"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/dmx/sacn"
)

// netSources are the network sources of one universe, owned by its
// actor. Each source is a merge source like a desk, with its own layer:
// only the sources at the highest priority present are merged (E1.31's
// rule; Art-Net sources have priority 100), the others are kept but not
// applied until they are the highest. A source is released when it sends
// stream-terminated, or when it is silent for its timeout; with hold, a
// silent source keeps its levels until it sends stream-terminated or
// another source of the universe sends.
type netSources struct {
	inbox   *netInbox
	srcs    map[string]*netSrc
	timer   *time.Timer // sends netExpire; made on the first source
	gauge   prometheus.Gauge
	seen    *prometheus.CounterVec
	ignored *prometheus.CounterVec
	log     zerolog.Logger
}

// netSrc is one remote source: its newest packet and the levels it has
// sent (a short packet updates the first slots only).
type netSrc struct {
	f      *netFrame
	src    dmx.Source
	levels dmx.Frame
	n      int // slots the source has sent
	dirty  dmx.ChannelSet
	active bool // merged: at the highest priority
	held   bool // past its timeout, levels held
}

// netExpire asks the universe to release its silent sources.
type netExpire struct{}

func (*netExpire) IgnoreDeadLetterLogging()    {}
func (*sourcesQuery) IgnoreDeadLetterLogging() {}

var netExpireMsg = &netExpire{}

// newNetSources returns the (empty) network sources of universe u.
func (e *Engine) newNetSources(u int) *netSources {
	return &netSources{
		inbox:   e.inboxes[u-1],
		srcs:    map[string]*netSrc{},
		gauge:   e.inMets.Sources.WithLabelValues(universeLabel(u)),
		seen:    e.inMets.SourcesSeen,
		ignored: e.inMets.Ignored,
		log:     e.cfg.Log.With().Int("universe", u).Logger(),
	}
}

// receiveNet handles the network messages of a universe; it reports
// whether msg was one.
func (u *universeActor) receiveNet(ctx actor.Context, msg any) bool {
	ns := u.net
	switch msg.(type) {
	case *netPending:
		if ns == nil {
			return true
		}
		for _, f := range ns.inbox.take() {
			u.netFrame(f)
		}
	case *netExpire:
		if ns == nil {
			return true
		}
		now := time.Now()
		for key, s := range ns.srcs {
			if s.held || now.Sub(s.f.at) < s.f.timeout {
				continue
			}
			if s.f.hold {
				s.held = true
				ns.log.Info().Str("source", s.f.name).Str("address", s.f.addr).Msg("network source silent: levels held")
				continue
			}
			u.netDrop(key, s, "timeout")
		}
	case *sourcesQuery:
		ctx.Respond(u.netHealth())
		return true
	case *actor.Stopping:
		if ns != nil && ns.timer != nil {
			ns.timer.Stop()
		}
		return false
	default:
		return false
	}
	u.netMerge(ctx)
	u.netArm(ctx)
	return true
}

// netFrame takes a source's newest packet.
func (u *universeActor) netFrame(f *netFrame) {
	ns := u.net
	s := ns.srcs[f.key]
	if f.terminated {
		if s != nil {
			u.netDrop(f.key, s, "stream terminated")
		}
		return
	}
	if s != nil && f.useSeq && s.f.useSeq && sacn.SequenceLate(s.f.seq, f.seq) {
		ns.ignored.WithLabelValues(f.proto).Inc()
		return
	}
	for key, o := range ns.srcs {
		if o.held && key != f.key {
			u.netDrop(key, o, "another source took over")
		}
	}
	if s == nil {
		if len(ns.srcs) >= maxNetSources {
			ns.ignored.WithLabelValues(f.proto).Inc()
			return
		}
		u.nextSrc++
		s = &netSrc{src: u.nextSrc}
		ns.srcs[f.key] = s
		ns.gauge.Set(float64(len(ns.srcs)))
		ns.seen.WithLabelValues(f.proto).Inc()
		ns.log.Info().Str("protocol", f.proto).Str("source", f.name).Str("address", f.addr).Int("priority", int(f.priority)).Msg("network source appeared")
	}
	s.f, s.held = f, false
	for i := range f.count {
		if s.levels[i] != f.slots[i] || i >= s.n {
			s.levels[i] = f.slots[i]
			s.dirty.Add(i)
		}
	}
	s.n = max(s.n, f.count)
}

// netDrop releases a source: its layer leaves the merge.
func (u *universeActor) netDrop(key string, s *netSrc, reason string) {
	ns := u.net
	if s.active {
		u.mixer.Release(s.src)
		u.dirty = true
	}
	delete(ns.srcs, key)
	ns.gauge.Set(float64(len(ns.srcs)))
	ns.log.Info().Str("source", s.f.name).Str("address", s.f.addr).Str("reason", reason).Msg("network source released")
}

// netMerge applies the sources at the highest priority and takes the
// others out of the merge.
func (u *universeActor) netMerge(ctx actor.Context) {
	ns := u.net
	top := -1
	for _, s := range ns.srcs {
		top = max(top, int(s.f.priority))
	}
	var changes []dmx.Change
	for _, s := range ns.srcs {
		want := int(s.f.priority) == top
		switch {
		case want:
			changes = changes[:0]
			if !s.active {
				for i := range s.n {
					changes = append(changes, dmx.Change{Channel: uint16(i + 1), Level: s.levels[i]})
				}
			} else {
				s.dirty.Each(func(i int) {
					changes = append(changes, dmx.Change{Channel: uint16(i + 1), Level: s.levels[i]})
				})
			}
			s.active = true
			if len(changes) > 0 {
				u.mixer.Set(s.src, changes)
				u.dirty = true
			}
		case s.active:
			u.mixer.Release(s.src)
			s.active = false
			u.dirty = true
		}
		s.dirty = dmx.ChannelSet{}
	}
	if u.dirty {
		u.changed(ctx)
	}
}

// netArm arms the timer for the next source timeout.
func (u *universeActor) netArm(ctx actor.Context) {
	ns := u.net
	var next time.Time
	for _, s := range ns.srcs {
		if s.held {
			continue
		}
		if at := s.f.at.Add(s.f.timeout); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if next.IsZero() {
		if ns.timer != nil {
			ns.timer.Stop()
		}
		return
	}
	if ns.timer == nil {
		self, root := ctx.Self(), ctx.ActorSystem().Root
		ns.timer = time.AfterFunc(time.Hour, func() { root.Send(self, netExpireMsg) })
	}
	ns.timer.Reset(max(time.Until(next), 0))
}

// netHealth lists the universe's sources, by protocol and name.
func (u *universeActor) netHealth() []SourceHealth {
	if u.net == nil {
		return nil
	}
	out := make([]SourceHealth, 0, len(u.net.srcs))
	for _, s := range u.net.srcs {
		out = append(out, SourceHealth{Universe: u.number, Protocol: s.f.proto, Name: s.f.name, Address: s.f.addr,
			Priority: int(s.f.priority), LastPacket: s.f.at.UTC(), Held: s.held, Active: s.active})
	}
	slices.SortFunc(out, func(a, b SourceHealth) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Address, b.Address))
	})
	return out
}

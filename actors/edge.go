package actors

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/rs/zerolog"
)

// Desk edges (issue 15). An edge is an engine that runs no universes: its
// connection actors talk to the universe actors of a core, another dmxd
// process, through remote PIDs (actor.NewPID(core, "universe-N")), and the
// messages between them cross as edge.proto's Wire messages (edgewire.go).
// The core answers its edges through its "edges" actor.
//
// The edge's link actor pings the core every edgePingPeriod with a
// WireJoin, which the core answers with its hello. While it answers, the
// edge admits desks; when it misses edgeLostPings answers in a row (the
// core is lost), the edge closes every desk at once — an error message
// with code CodeCoreUnavailable, then the close code CloseServiceRestart —
// and refuses new desks and plain HTTP commands until the core answers
// again. A core that answers with another boot or session than before has
// forgotten the edge's desks (it restarted, or lost its link to the edge
// and released them): the edge closes them the same way and admits new
// ones at once.

// Timing of the link between an edge and its core.
const (
	edgePingPeriod    = 250 * time.Millisecond
	edgeLostPings     = 3
	edgeHealthTimeout = 2 * time.Second
)

// The names of the core's well-known actors an edge talks to.
const (
	edgesName       = "edges"
	universeNameFmt = "universe-%d"
)

// CloseServiceRestart is the WebSocket close code of the desks of an edge
// whose core is lost (RFC 6455's 1012, Service Restart): reconnect.
const CloseServiceRestart = 1012

// CodeCoreUnavailable is the error code an edge sends each desk before it
// closes it because the core is lost, and answers plain HTTP requests and
// WebSocket upgrades with (503) while the core is away.
const CodeCoreUnavailable = "core_unavailable"

// ErrCoreUnavailable is the answer of an edge's Connect and Apply while its
// core does not answer.
var ErrCoreUnavailable = errors.New("the core does not answer: retry")

// edgeMode is what an engine that is an edge has instead of universes.
type edgeMode struct {
	core  string                   // the core's cluster address
	view  atomic.Pointer[edgeView] // nil while the core is away
	last  atomic.Pointer[edgeView] // the last view, kept while the core is away
	link  *actor.PID               // the link actor
	state atomic.Pointer[CoreLink] // what /healthz reports of the link
}

// edgeView is what an edge knows of its core while the core answers. A
// connection actor is spawned with the view of its moment and closed when
// the view it was spawned with ends.
type edgeView struct {
	hello     *Hello
	universes []*actor.PID
	gen       uint64 // counts the views of this edge's life, from 1
}

// CoreLink is the state of an edge's link to its core, as /healthz shows
// it.
type CoreLink struct {
	Address string `json:"address"`
	State   string `json:"state"` // "up" or "down"
	// Since is when the link went into State.
	Since time.Time `json:"since"`
}

// Link returns the state of an edge's link to its core; nil for an engine
// that is not an edge.
func (e *Engine) Link() *CoreLink {
	if e.edge == nil {
		return nil
	}
	l := *e.edge.state.Load()
	return &l
}

// Ready returns ErrCoreUnavailable while an edge's core is away; nil
// otherwise (and always for an engine that is not an edge).
func (e *Engine) Ready() error {
	if e.edge != nil && e.edge.view.Load() == nil {
		return ErrCoreUnavailable
	}
	return nil
}

// startEdge starts an engine that is an edge of the core at cfg.Core.
func startEdge(cfg Config, e *Engine) (*Engine, error) {
	if cfg.Cluster == nil {
		return nil, errors.New("edge: a cluster configuration is required: the core answers the edge at its cluster address")
	}
	if _, _, err := splitHostPort(cfg.Core); err != nil {
		return nil, fmt.Errorf("edge: core address %q: %w", cfg.Core, err)
	}
	r, err := StartCluster(e.sys, *cfg.Cluster)
	if err != nil {
		return nil, err
	}
	e.remote = r
	started := false
	defer func() {
		if !started {
			r.Shutdown(false)
		}
	}()
	e.edge = &edgeMode{core: cfg.Core}
	e.edge.state.Store(&CoreLink{Address: cfg.Core, State: "down", Since: time.Now()})
	connGuardian := actor.WithGuardian(stopOnFailure())
	connDispatcher := actor.WithDispatcher(actor.NewSynchronizedDispatcher(connThroughput))
	newConn := func(p Peer) (*actor.Props, uint64) {
		v := e.edge.view.Load()
		if v == nil {
			return nil, 0
		}
		return actor.PropsFromProducer(func() actor.Actor {
			return &connectionActor{peer: p, hello: v.hello, universes: v.universes, log: cfg.Log}
		}, connGuardian, connDispatcher), v.gen
	}
	e.lobby = e.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &lobbyActor{newConn: newConn, conns: map[string]lobbyConn{}}
	}))
	if _, err := e.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return edgeFanoutActor{} }), edgeFanoutName); err != nil {
		return nil, fmt.Errorf("spawn %s: %w", edgeFanoutName, err)
	}
	link := &edgeLink{edge: e.edge, core: actor.NewPID(cfg.Core, edgesName), lobby: e.lobby,
		version: cfg.Version, log: cfg.Log.With().Str("core", cfg.Core).Logger()}
	e.edge.link = e.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return link }))
	started = true
	return e, nil
}

// stopEdge stops an edge: its link, then its remote and actor system.
// Call CloseConnections first.
func (e *Engine) stopEdge() error {
	err := e.sys.Root.PoisonFuture(e.edge.link).Wait()
	e.remote.Shutdown(false)
	e.sys.Shutdown()
	if err != nil {
		return fmt.Errorf("stop the link to the core: %w", err)
	}
	return nil
}

// edgeUniverses returns the universes of an edge's view, or
// ErrCoreUnavailable.
func (e *Engine) edgeUniverses() ([]*actor.PID, error) {
	v := e.edge.view.Load()
	if v == nil {
		return nil, ErrCoreUnavailable
	}
	return v.universes, nil
}

// edgeHealth asks the core for the state of its outputs.
func (e *Engine) edgeHealth() ([]OutputHealth, error) {
	if e.edge.view.Load() == nil {
		return nil, ErrCoreUnavailable
	}
	res, err := e.sys.Root.RequestFuture(actor.NewPID(e.edge.core, edgesName), &WireHealthQuery{}, edgeHealthTimeout).Result()
	if err != nil {
		return nil, fmt.Errorf("core output health: %w", err)
	}
	w, ok := res.(*WireHealth)
	if !ok {
		return nil, fmt.Errorf("core output health: unexpected answer %T", res)
	}
	if w.Error != "" {
		return nil, fmt.Errorf("core output health: %s", w.Error)
	}
	hs := make([]OutputHealth, 0, len(w.Outputs))
	for _, o := range w.Outputs {
		h := OutputHealth{Universe: int(o.Universe), Output: o.Output, Target: o.Target, Node: o.Node, State: o.State,
			Frames: o.Frames, Error: o.Error}
		if o.Packets != nil {
			p := *o.Packets
			h.Packets = &p
		}
		if o.SendErrors != nil {
			s := *o.SendErrors
			h.SendErrors = &s
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// Messages of the edge's link actor.
type (
	linkTick struct{}
	// dropConns closes, at once, every connection spawned with a view
	// before gen: an error message with err, then the close code.
	dropConns struct {
		below  uint64
		code   int
		reason string
		err    *Error
	}
	// dropConn closes one connection at once (see dropConns).
	dropConn struct {
		code   int
		reason string
		err    *Error
	}
)

func (*linkTick) IgnoreDeadLetterLogging() {}
func (*dropConn) IgnoreDeadLetterLogging() {}

// edgeLink is the edge's side of its link to the core: it pings the core's
// edges actor, keeps the edge's view of the core and closes the desks
// when the core is lost or has forgotten them.
type edgeLink struct {
	edge     *edgeMode
	core     *actor.PID
	lobby    *actor.PID
	version  string
	log      zerolog.Logger
	stop     chan struct{}
	answered time.Time // the last answer
	boot     uint64    // the boot and session of the current view
	session  uint64
	gen      uint64 // the last view's
}

func (l *edgeLink) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.stop = make(chan struct{})
		self, root := ctx.Self(), ctx.ActorSystem().Root
		go func() {
			t := time.NewTicker(edgePingPeriod)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					root.Send(self, &linkTick{})
				case <-l.stop:
					return
				}
			}
		}()
		ctx.Request(l.core, &WireJoin{Version: l.version})
	case *actor.Stopping:
		close(l.stop)
	case *linkTick:
		// A ping the core does not answer is simply superseded by the
		// next: only the time since the last answer counts.
		ctx.Request(l.core, &WireJoin{Version: l.version})
		if l.edge.view.Load() != nil && time.Since(l.answered) > edgeLostPings*edgePingPeriod {
			l.lost(ctx, "the core does not answer")
		}
	case *WireHello:
		l.answered = time.Now()
		l.hello(ctx, m)
	}
}

// hello takes the core's answer.
func (l *edgeLink) hello(ctx actor.Context, m *WireHello) {
	if m.Universes < 1 || m.Universes > MaxUniverses || m.Rate < 1 || m.Rate > MaxRate {
		l.log.Error().Int32("universes", m.Universes).Int32("rate", m.Rate).Msg("the core's hello is not valid: ignored")
		return
	}
	v := l.edge.view.Load()
	if v != nil && m.Boot == l.boot && m.Session == l.session {
		return // the link is up, as it was
	}
	if v != nil {
		l.log.Warn().Msg("the core forgot this edge's desks (it restarted or lost its link to the edge): closing them")
		l.dropAll(ctx, "the core restarted")
	}
	l.boot, l.session = m.Boot, m.Session
	l.gen++
	nv := &edgeView{
		hello: &Hello{Version: m.Version, Universes: int(m.Universes), Rate: int(m.Rate), Merge: m.Merge,
			Features: append([]string(nil), m.Features...)},
		universes: make([]*actor.PID, m.Universes),
		gen:       l.gen,
	}
	for i := range nv.universes {
		nv.universes[i] = actor.NewPID(l.core.Address, fmt.Sprintf(universeNameFmt, i+1))
	}
	l.edge.view.Store(nv)
	l.edge.last.Store(nv)
	l.edge.state.Store(&CoreLink{Address: l.core.Address, State: "up", Since: time.Now()})
	l.log.Info().Int32("universes", m.Universes).Str("core_version", m.Version).Msg("linked to the core: admitting desks")
}

// lost takes the edge's view away and closes every desk.
func (l *edgeLink) lost(ctx actor.Context, why string) {
	l.edge.view.Store(nil)
	l.edge.state.Store(&CoreLink{Address: l.core.Address, State: "down", Since: time.Now()})
	l.log.Warn().Str("reason", why).Msg("core lost: closing every desk, refusing new ones until it answers")
	l.dropAll(ctx, "core unavailable")
}

// dropAll closes every desk spawned with a view up to the current one.
func (l *edgeLink) dropAll(ctx actor.Context, reason string) {
	ctx.Send(l.lobby, &dropConns{below: l.gen + 1, code: CloseServiceRestart, reason: reason,
		err: &Error{Code: CodeCoreUnavailable, Message: "dmxd's core is unavailable (" + reason + "): reconnect"}})
}

// newBoot returns the number of this core's start, in every hello its
// edges actor answers: another number tells an edge the core restarted.
func newBoot() uint64 { return rand.Uint64() | 1 }

// edgesActor is the core's side of its edges: it answers their joins and
// pings with the core's hello, and their health queries. Each edge address
// has a session number from its first join until the link to it ends
// (remote's EndpointTerminatedEvent; the universes then release the
// edge's desks, which they watch); its next join gets a new number, which
// tells the edge that its desks were released. Only the addresses of live
// links are kept.
type edgesActor struct {
	e        *Engine
	hello    *Hello
	boot     uint64
	sessions map[string]uint64
	next     uint64
	sub      *eventstream.Subscription
	log      zerolog.Logger
}

func (a *edgesActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		a.sub = ctx.ActorSystem().EventStream.Subscribe(func(evt any) {
			if t, ok := evt.(*remote.EndpointTerminatedEvent); ok {
				root.Send(self, t)
			}
		})
	case *actor.Stopping:
		ctx.ActorSystem().EventStream.Unsubscribe(a.sub)
	case *remote.EndpointTerminatedEvent:
		// The edge's next join gets a new session.
		if _, ok := a.sessions[m.Address]; ok {
			delete(a.sessions, m.Address)
			a.log.Info().Str("edge", m.Address).Msg("link to an edge lost: its desks are released")
		}
	case *WireJoin:
		s := ctx.Sender()
		if s == nil {
			return
		}
		session, ok := a.sessions[s.Address]
		if !ok {
			a.next++
			session = a.next
			a.sessions[s.Address] = session
			a.log.Info().Str("edge", s.Address).Str("edge_version", m.Version).Msg("edge joined")
		}
		h := a.hello
		ctx.Respond(&WireHello{Version: h.Version, Universes: int32(h.Universes), Rate: int32(h.Rate), Merge: h.Merge,
			Features: h.Features, Boot: a.boot, Session: session})
	case *WireHealthQuery:
		// Engine.Health waits for each output: not in this actor.
		s, root, e := ctx.Sender(), ctx.ActorSystem().Root, a.e
		if s == nil {
			return
		}
		go func() { root.Send(s, wireHealth(e.Health())) }()
	}
}

// wireHealth is the answer to an edge's health query.
func wireHealth(hs []OutputHealth, err error) *WireHealth {
	if err != nil {
		return &WireHealth{Error: err.Error()}
	}
	w := &WireHealth{Outputs: make([]*WireOutputHealth, len(hs))}
	for i, h := range hs {
		w.Outputs[i] = &WireOutputHealth{Universe: int32(h.Universe), Output: h.Output, Target: h.Target, Node: h.Node,
			State: h.State, Frames: h.Frames, Packets: h.Packets, SendErrors: h.SendErrors, Error: utf8String(h.Error)}
	}
	return w
}

// startEdges spawns the core's edges actor.
func (e *Engine) startEdges() error {
	a := &edgesActor{e: e, hello: e.hello, boot: newBoot(), sessions: map[string]uint64{},
		log: e.cfg.Log.With().Str("component", "edges").Logger()}
	pid, err := e.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return a }), edgesName)
	if err != nil {
		return fmt.Errorf("spawn edges: %w", err)
	}
	e.edges = pid
	return nil
}

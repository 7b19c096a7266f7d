package actors

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors/metrics"
	"github.com/dmxd/dmxd/dmx"
)

// Limits of the engine's configuration.
const (
	MaxRate         = 44 // DMX512's maximum refresh rate for a full universe
	MaxUniverses    = 1024
	requestTimeout  = 5 * time.Second
	writerStopGrace = 1500 * time.Millisecond // the final frame waits up to 1 s for a full device
	// connThroughput and outputThroughput are how many messages a
	// connection or output actor handles before its mailbox yields.
	connThroughput   = 300
	outputThroughput = 300
)

// Config is what the engine runs.
type Config struct {
	// Universes is how many universes exist (1..Universes).
	Universes int
	// Rate is the refresh rate in frames per second, 1..MaxRate.
	Rate int
	// Merge is the merge mode of every universe.
	Merge dmx.Merge
	// Outputs patches universes to one driver each, and Patch adds
	// outputs in order (several may drive one universe: each gets every
	// frame, with its own refresh loop, health and metrics). A universe
	// patched in neither gets dmx.Null. A universe's outputs are those of
	// Outputs, then those of Patch.
	Outputs map[int]dmx.Driver
	Patch   []dmx.Output
	// Restore holds saved states loaded into the universes at start.
	Restore []dmx.UniverseState
	// StatePath, when set, is the state file the engine saves levels to
	// (at most once every SaveInterval while they change, and at Stop).
	StatePath string
	// SaveInterval defaults to DefaultSaveInterval.
	SaveInterval time.Duration
	// UpdateBudget is how many update messages per second all universes
	// together may send their desks (see DefaultUpdateBudget): 0 is the
	// default, a negative value means no budget.
	UpdateBudget int
	// Version is reported in hello messages.
	Version string
	// Log receives the engine's and the actor system's logs.
	Log zerolog.Logger
	// Metrics receives frame and output metrics; nil counts into a
	// registry nobody serves.
	Metrics *metrics.Metrics
	// Inputs are the network inputs (sACN, Art-Net) whose sources merge
	// into the universes; the engine owns their sockets from Start.
	Inputs []Input
	// Cluster, when set, makes the engine's actors reachable from other
	// dmxd processes (see StartCluster); nil runs it alone. A core (an
	// engine with universes and Cluster) answers desk edges (see edge.go).
	Cluster *ClusterConfig
	// Core, when set, makes the engine a desk edge of the core at that
	// cluster address (see edge.go): it runs no universes, outputs, inputs
	// or state file, and needs Cluster (the core answers it there). Only
	// Version, Log, Metrics and Cluster apply besides.
	Core string
}

// Engine is the running actor system of dmxd: universes, outputs and the
// lobby of connections. Its methods are safe for concurrent use.
type Engine struct {
	cfg       Config
	sys       *actor.ActorSystem
	hello     *Hello
	saver     *saver
	lobby     *actor.PID
	universes []*actor.PID
	outputs   []engineOutput // in universe order, then patch order
	closing   atomic.Bool    // CloseConnections began: no new connections
	inboxes   []*netInbox    // universe u's network inbox at u-1; nil without inputs
	inMets    *metrics.Input
	readers   []*inputReader
	remote    *remote.Remote // nil without Config.Cluster
	nodes     *actor.PID     // the registry of output nodes; nil without Config.Cluster
	edge      *edgeMode      // nil unless the engine is an edge (Config.Core)
	edges     *actor.PID     // a core's edges actor; nil without Config.Cluster
}

// engineOutput is one output the engine runs.
type engineOutput struct {
	universe int
	pid      *actor.PID
	w        *writer
}

// Start validates cfg and spawns the universes and their outputs, or
// starts an edge of the core cfg.Core.
func Start(cfg Config) (*Engine, error) {
	if cfg.Core != "" {
		if cfg.Metrics == nil {
			cfg.Metrics = metrics.New()
		}
		return startEdge(cfg, &Engine{cfg: cfg, sys: newSystem(cfg.Log)})
	}
	if cfg.Universes < 1 || cfg.Universes > MaxUniverses {
		return nil, fmt.Errorf("universes %d is outside 1..%d", cfg.Universes, MaxUniverses)
	}
	if cfg.Rate < 1 || cfg.Rate > MaxRate {
		return nil, fmt.Errorf("rate %d is outside 1..%d", cfg.Rate, MaxRate)
	}
	patch := map[int][]dmx.Driver{}
	for u, d := range cfg.Outputs {
		patch[u] = append(patch[u], d)
	}
	for _, o := range cfg.Patch {
		patch[o.Universe] = append(patch[o.Universe], o.Driver)
	}
	for u, ds := range patch {
		if u < 1 || u > cfg.Universes {
			return nil, fmt.Errorf("output for universe %d: universes are 1..%d", u, cfg.Universes)
		}
		for _, d := range ds {
			if d == nil {
				return nil, fmt.Errorf("output for universe %d: no driver", u)
			}
		}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	keep := actor.WithGuardian(resumeOnFailure())
	e := &Engine{
		cfg: cfg,
		sys: newSystem(cfg.Log),
		hello: &Hello{
			Version:   cfg.Version,
			Universes: cfg.Universes,
			Rate:      cfg.Rate,
			Merge:     cfg.Merge.String(),
			Features:  ShowFeatures(),
		},
	}
	if cfg.StatePath != "" {
		e.saver = newSaver(cfg.StatePath, cfg.SaveInterval, e.Snapshots, cfg.Log)
		e.saver.saves = cfg.Metrics.StateSaves
	}
	for _, in := range cfg.Inputs {
		for _, u := range in.Spec.Universes {
			if u < 1 || u > cfg.Universes {
				return nil, fmt.Errorf("input %s for universe %d: universes are 1..%d", in.Spec.Proto, u, cfg.Universes)
			}
		}
		if in.Conn == nil {
			return nil, fmt.Errorf("input %s: no socket", in.Spec.Proto)
		}
	}
	if len(cfg.Inputs) > 0 {
		e.inMets = metrics.NewInput(cfg.Metrics)
		e.inboxes = make([]*netInbox, cfg.Universes)
		for i := range e.inboxes {
			e.inboxes[i] = &netInbox{}
		}
	}
	started := false
	if cfg.Cluster != nil {
		// Before any actor is spawned: every PID carries the address
		// other processes reach.
		r, err := StartCluster(e.sys, *cfg.Cluster)
		if err != nil {
			return nil, err
		}
		e.remote = r
		defer func() {
			if !started {
				r.Shutdown(false)
			}
		}()
	}
	period := time.Second / time.Duration(cfg.Rate)
	budget := newUpdateBudget(cmp.Or(cfg.UpdateBudget, DefaultUpdateBudget))
	for u := 1; u <= cfg.Universes; u++ {
		drvs := patch[u]
		if len(drvs) == 0 {
			drvs = []dmx.Driver{dmx.Null{}}
		}
		if _, err := e.startUniverse(u, drvs, period, budget, keep); err != nil {
			return nil, err
		}
	}
	e.startInputs()
	if e.remote != nil {
		pid, err := e.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
			return newNodesActor(e.universes, cfg.Log)
		}), nodesName)
		if err != nil {
			return nil, fmt.Errorf("spawn nodes: %w", err)
		}
		e.nodes = pid
	}
	connGuardian := actor.WithGuardian(stopOnFailure())
	// A connection actor's work is a few non-blocking hand-offs, so its
	// mailbox runs in the goroutine of whoever sends to it (the read pump,
	// a universe) instead of a new goroutine per message: a burst of
	// thousands of desks then does not flood the scheduler's run queues,
	// where the output writers would wait behind them.
	connDispatcher := actor.WithDispatcher(actor.NewSynchronizedDispatcher(connThroughput))
	newConn := func(p Peer) (*actor.Props, uint64) {
		return actor.PropsFromProducer(func() actor.Actor {
			return &connectionActor{peer: p, hello: e.hello, universes: e.universes, log: cfg.Log}
		}, connGuardian, connDispatcher), 0
	}
	if e.saver != nil {
		go e.saver.run()
	}
	e.lobby = e.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &lobbyActor{newConn: newConn, conns: map[string]lobbyConn{}}
	}))
	if cfg.Cluster != nil {
		// Last: an edge admits desks once the universes they attach to
		// run.
		if err := e.startEdges(); err != nil {
			return nil, err
		}
	}
	started = true
	return e, nil
}

// startUniverse spawns universe u and its outputs through drvs.
func (e *Engine) startUniverse(u int, drvs []dmx.Driver, period time.Duration, budget *updateBudget, keep actor.PropsOption) (*universeActor, error) {
	cfg := e.cfg
	// The universe is spawned first and knows its outputs by name: a
	// frame sent before an output exists is dropped, while every state an
	// output reports reaches a universe that already runs.
	uname := fmt.Sprintf("universe-%d", u)
	links := make([]outLink, len(drvs))
	writers := make([]*writer, len(drvs))
	logs := make([]zerolog.Logger, len(drvs))
	for i, drv := range drvs {
		logs[i] = cfg.Log.With().Int("universe", u).Str("output", drv.Name()).Str("target", drv.Target()).Logger()
		w, err := newWriter(drv, period, logs[i])
		if err != nil {
			return nil, fmt.Errorf("output %d (%s): %w", u, drv.Name(), err)
		}
		writers[i] = w
		oname := fmt.Sprintf("output-%d", u)
		if i > 0 {
			oname = fmt.Sprintf("output-%d.%d", u, i+1)
		}
		links[i] = outLink{pid: e.sys.NewLocalPID(oname), frames: newFramePool()}
	}
	uu := newUniverseActor(u, period, cfg.Merge, links)
	uu.budget = budget
	uu.latency = e.cfg.Metrics.CommandLatency
	if e.inboxes != nil {
		uu.net = e.newNetSources(u)
	}
	if e.saver != nil {
		uu.onChange = e.saver.markDirty
	}
	for _, s := range cfg.Restore {
		if s.Universe == u {
			uu.mixer.Load(&s.Values)
			uu.mixer.TakeChanged()
			uu.blackout = s.Blackout
			if s.Show != nil {
				uu.show = s.Show.Clone()
			}
			if s.GrandMaster != nil {
				uu.grand = *s.GrandMaster
			}
		}
	}
	// The first frame goes to each refresh loop now, before any actor
	// runs (the output actor is the loop's producer from then on): the
	// device gets the restored levels as soon as it opens, however many
	// desks are queueing at the universe by then.
	uu.computeOut()
	uu.monSent = uu.out
	first := uu.out
	for i, drv := range drvs {
		writers[i].loop.Publish(drv.AppendFrame(nil, &first), true)
	}
	pid, err := e.sys.Root.SpawnNamed(universeProps(uu, keep), uname)
	if err != nil {
		return nil, fmt.Errorf("spawn universe %d: %w", u, err)
	}
	e.universes = append(e.universes, pid)
	for i, drv := range drvs {
		var stats *dmx.NetStats
		if n, ok := drv.(interface{ Stats() *dmx.NetStats }); ok {
			stats = n.Stats()
		}
		om := cfg.Metrics.Output(metrics.OutputSpec{Universe: u, Driver: drv.Name(), Target: drv.Target(), First: i == 0, Network: stats != nil})
		oa := &outputActor{universe: u, slot: i, drv: drv, net: stats, w: writers[i], pool: links[i].frames, metrics: om, owner: pid, log: logs[i]}
		// The output actor's work is short and never blocks (encode, hand
		// to the refresh loop, health), so it runs in the goroutine of
		// whoever sends to it: a frame goes from the universe to the
		// refresh loop without waiting for another goroutine to be
		// scheduled.
		opid, err := e.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return oa },
			keep, actor.WithDispatcher(actor.NewSynchronizedDispatcher(outputThroughput))), links[i].pid.Id)
		if err != nil {
			return nil, fmt.Errorf("spawn output %d (%s): %w", u, drv.Name(), err)
		}
		if !opid.Equal(links[i].pid) {
			return nil, fmt.Errorf("spawn output %d: got pid %s, want %s", u, opid, links[i].pid)
		}
		e.outputs = append(e.outputs, engineOutput{universe: u, pid: opid, w: writers[i]})
	}
	return uu, nil
}

// universeProps are the props of universe actor uu: a priority mailbox,
// so that quiet commands go first (see quietPriority).
func universeProps(uu *universeActor, opts ...actor.PropsOption) *actor.Props {
	opts = append(opts, actor.WithMailbox(actor.UnboundedPriorityMpsc()))
	return actor.PropsFromProducer(func() actor.Actor { return uu }, opts...)
}

// ClusterAddress returns the address other dmxd processes reach this
// engine's actors at, or "" when it runs without Config.Cluster.
func (e *Engine) ClusterAddress() string {
	if e.remote == nil {
		return ""
	}
	return e.sys.Address()
}

// Universes returns how many universes the engine runs: on an edge, how
// many its core runs (0 before the core first answered).
func (e *Engine) Universes() int {
	if e.edge != nil {
		if v := e.edge.view.Load(); v != nil {
			return len(v.universes)
		}
		if v := e.edge.last.Load(); v != nil {
			return len(v.universes)
		}
		return 0
	}
	return e.cfg.Universes
}

// Connect spawns the connection actor of a new client and returns its PID.
// Its *actor.Started sends the hello and subscribes it to every universe.
// It returns ErrClosing once CloseConnections has begun (a WebSocket
// upgraded while dmxd shuts down), and ErrCoreUnavailable on an edge
// whose core is away.
func (e *Engine) Connect(p Peer) (*actor.PID, error) {
	if e.closing.Load() {
		return nil, ErrClosing
	}
	if err := e.Ready(); err != nil {
		return nil, err
	}
	res, err := e.sys.Root.RequestFuture(e.lobby, &join{peer: p}, requestTimeout).Result()
	if err != nil {
		if e.closing.Load() {
			return nil, ErrClosing
		}
		return nil, fmt.Errorf("spawn connection: %w", err)
	}
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res.(*actor.PID), nil
}

// ErrClosing is Connect's answer while the engine closes its connections.
var ErrClosing = errors.New("shutting down")

// Deliver sends a lifecycle message (Received, Refused, Closed, Failed) to
// a connection actor. It never blocks.
func (e *Engine) Deliver(conn *actor.PID, msg any) { e.sys.Root.Send(conn, msg) }

// Apply has a universe apply cmd for a client without a connection (a
// plain HTTP request) and returns the command's replies — a *State for
// KindGet, an *Ack when cmd has an ID — once the universe has handed the
// frame carrying it to its output: when a desk would get its ack. The
// command goes the way a desk's does, through the universe's mailbox and
// its batches; it is applied in the base layer, where restored levels
// live (in HTP mode it holds its channels until a desk takes them over).
// cmd must be valid (see transport.DecodeCommand) and is not modified.
//
// Apply blocks its caller, which must not be an actor, until the universe
// answers or requestTimeout passes; the caller bounds how many commands it
// has in flight. It returns ErrClosing once CloseConnections has begun,
// and ErrCoreUnavailable on an edge whose core is away (on an edge, the
// universe is the core's: the future is addressed across the link).
func (e *Engine) Apply(cmd *Command) ([]any, error) {
	if e.closing.Load() {
		return nil, ErrClosing
	}
	universes := e.universes
	if e.edge != nil {
		var err error
		if universes, err = e.edgeUniverses(); err != nil {
			return nil, err
		}
	}
	if cmd.Kind.AllUniverses() {
		return e.applyAll(universes, cmd)
	}
	return e.applyOne(universes, cmd)
}

// applyOne has cmd's universe apply it (see Apply).
func (e *Engine) applyOne(universes []*actor.PID, cmd *Command) ([]any, error) {
	if cmd.Universe < 1 || cmd.Universe > len(universes) {
		return nil, fmt.Errorf("apply: universe %d is outside 1..%d", cmd.Universe, len(universes))
	}
	// The future is the command's source for one batch: the universe
	// answers it with the batch's applied message, as it answers a
	// connection actor.
	f := actor.NewFuture(e.sys, requestTimeout)
	e.sys.Root.Send(universes[cmd.Universe-1], &apply{from: f.PID(), cmd: cmd})
	res, err := f.Result()
	if err != nil {
		return nil, fmt.Errorf("apply to universe %d: %w", cmd.Universe, err)
	}
	a, ok := res.(*applied)
	if !ok {
		return nil, fmt.Errorf("apply to universe %d: unexpected answer %T", cmd.Universe, res)
	}
	return a.replies, nil
}

// applyAll applies a command for every universe (see Kind.AllUniverses)
// to each in turn, and answers with one ack once all have.
func (e *Engine) applyAll(universes []*actor.PID, cmd *Command) ([]any, error) {
	for u := range universes {
		part := *cmd
		part.Universe, part.ID = u+1, nil
		if _, err := e.applyOne(universes, &part); err != nil {
			return nil, err
		}
	}
	if cmd.ID == nil {
		return nil, nil
	}
	return []any{&Ack{ID: cmd.ID}}, nil
}

// Health returns the state of every output, in universe order and, within
// a universe, in patch order followed by the outputs of nodes in the
// order they first joined; on an edge, those of its core.
func (e *Engine) Health() ([]OutputHealth, error) {
	if e.edge != nil {
		return e.edgeHealth()
	}
	pids := make([]*actor.PID, 0, len(e.outputs))
	for _, o := range e.outputs {
		pids = append(pids, o.pid)
	}
	if e.nodes != nil {
		res, err := e.sys.Root.RequestFuture(e.nodes, &nodeLinksQuery{}, requestTimeout).Result()
		if err != nil {
			return nil, fmt.Errorf("node outputs: %w", err)
		}
		pids = append(pids, res.(*nodeLinks).pids...)
	}
	hs := make([]OutputHealth, 0, len(pids))
	for _, pid := range pids {
		res, err := e.sys.Root.RequestFuture(pid, &healthQuery{}, requestTimeout).Result()
		if err != nil {
			return nil, fmt.Errorf("output health: %w", err)
		}
		hs = append(hs, *res.(*OutputHealth))
	}
	slices.SortStableFunc(hs, func(a, b OutputHealth) int { return cmp.Compare(a.Universe, b.Universe) })
	return hs, nil
}

// Snapshots returns the levels and blackout of every universe.
func (e *Engine) Snapshots() ([]dmx.UniverseState, error) {
	ss := make([]dmx.UniverseState, 0, len(e.universes))
	for _, u := range e.universes {
		res, err := e.sys.Root.RequestFuture(u, &snapshotQuery{}, requestTimeout).Result()
		if err != nil {
			return nil, fmt.Errorf("universe snapshot: %w", err)
		}
		ss = append(ss, *res.(*dmx.UniverseState))
	}
	return ss, nil
}

// CloseConnections closes every client with code (1001 at shutdown) and
// stops their actors, by deadline: a client that is still behind then is
// dropped with what it did not read. It returns when the actors have
// stopped, or ErrDeadline a moment after the deadline if some have not.
func (e *Engine) CloseConnections(code int, reason string, deadline time.Time) error {
	e.closing.Store(true)
	wait := time.Until(deadline) + closeMargin
	if _, err := e.sys.Root.RequestFuture(e.lobby, &closeAll{code: code, reason: reason, deadline: deadline}, wait).Result(); err != nil {
		if errors.Is(err, actor.ErrTimeout) {
			return ErrDeadline
		}
		return fmt.Errorf("close connections: %w", err)
	}
	if err := e.sys.Root.PoisonFuture(e.lobby).Wait(); err != nil {
		return fmt.Errorf("stop connections: %w", err)
	}
	return nil
}

// ErrDeadline reports connection actors still stopping after the deadline
// of CloseConnections.
var ErrDeadline = errors.New("connections still closing at the deadline")

// closeMargin is how long CloseConnections waits past its deadline for the
// actors that stop at it.
const closeMargin = 250 * time.Millisecond

// Stop sends a final frame on every output, saves the state file, then
// stops the universes and the outputs, in that order. Call
// CloseConnections first.
func (e *Engine) Stop() error {
	if e.edge != nil {
		return e.stopEdge()
	}
	var errs []error
	if e.edges != nil {
		// Edges hear no more answers from here on: they close their
		// desks, which the universes would no longer serve.
		if err := e.sys.Root.PoisonFuture(e.edges).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop edges: %w", err))
		}
	}
	e.stopInputs()
	for _, u := range e.universes {
		if _, err := e.sys.Root.RequestFuture(u, &flush{}, requestTimeout).Result(); err != nil {
			errs = append(errs, fmt.Errorf("final frame: %w", err))
		}
	}
	if e.saver != nil {
		if err := e.saver.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, u := range e.universes {
		if err := e.sys.Root.PoisonFuture(u).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop universe: %w", err))
		}
	}
	if e.nodes != nil {
		// Its links, its children, stop with it; the nodes keep
		// refreshing the final frame.
		if err := e.sys.Root.PoisonFuture(e.nodes).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop nodes: %w", err))
		}
	}
	// Every output is stopped before any is waited for: one whose device
	// blocks its final frame delays the others' by nothing.
	for _, o := range e.outputs {
		if err := e.sys.Root.PoisonFuture(o.pid).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop output: %w", err))
		}
	}
	grace := time.NewTimer(writerStopGrace)
	defer grace.Stop()
	expired := false
	for _, o := range e.outputs {
		if !expired {
			select {
			case <-o.w.done:
				continue
			case <-grace.C:
				expired = true
			}
		}
		select {
		case <-o.w.done:
		default:
			// The device does not take the final frame; the writer stays
			// blocked in its write and ends with the process.
			e.cfg.Log.Warn().Int("universe", o.universe).Str("output", o.w.drv.Name()).Msg("output writer did not stop: device blocked")
		}
	}
	if e.remote != nil {
		e.remote.Shutdown(false)
	}
	e.sys.Shutdown()
	return errors.Join(errs...)
}

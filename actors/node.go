package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dmxd/dmxd/actors/metrics"
	"github.com/dmxd/dmxd/dmx"
)

// NodeConfig is what an output node runs (dmxd node): outputs next to
// their devices, fed by a core's universes.
type NodeConfig struct {
	// Name identifies the node to the core across restarts (see
	// ValidNodeName): a node that comes back under its name gets its
	// outputs' places in the universes back.
	Name string
	// Core is the host:port of the core's cluster address (its
	// --cluster).
	Core string
	// Outputs are the node's outputs; the core must have their universes.
	Outputs []dmx.Output
	// Rate is the refresh rate of the outputs, 1..MaxRate.
	Rate int
	// Cluster makes the node reachable by the core, which sends the
	// frames (its Advertise must be an address the core can dial).
	Cluster ClusterConfig
	// Log receives the node's and the actor system's logs.
	Log zerolog.Logger
}

// ErrSecretRefused reports that the core refuses this node's cluster
// secret (see Node.Refused).
var ErrSecretRefused = errors.New("the core refuses this node's cluster secret")

// Node is a running output node. Its output actors and refresh loops are
// those of a core's outputs; an agent actor (well-known name "node")
// joins the core, pings it, reports the outputs' states and hands the
// frames the core's links send to the outputs. The refresh loops keep
// refreshing the last frame whatever becomes of the core. Its methods are
// safe for concurrent use.
type Node struct {
	sys     *actor.ActorSystem
	remote  *remote.Remote
	agent   *actor.PID
	outputs []engineOutput
	refused chan error
	log     zerolog.Logger
}

// nodeOut is one output of a node, as its agent knows it.
type nodeOut struct {
	universe int
	drv      dmx.Driver
	pid      *actor.PID
	pool     *framePool
	w        *writer
	up       bool
	err      string
}

// StartNode starts the node's actor system and cluster server, its
// outputs and its agent, which starts joining the core at once.
func StartNode(cfg NodeConfig) (*Node, error) {
	if err := ValidNodeName(cfg.Name); err != nil {
		return nil, err
	}
	if len(cfg.Outputs) == 0 || len(cfg.Outputs) > maxNodeOutputs {
		return nil, fmt.Errorf("a node has 1..%d outputs, not %d", maxNodeOutputs, len(cfg.Outputs))
	}
	if cfg.Rate < 1 || cfg.Rate > MaxRate {
		return nil, fmt.Errorf("rate %d is outside 1..%d", cfg.Rate, MaxRate)
	}
	if _, _, err := splitHostPort(cfg.Core); err != nil {
		return nil, fmt.Errorf("core address %q: %w", cfg.Core, err)
	}
	sys := newSystem(cfg.Log)
	r, err := StartCluster(sys, cfg.Cluster)
	if err != nil {
		return nil, err
	}
	n := &Node{sys: sys, remote: r, refused: make(chan error, 1), log: cfg.Log}
	period := time.Second / time.Duration(cfg.Rate)
	outs := make([]nodeOut, len(cfg.Outputs))
	logs := make([]zerolog.Logger, len(cfg.Outputs))
	for i, o := range cfg.Outputs {
		if o.Driver == nil || o.Universe < 1 || o.Universe > MaxUniverses {
			r.Shutdown(false)
			return nil, fmt.Errorf("output %d: no driver, or universe %d outside 1..%d", i+1, o.Universe, MaxUniverses)
		}
		logs[i] = cfg.Log.With().Int("universe", o.Universe).Str("output", o.Driver.Name()).Str("target", o.Driver.Target()).Logger()
		w, err := newWriter(o.Driver, period, logs[i])
		if err != nil {
			r.Shutdown(false)
			return nil, fmt.Errorf("output %d (%s): %w", o.Universe, o.Driver.Name(), err)
		}
		outs[i] = nodeOut{universe: o.Universe, drv: o.Driver, pid: sys.NewLocalPID(fmt.Sprintf("output-%d", i+1)), pool: newFramePool(), w: w, up: true}
	}
	agent := &nodeAgent{
		name:     cfg.Name,
		instance: newInstanceID(),
		coreAddr: cfg.Core,
		core:     actor.NewPID(cfg.Core, nodesName),
		cluster:  cfg.Cluster,
		outs:     outs,
		refused: func(err error) {
			select {
			case n.refused <- err:
			default:
			}
		},
		log: cfg.Log.With().Str("node", cfg.Name).Str("core", cfg.Core).Logger(),
	}
	keep := actor.WithGuardian(resumeOnFailure())
	// The agent is spawned first and knows the outputs by name; it asks
	// the core for frames only once they run (nodeBegin).
	n.agent, err = sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return agent }, keep), nodeAgentName)
	if err != nil {
		r.Shutdown(false)
		return nil, fmt.Errorf("spawn node agent: %w", err)
	}
	mets := metrics.New()
	first := map[int]bool{}
	for i, o := range outs {
		var stats *dmx.NetStats
		if s, ok := o.drv.(interface{ Stats() *dmx.NetStats }); ok {
			stats = s.Stats()
		}
		om := mets.Output(metrics.OutputSpec{Universe: o.universe, Driver: o.drv.Name(), Target: o.drv.Target(), First: !first[o.universe], Network: stats != nil})
		first[o.universe] = true
		oa := &outputActor{universe: o.universe, slot: i, drv: o.drv, net: stats, w: o.w, pool: o.pool, metrics: om, owner: n.agent, log: logs[i]}
		pid, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return oa },
			keep, actor.WithDispatcher(actor.NewSynchronizedDispatcher(outputThroughput))), o.pid.Id)
		if err != nil {
			r.Shutdown(false)
			return nil, fmt.Errorf("spawn output %d (%s): %w", o.universe, o.drv.Name(), err)
		}
		n.outputs = append(n.outputs, engineOutput{universe: o.universe, pid: pid, w: o.w})
	}
	sys.Root.Send(n.agent, &nodeBegin{})
	return n, nil
}

// newInstanceID returns a random id of this run of the node.
func newInstanceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// Address returns the address the core reaches the node at.
func (n *Node) Address() string { return n.sys.Address() }

// Refused delivers ErrSecretRefused (wrapped) when the core refuses the
// node's cluster secret: the node can never join, and its caller should
// stop it.
func (n *Node) Refused() <-chan error { return n.refused }

// Stop stops the agent (the core is told nothing: it finds the node lost
// within nodeLostAfter), then the outputs, which write their last frame
// once more, then the cluster server.
func (n *Node) Stop() error {
	var errs []error
	if err := n.sys.Root.PoisonFuture(n.agent).Wait(); err != nil {
		errs = append(errs, fmt.Errorf("stop node agent: %w", err))
	}
	for _, o := range n.outputs {
		if err := n.sys.Root.PoisonFuture(o.pid).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop output: %w", err))
		}
	}
	grace := time.NewTimer(writerStopGrace)
	defer grace.Stop()
	for _, o := range n.outputs {
		select {
		case <-o.w.done:
		case <-grace.C:
			n.log.Warn().Int("universe", o.universe).Str("output", o.w.drv.Name()).Msg("output writer did not stop: device blocked")
		}
	}
	n.remote.Shutdown(false)
	n.sys.Shutdown()
	return errors.Join(errs...)
}

// Messages of the node agent.
type (
	// nodeBegin starts the agent's pings once the outputs run.
	nodeBegin struct{}
	// nodeTick is the agent's ping period.
	nodeTick struct{}
	// probeResult is what probeCore found.
	probeResult struct {
		serving bool
		err     error
	}
)

func (*nodeTick) IgnoreDeadLetterLogging() {}

// nodeAgent is a node's side of the link to its core (well-known name
// "node"). Every nodePingPeriod it sends the core one request: a join
// until the core has answered one, a ping after (and a join at once when
// a ping's answer says the core does not know this run of the node, or
// the core answers again after it was lost); an answer that has not come
// by the next period is a miss, and nodeCoreLostMisses in a row make the
// core lost. Frames from the core's links go to the outputs and are
// acknowledged at once; the outputs' states go to the core as they
// change while it answers, and with every join. Nothing else goes to the
// core: a core that does not answer gets one request a period, never a
// stream.
type nodeAgent struct {
	name     string
	instance string
	coreAddr string
	core     *actor.PID // the core's nodes actor
	cluster  ClusterConfig
	outs     []nodeOut
	refused  func(error)
	log      zerolog.Logger

	begun       bool
	stopTick    chan struct{}
	joined      bool   // the core answered a join (and knows this instance)
	waiting     bool   // the last join or ping is unanswered
	misses      int    // unanswered requests in a row
	contact     bool   // the core has answered since the node started
	lost        bool   // the core is taken for lost
	seq         uint64 // of the last ping
	probing     bool
	lastRefusal string
}

func (a *nodeAgent) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *nodeBegin:
		if a.begun {
			return
		}
		a.begun = true
		self, root := ctx.Self(), ctx.ActorSystem().Root
		a.stopTick = make(chan struct{})
		go watchEvery(nodePingPeriod, a.stopTick, func() { root.Send(self, &nodeTick{}) })
		a.request(ctx)
	case *actor.Stopping:
		if a.stopTick != nil {
			close(a.stopTick)
		}
	case *nodeTick:
		a.tick(ctx)
	case *WireNodeFrame:
		a.frame(ctx, m)
	case *WireNodeJoined:
		a.answered()
		if m.Ok {
			a.joined, a.lastRefusal = true, ""
			a.log.Info().Str("address", ctx.Self().Address).Msg("joined the core")
			return
		}
		if m.Error != a.lastRefusal {
			a.lastRefusal = m.Error
			ev := a.log.Error()
			if m.Retry {
				ev = a.log.Warn()
			}
			ev.Str("error", m.Error).Msg("the core refused this node; asking again")
		}
	case *WireNodePong:
		if m.Seq != a.seq {
			return // the answer to a ping already counted as missed
		}
		wasLost := a.lost
		a.answered()
		if !m.Known || wasLost {
			// The core restarted (it does not know this run of the node),
			// or it may have missed state changes: join again, now.
			a.joined = false
			a.request(ctx)
		}
	case *OutputStatus:
		if m.slot < 0 || m.slot >= len(a.outs) {
			return
		}
		o := &a.outs[m.slot]
		o.up, o.err = m.Up, m.Error
		if a.joined && !a.lost {
			ctx.Send(a.core, &WireNodeStatus{Name: a.name, Instance: a.instance, Slot: int32(m.slot), Up: m.Up, Error: m.Error})
		}
	case *probeResult:
		a.probing = false
		if m.err != nil {
			a.log.Error().Err(m.err).Msg("the core refuses this node")
			a.refused(m.err)
			return
		}
		if m.serving && a.lost {
			// The core serves again, but protoactor's link to it may be
			// asleep between two connection attempts (2 s apart, five
			// times): drop it, so that the next request dials at once.
			ctx.ActorSystem().EventStream.Publish(&remote.EndpointTerminatedEvent{Address: a.coreAddr})
		}
	}
	// frameRequest (an output started: the core sends frames once joined)
	// and DeadLetterResponse (a request the remote could not deliver: a
	// miss) need nothing.
}

// answered records an answer from the core.
func (a *nodeAgent) answered() {
	a.waiting, a.misses = false, 0
	if a.lost {
		a.log.Info().Msg("core back")
	}
	a.lost, a.contact = false, true
}

// tick counts a miss when the last request is unanswered, and sends the
// next.
func (a *nodeAgent) tick(ctx actor.Context) {
	if a.waiting {
		a.misses++
		if a.misses == nodeCoreLostMisses {
			a.lost = true
			if a.contact {
				a.log.Warn().Dur("silent", nodeCoreLostMisses*nodePingPeriod).Msg("core lost: the outputs keep refreshing the last frame")
			} else {
				a.log.Warn().Msg("the core does not answer yet: asking again every 250ms")
			}
		}
		if a.misses >= nodeCoreLostMisses && (a.misses-nodeCoreLostMisses)%nodeProbeEvery == 0 && !a.probing {
			a.probing = true
			self, root := ctx.Self(), ctx.ActorSystem().Root
			addr, cfg := a.coreAddr, a.cluster
			go func() {
				serving, err := probeCore(addr, cfg)
				root.Send(self, &probeResult{serving: serving, err: err})
			}()
		}
	}
	a.request(ctx)
}

// request sends the core a join, or a ping once joined.
func (a *nodeAgent) request(ctx actor.Context) {
	a.waiting = true
	if !a.joined {
		j := &WireNodeJoin{Version: nodeWireVersion, Name: a.name, Instance: a.instance}
		for _, o := range a.outs {
			j.Outputs = append(j.Outputs, &WireNodeOutput{Universe: int32(o.universe), Driver: o.drv.Name(), Target: o.drv.Target(), Up: o.up, Error: o.err})
		}
		ctx.Request(a.core, j)
		return
	}
	a.seq++
	p := &WireNodePing{Name: a.name, Instance: a.instance, Seq: a.seq, Frames: make([]uint64, len(a.outs))}
	for i, o := range a.outs {
		p.Frames[i] = o.w.loop.Stats().Frames
	}
	ctx.Request(a.core, p)
}

// frame hands a frame from the core to its output and acknowledges it.
// A frame for no output of this node is dropped (and acknowledged, so
// that the link does not wait for it).
func (a *nodeAgent) frame(ctx actor.Context, m *WireNodeFrame) {
	if m.Slot >= 0 && int(m.Slot) < len(a.outs) && a.outs[m.Slot].universe == int(m.Universe) {
		o := a.outs[m.Slot]
		f := o.pool.get()
		n := copy(f.frame[:], m.Levels)
		clear(f.frame[n:])
		ctx.Send(o.pid, f)
	}
	ctx.Respond(&WireNodeFrameAck{Seq: m.Seq})
}

// probeTimeout bounds one probeCore.
const probeTimeout = 2 * time.Second

// probeCore makes a unary call to the core's gRPC server with the node's
// credentials: the core checks the secret and then refuses every unary
// call (see StartCluster), so the answer says whether the core serves and
// whether the secret is right, the one failure that waiting will not
// cure. It returns an error wrapping ErrSecretRefused then; serving is
// true when the core answered and took the secret.
func probeCore(addr string, cfg ClusterConfig) (serving bool, err error) {
	creds := insecure.NewCredentials()
	if cfg.ClientTLS != nil {
		creds = credentials.NewTLS(cfg.ClientTLS)
	}
	conn, err := grpc.Dial(addr, grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(secretCreds{secret: cfg.Secret, tls: cfg.ClientTLS != nil}))
	if err != nil {
		return false, nil
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	_, err = remote.NewRemotingClient(conn).ListProcesses(ctx, &remote.ListProcessesRequest{})
	switch status.Code(err) {
	case codes.Unauthenticated:
		return false, fmt.Errorf("%w (core %s: %v)", ErrSecretRefused, addr, status.Convert(err).Message())
	case codes.Unimplemented:
		return true, nil
	}
	return false, nil
}

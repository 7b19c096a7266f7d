package actors

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/dmx"
)

// Output nodes (dmxd node): DMX interfaces on other machines, fed by the
// core's universes through protoactor remote. On the core, the "nodes"
// actor answers joins and pings; for every output of a node it spawns a
// link actor that stands in for the output in its universe. The universe
// sends the link frames as it sends any output; the link keeps the newest
// and has at most one in flight to the node, which acknowledges each. So
// nothing queues for a node, however slow or gone: while a node is lost
// its links send it nothing at all, and the node's own refresh loops keep
// its fixtures lit with the last frame they got.

// Liveness and limits of output nodes (both sides).
const (
	// nodePingPeriod is how often a node pings its core, and how long it
	// waits for each answer.
	nodePingPeriod = 250 * time.Millisecond
	// nodeCoreLostMisses is how many unanswered pings in a row make a node
	// take its core for lost.
	nodeCoreLostMisses = 3
	// nodeProbeEvery is how many missed answers apart a node that gets no
	// answer asks the core's gRPC server directly whether it serves and
	// takes the secret (see probeCore).
	nodeProbeEvery = 2
	// nodeLostAfter is how long the core waits for a node's ping before it
	// reports the node's outputs down.
	nodeLostAfter = 750 * time.Millisecond
	// nodeCheckPeriod is how often the core looks for lost nodes: a node
	// is found lost within nodeLostAfter+nodeCheckPeriod of its last ping.
	nodeCheckPeriod = 50 * time.Millisecond
	// nodeAckWait is how long a link first waits for the ack of a frame
	// before it sends the newest frame again (a frame lost with a broken
	// gRPC stream); the wait doubles up to nodeAckWaitMax while no ack
	// comes, so a node that pings but cannot be reached gets a frame
	// every few seconds, not a stream.
	nodeAckWait    = 500 * time.Millisecond
	nodeAckWaitMax = 4 * time.Second
	// nodeStuckAfter is how long a frame may wait for its ack before the
	// link reports its output down (the node pings, but the core cannot
	// reach it: a wrong --cluster-advertise).
	nodeStuckAfter = 2 * time.Second
	// Limits of a join.
	maxNodeOutputs = 64
	maxNodeName    = 64
	maxNodeField   = 256 // driver, target, instance
	// nodeWireVersion is the version of node.proto this dmxd speaks.
	nodeWireVersion = 1
	// nodesName is the well-known name of the core's registry of nodes,
	// nodeAgentName that of a node's agent.
	nodesName     = "nodes"
	nodeAgentName = "node"
)

// ValidNodeName reports why name cannot name an output node, or nil: 1 to
// 64 letters, digits, '.', '_' or '-'.
func ValidNodeName(name string) error {
	if name == "" || len(name) > maxNodeName {
		return fmt.Errorf("node name %q: want 1..%d characters", name, maxNodeName)
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("node name %q: want letters, digits, '.', '_' and '-' only", name)
		}
	}
	return nil
}

// nodeTarget is how a node's output is named to desks and in /healthz:
// "NODE:TARGET", or "NODE" for an output without a target (null). Node
// names hold no ':', so the first one splits the two.
func nodeTarget(node, target string) string {
	if target == "" {
		return node
	}
	return node + ":" + target
}

// Messages of the nodes actor and its links.
type (
	// checkNodes is the nodes actor's periodic look for lost nodes.
	checkNodes struct{}
	// nodeLinksQuery is answered with nodeLinks: every link, in the order
	// they were made.
	nodeLinksQuery struct{}
	nodeLinks      struct{ pids []*actor.PID }
	// nodeUp tells a link that its node is alive at agent, where the
	// output is slot; state is the output's state from a join, nil when
	// the node came back without one (its pings resumed).
	nodeUp struct {
		agent *actor.PID
		slot  int32
		state *WireNodeOutput
	}
	// nodeLost tells a link that its node is lost (or no longer has the
	// output): it reports the output down with err and sends nothing.
	nodeLost struct{ err string }
	// nodeOutState is a node's report of the output's state.
	nodeOutState struct {
		up  bool
		err string
	}
	// nodeFrames is how many frames the node's output wrote so far.
	nodeFrames struct{ n uint64 }
	// ackCheck is a link's look for a frame whose ack is overdue.
	ackCheck struct{}
)

func (*checkNodes) IgnoreDeadLetterLogging() {}
func (*ackCheck) IgnoreDeadLetterLogging()   {}

// These Wire messages may be answers to requests that timed out, or reach
// an actor that stopped: expected, not worth a dead-letter log line.
func (*WireNodeFrame) IgnoreDeadLetterLogging()    {}
func (*WireNodeFrameAck) IgnoreDeadLetterLogging() {}
func (*WireNodePong) IgnoreDeadLetterLogging()     {}
func (*WireNodeJoined) IgnoreDeadLetterLogging()   {}
func (*WireNodeStatus) IgnoreDeadLetterLogging()   {}
func (*WireNodePing) IgnoreDeadLetterLogging()     {}
func (*WireNodeJoin) IgnoreDeadLetterLogging()     {}

// linkKey identifies one output of one node across the node's restarts.
type linkKey struct {
	node     string
	universe int
	driver   string
	target   string
}

// nodeEntry is what the core knows of one node.
type nodeEntry struct {
	instance string
	agent    *actor.PID
	lastPing time.Time
	alive    bool
	links    []*actor.PID // by the node's output slot
}

// nodesActor is the core's registry of output nodes (well-known name
// "nodes"). It answers joins and pings, finds lost nodes and keeps one
// link actor per output ever joined: a node that comes back under the
// same name gets the same links, and so the same slots in its universes.
type nodesActor struct {
	universes []*actor.PID
	nodes     map[string]*nodeEntry
	links     map[linkKey]*actor.PID
	order     []*actor.PID  // every link, in the order they were made
	ackWait   time.Duration // a new link's first wait for an ack (nodeAckWait)
	stopCheck chan struct{}
	log       zerolog.Logger
}

func newNodesActor(universes []*actor.PID, log zerolog.Logger) *nodesActor {
	return &nodesActor{
		universes: universes,
		nodes:     map[string]*nodeEntry{},
		links:     map[linkKey]*actor.PID{},
		ackWait:   nodeAckWait,
		log:       log.With().Str("component", "nodes").Logger(),
	}
}

func (n *nodesActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		n.stopCheck = make(chan struct{})
		go watchEvery(nodeCheckPeriod, n.stopCheck, func() { root.Send(self, &checkNodes{}) })
	case *actor.Stopping:
		close(n.stopCheck)
	case *WireNodeJoin:
		n.join(ctx, m)
	case *WireNodePing:
		n.ping(ctx, m)
	case *WireNodeStatus:
		if e := n.nodes[m.Name]; e != nil && e.instance == m.Instance && m.Slot >= 0 && int(m.Slot) < len(e.links) {
			ctx.Send(e.links[m.Slot], &nodeOutState{up: m.Up, err: clip(m.Error)})
		}
	case *checkNodes:
		n.check(ctx)
	case *nodeLinksQuery:
		ctx.Respond(&nodeLinks{pids: slices.Clone(n.order)})
	}
}

// checkJoin reports why the core cannot feed the outputs of join, or nil.
func (n *nodesActor) checkJoin(m *WireNodeJoin) error {
	if m.Version < nodeWireVersion {
		return fmt.Errorf("node protocol version %d: this core speaks %d", m.Version, nodeWireVersion)
	}
	if err := ValidNodeName(m.Name); err != nil {
		return err
	}
	if m.Instance == "" || len(m.Instance) > maxNodeField {
		return errors.New("join without an instance id")
	}
	if len(m.Outputs) == 0 || len(m.Outputs) > maxNodeOutputs {
		return fmt.Errorf("a node has 1..%d outputs, not %d", maxNodeOutputs, len(m.Outputs))
	}
	seen := map[linkKey]bool{}
	for _, o := range m.Outputs {
		if o.Universe < 1 || int(o.Universe) > len(n.universes) {
			return fmt.Errorf("output %d=%s: the core's universes are 1..%d", o.Universe, o.Driver, len(n.universes))
		}
		if o.Driver == "" || len(o.Driver) > maxNodeField || len(o.Target) > maxNodeField {
			return fmt.Errorf("output of universe %d: driver or target missing or too long", o.Universe)
		}
		k := linkKey{node: m.Name, universe: int(o.Universe), driver: o.Driver, target: o.Target}
		if seen[k] {
			return fmt.Errorf("output %d=%s:%s is given twice", o.Universe, o.Driver, o.Target)
		}
		seen[k] = true
	}
	return nil
}

// join answers a node's join: it (re)binds the node's outputs to their
// links, which send the current frame at once.
func (n *nodesActor) join(ctx actor.Context, m *WireNodeJoin) {
	agent := ctx.Sender()
	if agent == nil {
		return // nobody to feed or answer
	}
	if err := n.checkJoin(m); err != nil {
		n.log.Warn().Str("node", clip(m.Name)).Str("address", agent.Address).Err(err).Msg("node refused")
		ctx.Respond(&WireNodeJoined{Error: err.Error()})
		return
	}
	now := time.Now()
	e := n.nodes[m.Name]
	if e != nil && e.instance != m.Instance && e.alive && now.Sub(e.lastPing) < nodeLostAfter && e.agent.Address != agent.Address {
		ctx.Respond(&WireNodeJoined{Retry: true, Error: fmt.Sprintf("node name %q is in use by a live node at %s", m.Name, e.agent.Address)})
		return
	}
	if e == nil {
		e = &nodeEntry{}
		n.nodes[m.Name] = e
	}
	rejoin := e.agent != nil
	old := e.links
	e.instance, e.agent, e.lastPing, e.alive = m.Instance, agent, now, true
	e.links = make([]*actor.PID, len(m.Outputs))
	for i, o := range m.Outputs {
		k := linkKey{node: m.Name, universe: int(o.Universe), driver: o.Driver, target: o.Target}
		l := n.links[k]
		if l == nil {
			l = n.spawnLink(ctx, k)
			n.links[k] = l
			n.order = append(n.order, l)
		}
		e.links[i] = l
	}
	for _, l := range old {
		if !slices.ContainsFunc(e.links, l.Equal) {
			ctx.Send(l, &nodeLost{err: fmt.Sprintf("node %s no longer has this output", m.Name)})
		}
	}
	ctx.Respond(&WireNodeJoined{Ok: true})
	for i, l := range e.links {
		o := m.Outputs[i]
		ctx.Send(l, &nodeUp{agent: agent, slot: int32(i), state: &WireNodeOutput{Up: o.Up, Error: clip(o.Error)}})
	}
	n.log.Info().Str("node", m.Name).Str("address", agent.Address).Int("outputs", len(m.Outputs)).Bool("rejoin", rejoin).Msg("node joined")
}

// spawnLink makes the link of output k, a child of the nodes actor.
func (n *nodesActor) spawnLink(ctx actor.Context, k linkKey) *actor.PID {
	l := &linkActor{
		universe: k.universe,
		owner:    n.universes[k.universe-1],
		node:     k.node,
		driver:   k.driver,
		target:   k.target,
		frames:   newFramePool(),
		slot:     -1,
		ackWait:  n.ackWait,
		ackFirst: n.ackWait,
		log:      n.log.With().Str("node", k.node).Int("universe", k.universe).Str("output", k.driver).Str("target", k.target).Logger(),
	}
	return ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return l }))
}

// ping answers a node's ping, and brings a node found lost back.
func (n *nodesActor) ping(ctx actor.Context, m *WireNodePing) {
	e := n.nodes[m.Name]
	known := e != nil && e.instance == m.Instance
	if known {
		e.lastPing = time.Now()
		if !e.alive {
			e.alive = true
			n.log.Info().Str("node", m.Name).Msg("node back")
			for i, l := range e.links {
				ctx.Send(l, &nodeUp{agent: e.agent, slot: int32(i)})
			}
		}
		for i, f := range m.Frames {
			if i < len(e.links) {
				ctx.Send(e.links[i], &nodeFrames{n: f})
			}
		}
	}
	ctx.Respond(&WireNodePong{Seq: m.Seq, Known: known})
}

// check reports the nodes whose pings stopped lost.
func (n *nodesActor) check(ctx actor.Context) {
	now := time.Now()
	for name, e := range n.nodes {
		if !e.alive || now.Sub(e.lastPing) <= nodeLostAfter {
			continue
		}
		e.alive = false
		n.log.Warn().Str("node", name).Str("address", e.agent.Address).Dur("silent", now.Sub(e.lastPing)).Msg("node lost: its outputs are down, levels kept")
		msg := &nodeLost{err: fmt.Sprintf("node %s lost: no ping for %v", name, nodeLostAfter)}
		for _, l := range e.links {
			ctx.Send(l, msg)
		}
	}
}

// clip cuts a string from a node to maxNodeField bytes.
func clip(s string) string {
	if len(s) > maxNodeField {
		return s[:maxNodeField]
	}
	return s
}

// linkActor stands in for one output of a node in its universe: the
// universe sends it frames as to any output (see addOutput), and it
// reports the output's state as an output actor does. It keeps the newest
// frame and has at most one frame in flight to the node; while the node
// is lost it sends nothing, and when the node is back the newest frame
// goes out at once.
type linkActor struct {
	universe int
	owner    *actor.PID // the universe
	node     string
	driver   string
	target   string // on the node
	frames   *framePool
	slot     int // in the universe, -1 until outputAdded

	latest   dmx.Frame
	have     bool // latest holds a frame from the universe
	pending  bool // latest has not gone to the node
	inflight bool // a frame waits for its ack
	seq      uint64
	sentAt   time.Time
	ackWait  time.Duration // the current wait for an ack (see nodeAckWait)
	ackFirst time.Duration // the first wait, after every ack
	timer    *time.Timer   // sends ackCheck
	agent    *actor.PID    // the node's agent; nil while the node is lost
	peerSlot int32         // the output's slot on the node
	outUp    bool          // the node's report of the output
	outErr   string
	lostErr  string // why the node is lost
	stuck    bool   // a frame has waited nodeStuckAfter for its ack
	written  uint64 // frames the node's output wrote, from its pings
	reported bool
	wasUp    bool
	log      zerolog.Logger
}

func (l *linkActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		l.timer = time.AfterFunc(time.Hour, func() { root.Send(self, &ackCheck{}) })
		l.timer.Stop()
		ctx.Request(l.owner, &addOutput{link: outLink{pid: self, frames: l.frames}})
	case *actor.Stopping:
		l.timer.Stop()
	case *outputAdded:
		l.slot = m.slot
		l.publish(ctx)
	case *frameBuf:
		l.latest, l.have, l.pending = m.frame, true, true
		l.frames.put(m)
		l.send(ctx)
	case *WireNodeFrameAck:
		if l.inflight && m.Seq == l.seq {
			l.inflight, l.ackWait = false, l.ackFirst
			if l.stuck {
				l.stuck = false
				l.publish(ctx)
			}
			l.send(ctx)
		}
	case *ackCheck:
		l.checkAck(ctx)
	case *nodeUp:
		l.agent, l.peerSlot, l.lostErr = m.agent, m.slot, ""
		if m.state != nil {
			l.outUp, l.outErr = m.state.Up, m.state.Error
		}
		// Whatever was in flight went to a node that may be gone: the
		// newest frame goes out now.
		l.inflight, l.stuck, l.ackWait, l.pending = false, false, l.ackFirst, l.have
		l.send(ctx)
		l.publish(ctx)
	case *nodeLost:
		l.agent, l.lostErr = nil, m.err
		l.inflight, l.stuck = false, false
		l.timer.Stop()
		l.publish(ctx)
	case *nodeOutState:
		l.outUp, l.outErr = m.up, m.err
		l.publish(ctx)
	case *nodeFrames:
		l.written = m.n
	case *healthQuery:
		up, errText := l.state()
		h := &OutputHealth{Universe: l.universe, Output: l.driver, Target: nodeTarget(l.node, l.target), Node: l.node, State: "up", Frames: l.written}
		if !up {
			h.State, h.Error = "down", errText
		}
		ctx.Respond(h)
	}
}

// send sends the newest frame to the node when it has not gone yet, the
// node is alive and no frame is in flight.
func (l *linkActor) send(ctx actor.Context) {
	if !l.pending || l.inflight || l.agent == nil {
		return
	}
	// The remote serializes the message later, on its own goroutine: it
	// gets its own copy. Dark channels at the end are left out.
	n := len(l.latest)
	for n > 0 && l.latest[n-1] == 0 {
		n--
	}
	l.seq++
	ctx.Request(l.agent, &WireNodeFrame{Universe: int32(l.universe), Slot: l.peerSlot, Seq: l.seq, Levels: slices.Clone(l.latest[:n])})
	l.pending, l.inflight, l.sentAt = false, true, time.Now()
	l.timer.Reset(l.ackWait)
}

// checkAck sends the newest frame again when the ack of the one in
// flight is overdue, backing off, and reports the output down once a
// frame has waited nodeStuckAfter.
func (l *linkActor) checkAck(ctx actor.Context) {
	if !l.inflight || l.agent == nil {
		return
	}
	waited := time.Since(l.sentAt)
	if waited < l.ackWait {
		l.timer.Reset(l.ackWait - waited)
		return
	}
	if waited >= nodeStuckAfter && !l.stuck {
		l.stuck = true
		l.publish(ctx)
	}
	l.ackWait = max(min(2*l.ackWait, nodeAckWaitMax), l.ackFirst)
	l.inflight, l.pending = false, true
	l.send(ctx)
}

// state is the output's state as desks see it, and why it is down.
func (l *linkActor) state() (bool, string) {
	switch {
	case l.agent == nil:
		return false, l.lostErr
	case l.stuck:
		return false, fmt.Sprintf("node %s does not acknowledge frames: can the core reach %s?", l.node, l.agent.Address)
	case !l.outUp:
		return false, l.outErr
	}
	return true, ""
}

// publish tells the universe when the output's state changed.
func (l *linkActor) publish(ctx actor.Context) {
	if l.slot < 0 {
		return // outputAdded publishes
	}
	up, errText := l.state()
	if l.reported && up == l.wasUp {
		return
	}
	first := !l.reported
	l.reported, l.wasUp = true, up
	ev := l.log.Info()
	if !up {
		ev = l.log.Warn().Str("error", errText)
	}
	ev.Bool("up", up).Msg("output state")
	if first && up {
		return // clients assume an output is up
	}
	ctx.Send(l.owner, &OutputStatus{Universe: l.universe, Driver: l.driver, Target: nodeTarget(l.node, l.target), Up: up, Error: errText, slot: l.slot})
}

package actors

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors/metrics"
	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/dmx/artnet"
	"github.com/dmxd/dmxd/dmx/sacn"
)

// Network inputs. Each input has one reader goroutine, the only one that
// reads its socket. It decodes every datagram and leaves the newest frame
// of each remote source in the inbox of the source's universe, posting
// the universe one netPending message when the inbox was empty: however
// fast senders send, a universe has at most one netPending in its mailbox
// and one frame per source (at most maxNetSources) waiting, and a busy
// universe sees only the newest frame of each source (coalescing).
const (
	// maxNetSources bounds the sources of one universe (active, held and
	// waiting in its inbox); frames of more sources are ignored.
	maxNetSources = 64
	// artNetPriority is the priority of Art-Net sources (which have none)
	// beside sACN sources: E1.31's default.
	artNetPriority = sacn.DefaultPriority
	// maxDatagram is the receive buffer: larger datagrams are truncated
	// and then refused by the decoders.
	maxDatagram = 1500
)

// Input is one network input the engine runs.
type Input struct {
	Spec dmx.Input
	// Conn is the input's socket (dmx.ListenInput); the engine owns it
	// from Start and closes it at Stop.
	Conn net.PacketConn
	// Timeout releases a source silent for that long; 0 is the
	// protocol's (Spec.Timeout).
	Timeout time.Duration
	// Hold keeps the levels of a silent source after the timeout until it
	// sends stream-terminated or another source of its universe sends.
	Hold bool
	// ShortName and LongName go into ArtPollReplies.
	ShortName, LongName string
}

// netFrame is the newest packet of one remote source for one universe.
type netFrame struct {
	key        string // protocol and CID or sender address: the source's identity
	proto      string
	name       string
	addr       string
	priority   uint8
	seq        uint8
	useSeq     bool // the sequence number orders packets (sACN; Art-Net unless 0)
	terminated bool
	count      int
	slots      dmx.Frame
	at         time.Time
	timeout    time.Duration
	hold       bool
}

// netInbox holds the newest frame of each source of one universe until
// the universe takes them. It is shared by the input readers (put) and
// the universe actor (take).
type netInbox struct {
	mu     sync.Mutex
	frames map[string]*netFrame
	posted bool // a netPending is on its way to the universe
}

// put stores f as its source's newest frame. It returns whether the
// caller must post a netPending, and false for ok when the inbox holds
// maxNetSources other sources (f is dropped).
func (b *netInbox) put(f *netFrame) (post, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.frames == nil {
		b.frames = map[string]*netFrame{}
	}
	if _, has := b.frames[f.key]; !has && len(b.frames) >= maxNetSources {
		return false, false
	}
	b.frames[f.key] = f
	post = !b.posted
	b.posted = true
	return post, true
}

// take returns the waiting frames and empties the inbox.
func (b *netInbox) take() map[string]*netFrame {
	b.mu.Lock()
	defer b.mu.Unlock()
	fs := b.frames
	b.frames = nil
	b.posted = false
	return fs
}

// netPending tells a universe that its inbox holds frames.
type netPending struct{}

func (*netPending) IgnoreDeadLetterLogging() {}

var netPendingMsg = &netPending{}

// inputReader reads one input's socket until it is closed.
type inputReader struct {
	in       Input
	timeout  time.Duration
	sys      *actor.ActorSystem
	pids     []*actor.PID // universe u at u-1
	inboxes  []*netInbox  // universe u at u-1
	mets     *metrics.Input
	log      zerolog.Logger
	replies  [][]byte           // the ArtPollReplies, made once
	localIPs map[string][4]byte // the local address that reaches a poller
	done     chan struct{}
}

func (r *inputReader) run() {
	defer close(r.done)
	buf := make([]byte, maxDatagram)
	proto := r.in.Spec.Proto
	packets := r.mets.Packets.WithLabelValues(proto)
	malformed := r.mets.Malformed.WithLabelValues(proto)
	ignored := r.mets.Ignored.WithLabelValues(proto)
	var pkt sacn.Packet
	var dmxPkt artnet.Dmx
	for {
		n, from, err := r.in.Conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.Warn().Err(err).Msg("network input read failed")
			continue
		}
		packets.Inc()
		p := buf[:n]
		var f *netFrame
		var u int
		switch proto {
		case dmx.InputSACN:
			if err := sacn.Decode(p, &pkt); err != nil {
				if errors.Is(err, sacn.ErrIgnored) {
					ignored.Inc()
				} else {
					malformed.Inc()
					r.log.Debug().Err(err).Str("from", from.String()).Msg("malformed sACN packet")
				}
				continue
			}
			var ok bool
			if u, ok = r.in.Spec.Universes[pkt.Universe]; !ok {
				ignored.Inc()
				continue
			}
			f = &netFrame{key: "sacn:" + formatCID(pkt.CID), name: pkt.SourceName, priority: pkt.Priority,
				seq: pkt.Sequence, useSeq: true, terminated: pkt.Terminated(), count: pkt.Count}
			copy(f.slots[:], pkt.Slots[:pkt.Count])
		case dmx.InputArtNet:
			op, err := artnet.OpCode(p)
			switch {
			case err != nil:
				malformed.Inc()
				continue
			case op == artnet.OpPoll:
				if artnet.DecodePoll(p) != nil {
					malformed.Inc()
					continue
				}
				r.answerPoll(from)
				continue
			case op != artnet.OpDmx:
				ignored.Inc()
				continue
			}
			if err := artnet.DecodeDmx(p, &dmxPkt); err != nil {
				malformed.Inc()
				r.log.Debug().Err(err).Str("from", from.String()).Msg("malformed ArtDmx packet")
				continue
			}
			var ok bool
			if u, ok = r.in.Spec.Universes[dmxPkt.PortAddress]; !ok {
				ignored.Inc()
				continue
			}
			f = &netFrame{key: "artnet:" + from.String(), name: from.String(), priority: artNetPriority,
				seq: dmxPkt.Sequence, useSeq: dmxPkt.Sequence != 0, count: dmxPkt.Length}
			copy(f.slots[:], dmxPkt.Data[:dmxPkt.Length])
		}
		f.proto, f.addr, f.at, f.timeout, f.hold = proto, from.String(), time.Now(), r.timeout, r.in.Hold
		post, ok := r.inboxes[u-1].put(f)
		if !ok {
			ignored.Inc()
			continue
		}
		if post {
			r.sys.Root.Send(r.pids[u-1], netPendingMsg)
		}
	}
}

// answerPoll sends the ArtPollReplies to the poller at from (unicast, as
// Art-Net 4 asks), with the local address that reaches it.
func (r *inputReader) answerPoll(from net.Addr) {
	ip := r.localIP(from)
	for _, reply := range r.replies {
		b := append([]byte(nil), reply...)
		copy(b[artnet.OffReplyIP:], ip[:])
		copy(b[artnet.OffReplyBindIP:], ip[:])
		if _, err := r.in.Conn.WriteTo(b, from); err != nil {
			r.log.Debug().Err(err).Str("to", from.String()).Msg("ArtPollReply not sent")
			return
		}
	}
}

// localIP returns the IPv4 address of this host that a poller reaches:
// the socket's own when it is bound to one, else the source address the
// kernel picks for the route to the poller (remembered per poller).
func (r *inputReader) localIP(from net.Addr) [4]byte {
	var ip [4]byte
	if la, ok := r.in.Conn.LocalAddr().(*net.UDPAddr); ok && !la.IP.IsUnspecified() {
		copy(ip[:], la.IP.To4())
		return ip
	}
	ua, ok := from.(*net.UDPAddr)
	if !ok {
		return ip
	}
	key := ua.IP.String()
	if ip, ok := r.localIPs[key]; ok {
		return ip
	}
	if c, err := net.DialUDP("udp4", nil, ua); err == nil {
		copy(ip[:], c.LocalAddr().(*net.UDPAddr).IP.To4())
		_ = c.Close()
	}
	if len(r.localIPs) >= maxNetSources {
		clear(r.localIPs)
	}
	r.localIPs[key] = ip
	return ip
}

// pollReplies makes the ArtPollReplies of an Art-Net input: its
// port-addresses as output ports, four per reply.
func pollReplies(in *Input) [][]byte {
	var out [][]byte
	for i, g := range artnet.GroupPorts(in.Spec.NetUniverses()) {
		out = append(out, artnet.AppendPollReply(nil, &artnet.Reply{
			ShortName: in.ShortName, LongName: in.LongName, Report: "#0001 [0000] dmxd ok",
			BindIndex: uint8(min(i+1, 255)), Outputs: g,
		}))
	}
	return out
}

// formatCID writes a CID as a UUID.
func formatCID(c [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", c[0:4], c[4:6], c[6:8], c[8:10], c[10:16])
}

// startInputs starts a reader per input; universes must be running.
func (e *Engine) startInputs() {
	for _, in := range e.cfg.Inputs {
		r := &inputReader{
			in:       in,
			timeout:  in.Timeout,
			sys:      e.sys,
			pids:     e.universes,
			inboxes:  e.inboxes,
			mets:     e.inMets,
			log:      e.cfg.Log.With().Str("input", in.Spec.Proto).Str("addr", in.Conn.LocalAddr().String()).Logger(),
			localIPs: map[string][4]byte{},
			done:     make(chan struct{}),
		}
		if r.timeout <= 0 {
			r.timeout = in.Spec.Timeout()
		}
		if in.Spec.Proto == dmx.InputArtNet {
			r.replies = pollReplies(&in)
		}
		e.readers = append(e.readers, r)
		r.log.Info().Int("universes", len(in.Spec.Universes)).Dur("timeout", r.timeout).Bool("hold", in.Hold).Msg("network input listening")
		go r.run()
	}
}

// stopInputs closes every input's socket and waits for its reader.
func (e *Engine) stopInputs() {
	for _, r := range e.readers {
		_ = r.in.Conn.Close()
	}
	for _, r := range e.readers {
		<-r.done
	}
}

// SourceHealth is one active network source of a universe, for /healthz.
type SourceHealth struct {
	Universe   int       `json:"universe"`
	Protocol   string    `json:"protocol"`
	Name       string    `json:"name"`
	Address    string    `json:"address"`
	Priority   int       `json:"priority"`
	LastPacket time.Time `json:"last_packet"`
	// Held is true for a source past its timeout whose levels are held
	// (--input-hold); Active false for one below the highest priority.
	Held   bool `json:"held,omitempty"`
	Active bool `json:"active"`
}

// sourcesQuery is answered with a []SourceHealth.
type sourcesQuery struct{}

// Sources returns the network sources of every universe, in universe
// order; nil when dmxd has no network input.
func (e *Engine) Sources() ([]SourceHealth, error) {
	if len(e.cfg.Inputs) == 0 {
		return nil, nil
	}
	out := []SourceHealth{}
	for _, u := range e.universes {
		res, err := e.sys.Root.RequestFuture(u, &sourcesQuery{}, requestTimeout).Result()
		if err != nil {
			return nil, fmt.Errorf("network sources: %w", err)
		}
		out = append(out, res.([]SourceHealth)...)
	}
	return out, nil
}

// universeLabel is the metrics label of universe u.
func universeLabel(u int) string { return strconv.Itoa(u) }

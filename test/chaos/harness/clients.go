package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// role is one kind of client session.
type role struct {
	name   string
	weight int
	run    func(h *harness, ctx context.Context, rng *rand.Rand)
}

// roles are the sessions a free slot picks from, by weight. Most desks
// sit and watch; the rest connect and leave, send traffic, or misbehave.
var roles = []role{
	{"passive", 70, (*harness).passive},
	{"churn", 10, (*harness).churn},
	{"noise", 6, (*harness).noise},
	{"slow", 3, (*harness).slow},
	{"garbage", 3, (*harness).garbage},
	{"halfopen", 2, (*harness).halfOpen},
	{"binary", 2, (*harness).binary},
	{"oversized", 2, (*harness).oversized},
	{"flood", 2, (*harness).flood},
}

func pickRole(rng *rand.Rand) role {
	total := 0
	for _, r := range roles {
		total += r.weight
	}
	n := rng.IntN(total)
	for _, r := range roles {
		if n < r.weight {
			return r
		}
		n -= r.weight
	}
	return roles[0]
}

// slot runs client slot i until ctx ends: the first slots are the owners
// and the blackout switcher, the others pick a random role per session.
func (h *harness) slot(ctx, hard context.Context, i int) {
	rng := rand.New(rand.NewPCG(h.cfg.Seed, uint64(i)))
	switch {
	case i < h.owners:
		h.owner(ctx, hard, rng, i)
		return
	case i == h.owners:
		h.blackouts(ctx, rng)
		return
	}
	// The opening connect storm: every slot dials within the ramp.
	sleepCtx(ctx, time.Duration(rng.Int64N(int64(h.ramp))))
	for ctx.Err() == nil {
		r := pickRole(rng)
		h.st.add("session." + r.name)
		h.st.active(r.name, 1)
		r.run(h, ctx, rng)
		h.st.active(r.name, -1)
		sleepCtx(ctx, time.Duration(rng.Int64N(int64(200*time.Millisecond))))
	}
}

// lifetime is a random session length between lo and hi of the run.
func (h *harness) lifetime(rng *rand.Rand, lo, hi float64) time.Duration {
	d := h.cfg.Duration
	l := time.Duration(lo*float64(d)) + time.Duration(rng.Float64()*(hi-lo)*float64(d))
	return max(l, 500*time.Millisecond)
}

// backoff waits a little after a failed dial.
func (h *harness) backoff(ctx context.Context, rng *rand.Rand) {
	sleepCtx(ctx, 100*time.Millisecond+time.Duration(rng.Int64N(int64(400*time.Millisecond))))
}

// connect dials and starts the session's reader.
func (h *harness) connect(ctx context.Context, rng *rand.Rand, o dialOpts, pace func() time.Duration) *session {
	ws, err := h.dial(ctx, o)
	if err != nil {
		h.backoff(ctx, rng)
		return nil
	}
	return h.start(ws, false, pace)
}

// leave ends a session at random: mostly with a close frame, sometimes by
// dropping the TCP connection.
func (h *harness) leave(s *session, rng *rand.Rand) {
	if rng.IntN(10) < 7 {
		h.st.add("leave.clean")
		s.closeClean()
	} else {
		h.st.add("leave.abrupt")
		s.drop()
	}
}

// hold waits for d, the end of the run, or the end of the connection;
// false when the connection ended.
func (h *harness) hold(ctx context.Context, s *session, d time.Duration, who string) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-s.done:
		h.sessionEnd(who, s.endErr)
		return false
	}
	return true
}

// passive is a desk that watches: it reads everything for a good part of
// the run (most desks stay; the churn, storm and fault roles reconnect).
func (h *harness) passive(ctx context.Context, rng *rand.Rand) {
	s := h.connect(ctx, rng, dialOpts{}, nil)
	if s == nil {
		return
	}
	if h.hold(ctx, s, h.lifetime(rng, 0.3, 1.0), "passive") {
		h.leave(s, rng)
	}
}

// churn connects, maybe asks for the state, and leaves at once: with
// many slots and the storms this is the reconnect loop.
func (h *harness) churn(ctx context.Context, rng *rand.Rand) {
	s := h.connect(ctx, rng, dialOpts{}, nil)
	if s == nil {
		return
	}
	if rng.IntN(2) == 0 {
		if _, err := s.request(fmt.Sprintf(`{"get":true,"universe":%d}`, 1+rng.IntN(h.cfg.Universes))); err != nil {
			h.sessionEnd("churn", s.endErr)
			return
		}
	}
	h.leave(s, rng)
}

// noiseCommand is a valid command on channels no owner uses, and not on
// the flood phase's probe channel.
func (h *harness) noiseCommand(rng *rand.Rand) string {
	u := 1 + rng.IntN(h.cfg.Universes)
	lo, hi := 1, 512
	if u <= 2 {
		lo = noiseFirst
	}
	if u == floodUniverse {
		hi = probeChannel - 1
	}
	// two distinct channels: a key given twice in one object is a bad
	// request.
	two := func() (int, int) {
		a := lo + rng.IntN(hi+1-lo)
		b := lo + rng.IntN(hi-lo) // one of the others
		if b >= a {
			b++
		}
		return a, b
	}
	switch rng.IntN(10) {
	case 0, 1:
		return fmt.Sprintf(`{"get":true,"universe":%d}`, u)
	case 2, 3:
		n := 1 + rng.IntN(8)
		start := lo + rng.IntN(hi+2-lo-n)
		vals := make([]string, n)
		for i := range vals {
			vals[i] = strconv.Itoa(rng.IntN(256))
		}
		return fmt.Sprintf(`{"dmx":[%s],"start":%d,"universe":%d}`, strings.Join(vals, ","), start, u)
	case 4:
		a, b := two()
		return fmt.Sprintf(`{"fade":{"%d":%d,"%d":%d},"ms":%d,"universe":%d}`, a, rng.IntN(256), b, rng.IntN(256), rng.IntN(maxNoiseFadeMs), u)
	default:
		a, b := two()
		return fmt.Sprintf(`{"dmx":{"%d":%d,"%d":%d},"universe":%d}`, a, rng.IntN(256), b, rng.IntN(256), u)
	}
}

// noise sends valid traffic on unowned channels of every universe, at the
// shared noise rate, and expects every command acknowledged.
func (h *harness) noise(ctx context.Context, rng *rand.Rand) {
	s := h.connect(ctx, rng, dialOpts{}, nil)
	if s == nil {
		return
	}
	end := time.Now().Add(h.lifetime(rng, 0.05, 0.25))
	for time.Now().Before(end) {
		cmd := h.noiseCommand(rng)
		if err := h.noiseLim.WaitN(ctx, updateCost(cmd)); err != nil {
			break
		}
		m, err := s.request(cmd)
		if err != nil {
			if !h.excused(s) {
				h.st.violate("noise %s: %v", cmd, err)
			}
			select {
			case <-s.done:
				h.sessionEnd("noise", s.endErr)
				return
			default:
				s.drop()
				return
			}
		}
		if m.Type != "ack" {
			h.st.violate("noise %s refused: %s", cmd, m.Code)
		}
	}
	h.leave(s, rng)
}

// maxNoiseFadeMs is the longest fade of non-owner traffic.
const maxNoiseFadeMs = 300

// updateCost is how many frames with an update a command causes: one,
// plus one per frame of its fade. The shared limiters count these, since
// every such frame sends an update to every client.
func updateCost(cmd string) int {
	_, ms, ok := strings.Cut(cmd, `"ms":`)
	if !ok {
		return 1
	}
	n := 0
	for _, c := range ms {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return 1 + n*44/1000
}

// ownerCmd is an owner's command and the levels it sets.
type ownerCmd struct {
	text   string
	levels map[int]uint8
	fade   time.Duration
}

func newOwnerCmd(rng *rand.Rand, b ownedBlock) ownerCmd {
	c := ownerCmd{levels: map[int]uint8{}}
	switch rng.IntN(4) {
	case 0: // array form over a run of the block
		n := 1 + rng.IntN(ownedPer)
		start := b.first + rng.IntN(ownedPer-n+1)
		vals := make([]string, n)
		for i := range vals {
			v := uint8(rng.IntN(256))
			c.levels[start+i] = v
			vals[i] = strconv.Itoa(int(v))
		}
		c.text = fmt.Sprintf(`{"dmx":[%s],"start":%d,"universe":%d}`, strings.Join(vals, ","), start, b.universe)
	case 1: // a fade
		c.fade = time.Duration(rng.Int64N(int64(maxOwnerFade)))
		c.text = fmt.Sprintf(`{"fade":%s,"ms":%d,"universe":%d}`, objectForm(rng, b, c.levels), c.fade.Milliseconds(), b.universe)
		c.fade = time.Duration(c.fade.Milliseconds()) * time.Millisecond
	default:
		c.text = fmt.Sprintf(`{"dmx":%s,"universe":%d}`, objectForm(rng, b, c.levels), b.universe)
	}
	return c
}

func objectForm(rng *rand.Rand, b ownedBlock, levels map[int]uint8) string {
	n := 1 + rng.IntN(ownedPer)
	chs := rng.Perm(ownedPer)[:n]
	slices.Sort(chs)
	parts := make([]string, n)
	for i, off := range chs {
		v := uint8(rng.IntN(256))
		levels[b.first+off] = v
		parts[i] = fmt.Sprintf(`"%d":%d`, b.first+off, v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// owner writes its own block of channels, one command at a time, and
// records each acknowledged command in the model. A command whose ack was
// lost with the connection is sent again after reconnecting (setting
// levels is idempotent), so the model never guesses. It stops taking new
// commands when ctx ends and gives up a pending one when hard ends.
func (h *harness) owner(ctx, hard context.Context, rng *rand.Rand, i int) {
	b := blockOf(i)
	var pending *ownerCmd
	defer func() {
		if pending != nil {
			h.gate.leave()
			h.st.violate("owner %d gave up a command never acknowledged: %s", i, pending.text)
		}
	}()
	for hard.Err() == nil {
		if pending == nil && ctx.Err() != nil {
			return
		}
		s := h.connect(hard, rng, dialOpts{}, nil)
		if s == nil {
			continue
		}
		h.st.add("session.owner")
		for {
			if pending == nil {
				c := newOwnerCmd(rng, b)
				if ctx.Err() != nil || h.ownerLim.WaitN(ctx, updateCost(c.text)) != nil {
					s.closeClean()
					return
				}
				h.gate.enter()
				pending = &c
			}
			m, err := s.request(pending.text)
			if err != nil {
				if !h.excused(s) {
					h.st.violate("owner %d %s: %v", i, pending.text, err)
				}
				select {
				case <-s.done:
				default:
					s.drop()
				}
				break
			}
			if m.Type == "ack" {
				h.model.apply(b.universe, pending.levels, pending.fade, time.Now())
				h.st.ownerAcked.Add(1)
			} else {
				h.st.violate("owner %d %s refused: %s", i, pending.text, m.Code)
			}
			pending = nil
			h.gate.leave()
		}
	}
}

// blackouts switches blackout on and off on random universes; the
// comparisons pause it and switch blackout off themselves.
func (h *harness) blackouts(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		s := h.connect(ctx, rng, dialOpts{}, nil)
		if s == nil {
			continue
		}
		h.st.add("session.blackout")
		for ctx.Err() == nil {
			sleepCtx(ctx, time.Duration(3000+rng.IntN(4000))*time.Millisecond)
			u := 1 + rng.IntN(h.cfg.Universes)
			ok := true
			for _, on := range []bool{true, false} {
				h.gate.enter()
				m, err := s.request(fmt.Sprintf(`{"blackout":%t,"universe":%d}`, on, u))
				h.gate.leave()
				if err != nil {
					if !h.excused(s) {
						h.st.violate("blackout %t: %v", on, err)
					}
					ok = false
					break
				}
				if m.Type != "ack" {
					h.st.violate("blackout refused: %s", m.Code)
				}
				if on {
					sleepCtx(ctx, time.Duration(100+rng.IntN(400))*time.Millisecond)
				}
			}
			if !ok {
				break
			}
		}
		select {
		case <-s.done:
		default:
			s.closeClean()
		}
	}
}

// garbage sends malformed and invalid commands, some of them touching
// owned channels (they must change nothing), and expects the right error
// code for each on a connection that stays open.
func (h *harness) garbage(ctx context.Context, rng *rand.Rand) {
	s := h.connect(ctx, rng, dialOpts{}, nil)
	if s == nil {
		return
	}
	b := blockOf(rng.IntN(h.owners))
	ch := b.first + rng.IntN(ownedPer)
	cases := []struct{ msg, code string }{
		{`this is not json`, "bad_json"},
		{`{"dmx":{"1":`, "bad_json"},
		{`[1,2,3]`, "bad_request"},
		{`{"frobnicate":true}`, "bad_request"},
		{fmt.Sprintf(`{"dmx":{"%d":7},"get":true,"universe":%d}`, ch, b.universe), "bad_request"},
		{fmt.Sprintf(`{"dmx":{"%d":7,"513":1},"universe":%d}`, ch, b.universe), "bad_channel"},
		{fmt.Sprintf(`{"dmx":[7,7,7],"start":511,"universe":%d}`, b.universe), "bad_channel"},
		{fmt.Sprintf(`{"dmx":{"%d":7,"%d":256},"universe":%d}`, ch, noiseFirst, b.universe), "bad_value"},
		{fmt.Sprintf(`{"fade":{"%d":9},"ms":-1,"universe":%d}`, ch, b.universe), "bad_value"},
		{fmt.Sprintf(`{"dmx":{"%d":7},"universe":%d}`, ch, h.cfg.Universes+1+rng.IntN(5)), "bad_universe"},
	}
	for _, k := range rng.Perm(len(cases))[:2+rng.IntN(4)] {
		c := cases[k]
		if err := s.send(c.msg); err != nil {
			h.interrupted(s, "garbage")
			return
		}
		h.st.sent.Add(1)
		select {
		case e := <-s.errs:
			if e.Code != c.code {
				h.st.violate("garbage %s: error %q, want %q", c.msg, e.Code, c.code)
			}
		case <-s.acks:
			h.st.violate("garbage %s was acknowledged", c.msg)
		case <-s.done:
			h.interrupted(s, "garbage")
			return
		case <-time.After(ackTimeout):
			h.st.violate("garbage %s: no error within %v", c.msg, ackTimeout)
		}
	}
	h.leave(s, rng)
}

// interrupted accounts for an abusive session that ended before its
// answer: only a restart may do that.
func (h *harness) interrupted(s *session, who string) {
	select {
	case <-s.done:
	default:
		s.drop()
	}
	h.sessionEnd(who, s.endErr)
}

// binary sends a binary frame and expects "unsupported", then stays.
func (h *harness) binary(ctx context.Context, rng *rand.Rand) {
	s := h.connect(ctx, rng, dialOpts{}, nil)
	if s == nil {
		return
	}
	_ = s.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := s.ws.WriteMessage(websocket.BinaryMessage, []byte{0x7e, 6, 1, 2, 0, 255}); err != nil {
		h.interrupted(s, "binary")
		return
	}
	select {
	case e := <-s.errs:
		if e.Code != "unsupported" {
			h.st.violate("binary frame: error %q, want unsupported", e.Code)
		}
	case <-s.done:
		h.interrupted(s, "binary")
		return
	case <-time.After(ackTimeout):
		h.st.violate("binary frame: no error within %v", ackTimeout)
	}
	h.leave(s, rng)
}

// oversized sends a message over 64 KiB and expects close 1009.
func (h *harness) oversized(ctx context.Context, rng *rand.Rand) {
	s := h.connect(ctx, rng, dialOpts{}, nil)
	if s == nil {
		return
	}
	pad := strings.Repeat("x", 64<<10+1+rng.IntN(8<<10))
	_ = s.send(`{"get":true,"pad":"` + pad + `"}`) // may fail once dmxd has closed
	select {
	case <-s.done:
	case <-time.After(ackTimeout):
		h.st.violate("oversized message: connection still open after %v", ackTimeout)
		s.drop()
		return
	}
	if kind := closeKind(s.endErr); kind == "1009" {
		h.st.add("abuse.oversized_1009")
	} else if !h.excused(s) {
		h.st.violate("oversized message: connection ended with %s (%v), want close 1009", kind, s.endErr)
	}
}

// flood sends commands as fast as it can. dmxd reads a connection no
// faster than it applies its commands (the credit window), and enforces
// --conn-rate on what it reads: a flooder read at dmxd's full speed gets
// rate_limited errors and then close 1008; one that dmxd reads more
// slowly (it is busy: the flooder's window is used up and TCP holds it
// back) may stay within the limit as read and be kept. Either way dmxd
// may not take more than the limiter allows: 2×rate at once and rate a
// second after that. The flood ends with a command with an id, whose
// answer shows when dmxd had read everything.
func (h *harness) flood(ctx context.Context, rng *rand.Rand) {
	s := h.connect(ctx, rng, dialOpts{}, nil)
	if s == nil {
		return
	}
	// A burst of twice the rate is allowed, then MaxRateStrikes refusals
	// in a row close the connection: burst is comfortably more. Writes
	// may block for as long as dmxd holds the flooder back (TCP), up to
	// floodAnswerBound each.
	burst := 4*h.cfg.ConnRate + 200
	u := 3 + rng.IntN(h.cfg.Universes-2)
	began := time.Now()
	sent := 0
	var sendErr error
	for ; sent < burst; sent++ {
		select {
		case <-s.done:
		default:
			if sendErr = s.sendWithin(fmt.Sprintf(`{"dmx":{"%d":%d},"universe":%d}`, 1+rng.IntN(512), rng.IntN(256), u), floodAnswerBound); sendErr == nil {
				continue
			}
		}
		break
	}
	h.st.sent.Add(int64(sent))
	answered := false
	if sendErr == nil {
		select {
		case <-s.done:
		default:
			last := s.h.ids.Add(1)
			if sendErr = s.sendWithin(fmt.Sprintf(`{"dmx":{"1":0},"universe":%d,"id":%d}`, u, last), floodAnswerBound); sendErr == nil {
				sent++
				h.st.sent.Add(1)
				_, err := s.answer(last, floodAnswerBound)
				answered = err == nil
			}
		}
	}
	if !answered {
		// A write that failed because dmxd closed the connection: its
		// close frame is on its way to the reader.
		select {
		case <-s.done:
		case <-time.After(ackTimeout):
		}
	}
	select {
	case <-s.done:
	default:
		if !answered {
			h.st.violate("flood of %d commands: no answer to its last command and still open (write: %v)", sent, sendErr)
			s.drop()
			return
		}
		took := time.Since(began)
		limited := s.limited.Load()
		allowed := int64(2*h.cfg.ConnRate) + int64(took.Seconds()*float64(h.cfg.ConnRate))
		if taken := int64(sent) - limited; taken > allowed {
			h.st.violate("flood of %d commands: %d taken in %v, more than the %d its rate limit allows", sent, taken, took.Round(time.Millisecond), allowed)
		} else {
			h.st.add("abuse.flood_held_back")
		}
		s.closeClean()
		return
	}
	limited := s.limited.Load()
	kind := closeKind(s.endErr)
	switch {
	case h.excused(s):
	case limited == 0:
		h.st.violate("flood of %d commands: no rate_limited error (closed with %s)", sent, kind)
	case kind != "1008":
		h.st.violate("flood of %d commands: %d rate_limited, then %s (%v), want close 1008", sent, limited, kind, s.endErr)
	default:
		h.st.add("abuse.flood_1008")
	}
}

// slow reads with a pause before every message and a small receive
// buffer. dmxd may keep it (resyncing it with a state) or close it with
// 1013; if the close frame cannot be written because the client reads
// nothing, the connection just ends. A third of them are stalled: one
// message every two seconds or so; when the run leaves time for it, such
// a client must have been closed after stallBound.
func (h *harness) slow(ctx context.Context, rng *rand.Rand) {
	pause := time.Duration(20+rng.IntN(200)) * time.Millisecond
	life := h.lifetime(rng, 0.1, 0.3)
	stalled, verify := rng.IntN(3) == 0, false
	if stalled {
		pause = time.Duration(1500+rng.IntN(1000)) * time.Millisecond
		if time.Until(h.end) > h.stallBound()+time.Second {
			life, verify = h.stallBound(), true
		}
	}
	s := h.connect(ctx, rng, dialOpts{smallBuf: true}, func() time.Duration { return pause })
	if s == nil {
		return
	}
	t := time.NewTimer(life)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		if verify {
			holds, err := h.serverHolds(s.ws.NetConn().LocalAddr())
			switch {
			case err != nil:
				h.st.violate("stalled reader: %v", err)
			case holds:
				h.st.violate("stalled reader still held by dmxd after %v", life)
			default:
				h.st.add("slow.stalled_true.released_by_dmxd")
				s.drop()
				return
			}
		}
	case <-s.done:
		kind := closeKind(s.endErr)
		h.st.add(fmt.Sprintf("slow.stalled_%t.closed_%s", stalled, kind))
		if kind != "1013" && kind != "eof" && kind != "reset" && kind != "1006" && !h.excused(s) {
			h.st.violate("slow reader: connection ended with %s (%v), want 1013", kind, s.endErr)
		}
		return
	}
	h.st.add(fmt.Sprintf("slow.stalled_%t.kept", stalled))
	s.drop()
}

// halfOpen connects and then neither reads nor answers pings. When the run
// leaves time for it, it checks that dmxd has closed the connection after
// reapBound; otherwise it just drops it.
func (h *harness) halfOpen(ctx context.Context, rng *rand.Rand) {
	ws, err := h.dial(ctx, dialOpts{smallBuf: true})
	if err != nil {
		h.backoff(ctx, rng)
		return
	}
	defer ws.Close()
	wait := h.reapBound() + time.Duration(rng.IntN(1000))*time.Millisecond
	if time.Until(h.end) < wait {
		sleepCtx(ctx, h.lifetime(rng, 0.05, 0.2))
		h.st.add("halfopen.unverified")
		return
	}
	began := time.Now()
	sleepCtx(ctx, wait)
	// Read what dmxd sent before it gave up (a few buffers' worth); a
	// timeout, or messages that keep coming, mean it never did.
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			kind := closeKind(err)
			if kind == "timeout" {
				h.st.violate("half-open connection still open after %v", time.Since(began).Round(time.Second))
			}
			h.st.add("halfopen.reaped_" + kind)
			return
		}
	}
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

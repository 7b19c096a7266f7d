package transport

import "time"

// connLimit is one connection's --conn-rate limit as its read pump applies
// it: a token bucket of rate commands a second that holds at most burst
// tokens, with one difference from a plain bucket. dmxd reads a connection
// no faster than it applies its commands (the credit window, the bulk
// gate), so a desk that sends within its limit while dmxd is busy finds its
// commands waiting in TCP, and dmxd then reads them at once, faster than
// the rate. A plain bucket would refuse that backlog and close a
// well-behaved desk with 1008 for dmxd's own slowness.
//
// So the time dmxd holds the connection — from the end of one read to the
// start of the next: waiting for credit or for the bulk gate, decoding,
// handing the command on — refills the bucket beyond burst: the client may
// have sent rate commands a second meanwhile. The time spent in a read
// refills it up to burst only, as a plain bucket does. What dmxd takes in
// any time T therefore stays at most burst + rate × T, the limit's own
// bound. Tokens beyond burst are dropped as soon as dmxd has caught up with
// the client (a read found nothing more waiting), so a desk cannot save
// them for a later burst.
//
// Concurrency: a connLimit belongs to one read pump.
type connLimit struct {
	rate   float64 // tokens a second
	burst  float64
	tokens float64
	last   time.Time // when tokens was last brought up to date
	// inRead is the time spent in reads since last; readStart is when the
	// current read started.
	inRead    time.Duration
	readStart time.Time
}

// newConnLimit returns a full bucket of rate commands a second and bursts
// of 2×rate, as at time now.
func newConnLimit(rate int, now time.Time) *connLimit {
	b := 2 * float64(rate)
	return &connLimit{rate: float64(rate), burst: b, tokens: b, last: now}
}

// readStarts notes that the read pump starts a read at now.
func (l *connLimit) readStarts(now time.Time) { l.readStart = now }

// readEnds notes that the read ended at now.
func (l *connLimit) readEnds(now time.Time) { l.inRead += max(now.Sub(l.readStart), 0) }

// allow is asked once per command, at now; caughtUp says whether its read
// found nothing more waiting from the client. It takes a token and reports
// whether there was one.
func (l *connLimit) allow(now time.Time, caughtUp bool) bool {
	elapsed := max(now.Sub(l.last), 0)
	inRead := min(l.inRead, elapsed)
	l.tokens += l.rate * (elapsed - inRead).Seconds() // dmxd's time: beyond burst
	if l.tokens < l.burst {
		l.tokens = min(l.burst, l.tokens+l.rate*inRead.Seconds())
	}
	if caughtUp {
		l.tokens = min(l.tokens, l.burst)
	}
	l.last, l.inRead = now, 0
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

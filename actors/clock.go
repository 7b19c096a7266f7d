package actors

import "time"

// clock drives one universe's frames from its own goroutine: a frame is due
// at last+period when nothing changes, and at max(last+minGap, now) after a
// kick (a change). It calls fire for every frame; fire must not block.
type clock struct {
	period time.Duration
	minGap time.Duration
	fire   func()
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

func newClock(period, minGap time.Duration, fire func()) *clock {
	if minGap > period {
		minGap = period
	}
	return &clock{
		period: period,
		minGap: minGap,
		fire:   fire,
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// Kick asks for an early frame. It never blocks; kicks between two frames
// coalesce into one.
func (c *clock) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Stop ends the clock's goroutine and waits for it.
func (c *clock) Stop() {
	close(c.stop)
	<-c.done
}

func (c *clock) run() {
	defer close(c.done)
	last := time.Now()
	next := last.Add(c.period)
	t := time.NewTimer(c.period)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
			early := last.Add(c.minGap)
			if now := time.Now(); early.Before(now) {
				early = now
			}
			if early.Before(next) {
				next = early
				t.Reset(time.Until(next))
			}
		case <-t.C:
			c.fire()
			now := time.Now()
			last = next
			// Keep the absolute schedule unless we fell a period behind.
			if now.Sub(last) > c.period {
				last = now
			}
			next = last.Add(c.period)
			// A kick that raced with this frame may bring one extra frame,
			// never more than one per minGap.
			t.Reset(time.Until(next))
		}
	}
}

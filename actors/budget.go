package actors

import (
	"sync"
	"time"
)

// DefaultUpdateBudget is how many update messages per second all the
// universes together may send their desks unless configured otherwise:
// at about 17 µs of CPU a message (the fan-out benchmark, 1,000 desks),
// a third of a processor. Up to a few hundred desks it never binds (each
// gets every universe's update every frame); at thousands it spaces the
// updates out instead of letting the writes take the machine from the
// commands.
const DefaultUpdateBudget = 20000

// updateBudget is a token bucket of update messages shared by every
// universe of an engine. A fan-out is allowed while the bucket is not
// empty and then charged in full, one token per desk, so the bucket may
// go into debt: a universe with more desks than the bucket holds still
// gets its turn, less often.
//
// Concurrency: its methods may be called from any goroutine (each
// universe actor calls them from its own); a nil budget allows
// everything.
type updateBudget struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64 // the most the bucket holds
	tokens float64
	last   time.Time
}

// newUpdateBudget returns a budget of perSecond messages, nil (no budget)
// when perSecond is 0 or less. A full bucket holds a quarter second.
func newUpdateBudget(perSecond int) *updateBudget {
	if perSecond <= 0 {
		return nil
	}
	r := float64(perSecond)
	return &updateBudget{rate: r, burst: max(r/4, 1), tokens: max(r/4, 1)}
}

// ready reports whether a fan-out may start now.
func (b *updateBudget) ready(now time.Time) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+b.rate*now.Sub(b.last).Seconds())
	}
	b.last = now
	return b.tokens > 0
}

// charge takes n messages from the bucket.
func (b *updateBudget) charge(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.tokens -= float64(n)
	b.mu.Unlock()
}

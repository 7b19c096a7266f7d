package transport

import (
	"time"

	"golang.org/x/time/rate"
)

// bulkGate bounds the bulk work of all read pumps together: messages of at
// least bulkMessageSize from connections that are ahead of their
// universes (they have commands in flight when the next one arrives).
// Two bounds apply, one after the other:
//
//   - a budget of bytes per second (DefaultBulkBudget): a flood of big
//     commands from many desks is decoded and applied at that pace, and
//     the flooders' sockets are not read meanwhile, so TCP holds them
//     back. dmxd then stays below saturation whatever they offer: a
//     program whose processors never run out of work looks at its
//     sockets only every 10 ms, and Go has no goroutine priorities, so
//     a quiet desk's command would wait that long to be noticed;
//   - at most n decoders at once, so that a burst the budget lets through
//     never takes every processor.
//
// The budget's reservations are granted in the order they are asked for,
// so flooders take turns. A desk with nothing in flight, and small
// commands, never wait here: a desk that sends a full universe and then
// waits for it to be applied is never ahead.
//
// Concurrency: enter and leave may be called from any goroutine.
type bulkGate struct {
	tokens chan struct{}
	budget *rate.Limiter // bytes; nil: none
}

// bulkMessageSize is the smallest message that counts as bulk work: about
// 200 levels in an array.
const bulkMessageSize = 1024

// DefaultBulkBudget is how many bytes of bulk messages per second all
// connections together may have decoded (see bulkGate): 16 MiB, about
// 8,000 arrays of 512 levels, 180 a frame at 44 Hz.
const DefaultBulkBudget = 16 << 20

// newBulkGate returns a gate of n decoders at once and a budget of
// perSecond bytes (none when perSecond is 0 or less). The budget holds a
// twentieth of a second, and at least one message of the largest size.
func newBulkGate(n, perSecond int) *bulkGate {
	g := &bulkGate{tokens: make(chan struct{}, max(n, 1))}
	if perSecond > 0 {
		g.budget = rate.NewLimiter(rate.Limit(perSecond), max(perSecond/20, MaxMessageSize))
	}
	return g
}

// enter waits until size bytes of the budget are due and a decoder's place
// is free; false, taking nothing, when quit is closed first.
func (g *bulkGate) enter(size int, quit <-chan struct{}) bool {
	if g.budget != nil {
		r := g.budget.ReserveN(time.Now(), min(size, g.budget.Burst()))
		if d := r.Delay(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-quit:
				t.Stop()
				r.Cancel()
				return false
			}
		}
	}
	select {
	case g.tokens <- struct{}{}:
		return true
	case <-quit:
		return false
	}
}

// leave gives the decoder's place back.
func (g *bulkGate) leave() { <-g.tokens }

package transport

import "sync/atomic"

// window is one connection's credit window (see actors.DefaultWindow): the
// read pump takes credit before it hands a message to the connection
// actor, and the actor gives it back once the message was applied or
// answered. A read pump that finds the window used up waits — and reads
// nothing from its socket meanwhile, so TCP pushes back on that client.
//
// Concurrency: take belongs to the read pump; release may be called from
// any goroutine and never blocks.
type window struct {
	free atomic.Int64
	more chan struct{} // a release happened; capacity 1
}

func newWindow(size int) *window {
	w := &window{more: make(chan struct{}, 1)}
	w.free.Store(int64(size))
	return w
}

// take waits until n units are free and takes them; waited says whether
// it had to wait. It returns ok false, taking nothing, when quit is closed
// first.
func (w *window) take(n int, quit <-chan struct{}) (ok, waited bool) {
	for {
		f := w.free.Load()
		if f >= int64(n) {
			if w.free.CompareAndSwap(f, f-int64(n)) {
				return true, waited
			}
			continue
		}
		waited = true
		select {
		case <-w.more:
		case <-quit:
			return false, waited
		}
	}
}

// release gives n units back.
func (w *window) release(n int) {
	w.free.Add(int64(n))
	select {
	case w.more <- struct{}{}:
	default:
	}
}

// inUse returns how many units are taken, given the window's size.
func (w *window) inUse(size int) int { return size - int(w.free.Load()) }

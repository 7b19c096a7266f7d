package transport

// bulkGate bounds how many read pumps decode bulk work at once: messages
// of at least bulkMessageSize from connections that are ahead of their
// universes (they have commands in flight when the next one arrives). A
// flood of big commands from many desks then keeps at most that many
// processors busy decoding, and the others stay free to notice a quiet
// desk's command: Go has no goroutine priorities, and a program whose
// processors never run out of work looks at its sockets only every 10 ms.
// A desk with nothing in flight, and small commands, never wait here.
//
// Concurrency: enter and leave may be called from any goroutine.
type bulkGate struct{ tokens chan struct{} }

// bulkMessageSize is the smallest message that counts as bulk work: about
// 200 levels in an array.
const bulkMessageSize = 1024

func newBulkGate(n int) *bulkGate { return &bulkGate{tokens: make(chan struct{}, max(n, 1))} }

// enter waits for a place; false when quit is closed first.
func (g *bulkGate) enter(quit <-chan struct{}) bool {
	select {
	case g.tokens <- struct{}{}:
		return true
	case <-quit:
		return false
	}
}

// leave gives the place back.
func (g *bulkGate) leave() { <-g.tokens }

package transport

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestRestParksTheWorker checks that a fan-out worker's rest lets other
// goroutines run and lasts at least the rest: with GOMAXPROCS 1, a second
// goroutine runs (and counts) while the first rests, which a busy wait
// would not allow. That the processor is free at once, not only once Go's
// monitor takes it back from a system call, is what `just chaos`'s flood
// probe measured (see rester). A rest of 0 returns at once.
func TestRestParksTheWorker(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	r := newRester()
	if r == nil {
		t.Fatal("no timerfd")
	}
	defer r.close()
	const d = 20 * time.Millisecond
	var spins atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				spins.Add(1)
			}
		}
	}()
	runtime.Gosched() // let the spinner start
	before := spins.Load()
	start := time.Now()
	r.rest(d)
	took, during := time.Since(start), spins.Load()-before
	close(stop)
	<-done
	if took < d {
		t.Fatalf("rest(%v) returned after %v", d, took)
	}
	if during == 0 {
		t.Fatalf("nothing else ran on the only processor during rest(%v)", d)
	}
	zero := make(chan struct{})
	go func() { r.rest(0); close(zero) }()
	select {
	case <-zero:
	case <-time.After(10 * time.Second):
		t.Fatal("rest(0) did not return")
	}
}

// BenchmarkRest times a 100 µs rest: how late the timerfd wakes the worker.
func BenchmarkRest(b *testing.B) {
	r := newRester()
	defer r.close()
	for b.Loop() {
		r.rest(100 * time.Microsecond)
	}
}

package transport

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestRestParksTheWorker checks that a fan-out worker's rest parks its
// goroutine in Go's network poller — the runtime lists it as "IO wait",
// where a busy wait shows "running" or "runnable" and a sleeping system
// call (which keeps the processor) "syscall" — and lasts at least the rest.
// A rest of 0 returns at once.
func TestRestParksTheWorker(t *testing.T) {
	r := newRester()
	if r == nil {
		t.Fatal("no timerfd")
	}
	defer r.close()
	const d = 500 * time.Millisecond
	took := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		r.rest(d)
		took <- time.Since(start)
	}()
	state := ""
	for end := time.Now().Add(d / 2); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if state = restingState(); strings.HasPrefix(state, "IO wait") {
			break
		}
	}
	if !strings.HasPrefix(state, "IO wait") {
		t.Errorf("the resting goroutine is %q, want parked in the poller (IO wait)", state)
	}
	if got := <-took; got < d {
		t.Fatalf("rest(%v) returned after %v", d, got)
	}
	zero := make(chan struct{})
	go func() { r.rest(0); close(zero) }()
	select {
	case <-zero:
	case <-time.After(10 * time.Second):
		t.Fatal("rest(0) did not return")
	}
}

// restingState returns the runtime's state of the goroutine inside
// (*rester).rest ("" when there is none): the text in brackets of its
// stack's header, "goroutine 7 [IO wait]:".
func restingState() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "(*rester).rest(") {
			continue
		}
		head, _, _ := strings.Cut(g, "\n")
		if _, st, ok := strings.Cut(head, "["); ok {
			st, _, _ = strings.Cut(st, "]")
			return st
		}
	}
	return ""
}

// BenchmarkRest times a 100 µs rest: how late the timerfd wakes the worker.
func BenchmarkRest(b *testing.B) {
	r := newRester()
	defer r.close()
	for b.Loop() {
		r.rest(100 * time.Microsecond)
	}
}

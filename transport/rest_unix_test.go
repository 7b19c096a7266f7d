//go:build linux

package transport

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRestFreesTheCPU checks that the fan-out worker's rest puts its OS
// thread to sleep: the thread's CPU time hardly moves while the wall
// clock moves by at least the rest (a busy wait, or a Gosched loop, would
// spend the whole rest on the CPU).
func TestRestFreesTheCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const d = 20 * time.Millisecond
	threadCPU := func() time.Duration {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for range 3 { // a signal may cut one rest short
		cpu0, wall0 := threadCPU(), time.Now()
		rest(d)
		cpu, wall := threadCPU()-cpu0, time.Since(wall0)
		if wall < d {
			continue
		}
		if cpu > d/4 {
			t.Fatalf("rest(%v) took %v of CPU in %v: the thread did not sleep", d, cpu, wall)
		}
		return
	}
	t.Fatalf("rest(%v) returned early three times", d)
}

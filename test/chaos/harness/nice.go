package harness

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// loadNice is the nice value of the harness's own threads once the run
// starts. On this machine the simulated desks share dmxd's two cores; in
// a show they run on other machines. Running them at a lower priority
// keeps dmxd and the frame recorders (started at normal priority) from
// being measured against the load generator's CPU appetite, while the
// traffic they must handle stays the same.
// Not lower than 5: on a machine that other work saturates, a load
// generator at nice 10 answers pings so late that dmxd rightly drops its
// desks.
const loadNice = 5

// launcher starts processes from one OS thread that keeps the normal
// priority, so that dmxd and the recorders never inherit loadNice (a
// forked child inherits the nice value of the forking thread).
type launcher struct {
	tid  int
	reqs chan func()
}

func newLauncher() *launcher {
	l := &launcher{reqs: make(chan func())}
	ready := make(chan int)
	go func() {
		runtime.LockOSThread() // this thread runs nothing else, ever
		ready <- unix.Gettid()
		for f := range l.reqs {
			f()
		}
	}()
	l.tid = <-ready
	return l
}

// do runs f on the launcher's thread and waits for it.
func (l *launcher) do(f func()) {
	done := make(chan struct{})
	l.reqs <- func() { f(); close(done) }
	<-done
}

// stop ends the launcher's goroutine (its thread ends with it).
func (l *launcher) stop() { close(l.reqs) }

// niceThreads sets every thread of the process but the launcher's to
// nice; threads created later inherit it from their creator. Raising a
// nice value needs no privilege.
func (l *launcher) niceThreads(nice int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("list threads: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil || tid == l.tid {
			continue
		}
		// A thread may have ended since the listing; ESRCH is fine.
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && err != unix.ESRCH {
			return fmt.Errorf("nice thread %d: %w", tid, err)
		}
	}
	return nil
}

package test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dmxd/dmxd/test/testkit"
)

// enttecMinGap is the enttec-pro driver's minimum gap between frames
// (dmx.EnttecPro.MinGap), the bound a flood of changes must respect.
const enttecMinGap = time.Millisecond

// floodWindow is how long TestFloodNeverRaisesFrameRateAboveMinGap floods.
const floodWindow = 2 * time.Second

// TestFloodNeverRaisesFrameRateAboveMinGap floods dmxd (no rate limit)
// with changes from two desks. By dmxd's own clock (its frame interval
// histogram), early frames go out, a few milliseconds apart instead of a
// period, but never two closer than the minimum gap; the pty gets every
// frame dmxd counts, whole; and a desk gets at most one update a period
// (after a burst of two) over the whole flood, measured from the first
// command sent to the last update read, which a slow machine only makes
// longer.
func TestFloodNeverRaisesFrameRateAboveMinGap(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path, "--conn-rate", "0")
	desks := []*testkit.Desk{dial(t, p), dial(t, p)}
	watcher := dial(t, p)
	var updates int
	var lastUpdate time.Time
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			m, err := watcher.Next(5 * time.Second)
			if err != nil {
				return
			}
			if m.Type == "update" {
				updates++
				lastUpdate = time.Now()
			}
		}
	}()
	if _, err := pty.WaitFrame(5*time.Second, anyFrame); err != nil {
		t.Fatalf("no frame before the flood: %v", err)
	}

	stop := make(chan struct{})
	errs := make(chan error, len(desks))
	first := time.Now()
	for i, d := range desks {
		go func() {
			// Read and drop the updates so that dmxd never closes us as slow.
			go func() {
				for {
					if _, _, err := d.Conn.ReadMessage(); err != nil {
						return
					}
				}
			}()
			for n := 0; ; n++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				msg := fmt.Sprintf(`{"dmx": {"%d": %d}}`, i+1, n%256)
				if err := d.Send(msg); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(floodWindow)
	close(stop)
	for range desks {
		if err := <-errs; err != nil {
			t.Fatalf("flood: %v", err)
		}
	}

	// dmxd's own clock: the histogram of the intervals between the
	// starts of two frame writes.
	written := framesWritten(t, p, 1) // also brings the histogram up to date
	_, m := scrape(t, p.URL("/metrics"), "")
	bucket := func(le string) float64 {
		t.Helper()
		v, ok := m[`dmxd_frame_interval_seconds_bucket{universe="1",le="`+le+`"}`]
		if !ok {
			t.Fatalf("no frame interval bucket le=%s", le)
		}
		return v
	}
	if n := bucket("0.001"); n != 0 {
		t.Errorf("%v frame intervals of at most 1 ms under a flood, want none (minimum gap %v)", n, enttecMinGap)
	}
	early := bucket("0.005")
	if early == 0 {
		t.Errorf("no frame interval under 5 ms under a flood: no early frames (%v intervals in all)", m[`dmxd_frame_interval_seconds_count{universe="1"}`])
	}
	t.Logf("%d frames written, %v intervals under 5 ms", written, early)
	// The loop's own wait and lateness are observed with every interval.
	n := m[`dmxd_frame_interval_seconds_count{universe="1"}`]
	w, l := m[`dmxd_frame_wait_seconds_count{universe="1"}`], m[`dmxd_frame_start_late_seconds_count{universe="1"}`]
	if n == 0 || w != n || l != n {
		t.Errorf("%v frame intervals, %v waits and %v start latenesses observed, want as many of each (and some)", n, w, l)
	}

	waitWholeFrames(t, pty, written)

	// Updates stay at most one per refresh period, however many frames.
	_ = watcher.Conn.Close()
	<-watched
	if updates == 0 {
		t.Fatal("no update during the flood")
	}
	span := lastUpdate.Sub(first)
	if most := 2 + int(span/framePeriod); updates > most {
		t.Errorf("%d updates in %v under a flood, want at most %d (one per 1/rate, a burst of two)", updates, span, most)
	}
}

// TestOutputThreadsRunRealTime: each hardware output's refresh loop runs
// on a thread of its own with a real-time policy (SCHED_FIFO, priority 20)
// when dmxd may raise priorities, and every other thread of dmxd stays
// ordinary, the null output's included.
// Without the privilege (not root, no CAP_SYS_NICE) there is nothing to
// check, and the test says so.
func TestOutputThreadsRunRealTime(t *testing.T) {
	if err := probeRealTime(); err != nil {
		t.Skipf("no privilege for real-time priorities here (%v): dmxd's writers run at normal priority", err)
	}
	ptys := []*testkit.PTY{newPTY(t), newPTY(t)}
	p := startDMXD(t, "--universes", "3", "--output", "1=enttec-pro:"+ptys[0].Path, "--output", "2=enttec-pro:"+ptys[1].Path)
	for _, pty := range ptys {
		if _, err := pty.WaitFrame(5*time.Second, func(testkit.Frame) bool { return true }); err != nil {
			t.Fatal(err)
		}
	}
	// Three universes, three refresh loops, two of them for hardware (the
	// null output's needs no thread of its own). A writer raises its
	// thread's priority as it starts: wait for both, then check that no
	// other thread has a real-time policy.
	deadline := time.Now().Add(5 * time.Second)
	for {
		fifo, others := schedPolicies(t, p.Pid())
		if fifo >= 2 || time.Now().After(deadline) {
			if fifo != 2 {
				t.Errorf("%d SCHED_FIFO threads in dmxd, want 2 (one per enttec-pro output, none for null)", fifo)
			}
			for _, o := range others {
				t.Error(o)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// schedPolicies counts the threads of process pid that run SCHED_FIFO at
// the writers' priority 20, and describes those with any other policy
// than the ordinary one.
func schedPolicies(t *testing.T, pid int) (fifo int, others []string) {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			continue // the thread ended
		}
		switch {
		case attr.Policy == unix.SCHED_FIFO && attr.Priority == 20:
			fifo++
		case attr.Policy != schedOther:
			others = append(others, fmt.Sprintf("thread %d: policy %d priority %d, want ordinary or SCHED_FIFO 20", tid, attr.Policy, attr.Priority))
		}
	}
	return fifo, others
}

// schedOther is the ordinary scheduling policy, SCHED_OTHER.
const schedOther = 0

// probeRealTime reports whether this process may give a thread a
// real-time policy, by trying on its own thread and undoing it.
func probeRealTime() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fifo := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Flags: unix.SCHED_FLAG_RESET_ON_FORK, Priority: 1}
	if err := unix.SchedSetAttr(0, fifo, 0); err != nil {
		return err
	}
	return unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: schedOther}, 0)
}

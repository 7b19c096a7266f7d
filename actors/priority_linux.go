package actors

import "golang.org/x/sys/unix"

// The scheduling of a writer's OS thread. The thread sleeps in the kernel
// almost all the time and writes one frame per wake-up, so it may run
// above everything else: a real-time priority (SCHED_FIFO) makes it
// preempt ordinary threads the moment its frame is due, where a nice value
// only weighs its share and left it 5–15 ms late now and then on a busy
// 2-core machine. Without the privilege for that it asks for writerNice,
// and without that it runs at normal priority.
const (
	writerRTPriority = 20
	writerNice       = -10
)

// raisePriority raises the priority of the writer's OS thread, to which
// the writer is locked (see writerRTPriority). What it got is logged
// once, at debug level. Threads created from this one do not inherit a
// real-time policy (SCHED_RESET_ON_FORK).
func (w *writer) raisePriority() {
	tid := unix.Gettid()
	rt := &unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   unix.SCHED_FIFO,
		Flags:    unix.SCHED_FLAG_RESET_ON_FORK,
		Priority: writerRTPriority,
	}
	err := unix.SchedSetAttr(tid, rt, 0)
	if err == nil {
		w.log.Debug().Int("priority", writerRTPriority).Msg("writer thread runs SCHED_FIFO")
		return
	}
	if nerr := unix.Setpriority(unix.PRIO_PROCESS, tid, writerNice); nerr != nil {
		w.log.Debug().AnErr("sched_fifo", err).AnErr("nice", nerr).Msg("writer thread runs at normal priority")
		return
	}
	w.log.Debug().AnErr("sched_fifo", err).Int("nice", writerNice).Msg("writer thread runs at raised nice")
}

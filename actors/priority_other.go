//go:build !linux

package actors

// raisePriority leaves the writer's OS thread at normal priority: dmxd
// raises a thread's priority on Linux only.
func (w *writer) raisePriority() {
	w.log.Debug().Msg("writer thread runs at normal priority (raised on Linux only)")
}

//go:build !linux

package transport

import "time"

// rester lets a fan-out worker rest (see fanoutRest). Here it is
// time.Sleep, which parks the goroutine (its processor is free at once)
// but may wake up to a millisecond late in a program with nothing else to
// run, so the fan-out goes slower than on Linux.
type rester struct{}

func newRester() *rester { return nil }

// rest parks the calling goroutine for d.
func (*rester) rest(d time.Duration) { time.Sleep(d) }

func (*rester) close() {}

//go:build unix

package main

import (
	"math"
	"syscall"
)

// openFilesLimit returns the open-files limit (RLIMIT_NOFILE), which Go
// raised to the hard limit at start; unlimited when it cannot be read.
func openFilesLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return math.MaxUint64
	}
	return rl.Cur
}

//go:build !unix

package main

import "math"

// openFilesLimit returns no limit: Windows has no open-files limit of the
// kind RLIMIT_NOFILE is (handles are bounded by memory).
func openFilesLimit() uint64 { return math.MaxUint64 }

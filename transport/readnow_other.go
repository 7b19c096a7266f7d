//go:build !unix

package transport

import "errors"

// readNow is not available here: read-ahead is off, and every read goes
// through the connection the ordinary way.
func readNow(uintptr, []byte) (int, error) { return 0, errors.ErrUnsupported }

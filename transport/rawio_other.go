//go:build !unix

package transport

import "errors"

// rawIO says whether readNow and writeNow work here: not here, so
// read-ahead is off and the fan-out pool hands every connection to a
// writer of its own.
const rawIO = false

// readNow is not available here.
func readNow(uintptr, []byte) (int, error) { return 0, errors.ErrUnsupported }

// writeNow is not available here.
func writeNow(uintptr, []byte) (int, error) { return 0, errors.ErrUnsupported }

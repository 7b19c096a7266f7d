//go:build !(linux && cgo)

package refresh

import "errors"

// NativeLoop reports whether the C loop is built in (Linux with cgo):
// New then picks it unless Config.Portable.
const NativeLoop = false

// newCLoop is never called without the C loop (NativeLoop is false).
func newCLoop(Config) (engine, error) {
	return nil, errors.New("the C loop is not built in")
}

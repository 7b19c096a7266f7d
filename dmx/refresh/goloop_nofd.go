//go:build !linux && !darwin

package refresh

// openPort returns the port for dev: its Write method, as the Go loop
// uses no descriptors on this platform.
func openPort(dev Device, breaks bool) (port, error) { return newWriterPort(dev, breaks) }

//go:build !linux && !darwin

package dmx

import (
	"fmt"

	"go.bug.st/serial"
)

// openSerial opens path at 250000 baud 8N2 through go.bug.st/serial
// (Windows and every platform but Linux and macOS). It never touches the
// modem status lines (their ioctls fail on some adapters). The port has
// no descriptor for the refresh loop, which writes through its Write and
// makes breaks with its Drain and Break.
func openSerial(path string) (Device, error) {
	p, err := serial.Open(path, &serial.Mode{
		BaudRate: serialBaud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.TwoStopBits,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return p, nil
}

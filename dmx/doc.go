// Package dmx is the lighting domain of dmxd: the 512 levels of a universe,
// how the commands of many sources merge into them (LTP or HTP, with fades),
// the wire encodings of the supported interfaces (Enttec DMX USB Pro label 6,
// Open DMX / FTDI raw with break) and the output driver interface.
//
// It knows no actors and no sockets.
//
// Concurrency: nothing in this package is safe for concurrent use unless its
// doc comment says so. A Mixer belongs to one universe actor; a Device
// returned by a Driver belongs to the single goroutine that writes and closes
// it. Drivers themselves are immutable after construction and may be shared.
package dmx

package dmx

// Slots is the number of channels in a DMX512 universe.
const Slots = 512

// MaxLevel is the highest level of a channel.
const MaxLevel = 255

// Frame holds the 512 slot values of one DMX512 packet (the start code,
// always 0 for dimmer data, is added by the encoders).
type Frame [Slots]byte

// Change sets one channel to a level. Channel is 1-based (1..512), as
// lighting technicians and the wire protocol count.
type Change struct {
	Channel uint16
	Level   uint8
}

// ValidChannel reports whether ch is a channel number 1..512.
func ValidChannel(ch int) bool { return ch >= 1 && ch <= Slots }

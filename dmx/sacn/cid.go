package sacn

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
)

// cidNamespace is the namespace of NameCID's name-based UUIDs: the UUID
// of "dmxd sACN CID" in the RFC 9562 DNS namespace, fixed forever so that
// a name always gives the same CID.
var cidNamespace = uuidV5([16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}, "dmxd sACN CID")

// NameCID returns the name-based (version 5) UUID of name: the same name
// always gives the same CID.
func NameCID(name string) [16]byte { return uuidV5(cidNamespace, name) }

func uuidV5(ns [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}

// ParseCID parses a UUID in its text form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).
func ParseCID(s string) ([16]byte, error) {
	var u [16]byte
	parts := strings.Split(s, "-")
	if len(parts) != 5 || len(parts[0]) != 8 || len(parts[1]) != 4 || len(parts[2]) != 4 || len(parts[3]) != 4 || len(parts[4]) != 12 {
		return u, fmt.Errorf("CID %q: want a UUID xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	if _, err := hex.Decode(u[:], []byte(strings.Join(parts, ""))); err != nil {
		return u, fmt.Errorf("CID %q: want a UUID of hexadecimal digits", s)
	}
	return u, nil
}

// FormatCID returns u in the text form of a UUID.
func FormatCID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

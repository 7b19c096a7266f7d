package dmx_test

import (
	"testing"

	"github.com/dmxd/dmxd/dmx/artnet"
)

// TestArtPollReplyDecodedByTshark checks the ArtPollReply that an Art-Net
// input answers with against Wireshark's Art-Net dissector.
func TestArtPollReplyDecodedByTshark(t *testing.T) {
	reply := artnet.AppendPollReply(nil, &artnet.Reply{IP: [4]byte{10, 1, 2, 3}, ShortName: "dmxd", LongName: "dmxd on test",
		BindIndex: 1, Outputs: []uint16{0x21, 0x22}})
	got := tsharkFields(t, writePcap(t, [][]byte{reply}, artnet.Port))
	if len(got) != 1 {
		t.Fatalf("tshark decoded %d packets, want 1", len(got))
	}
	f := got[0]
	for name, want := range map[string]string{
		"artnet.header.opcode":         "0x2100",
		"artnet.poll_reply.short_name": "dmxd",
		"artnet.poll_reply.long_name":  "dmxd on test",
		"artnet.poll_reply.ip_address": "10.1.2.3",
		"artnet.poll_reply.port_nr":    "6454",
		"artnet.poll_reply.num_ports":  "2",
		"artnet.poll_reply.subswitch":  "0x02",
		"artnet.poll_reply.bind_index": "0x01", "artnet.poll_reply.port_types_1": "0x80", "artnet.poll_reply.port_types_3": "0x00",
		"artnet.poll_reply.swout_1_universe": "33", "artnet.poll_reply.swout_2_universe": "34",
	} {
		if v := one(t, f, name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
}

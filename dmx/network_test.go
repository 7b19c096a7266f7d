package dmx_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/dmx/artnet"
	"github.com/dmxd/dmxd/dmx/sacn"
)

// netWait bounds every wait for a datagram on loopback.
const netWait = 5 * time.Second

// listenUDP returns a UDP socket on a free port of 127.0.0.1.
func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receive reads n datagrams from c, each within netWait.
func receive(t *testing.T, c *net.UDPConn, n int) [][]byte {
	t.Helper()
	var out [][]byte
	buf := make([]byte, 2048)
	for range n {
		if err := c.SetReadDeadline(time.Now().Add(netWait)); err != nil {
			t.Fatal(err)
		}
		k, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, bytes.Clone(buf[:k]))
	}
	return out
}

// writePcap writes datagrams into a pcap file of raw IPv4 packets
// (LINKTYPE_RAW), from 127.0.0.1:50000 to 127.0.0.1:port, so that
// Wireshark picks its dissector by the port as on a real network.
func writePcap(t *testing.T, datagrams [][]byte, port uint16) string {
	t.Helper()
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4) // magic, microseconds
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535) // snaplen
	le.PutUint32(hdr[20:], 101)   // LINKTYPE_RAW
	b.Write(hdr)
	for i, d := range datagrams {
		pkt := make([]byte, 28+len(d))
		pkt[0] = 0x45 // IPv4, 20-byte header
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
		pkt[8] = 64 // TTL
		pkt[9] = 17 // UDP
		copy(pkt[12:], []byte{127, 0, 0, 1, 127, 0, 0, 1})
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(pkt[j:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(pkt[10:], ^uint16(sum))
		binary.BigEndian.PutUint16(pkt[20:], 50000)
		binary.BigEndian.PutUint16(pkt[22:], port)
		binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(d)))
		copy(pkt[28:], d)
		rec := make([]byte, 16)
		le.PutUint32(rec[0:], uint32(1700000000+i))
		le.PutUint32(rec[8:], uint32(len(pkt)))
		le.PutUint32(rec[12:], uint32(len(pkt)))
		b.Write(rec)
		b.Write(pkt)
	}
	p := filepath.Join(t.TempDir(), "capture.pcap")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tsharkFields decodes a pcap with Debian's tshark, the independent
// decoder (Wireshark's acn and artnet dissectors), and returns each
// packet's fields: every field name with all its values in order (tshark's
// JSON repeats keys, as acn.dmx.data for each line of slots). With -x,
// NAME_raw holds a field's bytes in hex. The test fails without tshark
// (.ci/run installs it), unless -short.
func tsharkFields(t *testing.T, pcap string) []map[string][]string {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		if testing.Short() {
			t.Skip("tshark is not installed (-short)")
		}
		t.Fatalf("tshark is not installed (apt-get install tshark; .ci/run installs it): %v", err)
	}
	// The acn dissector is heuristic and off by default; its DMX view
	// prints every slot in hex, zeros too.
	cmd := exec.Command(bin, "-r", pcap, "-T", "json", "-x",
		"--enable-heuristic", "acn", "-d", "udp.port==6454,artnet",
		"-o", "acn.dmx_enable:TRUE", "-o", "acn.dmx_display_view:Hex", "-o", "acn.dmx_display_zeros:TRUE",
		"-o", "acn.dmx_display_leading_zeros:TRUE", "-o", "acn.dmx_display_line_format:20 per line")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user profile
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	var pkts []json.RawMessage
	if err := json.Unmarshal(out, &pkts); err != nil {
		t.Fatalf("tshark output: %v", err)
	}
	fields := make([]map[string][]string, len(pkts))
	for i, p := range pkts {
		fields[i] = flatten(t, p)
	}
	return fields
}

// flatten collects every value under its key, at any depth, keeping
// repeated keys; of an array under NAME_raw (-x) only the first element,
// the field's bytes in hex.
func flatten(t *testing.T, raw []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := walk(dec, "", out); err != nil {
		t.Fatalf("tshark output: %v", err)
	}
	return out
}

func walk(dec *json.Decoder, key string, out map[string][]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		first := true
		for dec.More() {
			k := key
			if v == '{' {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k = kt.(string)
			} else if strings.HasSuffix(key, "_raw") && !first {
				k = "" // a raw field's offset, length, …
			}
			first = false
			if err := walk(dec, k, out); err != nil {
				return err
			}
		}
		_, err := dec.Token() // the closing delimiter
		return err
	default:
		if key != "" {
			out[key] = append(out[key], fmt.Sprint(v))
		}
	}
	return nil
}

// one returns the single value of field name in packet f.
func one(t *testing.T, f map[string][]string, name string) string {
	t.Helper()
	v := f[name]
	if len(v) != 1 {
		t.Fatalf("field %s: %q, want one value", name, v)
	}
	return v[0]
}

// sacnSlots parses the acn dissector's DMX view (hex, 20 per line, zeros
// shown): "001-020: 00 01 … | … ".
func sacnSlots(t *testing.T, lines []string) []byte {
	t.Helper()
	var out []byte
	for _, l := range lines {
		_, rest, ok := strings.Cut(l, ": ")
		if !ok {
			continue // the column header
		}
		for _, tok := range strings.Fields(rest) {
			if tok == "|" {
				continue
			}
			var b byte
			if _, err := fmt.Sscanf(tok, "%x", &b); err != nil {
				t.Fatalf("slot %q in %q: %v", tok, l, err)
			}
			out = append(out, b)
		}
	}
	return out
}

// testFrame returns a frame whose slots all differ from their neighbours.
func testFrame(seed byte) *dmx.Frame {
	var f dmx.Frame
	for i := range f {
		f[i] = byte(i*7) + seed
	}
	return &f
}

// TestSACNPacketsDecodedByTshark sends frames through a real sACN output
// to a UDP socket on loopback, closes it, and has Wireshark's acn
// dissector decode every datagram received: three data packets, then
// three stream-terminated ones, sequence numbers counting up.
func TestSACNPacketsDecodedByTshark(t *testing.T) {
	tests := []struct {
		name     string
		spec     string // without the host
		at       string // "@N" suffix
		nc       dmx.NetConfig
		universe string
	}{
		{"defaults", "1=sacn", "", dmx.NetConfig{CID: sacn.NameCID("a"), SourceName: "vm", Priority: 100}, "1"},
		{"universe override, UTF-8 name, priority 200", "2=sacn", "@300", dmx.NetConfig{CID: sacn.NameCID("b"), SourceName: "Bühne ✓", Priority: 200}, "300"},
		{"longest name, priority 0", "32768=sacn", "", dmx.NetConfig{CID: [16]byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, SourceName: strings.Repeat("n", 63), Priority: 0}, "32768"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lc := listenUDP(t)
			o, err := dmx.ParseOutputNet(tt.spec+":"+lc.LocalAddr().String()+tt.at, tt.nc)
			if err != nil {
				t.Fatal(err)
			}
			dev, err := o.Driver.Open()
			if err != nil {
				t.Fatal(err)
			}
			frames := []*dmx.Frame{testFrame(0), testFrame(1), testFrame(1)}
			for _, f := range frames {
				if _, err := dev.Write(o.Driver.AppendFrame(nil, f)); err != nil {
					t.Fatal(err)
				}
			}
			if err := dev.Close(); err != nil {
				t.Fatal(err)
			}
			got := tsharkFields(t, writePcap(t, receive(t, lc, 6), sacn.Port))
			if len(got) != 6 {
				t.Fatalf("tshark decoded %d packets, want 6", len(got))
			}
			for i, f := range got {
				want := map[string]string{
					"acn.packet_identifier":          "ASC-E1.17",
					"acn.protocol_id":                "4",
					"acn.cid":                        sacn.FormatCID(tt.nc.CID),
					"acn.dmx_vector":                 "2",
					"acn.dmx.source_name":            tt.nc.SourceName,
					"acn.dmx.priority":               fmt.Sprint(tt.nc.Priority),
					"acn.dmx.reserved":               "0", // the sync address
					"acn.dmx.seq_number":             fmt.Sprint(i),
					"acn.dmx.options":                "0",
					"acn.dmx.option_s":               "0",
					"acn.dmx.option_p":               "0",
					"acn.dmx.universe":               tt.universe,
					"acn.dmp_vector":                 "2",
					"acn.dmx.first_property_address": "0",
					"acn.dmx.increment":              "1",
					"acn.dmx.count":                  "513",
					"acn.dmx.start_code2":            "0",
				}
				if i >= 3 { // stream terminated, at Close
					want["acn.dmx.options"], want["acn.dmx.option_s"] = "64", "1"
				}
				for k, v := range want {
					if g := one(t, f, k); g != v {
						t.Errorf("packet %d: %s = %q, want %q", i+1, k, g, v)
					}
				}
				slots := sacnSlots(t, f["acn.dmx.data"])
				if wantSlots := frames[min(i, 2)][:]; !bytes.Equal(slots, wantSlots) {
					t.Errorf("packet %d: tshark decoded %d slots %v…, want %v…", i+1, len(slots), slots[:min(len(slots), 8)], wantSlots[:8])
				}
			}
		})
	}
}

// TestArtNetPacketsDecodedByTshark sends frames through a real Art-Net
// output to a UDP socket on loopback and has Wireshark's artnet dissector
// decode them: OpCode, protocol version, port-address (U-1 by default,
// @N to choose), sequence 1, 2, 3, length and data.
func TestArtNetPacketsDecodedByTshark(t *testing.T) {
	tests := []struct {
		spec, at string
		pa       int
	}{
		{"1=artnet", "", 0},           // QLC+'s universe 1
		{"1=artnet", "@1", 1},         // OLA's universe 1
		{"300=artnet", "", 299},       // net 1, sub-net 2, universe 11
		{"5=artnet", "@32767", 32767}, // the highest port-address
	}
	for _, tt := range tests {
		t.Run(tt.spec+tt.at, func(t *testing.T) {
			lc := listenUDP(t)
			o, err := dmx.ParseOutputNet(tt.spec+":"+lc.LocalAddr().String()+tt.at, dmx.DefaultNetConfig())
			if err != nil {
				t.Fatal(err)
			}
			dev, err := o.Driver.Open()
			if err != nil {
				t.Fatal(err)
			}
			frames := []*dmx.Frame{testFrame(3), testFrame(4), testFrame(4)}
			for _, f := range frames {
				if _, err := dev.Write(o.Driver.AppendFrame(nil, f)); err != nil {
					t.Fatal(err)
				}
			}
			if err := dev.Close(); err != nil {
				t.Fatal(err)
			}
			got := tsharkFields(t, writePcap(t, receive(t, lc, 3), artnet.Port))
			if len(got) != 3 {
				t.Fatalf("tshark decoded %d packets, want 3", len(got))
			}
			for i, f := range got {
				want := map[string]string{
					"artnet.header.id":       "Art-Net",
					"artnet.header.opcode":   "0x5000",
					"artnet.header.protver":  "14",
					"artnet.output.sequence": fmt.Sprint(i + 1),
					"artnet.output.physical": "0",
					"artnet.output.universe": fmt.Sprint(tt.pa),
					"artnet.output.length":   "512",
				}
				for k, v := range want {
					if g := one(t, f, k); g != v {
						t.Errorf("packet %d: %s = %q, want %q", i+1, k, g, v)
					}
				}
				data := strings.ReplaceAll(one(t, f, "dmx_chan.data_filter"), ":", "")
				if w := fmt.Sprintf("%x", frames[i][:]); data != w {
					t.Errorf("packet %d: tshark decoded data %.40s…, want %.40s…", i+1, data, w)
				}
			}
		})
	}
}

// TestNetSequenceWraps: sACN counts 0..255 and wraps to 0; Art-Net counts
// 1..255 and wraps to 1 (0 would switch reordering off). The number is the
// output's, not the socket's: it goes on after a reopen.
func TestNetSequenceWraps(t *testing.T) {
	tests := []struct {
		driver string
		off    int
		first  byte
		wrapTo byte // the number after 255
	}{
		{"sacn", sacn.OffSequence, 0, 0},
		{"artnet", artnet.OffSequence, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.driver, func(t *testing.T) {
			lc := listenUDP(t)
			o, err := dmx.ParseOutputNet("1="+tt.driver+":"+lc.LocalAddr().String(), dmx.DefaultNetConfig())
			if err != nil {
				t.Fatal(err)
			}
			frame := o.Driver.AppendFrame(nil, testFrame(0))
			var seqs []byte
			for range 2 {
				dev, err := o.Driver.Open()
				if err != nil {
					t.Fatal(err)
				}
				for range 150 {
					if _, err := dev.Write(frame); err != nil {
						t.Fatal(err)
					}
					seqs = append(seqs, receive(t, lc, 1)[0][tt.off])
				}
				if err := dev.Close(); err != nil {
					t.Fatal(err)
				}
				if tt.driver == "sacn" {
					for _, p := range receive(t, lc, 3) { // stream terminated
						seqs = append(seqs, p[tt.off])
					}
				}
			}
			if seqs[0] != tt.first {
				t.Errorf("first sequence %d, want %d", seqs[0], tt.first)
			}
			for i := 1; i < len(seqs); i++ {
				want := seqs[i-1] + 1
				if seqs[i-1] == 255 {
					want = tt.wrapTo
				}
				if seqs[i] != want {
					t.Fatalf("packet %d: sequence %d after %d, want %d", i+1, seqs[i], seqs[i-1], want)
				}
			}
		})
	}
}

// TestNetOutputSeveralHosts: every host of the list gets every frame.
func TestNetOutputSeveralHosts(t *testing.T) {
	a, b := listenUDP(t), listenUDP(t)
	o, err := dmx.ParseOutputNet("1=artnet:"+a.LocalAddr().String()+","+b.LocalAddr().String(), dmx.DefaultNetConfig())
	if err != nil {
		t.Fatal(err)
	}
	dev, err := o.Driver.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if _, err := dev.Write(o.Driver.AppendFrame(nil, testFrame(9))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*net.UDPConn{a, b} {
		p := receive(t, c, 1)[0]
		if !artnet.IsDmx(p) || p[artnet.OffData] != 9 {
			t.Errorf("%s got % x…", c.LocalAddr(), p[:20])
		}
	}
	st := o.Driver.(dmx.ArtNet).Stats()
	if st.Sent.Load() != 2 || st.Errors.Load() != 0 {
		t.Errorf("sent %d errors %d, want 2 and 0", st.Sent.Load(), st.Errors.Load())
	}
}

// TestParseNetOutputs: the accepted forms and what they mean.
func TestParseNetOutputs(t *testing.T) {
	tests := []struct {
		spec, name, target string
	}{
		{"1=sacn", "sacn", "239.255.0.1:5568"},
		{"258=sacn", "sacn", "239.255.1.2:5568"},
		{"1=sacn@5", "sacn", "239.255.0.5:5568@5"},
		{"1=sacn:10.0.0.2,10.0.0.3:6000", "sacn", "10.0.0.2:5568,10.0.0.3:6000"},
		{"1=sacn:[::1]:99,fe80::1", "sacn", "[::1]:99,[fe80::1]:5568"},
		{"1=artnet:node.lan", "artnet", "node.lan:6454@0"},
		{"2=artnet:10.0.0.9,10.0.0.10@1", "artnet", "10.0.0.9:6454,10.0.0.10:6454@1"},
	}
	for _, tt := range tests {
		o, err := dmx.ParseOutput(tt.spec)
		if err != nil {
			t.Errorf("%s: %v", tt.spec, err)
			continue
		}
		if o.Driver.Name() != tt.name || o.Driver.Target() != tt.target || o.Driver.MinGap() != time.Millisecond {
			t.Errorf("%s: %s %q gap %v, want %s %q 1ms", tt.spec, o.Driver.Name(), o.Driver.Target(), o.Driver.MinGap(), tt.name, tt.target)
		}
	}
}

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/dmx"
)

func TestParseInputs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want []dmx.Input
		err  string
	}{
		{args: []string{"--universes", "2", "--input", "sacn"}, want: []dmx.Input{{Proto: "sacn", Addr: ":5568", Universes: map[uint16]int{1: 1, 2: 2}}}},
		{args: []string{"--universes", "3", "--input", "artnet:1,3=5"}, want: []dmx.Input{{Proto: "artnet", Addr: ":6454", Universes: map[uint16]int{0: 1, 5: 3}}}},
		{args: []string{"--input", "sacn@127.0.0.1:7000:1=9"}, want: []dmx.Input{{Proto: "sacn", Addr: "127.0.0.1:7000", Universes: map[uint16]int{9: 1}}}},
		{args: []string{"--input", "artnet@[::1]:6454"}, want: []dmx.Input{{Proto: "artnet", Addr: "[::1]:6454", Universes: map[uint16]int{0: 1}}}},
		{env: map[string]string{"DMXD_INPUT": "sacn:1 artnet:1"}, want: []dmx.Input{{Proto: "sacn", Addr: ":5568", Universes: map[uint16]int{1: 1}}, {Proto: "artnet", Addr: ":6454", Universes: map[uint16]int{0: 1}}}},
		{args: []string{"--input", "dmx"}, err: "not sacn or artnet"},
		{args: []string{"--input", "sacn:2"}, err: "does not exist"},
		{args: []string{"--input", "sacn:1=0"}, err: "outside 1..63999"},
		{args: []string{"--input", "artnet:1=32768"}, err: "outside 0..32767"},
		{args: []string{"--input", "sacn:1,1"}, err: "twice"},
		{args: []string{"--input", "sacn@nowhere"}, err: "HOST:PORT"},
		{args: []string{"--input", "sacn", "--input", "sacn"}, err: "given twice"},
		{args: []string{"--input-timeout", "-1s"}, err: "negative"},
	} {
		c, err := parseConfig(tc.args, env(tc.env))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q %v: error %v, want %q", tc.args, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q %v: %v", tc.args, tc.env, err)
			continue
		}
		if len(c.inputs) != len(tc.want) {
			t.Errorf("%q: inputs %+v, want %+v", tc.args, c.inputs, tc.want)
			continue
		}
		for i, w := range tc.want {
			g := c.inputs[i]
			if g.Proto != w.Proto || g.Addr != w.Addr || len(g.Universes) != len(w.Universes) {
				t.Errorf("%q: input %+v, want %+v", tc.args, g, w)
			}
			for n, u := range w.Universes {
				if g.Universes[n] != u {
					t.Errorf("%q: input %+v, want %+v", tc.args, g, w)
				}
			}
		}
	}
	c, err := parseConfig([]string{"--input", "sacn", "--input-hold", "--input-timeout", "1s"}, env(nil))
	if err != nil || !c.inHold || c.inTimeout != time.Second {
		t.Fatalf("hold %v timeout %v: %v", c.inHold, c.inTimeout, err)
	}
}

package main

import (
	"maps"
	"strings"
	"testing"
	"time"
)

// TestCommandBadCommandLine: a bad command line of a command exits 2 with
// one line on stderr naming the command, before any connection is tried
// (the server given does not exist).
func TestCommandBadCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		detail string
	}{
		{[]string{"set"}, "want CH=LEVEL"},
		{[]string{"set", "1"}, "want CH=LEVEL"},
		{[]string{"set", "1=256"}, "0..255"},
		{[]string{"set", "1=-1"}, "0..255"},
		{[]string{"set", "0=1"}, "1..512"},
		{[]string{"set", "513=1"}, "1..512"},
		{[]string{"set", "x=1"}, "1..512"},
		{[]string{"set", "5-2=1"}, "backwards"},
		{[]string{"set", "1-600=1"}, "1..512"},
		{[]string{"set", "1=1", "1-3=2"}, "channel 1 is given twice"},
		{[]string{"set", "1=\n2"}, "not an integer"},
		{[]string{"set", "1=1", "--universe", "0"}, "--universe 0"},
		{[]string{"set", "1=1", "--timeout", "0s"}, "--timeout"},
		{[]string{"set", "1=1", "--server", "ftp://x"}, "--server"},
		{[]string{"set", "1=1", "--server", "http://"}, "no host"},
		{[]string{"set", "1=1", "--ms", "5"}, "not defined: -ms"},
		{[]string{"set", "1=1", "--colour"}, "not defined"},
		{[]string{"set", "1=1", "--universe"}, "universe"},
		{[]string{"fade"}, "want CH=LEVEL"},
		{[]string{"fade", "1=0", "--ms", "600001"}, "--ms 600001"},
		{[]string{"fade", "1=0", "--ms", "-1"}, "--ms -1"},
		{[]string{"blackout"}, "want on|off"},
		{[]string{"blackout", "maybe"}, `"maybe": want on or off`},
		{[]string{"blackout", "on", "off"}, `unexpected argument "off"`},
		{[]string{"get", "1"}, `unexpected argument "1"`},
		{[]string{"get", "--json=maybe"}, "json"},
		{[]string{"help", "dance"}, "not a command"},
		{[]string{"help", "set", "get"}, "not a command"},
	} {
		var stdout, stderr strings.Builder
		args := tc.args
		if tc.args[0] != "help" { // a later --server of the case wins
			args = append([]string{tc.args[0], "--server", "127.0.0.1:1"}, tc.args[1:]...)
		}
		if code := run(args, env(nil), &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		out := stderr.String()
		if !strings.HasPrefix(out, "dmxd "+tc.args[0]+": ") || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") ||
			!strings.Contains(out, tc.detail) {
			t.Errorf("run(%q) wrote %q, want one line saying %q", args, out, tc.detail)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) printed %q", args, stdout.String())
		}
	}
}

// TestParseCommand: flags go before or after the arguments, "--" ends
// the flags, and DMXD_SERVER and DMXD_TOKEN stand in for flags not given.
func TestParseCommand(t *testing.T) {
	set, _ := lookupCommand("set")
	fade, _ := lookupCommand("fade")
	for _, tc := range []struct {
		name string
		cmd  command
		args []string
		env  map[string]string
		want commandOptions
		pos  []string
	}{
		{"defaults", set, []string{"1=2"}, nil,
			commandOptions{server: defaultServer, universe: 1, timeout: defaultTimeout}, []string{"1=2"}},
		{"flags between arguments", fade, []string{"1=2", "--ms", "3000", "2=3", "--universe=4", "3=4"}, nil,
			commandOptions{server: defaultServer, universe: 4, timeout: defaultTimeout, ms: 3000}, []string{"1=2", "2=3", "3=4"}},
		{"environment", set, []string{"1=2"}, map[string]string{"DMXD_SERVER": "h:1", "DMXD_TOKEN": "t"},
			commandOptions{server: "h:1", token: "t", universe: 1, timeout: defaultTimeout}, []string{"1=2"}},
		{"flags win", set, []string{"--server", "h:2", "--token", "u", "--timeout", "1s", "1=2"}, map[string]string{"DMXD_SERVER": "h:1", "DMXD_TOKEN": "t"},
			commandOptions{server: "h:2", token: "u", universe: 1, timeout: time.Second}, []string{"1=2"}},
		{"double dash", set, []string{"1=2", "--", "--universe"}, nil,
			commandOptions{server: defaultServer, universe: 1, timeout: defaultTimeout}, []string{"1=2", "--universe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, pos, err := parseCommand(tc.cmd, tc.args, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if o != tc.want || strings.Join(pos, " ") != strings.Join(tc.pos, " ") {
				t.Errorf("got %+v %q, want %+v %q", o, pos, tc.want, tc.pos)
			}
		})
	}
}

// TestParseLevels: single channels and ranges.
func TestParseLevels(t *testing.T) {
	got, err := parseLevels([]string{"1=255", "10-12=7", "512=0"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]int{1: 255, 10: 7, 11: 7, 12: 7, 512: 0}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

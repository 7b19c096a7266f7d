package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestParseEdgeConfig: dmxd edge's flags and their variables.
func TestParseEdgeConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(config) bool
	}{
		{"minimal", []string{"--core", "127.0.0.1:7000", "--cluster-secret", "s"}, nil, func(c config) bool {
			// The cluster address defaults to the way toward the core.
			return c.core == "127.0.0.1:7000" && c.listen == "127.0.0.1:8080" && c.cluster != nil &&
				c.cluster.Listen == "127.0.0.1:0" && c.cluster.Secret == "s" && c.maxConns == 10000
		}},
		{"from the environment", nil, map[string]string{"DMXD_CORE": "10.1.1.1:7000", "DMXD_CLUSTER_SECRET": "e", "DMXD_LISTEN": ":9000"}, func(c config) bool {
			return c.core == "10.1.1.1:7000" && c.cluster.Secret == "e" && c.listen == ":9000"
		}},
		{"every flag", []string{"--core", "core.example:7000", "--listen", "0.0.0.0:80", "--cluster", "10.0.0.5:7100",
			"--cluster-advertise", "edge1.example:7100", "--cluster-secret", "x", "--token", "tok", "--origins", "http://a, http://b",
			"--allow-hosts", "desk.example", "--trusted-proxy", "10.0.0.0/8", "--max-conns", "5", "--conn-rate", "0",
			"--bulk-budget", "0", "--ping-interval", "1s", "--log-level", "debug", "--log-format", "json",
			"--desk-servers", "10.0.0.6:8080,edge3.example:8080"}, nil, func(c config) bool {
			return c.cluster.Listen == "10.0.0.5:7100" && c.cluster.Advertise == "edge1.example:7100" && c.token == "tok" &&
				len(c.origins) == 2 && len(c.hosts) == 1 && len(c.proxies) == 1 && c.maxConns == 5 && c.connRate == 0 &&
				c.logFormat == "json" && len(c.desks) == 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseEdgeConfig(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c) {
				t.Errorf("parseEdgeConfig(%q) = %+v", tt.args, c)
			}
		})
	}
}

// TestRunEdgeBadCommandLine: a bad dmxd edge command line exits 2 with one
// line on stderr, before anything starts.
func TestRunEdgeBadCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--core HOST:PORT is required"},
		{[]string{"--core", "127.0.0.1"}, `--core "127.0.0.1"`},
		{[]string{"--core", "127.0.0.1:0", "--cluster-secret", "s"}, `--core "127.0.0.1:0"`},
		{[]string{"--core", "127.0.0.1:7000"}, "--cluster needs --cluster-secret"},
		{[]string{"--core", "127.0.0.1:7000", "--cluster-secret", "s", "--listen", "nope"}, `--listen "nope"`},
		{[]string{"--core", "127.0.0.1:7000", "--cluster-secret", "s", "--max-conns", "0"}, "--max-conns 0"},
		{[]string{"--core", "127.0.0.1:7000", "--cluster-secret", "s", "--ping-interval", "1ms"}, "--ping-interval"},
		{[]string{"--core", "127.0.0.1:7000", "--cluster-secret", "s", "--log-level", "loud"}, "--log-level"},
		{[]string{"--core", "127.0.0.1:7000", "--cluster-secret", "s", "extra"}, `unexpected argument "extra"`},
		{[]string{"--core", "127.0.0.1:7000", "--cluster-secret", "s", "--universes", "2"}, "flag provided but not defined: -universes"},
		{[]string{"--core", "127.0.0.1:7000", "--cluster-secret", "s", "--cluster", "x"}, `--cluster "x"`},
		{[]string{"--core", "127.0.0.1:7000", "--cluster-secret", "s", "--desk-servers", "x"}, `--desk-servers "x"`},
	}
	for _, tt := range tests {
		var stdout, stderr strings.Builder
		code := run(append([]string{"edge"}, tt.args...), env(nil), &stdout, &stderr)
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tt.want) || stdout.Len() != 0 {
			t.Errorf("dmxd edge %q = %d, stderr %q; want 2 and one line with %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}

// TestEdgeHelp: dmxd edge --help and dmxd help edge list every flag with
// its variable; dmxd --help names the edge.
func TestEdgeHelp(t *testing.T) {
	_, err := parseEdgeConfig([]string{"--help"}, env(nil))
	var help *helpRequest
	if !errors.As(err, &help) {
		t.Fatalf("parseEdgeConfig(--help) = %v, want a help request", err)
	}
	for _, args := range [][]string{{"edge", "--help"}, {"edge", "-h"}, {"help", "edge"}} {
		var stdout, stderr strings.Builder
		if code := run(args, env(nil), &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Fatalf("run(%q) = %d, stderr %q", args, code, stderr.String())
		}
		help.flags.VisitAll(func(f *flag.Flag) {
			entry := flagEntry(t, stdout.String(), f.Name)
			if !strings.Contains(entry, envName(f.Name)) {
				t.Errorf("run(%q): --%s lists no %s:\n%s", args, f.Name, envName(f.Name), entry)
			}
		})
	}
	var stdout strings.Builder
	run([]string{"--help"}, env(nil), &stdout, &strings.Builder{})
	if !strings.Contains(stdout.String(), "dmxd edge --core HOST:PORT") {
		t.Error("dmxd --help does not name dmxd edge")
	}
}

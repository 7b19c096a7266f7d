package main

import (
	"flag"
	"strings"
	"testing"
)

// TestNodeBadFlags: every mistake on dmxd node's command line is exit
// status 2 with one line on stderr naming it, before anything runs.
func TestNodeBadFlags(t *testing.T) {
	ok := []string{"--core", "127.0.0.1:7000", "--output", "1=null", "--cluster-secret", "s", "--name", "stage"}
	without := func(name string) []string {
		var args []string
		for i := 0; i < len(ok); i += 2 {
			if ok[i] != name {
				args = append(args, ok[i], ok[i+1])
			}
		}
		return args
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no core", without("--core"), "--core HOST:PORT is required"},
		{"core without port", append(without("--core"), "--core", "127.0.0.1"), "--core"},
		{"core port 0", append(without("--core"), "--core", "127.0.0.1:0"), "port 1..65535"},
		{"no output", without("--output"), "--output U=DRIVER[:TARGET] is required"},
		{"bad output", append(ok, "--output", "x=null"), "--output"},
		{"unknown driver", append(ok, "--output", "1=dmx-king:/dev/x"), "--output"},
		{"output twice", append(ok, "--output", "1=null"), "twice"},
		{"no secret", without("--cluster-secret"), "--cluster-secret"},
		{"bad name", append(without("--name"), "--name", "stage left"), "--name"},
		{"long name", append(without("--name"), "--name", strings.Repeat("n", 65)), "1..64"},
		{"rate", append(ok, "--rate", "45"), "--rate 45"},
		{"cluster without port", append(ok, "--cluster", "127.0.0.1"), "--cluster"},
		{"cluster :0", append(ok, "--cluster", ":0"), "--cluster-advertise"},
		{"bad advertise", append(ok, "--cluster", "127.0.0.1:0", "--cluster-advertise", "x"), "--cluster-advertise"},
		{"half TLS", append(ok, "--cluster-tls-cert", "c.pem"), "go together"},
		{"log level", append(ok, "--log-level", "loud"), "--log-level"},
		{"unknown flag", append(ok, "--listen", ":8080"), "listen"},
		{"argument", append(ok, "extra"), "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(append([]string{"node"}, tc.args...), env(nil), &stdout, &stderr)
			msg := stderr.String()
			if code != 2 || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "dmxd node: ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q", code, msg, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// TestNodeConfig: flags and environment give the node's configuration;
// without --cluster the node listens on its address toward the core.
func TestNodeConfig(t *testing.T) {
	c, err := parseNodeConfig([]string{"--core", "127.0.0.1:7000", "--output", "1=enttec-pro:/dev/ttyUSB0"}, env(map[string]string{
		"DMXD_CLUSTER_SECRET": "s",
		"DMXD_NODE_NAME":      "truss-2",
		"DMXD_OUTPUT":         "2=null",
		"DMXD_RATE":           "30",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.name != "truss-2" || c.core != "127.0.0.1:7000" || c.rate != 30 || c.cluster.Secret != "s" {
		t.Errorf("config %+v", c)
	}
	if len(c.outputs) != 1 || c.outputs[0].Universe != 1 || c.outputs[0].Driver.Target() != "/dev/ttyUSB0" {
		t.Errorf("outputs %+v: want the command line's (it wins over DMXD_OUTPUT)", c.outputs)
	}
	if c.cluster.Listen != "127.0.0.1:0" || c.cluster.Advertise != "" {
		t.Errorf("cluster listen %q advertise %q, want 127.0.0.1:0 (the route to the core) and none", c.cluster.Listen, c.cluster.Advertise)
	}
	c, err = parseNodeConfig([]string{"--core", "127.0.0.1:7000", "--output", "1=null", "--cluster-secret", "s", "--name", "n", "--cluster", ":7001"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.cluster.Listen != ":7001" || c.cluster.Advertise != "127.0.0.1:7001" {
		t.Errorf("cluster listen %q advertise %q, want :7001 advertised as 127.0.0.1:7001", c.cluster.Listen, c.cluster.Advertise)
	}
}

// TestNodeHelp: dmxd node --help and dmxd help node describe every flag
// with its variable.
func TestNodeHelp(t *testing.T) {
	for _, args := range [][]string{{"node", "--help"}, {"node", "-h"}, {"help", "node"}} {
		var stdout, stderr strings.Builder
		if code := run(args, env(nil), &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Fatalf("run(%q) = %d, stderr %q", args, code, stderr.String())
		}
		help := stdout.String()
		if !strings.HasPrefix(help, "Usage: "+nodeUsage) {
			t.Errorf("run(%q): help starts %q", args, help[:min(len(help), 80)])
		}
		var c nodeConfig
		var outputs outputList
		var cluster clusterFlags
		var lvl, format string
		nodeFlags(&c, &outputs, &cluster, &lvl, &format).VisitAll(func(f *flag.Flag) {
			entry := flagEntry(t, help, f.Name)
			if !strings.Contains(entry, "env "+nodeEnv(f.Name)) {
				t.Errorf("run(%q): --%s has no variable:\n%s", args, f.Name, entry)
			}
		})
	}
	var stdout, stderr strings.Builder
	run([]string{"--help"}, env(nil), &stdout, &stderr)
	if !strings.Contains(stdout.String(), "dmxd node --core HOST:PORT") {
		t.Error("dmxd --help does not list dmxd node")
	}
}

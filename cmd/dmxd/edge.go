package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/signal"
	"slices"
	"strings"

	"github.com/dmxd/dmxd/transport"
)

// The edge role: `dmxd edge --core HOST:PORT` serves desks (the web desk,
// WebSocket and plain HTTP, exactly as the all-in-one server) whose
// universes are the core's (see actors/edge.go).

// edgeUsage is the one-line usage of dmxd edge.
const edgeUsage = "usage: dmxd edge --core HOST:PORT --cluster-secret SECRET [--listen ADDR] [--cluster HOST:PORT] [FLAGS] (dmxd edge --help lists them)"

// parseEdgeConfig reads the flags of dmxd edge from args and, for flags
// not given there, the DMXD_* environment. Every error is one line, for
// exit status 2. A *helpRequest asks for the help.
func parseEdgeConfig(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("dmxd edge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		c         config
		origins   string
		hosts     hostList
		proxies   string
		logLevel  string
		logFormat string
		cluster   clusterFlags
	)
	fs.StringVar(&c.core, "core", "", "`HOST:PORT` of the core: its --cluster address (required)")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "HTTP and WebSocket address")
	fs.StringVar(&c.token, "token", "", "secret every WebSocket and API request must carry")
	fs.StringVar(&origins, "origins", "", "comma-separated allowed Origin values")
	fs.Var(&hosts, "allow-hosts", "host names (a comma-separated `LIST`, repeatable) requests may name besides IP addresses and localhost")
	fs.StringVar(&proxies, "trusted-proxy", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client in the log")
	fs.IntVar(&c.maxConns, "max-conns", 10000, "maximum WebSocket connections")
	fs.IntVar(&c.connRate, "conn-rate", 1000, "commands per second per connection (0: no limit)")
	fs.IntVar(&c.bulk, "bulk-budget", transport.DefaultBulkBudget>>10, "KiB per second of big commands (1 KiB or more) decoded for desks that are ahead of their universe, all together (0: no budget)")
	fs.DurationVar(&c.ping, "ping-interval", transport.DefaultPingPeriod, "WebSocket keepalive: ping every interval, drop a client silent for twice that")
	var deskServers string
	fs.StringVar(&deskServers, "desk-servers", "", "the other edges of the same core as comma-separated `HOST:PORT`: the web desk turns to the next when its own is lost; each must allow this edge's origin (--origins)")
	cluster.register(fs, "`HOST:PORT` this edge listens on for its core's answers (default: this machine's address toward the core, any port)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.StringVar(&logFormat, "log-format", "", "log format: console or json (default: console on a terminal)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, &helpRequest{flags: fs}
		}
		return c, errors.New(oneLine(err.Error()))
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (dmxd edge takes flags only)", oneLine(fs.Arg(0)))
	}
	if err := applyEnv(fs, getenv, envName, nil); err != nil {
		return c, err
	}
	if c.core == "" {
		return c, errors.New("--core HOST:PORT is required: the --cluster address of the core this edge serves desks of")
	}
	if host, port, err := net.SplitHostPort(c.core); err != nil || host == "" || !validPort(port) || port == "0" {
		return c, fmt.Errorf("--core %q: want HOST:PORT with a port 1..65535", oneLine(c.core))
	}
	if _, port, err := net.SplitHostPort(c.listen); err != nil || !validPort(port) {
		return c, fmt.Errorf("--listen %q: want HOST:PORT or :PORT with a port 0..65535", oneLine(c.listen))
	}
	if err := checkServing(c.maxConns, c.bulk, c.connRate, c.ping); err != nil {
		return c, err
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.origins = append(c.origins, o)
		}
	}
	for _, h := range hosts {
		if !validHostName(h) {
			return c, fmt.Errorf("--allow-hosts %q: want host names without scheme, port or wildcard (IP addresses and localhost are always allowed)", oneLine(h))
		}
	}
	c.hosts = hosts
	var err error
	if c.proxies, err = transport.ParseTrustedProxies(proxies); err != nil {
		return c, fmt.Errorf("--trusted-proxy: %v", err)
	}
	if h, _, _ := net.SplitHostPort(c.listen); validHostName(h) && !slices.Contains(c.hosts, h) {
		if _, err := netip.ParseAddr(h); err != nil {
			c.hosts = append(c.hosts, h)
		}
	}
	if c.desks, err = parseDeskServers(deskServers); err != nil {
		return c, err
	}
	if cluster.listen == "" {
		if cluster.listen, err = towardCore(c.core); err != nil {
			return c, err
		}
	}
	if c.cluster, err = cluster.config(true); err != nil {
		return c, err
	}
	if c.logLevel, c.logFormat, err = parseLog(logLevel, logFormat); err != nil {
		return c, err
	}
	return c, nil
}

// towardCore returns the address an edge listens on for its core by
// default: this machine's address on the route to core, any port.
func towardCore(core string) (string, error) {
	ip, err := routeTo(core)
	if err != nil {
		return "", fmt.Errorf("--core %q: %v (or give --cluster HOST:PORT, the address the core reaches this edge at)", oneLine(core), err)
	}
	return net.JoinHostPort(ip, "0"), nil
}

// runEdge is dmxd edge: it returns the exit status as run does.
func runEdge(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseEdgeConfig(args, getenv)
	var help *helpRequest
	if errors.As(err, &help) {
		writeEdgeHelp(stdout, help.flags)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dmxd: %s\n", oneLine(err.Error()))
		return 2
	}
	format := logFormat(cfg, stderr)
	log := newLogger(cfg, format, stderr)
	var console io.Writer
	if format == "console" {
		console = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	if err := serve(ctx, cfg, log, console); err != nil {
		log.Error().Err(err).Msg("dmxd edge failed")
		return 1
	}
	return 0
}

// writeEdgeHelp writes the help of dmxd edge.
func writeEdgeHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `dmxd edge serves desks — the web desk at /, WebSocket at /ws, plain HTTP —
whose universes are those of a core, another dmxd started with --cluster.
Desks on every edge and on the core see each other's changes. When the core
is lost, the edge closes its desks (an error "core_unavailable", then close
code 1012) and refuses new ones with 503 until the core answers again.

Usage:
  dmxd edge --core HOST:PORT --cluster-secret SECRET [FLAGS]

Flags (each also read from its environment variable; the command line wins):
`)
	writeFlags(w, fs, envName)
}

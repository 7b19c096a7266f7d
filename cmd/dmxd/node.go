package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/dmx/sacn"
)

// nodeUsage is the usage line of dmxd node.
const nodeUsage = "dmxd node --core HOST:PORT --output U=DRIVER[:TARGET]... [FLAGS]"

// nodeConfig is what dmxd node's command line and environment set.
type nodeConfig struct {
	name      string
	core      string
	outputs   []dmx.Output
	rate      int
	cluster   *actors.ClusterConfig
	logLevel  zerolog.Level
	logFormat string
}

// nodeEnv is the environment variable a node flag reads: DMXD_NODE_NAME
// for --name (DMXD_NAME would say nothing), DMXD_* as for the server for
// the others.
func nodeEnv(flagName string) string {
	if flagName == "name" {
		return "DMXD_NODE_NAME"
	}
	return envName(flagName)
}

// nodeFlags returns dmxd node's flag set, writing into the given values.
func nodeFlags(c *nodeConfig, outputs *outputList, cluster *clusterFlags, logLevel, logFormat *string) *flag.FlagSet {
	fs := flag.NewFlagSet("dmxd node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.core, "core", "", "`HOST:PORT` of the core: its --cluster address (required)")
	fs.Var(outputs, "output", "`U=DRIVER[:TARGET]` (repeatable, at least one; several universes, several per universe): as the server's --output, fed by the core's universe U")
	fs.StringVar(&c.name, "name", "", "`NAME` of this node for the core, kept across restarts: letters, digits, '.', '_', '-' (default: the host name)")
	fs.IntVar(&c.rate, "rate", actors.MaxRate, "output refresh rate, 1..44 frames per second")
	cluster.register(fs, "`HOST:PORT` the core sends frames to (default: this machine's address toward the core, any free port)")
	fs.StringVar(logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.StringVar(logFormat, "log-format", "", "log format: console or json (default: console on a terminal)")
	return fs
}

// parseNodeConfig reads dmxd node's flags from args and, for flags not
// given there, the environment. A request for help is a *helpRequest;
// every other error is one line, for exit status 2.
func parseNodeConfig(args []string, getenv func(string) string) (nodeConfig, error) {
	var (
		c         nodeConfig
		outputs   outputList
		cluster   clusterFlags
		logLevel  string
		logFormat string
	)
	fs := nodeFlags(&c, &outputs, &cluster, &logLevel, &logFormat)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, &helpRequest{flags: fs}
		}
		return c, errors.New(oneLine(err.Error()))
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := applyEnv(fs, getenv, nodeEnv, map[string]func(string){
		"output": func(v string) { outputs = append(outputs, splitOutputs(v)...) },
	}); err != nil {
		return c, err
	}
	if c.core == "" {
		return c, errors.New("--core HOST:PORT is required: the core's --cluster address")
	}
	if host, port, err := net.SplitHostPort(c.core); err != nil || host == "" || !validPort(port) || port == "0" {
		return c, fmt.Errorf("--core %q: want HOST:PORT with a port 1..65535", c.core)
	}
	if c.name == "" {
		c.name = defaultNodeName()
		if err := actors.ValidNodeName(c.name); err != nil {
			return c, fmt.Errorf("the host name is no node name (%v): give --name", err)
		}
	} else if err := actors.ValidNodeName(c.name); err != nil {
		return c, fmt.Errorf("--name: %v", err)
	}
	if c.rate < 1 || c.rate > actors.MaxRate {
		return c, fmt.Errorf("--rate %d is outside 1..%d", c.rate, actors.MaxRate)
	}
	if len(outputs) == 0 {
		return c, errors.New("--output U=DRIVER[:TARGET] is required: the node's outputs")
	}
	nc, err := netConfig("", "", sacn.DefaultPriority, "node "+c.name)
	if err != nil {
		return c, err
	}
	seen := map[string]bool{}
	for _, spec := range outputs {
		o, err := dmx.ParseOutputNet(spec, nc)
		if err != nil {
			return c, fmt.Errorf("--output: %v", err)
		}
		key := fmt.Sprintf("%d=%s:%s", o.Universe, o.Driver.Name(), o.Driver.Target())
		if seen[key] {
			return c, fmt.Errorf("--output %q: universe %d is patched to that output twice", spec, o.Universe)
		}
		seen[key] = true
		c.outputs = append(c.outputs, o)
	}
	if err := nodeClusterDefaults(&cluster, c.core); err != nil {
		return c, err
	}
	if c.cluster, err = cluster.config(true); err != nil {
		return c, err
	}
	if c.logLevel, c.logFormat, err = parseLog(logLevel, logFormat); err != nil {
		return c, err
	}
	return c, nil
}

// defaultNodeName is the host name up to its first dot.
func defaultNodeName() string {
	h, _ := os.Hostname()
	h, _, _ = strings.Cut(h, ".")
	return h
}

// nodeClusterDefaults fills in the address a node listens on and
// advertises: the core dials the node, so the address must be one the
// core reaches. Without --cluster it is this machine's address on the
// route to the core, with a free port; with an unspecified host
// (":7001", "0.0.0.0:7001") and no --cluster-advertise, the node
// advertises that address with the port given.
func nodeClusterDefaults(f *clusterFlags, core string) error {
	if f.listen != "" {
		host, port, err := net.SplitHostPort(f.listen)
		if err != nil || !validPort(port) {
			return fmt.Errorf("--cluster %q: want HOST:PORT or :PORT with a port 0..65535", f.listen)
		}
		if ip := net.ParseIP(host); f.advertise != "" || (host != "" && (ip == nil || !ip.IsUnspecified())) {
			return nil
		}
		if port == "0" {
			return fmt.Errorf("--cluster %q: the core must dial this node: give a host, a port or --cluster-advertise HOST:PORT", f.listen)
		}
		ip, err := routeTo(core)
		if err != nil {
			return fmt.Errorf("--cluster %q: %v: give --cluster-advertise HOST:PORT", f.listen, err)
		}
		f.advertise = net.JoinHostPort(ip, port)
		return nil
	}
	ip, err := routeTo(core)
	if err != nil {
		return fmt.Errorf("%v: give --cluster HOST:PORT, an address of this machine the core reaches", err)
	}
	f.listen = net.JoinHostPort(ip, "0")
	return nil
}

// runNode is dmxd node: it returns 0 after a clean stop (SIGINT, SIGTERM,
// SIGHUP), 1 when the node cannot run or the core refuses its secret, 2
// for a bad command line.
func runNode(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c, err := parseNodeConfig(args, getenv)
	var help *helpRequest
	if errors.As(err, &help) {
		writeNodeHelp(stdout, help.flags)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dmxd node: %s\n", oneLine(err.Error()))
		return 2
	}
	format := logFormat(config{logFormat: c.logFormat}, stderr)
	log := newLogger(config{logLevel: c.logLevel}, format, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	node, err := actors.StartNode(actors.NodeConfig{
		Name:    c.name,
		Core:    c.core,
		Outputs: c.outputs,
		Rate:    c.rate,
		Cluster: *c.cluster,
		Log:     log,
	})
	if err != nil {
		log.Error().Err(err).Msg("dmxd node failed")
		return 1
	}
	outs := make([]string, len(c.outputs))
	for i, o := range c.outputs {
		outs[i] = strconv.Itoa(o.Universe) + "=" + o.Driver.Name()
		if t := o.Driver.Target(); t != "" {
			outs[i] += ":" + t
		}
	}
	log.Info().Str("node", c.name).Str("core", c.core).Str("cluster", node.Address()).Strs("outputs", outs).
		Bool("tls", c.cluster.TLS != nil).Str("version", build().Version).Msg("dmxd node running")
	code := 0
	select {
	case <-ctx.Done():
		log.Info().Str("reason", context.Cause(ctx).Error()).Msg("shutting down")
	case err := <-node.Refused():
		log.Error().Err(err).Msg("stopping: check --cluster-secret (and TLS) against the core's")
		code = 1
	}
	if err := node.Stop(); err != nil {
		log.Error().Err(err).Msg("stop")
		code = 1
	}
	log.Info().Msg("stopped")
	return code
}

// writeNodeHelp writes dmxd node's help.
func writeNodeHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: %s

Runs an output node: DMX interfaces on this machine, fed by a dmxd core
(dmxd --cluster HOST:PORT) over the network. The node joins the core, which
sends it every frame of the universes its outputs name; its refresh loops
keep sending the last frame while the core is away. A node may start before
its core and survives the core's restarts.

Exit status: 0 after SIGINT/SIGTERM, 1 when it cannot run or the core
refuses its secret, 2 for a bad command line.

Flags (each also read from its environment variable; the command line wins):
`, nodeUsage)
	writeFlags(w, fs, nodeEnv)
}

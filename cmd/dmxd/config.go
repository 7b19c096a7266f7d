package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/dmx/sacn"
	"github.com/dmxd/dmxd/transport"
)

// config is everything the command line and the environment set.
type config struct {
	listen    string
	universes int
	outputs   []dmx.Output  // in command line order; several may share a universe
	inputs    []dmx.Input   // --input, in command line order
	inHold    bool          // --input-hold
	inTimeout time.Duration // --input-timeout; 0 is each protocol's
	net       dmx.NetConfig // what sACN outputs put in their packets
	rate      int
	merge     dmx.Merge
	state     string
	token     string
	origins   []string
	hosts     []string       // --allow-hosts, and the host name of --listen
	proxies   []netip.Prefix // --trusted-proxy
	maxConns  int
	connRate  int
	updates   int // --update-budget
	bulk      int // --bulk-budget, KiB per second
	ping      time.Duration
	logLevel  zerolog.Level
	logFormat string                // "console", "json" or "" (console on a terminal)
	cluster   *actors.ClusterConfig // --cluster: nodes and edges may join; nil alone
	core      string                // dmxd edge --core: the core's cluster address
	desks     []string              // --desk-servers: the other servers of the show, HOST:PORT
}

// outputList collects repeated --output flags.
type outputList []string

func (o *outputList) String() string { return strings.Join(*o, ",") }
func (o *outputList) Set(v string) error {
	*o = append(*o, v)
	return nil
}

// hostList collects repeated --allow-hosts flags, each a list separated
// by commas or spaces.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }
func (h *hostList) Set(v string) error {
	*h = append(*h, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })...)
	return nil
}

// validHostName reports whether name is a host name as --allow-hosts
// takes it: labels of letters, digits, '-' and '_' separated by dots (a
// trailing dot allowed), no scheme, port or wildcard.
func validHostName(name string) bool {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	for _, l := range labels {
		if l == "" {
			return false
		}
		for _, r := range l {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// netConfig is what sACN outputs put in their packets: the flags', or the
// defaults. The default CID is the name-based UUID of the host name and
// the --listen address: stable across restarts, and different for two
// dmxd on one machine (they listen on different ports).
func netConfig(cid, name string, prio int, listen string) (dmx.NetConfig, error) {
	nc := dmx.DefaultNetConfig()
	host, _ := os.Hostname()
	nc.CID = sacn.NameCID(host + " " + listen)
	if cid != "" {
		u, err := sacn.ParseCID(cid)
		if err != nil {
			return nc, fmt.Errorf("--sacn-cid: %v", err)
		}
		nc.CID = u
	}
	if name != "" {
		if len(name) >= sacn.SourceNameLen || !utf8.ValidString(name) {
			return nc, fmt.Errorf("--sacn-name %q: want at most %d bytes of UTF-8", oneLine(name), sacn.SourceNameLen-1)
		}
		nc.SourceName = name
	}
	if prio < 0 || prio > sacn.MaxPriority {
		return nc, fmt.Errorf("--sacn-priority %d is outside 0..%d", prio, sacn.MaxPriority)
	}
	nc.Priority = uint8(prio)
	return nc, nil
}

// envName maps a flag name to its environment variable: rate -> DMXD_RATE.
func envName(flagName string) string {
	return "DMXD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// validPort reports whether port is a decimal port number 0..65535 (service
// names are refused: a typo must fail here, not when dmxd listens).
func validPort(port string) bool {
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n <= 65535
}

// oneLine escapes the line breaks of s, for an error that must stay one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// applyEnv sets every flag of fs not given on the command line from its
// environment variable (env names it), read through getenv; an empty
// variable counts as unset. The flags in lists take a list from their
// variable: their function adds it, instead of one Set. The error names
// the variable and quotes its value, on one line.
func applyEnv(fs *flag.FlagSet, getenv, env func(string) string, lists map[string]func(string)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		v := getenv(env(f.Name))
		if v == "" {
			return
		}
		if add, ok := lists[f.Name]; ok {
			add(v)
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%s=%q: %v", env(f.Name), v, e)
		}
	})
	return err
}

// splitOutputs splits an outputs variable (DMXD_OUTPUT) at commas and
// spaces.
func splitOutputs(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

// parseConfig reads flags from args and, for flags not given there, the
// DMXD_* environment through getenv. Every error is one line, for exit
// status 2. It writes nothing (checkState tries the state file's directory).
func parseConfig(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("dmxd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		outputs   outputList
		inputs    outputList
		merge     string
		origins   string
		hosts     hostList
		proxies   string
		logLevel  string
		logFormat string
		sacnCID   string
		sacnName  string
		sacnPrio  int
		c         config
	)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "HTTP and WebSocket address")
	fs.IntVar(&c.universes, "universes", 1, "universes 1..N exist")
	fs.Var(&outputs, "output", "`U=DRIVER[:TARGET]` (repeatable, several per universe): enttec-pro:PATH, open-dmx:PATH, sacn[:HOST[:PORT],…][@UNIVERSE] (multicast without hosts), artnet:HOST[:PORT][,…][@PORTADDRESS] (default port-address U-1) or null; universes not patched use null")
	fs.StringVar(&sacnCID, "sacn-cid", "", "sACN CID (a UUID) of this dmxd (default: a name-based UUID of the host name and --listen)")
	fs.StringVar(&sacnName, "sacn-name", "", "sACN source name, at most 63 bytes (default: the host name)")
	fs.IntVar(&sacnPrio, "sacn-priority", sacn.DefaultPriority, "sACN priority of this dmxd's packets, 0..200")
	fs.Var(&inputs, "input", "`PROTO[@HOST:PORT][:U[=N],…]` network input (repeatable): sacn (port 5568, sACN universe N, default U) or artnet (port 6454, port-address N, default U-1); without universes every universe; the port is shared with olad or QLC+ (address reuse)")
	fs.BoolVar(&c.inHold, "input-hold", false, "keep a silent network source's levels after its timeout, until it sends stream-terminated or another source sends (for OLA, which sends once per change)")
	fs.DurationVar(&c.inTimeout, "input-timeout", 0, "release a silent network source after this long (default: sACN 2.5s, Art-Net 4s)")
	fs.IntVar(&c.rate, "rate", actors.MaxRate, "output refresh rate, 1..44 frames per second")
	fs.StringVar(&merge, "merge", "ltp", "merge mode: ltp or htp")
	fs.StringVar(&c.state, "state", "", "state file to persist levels in")
	fs.StringVar(&c.token, "token", "", "secret every WebSocket and API request must carry")
	fs.StringVar(&origins, "origins", "", "comma-separated allowed Origin values")
	fs.Var(&hosts, "allow-hosts", "host names (a comma-separated `LIST`, repeatable) requests may name besides IP addresses and localhost")
	fs.StringVar(&proxies, "trusted-proxy", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client in the log")
	fs.IntVar(&c.maxConns, "max-conns", 10000, "maximum WebSocket connections")
	fs.IntVar(&c.connRate, "conn-rate", 1000, "commands per second per connection (0: no limit)")
	fs.IntVar(&c.updates, "update-budget", actors.DefaultUpdateBudget, "update messages per second to all desks together (0: no budget)")
	fs.IntVar(&c.bulk, "bulk-budget", transport.DefaultBulkBudget>>10, "KiB per second of big commands (1 KiB or more) decoded for desks that are ahead of their universe, all together (0: no budget)")
	fs.DurationVar(&c.ping, "ping-interval", transport.DefaultPingPeriod, "WebSocket keepalive: ping every interval, drop a client silent for twice that")
	var deskServers string
	fs.StringVar(&deskServers, "desk-servers", "", "other servers of the same show as comma-separated `HOST:PORT` (the other edges of one core): the web desk turns to the next when its own is lost; each must allow this server's origin (--origins)")
	var cluster clusterFlags
	cluster.register(fs, "`HOST:PORT` to serve output nodes and desk edges on (protoactor remote over gRPC; default: none, dmxd runs alone)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.StringVar(&logFormat, "log-format", "", "log format: console or json (default: console on a terminal)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, &helpRequest{flags: fs}
		}
		// The flag package quotes no names: "--a\nb" must not become two lines.
		return c, errors.New(oneLine(err.Error()))
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (commands: set, fade, blackout, get, node, help)", fs.Arg(0))
	}
	if err := applyEnv(fs, getenv, envName, map[string]func(string){
		"output": func(v string) { outputs = append(outputs, splitOutputs(v)...) },
		// Universe lists hold commas: inputs are separated by spaces.
		"input": func(v string) { inputs = append(inputs, strings.Fields(v)...) },
	}); err != nil {
		return c, err
	}
	if _, port, err := net.SplitHostPort(c.listen); err != nil || !validPort(port) {
		return c, fmt.Errorf("--listen %q: want HOST:PORT or :PORT with a port 0..65535", c.listen)
	}
	if c.universes < 1 || c.universes > actors.MaxUniverses {
		return c, fmt.Errorf("--universes %d is outside 1..%d", c.universes, actors.MaxUniverses)
	}
	if c.rate < 1 || c.rate > actors.MaxRate {
		return c, fmt.Errorf("--rate %d is outside 1..%d", c.rate, actors.MaxRate)
	}
	m, err := dmx.ParseMerge(merge)
	if err != nil {
		return c, fmt.Errorf("--merge: %v", err)
	}
	c.merge = m
	if err := checkServing(c.maxConns, c.bulk, c.connRate, c.ping); err != nil {
		return c, err
	}
	if c.updates < 0 {
		return c, fmt.Errorf("--update-budget %d must be 0 (no budget) or more", c.updates)
	}
	if c.state != "" {
		dir := filepath.Dir(c.state)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return c, fmt.Errorf("--state %q: directory %s does not exist", c.state, dir)
		}
	}
	if c.net, err = netConfig(sacnCID, sacnName, sacnPrio, c.listen); err != nil {
		return c, err
	}
	if len(outputs) == 0 {
		outputs = outputList{"1=null"}
	}
	seen := map[string]bool{}
	for _, spec := range outputs {
		o, err := dmx.ParseOutputNet(spec, c.net)
		if err != nil {
			return c, fmt.Errorf("--output: %v", err)
		}
		if o.Universe > c.universes {
			return c, fmt.Errorf("--output %q: universe %d does not exist (--universes %d)", spec, o.Universe, c.universes)
		}
		key := fmt.Sprintf("%d=%s:%s", o.Universe, o.Driver.Name(), o.Driver.Target())
		if seen[key] {
			return c, fmt.Errorf("--output %q: universe %d is patched to that output twice", spec, o.Universe)
		}
		seen[key] = true
		c.outputs = append(c.outputs, o)
	}
	inSeen := map[string]bool{}
	for _, spec := range inputs {
		in, err := dmx.ParseInput(spec, c.universes)
		if err != nil {
			return c, fmt.Errorf("--input: %v", err)
		}
		if inSeen[in.Proto+" "+in.Addr] {
			return c, fmt.Errorf("--input %q: %s on %s is given twice", spec, in.Proto, in.Addr)
		}
		inSeen[in.Proto+" "+in.Addr] = true
		c.inputs = append(c.inputs, in)
	}
	if c.inTimeout < 0 {
		return c, fmt.Errorf("--input-timeout %v must not be negative", c.inTimeout)
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.origins = append(c.origins, o)
		}
	}
	for _, h := range hosts {
		if !validHostName(h) {
			return c, fmt.Errorf("--allow-hosts %q: want host names without scheme, port or wildcard (IP addresses and localhost are always allowed)", h)
		}
	}
	c.hosts = hosts
	if c.proxies, err = transport.ParseTrustedProxies(proxies); err != nil {
		return c, fmt.Errorf("--trusted-proxy: %v", err)
	}
	// A name dmxd was told to listen on is the operator's, not a page's.
	if h, _, _ := net.SplitHostPort(c.listen); validHostName(h) && !slices.Contains(c.hosts, h) {
		if _, err := netip.ParseAddr(h); err != nil {
			c.hosts = append(c.hosts, h)
		}
	}
	if c.desks, err = parseDeskServers(deskServers); err != nil {
		return c, err
	}
	if c.cluster, err = cluster.config(false); err != nil {
		return c, err
	}
	if c.logLevel, c.logFormat, err = parseLog(logLevel, logFormat); err != nil {
		return c, err
	}
	return c, nil
}

// parseDeskServers parses --desk-servers: comma-separated HOST:PORT with a
// host name or IP address and a port 1..65535.
func parseDeskServers(v string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		host, port, err := net.SplitHostPort(s)
		_, ipErr := netip.ParseAddr(strings.Trim(host, "[]"))
		if err != nil || !validPort(port) || port == "0" || (ipErr != nil && !validHostName(host)) {
			return nil, fmt.Errorf("--desk-servers %q: want HOST:PORT with a port 1..65535", s)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseLog checks --log-level and --log-format, the same in every role.
// Errors are one line.
func parseLog(level, format string) (zerolog.Level, string, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return 0, "", fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", oneLine(level))
	}
	switch format {
	case "", "console", "json":
		return lvl, format, nil
	}
	return 0, "", fmt.Errorf("--log-format %q: want console or json", oneLine(format))
}

// checkServing checks the flags of a process that serves desks (the
// server and an edge). Errors are one line.
func checkServing(maxConns, bulk, connRate int, ping time.Duration) error {
	switch {
	case maxConns < 1:
		return fmt.Errorf("--max-conns %d must be at least 1", maxConns)
	case bulk < 0 || bulk > 1<<21:
		return fmt.Errorf("--bulk-budget %d must be 0 (no budget) up to %d KiB per second", bulk, 1<<21)
	case connRate < 0:
		return fmt.Errorf("--conn-rate %d must be 0 (no limit) or more", connRate)
	case ping < 100*time.Millisecond:
		return fmt.Errorf("--ping-interval %v must be at least 100ms", ping)
	}
	return nil
}

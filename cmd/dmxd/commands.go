package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dmxd/dmxd/client"
)

// Defaults of the commands that talk to a running dmxd.
const (
	defaultServer  = "ws://127.0.0.1:8080/ws"
	defaultTimeout = 5 * time.Second
	serverEnv      = "DMXD_SERVER"
	tokenEnv       = "DMXD_TOKEN"
)

// command is a subcommand of dmxd that talks to a running dmxd.
type command struct {
	name    string
	args    string // its arguments, for the usage line
	summary string
	// minArgs and maxArgs bound its positional arguments (-1: no bound).
	minArgs, maxArgs int
}

// commands lists dmxd's subcommands in the order help shows them.
func commands() []command {
	return []command{
		{"set", "CH=LEVEL...", "set channels (CH or FIRST-LAST, LEVEL 0..255) and wait for the ack", 1, -1},
		{"fade", "CH=LEVEL... --ms N", "start fades to the levels over N ms and wait for the ack", 1, -1},
		{"blackout", "on|off", "switch the universe's blackout", 1, 1},
		{"get", "[--json]", "print the levels (channels not at 0) and the blackout", 0, 0},
	}
}

// lookupCommand returns the command called name.
func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// commandOptions is what a command's flags and the environment set.
type commandOptions struct {
	server   string
	universe int
	token    string
	timeout  time.Duration
	ms       int  // fade
	json     bool // get
}

// commandFlags returns the flag set of cmd, writing into o.
func commandFlags(cmd command, o *commandOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("dmxd "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.server, "server", defaultServer, "the running dmxd: a ws:// or http:// URL, or HOST:PORT")
	fs.IntVar(&o.universe, "universe", 1, "the universe to address")
	fs.StringVar(&o.token, "token", "", "the token dmxd was started with (--token)")
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "give up (exit 1) when dmxd has not answered by then")
	switch cmd.name {
	case "fade":
		fs.IntVar(&o.ms, "ms", 0, fmt.Sprintf("fade time in milliseconds, 0..%d", client.MaxFadeMS))
	case "get":
		fs.BoolVar(&o.json, "json", false, "print the universe as one JSON object: all 512 levels and the blackout")
	}
	return fs
}

// commandEnv is the environment variable a command flag reads, or "".
func commandEnv(flagName string) string {
	switch flagName {
	case "server":
		return serverEnv
	case "token":
		return tokenEnv
	}
	return ""
}

// parseCommand reads cmd's flags and positional arguments from args (in
// any order; "--" ends the flags) and, for --server and --token not
// given, DMXD_SERVER and DMXD_TOKEN. A request for help is a
// *helpRequest.
func parseCommand(cmd command, args []string, getenv func(string) string) (commandOptions, []string, error) {
	var o commandOptions
	fs := commandFlags(cmd, &o)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return o, nil, &helpRequest{flags: fs}
			}
			return o, nil, errors.New(oneLine(err.Error()))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is an argument
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if v := getenv(serverEnv); v != "" && !given["server"] {
		o.server = v
	}
	if v := getenv(tokenEnv); v != "" && !given["token"] {
		o.token = v
	}
	if _, err := client.ServerURL(o.server); err != nil {
		return o, nil, fmt.Errorf("--server: %v", err)
	}
	if o.universe < 1 {
		return o, nil, fmt.Errorf("--universe %d must be 1 or more", o.universe)
	}
	if o.timeout <= 0 {
		return o, nil, fmt.Errorf("--timeout %v must be more than 0", o.timeout)
	}
	if o.ms < 0 || o.ms > client.MaxFadeMS {
		return o, nil, fmt.Errorf("--ms %d is outside 0..%d", o.ms, client.MaxFadeMS)
	}
	if len(pos) < cmd.minArgs {
		return o, nil, fmt.Errorf("want %s", cmd.args)
	}
	if cmd.maxArgs >= 0 && len(pos) > cmd.maxArgs {
		return o, nil, fmt.Errorf("unexpected argument %q (want %s)", pos[cmd.maxArgs], cmd.args)
	}
	return o, pos, nil
}

// parseLevels reads CH=LEVEL and FIRST-LAST=LEVEL arguments into channel
// → level; a channel given twice is an error.
func parseLevels(args []string) (map[int]int, error) {
	levels := map[int]int{}
	for _, a := range args {
		chans, level, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want CH=LEVEL or FIRST-LAST=LEVEL", a)
		}
		v, err := strconv.Atoi(level)
		if err != nil || v < 0 || v > client.MaxLevel {
			return nil, fmt.Errorf("%q: level %q is not an integer 0..%d", a, level, client.MaxLevel)
		}
		first, last, isRange := strings.Cut(chans, "-")
		lo, err1 := parseChannel(first)
		hi, err2 := lo, error(nil)
		if isRange {
			hi, err2 = parseChannel(last)
		}
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%q: %v", a, err)
		}
		if hi < lo {
			return nil, fmt.Errorf("%q: the range %d-%d runs backwards", a, lo, hi)
		}
		for ch := lo; ch <= hi; ch++ {
			if _, dup := levels[ch]; dup {
				return nil, fmt.Errorf("%q: channel %d is given twice", a, ch)
			}
			levels[ch] = v
		}
	}
	return levels, nil
}

// parseChannel reads a channel number 1..512.
func parseChannel(s string) (int, error) {
	ch, err := strconv.Atoi(s)
	if err != nil || ch < 1 || ch > client.Channels {
		return 0, fmt.Errorf("channel %q is not an integer 1..%d", s, client.Channels)
	}
	return ch, nil
}

// runCommand runs the subcommand name against a running dmxd and returns
// the exit status: 0 once dmxd acknowledged the command, 1 when dmxd
// refused it, could not be reached or did not answer in time, 2 for a
// bad command line. Errors are one line on stderr.
func runCommand(name string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd, _ := lookupCommand(name)
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "dmxd %s: %s\n", name, oneLine(err.Error()))
		return code
	}
	o, pos, err := parseCommand(cmd, args, getenv)
	var help *helpRequest
	if errors.As(err, &help) {
		writeCommandHelp(stdout, cmd, help.flags)
		return 0
	}
	if err != nil {
		return fail(2, err)
	}
	var levels map[int]int
	var on bool
	switch name {
	case "set", "fade":
		if levels, err = parseLevels(pos); err != nil {
			return fail(2, err)
		}
	case "blackout":
		switch pos[0] {
		case "on":
			on = true
		case "off":
		default:
			return fail(2, fmt.Errorf("%q: want on or off", pos[0]))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	c, err := client.Dial(ctx, o.server, o.token)
	if err != nil {
		return fail(1, timeoutError(err, o))
	}
	defer c.Close()
	switch name {
	case "set":
		err = c.Set(ctx, o.universe, levels)
	case "fade":
		err = c.Fade(ctx, o.universe, levels, o.ms)
	case "blackout":
		err = c.Blackout(ctx, o.universe, on)
	case "get":
		var st client.State
		if st, err = c.Get(ctx, o.universe); err == nil {
			err = printState(stdout, st, o.json)
		}
	}
	if err != nil {
		return fail(1, timeoutError(err, o))
	}
	return 0
}

// timeoutError says which server did not answer within --timeout.
func timeoutError(err error, o commandOptions) error {
	if errors.Is(err, context.DeadlineExceeded) {
		addr, _ := client.ServerURL(o.server)
		return fmt.Errorf("no answer from %s within %v (--timeout)", addr, o.timeout)
	}
	return err
}

// printState writes st: the channels not at 0 as CH=LEVEL on one line
// (the arguments dmxd set takes) and the blackout on the next, or with
// asJSON one JSON object.
func printState(w io.Writer, st client.State, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(st)
	}
	var b strings.Builder
	for i, v := range st.Values {
		if v != 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%d=%d", i+1, v)
		}
	}
	if b.Len() == 0 {
		b.WriteString("(all channels at 0)")
	}
	blackout := "off"
	if st.Blackout {
		blackout = "on"
	}
	_, err := fmt.Fprintf(w, "%s\nblackout %s\n", b.String(), blackout)
	return err
}

// runHelp is dmxd help [COMMAND].
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, err := parseConfig([]string{"--help"}, func(string) string { return "" })
		var help *helpRequest
		if errors.As(err, &help) {
			writeHelp(stdout, help.flags)
		}
		return 0
	}
	if len(args) == 1 && args[0] == "node" {
		_, err := parseNodeConfig([]string{"--help"}, func(string) string { return "" })
		var help *helpRequest
		if errors.As(err, &help) {
			writeNodeHelp(stdout, help.flags)
		}
		return 0
	}
	if args[0] == "edge" && len(args) == 1 {
		_, err := parseEdgeConfig([]string{"--help"}, func(string) string { return "" })
		var help *helpRequest
		if errors.As(err, &help) {
			writeEdgeHelp(stdout, help.flags)
		}
		return 0
	}
	cmd, ok := lookupCommand(args[0])
	if !ok || len(args) > 1 {
		fmt.Fprintf(stderr, "dmxd help: %q is not a command (want set, fade, blackout, get or node)\n", oneLine(strings.Join(args, " ")))
		return 2
	}
	writeCommandHelp(stdout, cmd, commandFlags(cmd, &commandOptions{}))
	return 0
}

// writeCommandHelp writes the help of cmd, whose flags are fs.
func writeCommandHelp(w io.Writer, cmd command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: dmxd %s %s [FLAGS]\n\n%s.\n", cmd.name, cmd.args, cmd.summary)
	fmt.Fprint(w, "Exit status: 0 once dmxd acknowledged, 1 when it refused or could not be\nreached in time, 2 for a bad command line.\n\nFlags (before or after the arguments):\n")
	writeFlags(w, fs, commandEnv)
}

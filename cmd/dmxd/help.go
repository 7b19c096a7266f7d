package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// helpRequest is parseConfig's answer to -h, -help or --help: run prints
// the help of flags and exits 0. As an error it is the one-line usage.
type helpRequest struct {
	flags *flag.FlagSet
}

func (h *helpRequest) Error() string {
	return "usage: dmxd [FLAGS] | dmxd COMMAND [ARGS] (dmxd --help lists them)"
}

func (h *helpRequest) Unwrap() error { return flag.ErrHelp }

// writeHelp writes dmxd's help: what it is, its commands and every server
// flag of fs with its description, default and environment variable.
func writeHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `dmxd is a DMX512 lighting server: desks connect over WebSocket (/ws), the
web desk is at /, and dmxd refreshes USB-serial DMX interfaces.

Usage:
  dmxd [FLAGS]                      run the server
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-33s %s\n", "dmxd "+c.name+" "+c.args, c.summary)
	}
	fmt.Fprintf(w, "  %-33s %s\n", "dmxd node --core HOST:PORT …", "run an output node: this machine's DMX outputs, fed by a core (dmxd node --help)")
	fmt.Fprintf(w, "  %-33s %s\n", "dmxd edge --core HOST:PORT", "serve desks of a core, another dmxd with --cluster (dmxd edge --help)")
	fmt.Fprintf(w, "  %-33s %s\n", "dmxd help [COMMAND]", "this help, or a command's (also: dmxd COMMAND --help)")
	fmt.Fprintf(w, "  %-33s %s\n", "dmxd --version", "the version dmxd was built from")
	fmt.Fprint(w, `
Server flags (each also read from its environment variable; the command line wins):
`)
	writeFlags(w, fs, envName)
}

// writeFlags writes every flag of fs: its name and value, then its
// description, default (when not empty) and environment variable (env
// returns "" for a flag that reads none).
func writeFlags(w io.Writer, fs *flag.FlagSet, env func(string) string) {
	fs.VisitAll(func(f *flag.Flag) {
		value, usage := flag.UnquoteUsage(f) // value is "" for a bool flag
		if value != "" {
			value = " " + value
		}
		var notes []string // no "default false" for a switch
		if f.DefValue != "" && (value != "" || f.DefValue != "false") {
			notes = append(notes, "default "+f.DefValue)
		}
		if e := env(f.Name); e != "" {
			notes = append(notes, "env "+e)
		}
		fmt.Fprintf(w, "  --%s%s\n      %s", f.Name, value, usage)
		if len(notes) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(notes, ", "))
		}
		fmt.Fprintln(w)
	})
}

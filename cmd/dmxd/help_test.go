package main

import (
	"errors"
	"flag"
	"net"
	"strings"
	"testing"
)

// serverFlags returns dmxd's server flag set, as parseConfig builds it.
func serverFlags(t *testing.T) *flag.FlagSet {
	t.Helper()
	_, err := parseConfig([]string{"--help"}, env(nil))
	var help *helpRequest
	if !errors.As(err, &help) {
		t.Fatalf("parseConfig(--help) = %v, want a help request", err)
	}
	return help.flags
}

// flagEntry returns the help's entry of flag name: its line and the
// description line under it.
func flagEntry(t *testing.T, help, name string) string {
	t.Helper()
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		if l == "  --"+name || strings.HasPrefix(l, "  --"+name+" ") {
			if i+1 < len(lines) {
				return l + "\n" + lines[i+1]
			}
		}
	}
	t.Fatalf("help lists no --%s:\n%s", name, help)
	return ""
}

// TestHelpListsEveryFlag: dmxd --help, -h and dmxd help exit 0 and list
// every server flag with its description, its default and its DMXD_*
// variable, and parseConfig reads that variable for every flag. The
// expected list is the flag set's, so a new flag without a description
// or variable fails here.
func TestHelpListsEveryFlag(t *testing.T) {
	fs := serverFlags(t)
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}} {
		var stdout, stderr strings.Builder
		if code := run(args, env(nil), &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Fatalf("run(%q) = %d, stderr %q; want 0 and nothing", args, code, stderr.String())
		}
		help := stdout.String()
		for _, c := range commands() {
			if !strings.Contains(help, "dmxd "+c.name+" ") {
				t.Errorf("run(%q): help does not list the command %s", args, c.name)
			}
		}
		fs.VisitAll(func(f *flag.Flag) {
			entry := flagEntry(t, help, f.Name)
			_, usage := flag.UnquoteUsage(f)
			if strings.TrimSpace(usage) == "" {
				t.Errorf("--%s has no description", f.Name)
			}
			for _, want := range []string{usage, "env " + envName(f.Name)} {
				if !strings.Contains(entry, want) {
					t.Errorf("run(%q): the entry of --%s does not say %q:\n%s", args, f.Name, want, entry)
				}
			}
			// help.go writes no "default false" for a switch.
			isSwitch := f.DefValue == "false"
			if f.DefValue != "" && !isSwitch && !strings.Contains(entry, "default "+f.DefValue) {
				t.Errorf("run(%q): the entry of --%s does not give its default %q:\n%s", args, f.Name, f.DefValue, entry)
			}
		})
	}
	asked := map[string]bool{}
	if _, err := parseConfig(nil, func(k string) string { asked[k] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !asked[envName(f.Name)] {
			t.Errorf("parseConfig does not read %s for --%s", envName(f.Name), f.Name)
		}
	})
}

// TestCommandHelp: every command's --help, -h and dmxd help COMMAND exit
// 0 and list the command's flags, with DMXD_SERVER and DMXD_TOKEN.
func TestCommandHelp(t *testing.T) {
	for _, c := range commands() {
		fs := commandFlags(c, &commandOptions{})
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}, {c.name, "1=2", "--help"}} {
			var stdout, stderr strings.Builder
			if code := run(args, env(nil), &stdout, &stderr); code != 0 || stderr.Len() != 0 {
				t.Fatalf("run(%q) = %d, stderr %q; want 0 and nothing", args, code, stderr.String())
			}
			help := stdout.String()
			if !strings.HasPrefix(help, "Usage: dmxd "+c.name+" ") {
				t.Errorf("run(%q) = %q, want a usage line first", args, help)
			}
			fs.VisitAll(func(f *flag.Flag) {
				entry := flagEntry(t, help, f.Name)
				if _, usage := flag.UnquoteUsage(f); usage == "" || !strings.Contains(entry, usage) {
					t.Errorf("run(%q): --%s: no description in %q", args, f.Name, entry)
				}
				if e := commandEnv(f.Name); e != "" && !strings.Contains(entry, "env "+e) {
					t.Errorf("run(%q): --%s does not name %s", args, f.Name, e)
				}
			})
		}
	}
}

// TestVersion: --version prints the version set with -ldflags -X
// main.version, else "devel" (a test binary records no module version).
func TestVersion(t *testing.T) {
	for _, tc := range []struct{ set, want string }{{"", develVersion}, {"1.2.3", "1.2.3"}} {
		t.Run(tc.want, func(t *testing.T) {
			old := version
			version = tc.set
			defer func() { version = old }()
			var stdout, stderr strings.Builder
			if code := run([]string{"--version"}, env(nil), &stdout, &stderr); code != 0 || stderr.Len() != 0 {
				t.Fatalf("--version = %d, stderr %q", code, stderr.String())
			}
			b := build()
			if b.Version != tc.want || !strings.HasPrefix(stdout.String(), "dmxd "+tc.want) ||
				!strings.Contains(stdout.String(), b.GoVersion) || strings.Count(stdout.String(), "\n") != 1 {
				t.Errorf("--version printed %q (build %+v), want one line with %s and the Go version", stdout.String(), b, tc.want)
			}
		})
	}
}

// TestBuildInfoString: the revision and a modified work tree are shown.
func TestBuildInfoString(t *testing.T) {
	for _, tc := range []struct {
		b    buildInfo
		want string
	}{
		{buildInfo{Version: "v1.0.0", GoVersion: "go1.26.8"}, "dmxd v1.0.0, go1.26.8"},
		{buildInfo{Version: "devel", Revision: "abc123", GoVersion: "go1.26.8"}, "dmxd devel, revision abc123, go1.26.8"},
		{buildInfo{Version: "devel", Revision: "abc123", Modified: true, GoVersion: "go1.26.8"}, "dmxd devel, revision abc123 (modified), go1.26.8"},
	} {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.b, got, tc.want)
		}
	}
}

// TestAnnouncement: the line for a person names URLs that reach dmxd,
// also when it listens on every address.
func TestAnnouncement(t *testing.T) {
	for _, tc := range []struct {
		addr  net.Addr
		token bool
		want  []string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}, false,
			[]string{"dmxd: web desk at http://127.0.0.1:9000/, WebSocket ws://127.0.0.1:9000/ws; Ctrl-C stops"}},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9000}, false,
			[]string{"http://127.0.0.1:9000/", "ws://127.0.0.1:9000/ws", "other addresses"}},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 80}, true,
			[]string{"http://127.0.0.1:80/ (add ?token=SECRET)", "other addresses"}},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, false,
			[]string{"http://[::1]:8080/", "ws://[::1]:8080/ws"}},
	} {
		got := announcement(tc.addr, tc.token)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("announcement(%v, %v) = %q, want it to say %q", tc.addr, tc.token, got, w)
			}
		}
		if strings.Contains(got, "\n") {
			t.Errorf("announcement %q is not one line", got)
		}
	}
}

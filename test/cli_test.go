package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// cliBound is a backstop for one dmxd command run: never a timing claim.
const cliBound = 30 * time.Second

// runCLI runs the dmxd binary with args and the variables env (DMXD_SERVER
// and DMXD_TOKEN are cleared unless env sets them) and returns its exit
// status, stdout and stderr.
func runCLI(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(append(os.Environ(), "DMXD_SERVER=", "DMXD_TOKEN="), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run dmxd %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("dmxd %q still ran after %v", args, cliBound)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// wantOneLine fails unless stderr is one line starting with prefix and
// holding detail.
func wantOneLine(t *testing.T, stderr, prefix, detail string) {
	t.Helper()
	if !strings.HasPrefix(stderr, prefix) || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") ||
		!strings.Contains(stderr, detail) {
		t.Errorf("stderr %q, want one line starting %q and saying %q", stderr, prefix, detail)
	}
}

// TestCLICommands: dmxd set, fade, blackout and get against a running
// dmxd, each acknowledged (exit 0): what set wrote a desk sees and get
// prints, a fade lands on its target, blackout reaches the desks.
func TestCLICommands(t *testing.T) {
	p := startDMXD(t, "--universes", "2")
	d := dial(t, p)
	server := "--server=" + p.Addr // a bare HOST:PORT

	if code, out, errOut := runCLI(t, nil, "set", "1=255", "2=128", "10-12=7", server); code != 0 || out != "" || errOut != "" {
		t.Fatalf("set: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	st := getState(t, d, 1)
	if st.Values[0] != 255 || st.Values[1] != 128 || st.Values[9] != 7 || st.Values[11] != 7 || st.Values[12] != 0 {
		t.Fatalf("after set: %v", st.Values[:13])
	}
	code, out, errOut := runCLI(t, nil, "get", server)
	if code != 0 || out != "1=255 2=128 10=7 11=7 12=7\nblackout off\n" || errOut != "" {
		t.Fatalf("get: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Universe 2, the server as an http:// URL (the desk's address), flags
	// before the arguments.
	if code, _, errOut := runCLI(t, nil, "set", "--universe", "2", "--server", p.URL("/"), "512=9"); code != 0 {
		t.Fatalf("set universe 2: exit %d, stderr %q", code, errOut)
	}
	if st := getState(t, d, 2); st.Values[511] != 9 {
		t.Fatalf("universe 2 channel 512 = %d, want 9", st.Values[511])
	}

	// A fade from DMXD_SERVER (a ws:// URL): acknowledged when it starts,
	// it ends on its target.
	if code, _, errOut := runCLI(t, []string{"DMXD_SERVER=" + p.WSURL("/ws")}, "fade", "1=0", "--ms", "300"); code != 0 {
		t.Fatalf("fade: exit %d, stderr %q", code, errOut)
	}
	deadline := time.Now().Add(5 * time.Second)
	for getState(t, d, 1).Values[0] != 0 {
		if time.Now().After(deadline) {
			t.Fatal("channel 1 did not fade to 0 within 5 s of a 300 ms fade")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if code, _, errOut := runCLI(t, nil, "blackout", "on", server); code != 0 {
		t.Fatalf("blackout on: exit %d, stderr %q", code, errOut)
	}
	if _, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "blackout" && strings.Contains(m.Raw, `"on":true`) }); err != nil {
		t.Fatalf("the desk got no blackout on: %v", err)
	}
	code, out, _ = runCLI(t, nil, "get", "--json", server)
	var js struct {
		Universe int   `json:"universe"`
		Values   []int `json:"values"`
		Blackout bool  `json:"blackout"`
	}
	if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil || js.Universe != 1 || len(js.Values) != 512 || !js.Blackout ||
		js.Values[1] != 128 || js.Values[0] != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("get --json: exit %d, %q (%v)", code, out, err)
	}
	if code, _, _ := runCLI(t, nil, "blackout", "off", server); code != 0 {
		t.Fatalf("blackout off: exit %d", code)
	}
	if code, out, _ := runCLI(t, nil, "get", server); code != 0 || !strings.HasSuffix(out, "\nblackout off\n") {
		t.Fatalf("get after blackout off: exit %d, %q", code, out)
	}
}

// TestCLIFailures: a command dmxd refuses, a wrong or missing token and a
// server that is not there exit 1 with one clear line; a bad command line
// exits 2 with one line.
func TestCLIFailures(t *testing.T) {
	const token = "s3cret"
	p := startDMXD(t, "--token", token)
	server := "--server=" + p.URL("/")

	if code, _, errOut := runCLI(t, []string{"DMXD_TOKEN=" + token}, "set", "1=1", server); code != 0 {
		t.Fatalf("set with DMXD_TOKEN: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "set", "1=1", "--token", token, server); code != 0 {
		t.Fatalf("set with --token: exit %d, stderr %q", code, errOut)
	}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		detail string
	}{
		{"wrong token", nil, []string{"set", "1=2", "--token", "nope", server}, "refused the token (HTTP 401)"},
		{"wrong token from the environment", []string{"DMXD_TOKEN=nope"}, []string{"get", server}, "refused the token"},
		{"no token", nil, []string{"blackout", "on", server}, "wants a token"},
		{"universe that does not exist", []string{"DMXD_TOKEN=" + token}, []string{"set", "1=2", "--universe", "7", server}, "bad_universe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.env, tc.args...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			wantOneLine(t, errOut, "dmxd "+tc.args[0]+": ", tc.detail)
		})
	}

	// No server: a port that was just free.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().String()
	_ = ln.Close()
	code, _, errOut := runCLI(t, nil, "get", "--server", free)
	if code != 1 {
		t.Errorf("get without a server: exit %d, want 1", code)
	}
	wantOneLine(t, errOut, "dmxd get: ", "cannot reach dmxd at ws://"+free+"/ws")

	for _, args := range [][]string{
		{"set", "1=300", server},
		{"set", server},
		{"fade", "1=0", "--ms", "x", server},
		{"blackout", "dim", server},
		{"get", "--universe", "0", server},
		{"set", "1=1", "--bogus", server},
	} {
		code, _, errOut := runCLI(t, nil, args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		wantOneLine(t, errOut, "dmxd "+args[0]+": ", "")
	}
	// The refused and bad commands changed nothing.
	d, _, err := testkit.Dial(p.WSURL("/ws?token="+token), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "state" })
	if err != nil || len(st.Values) == 0 || st.Values[0] != 1 {
		t.Errorf("channel 1 = %v (%v), want 1 as the last acknowledged set left it", st.Values, err)
	}
}

// TestHelpAndVersion: --help exits 0 with every flag and its variable,
// a bad flag exits 2 with one line, and a binary built with
// -ldflags "-X main.version=..." reports that version in --version, in
// hello and in dmxd_build_info.
func TestHelpAndVersion(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "--help")
	if code != 0 || errOut != "" || !strings.Contains(out, "--listen string") || !strings.Contains(out, "env DMXD_LISTEN") ||
		!strings.Contains(out, "dmxd set CH=LEVEL") {
		t.Fatalf("--help: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	if code, out, _ := runCLI(t, nil, "set", "--help"); code != 0 || !strings.Contains(out, "DMXD_SERVER") {
		t.Errorf("set --help: exit %d, %q", code, out)
	}
	code, _, errOut = runCLI(t, nil, "--colour")
	if code != 2 {
		t.Errorf("--colour: exit %d, want 2", code)
	}
	wantOneLine(t, errOut, "dmxd: ", "colour")

	const v = "9.8.7-test"
	bin := filepath.Join(t.TempDir(), "dmxd")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+v, "-o", bin, "./cmd/dmxd")
	build.Dir = ".." // the module root: go test runs in test/
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	vout, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(vout), "dmxd "+v+", ") {
		t.Fatalf("--version: %q, %v; want dmxd %s", vout, err, v)
	}
	p, err := testkit.Start(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop(10 * time.Second) })
	d := dialVersion(t, p)
	if d != v {
		t.Errorf("hello version %q, want %q", d, v)
	}
	_, samples := scrape(t, p.URL("/metrics"), "")
	found := false
	for series, val := range samples {
		if strings.HasPrefix(series, "dmxd_build_info{") {
			found = true
			if val != 1 || !strings.Contains(series, `version="`+v+`"`) || !strings.Contains(series, `goversion="go`) || !strings.Contains(series, `revision="`) {
				t.Errorf("%s %v, want version %s, goversion, revision and 1", series, val, v)
			}
		}
	}
	if !found {
		t.Error("/metrics has no dmxd_build_info")
	}
}

// dialVersion returns the version of p's hello.
func dialVersion(t *testing.T, p *testkit.Process) string {
	t.Helper()
	d, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	hello, err := d.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(hello.Raw), &h); err != nil {
		t.Fatal(err)
	}
	return h.Version
}

// TestStartLine: on a console log dmxd prints one line with the URLs it
// really serves (here a port the kernel picked), and the desk's URL
// answers.
func TestStartLine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), cliBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--listen", "127.0.0.1:0", "--log-format", "console")
	cmd.Env = append(os.Environ(), "DMXD_TOKEN=", "DMXD_OUTPUT=")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const prefix = "dmxd: web desk at "
	var line string
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			line = sc.Text()
			break
		}
	}
	if line == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("dmxd printed no line with the desk's URL")
	}
	desk, _, _ := strings.Cut(strings.TrimPrefix(line, prefix), ",")
	if !strings.HasPrefix(desk, "http://127.0.0.1:") || strings.HasSuffix(desk, ":0/") || !strings.Contains(line, "WebSocket ws://127.0.0.1:") {
		t.Errorf("start line %q", line)
	}
	resp, err := http.Get(desk)
	if err != nil {
		t.Errorf("GET %s: %v", desk, err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", desk, resp.Status)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_, _ = io.Copy(io.Discard, pipe) // the rest of the log, until dmxd exits
	if err := cmd.Wait(); err != nil {
		t.Errorf("dmxd after SIGTERM: %v", err)
	}
}

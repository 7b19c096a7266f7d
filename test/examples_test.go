package test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// exampleTimeout bounds one run of an example client (a backstop, not a
// timing claim: each run waits for an ack or a message).
const exampleTimeout = 30 * time.Second

// exampleClient is one of the clients in examples/: argv runs it.
type exampleClient struct {
	name string
	// find returns the command that runs the client, or why it cannot
	// run here.
	find func() ([]string, error)
}

var exampleClients = []exampleClient{
	{name: "python", find: findPythonClient},
	{name: "node", find: findNodeClient},
}

// findPythonClient returns a python3 that has the websockets module: the
// one on PATH, or Debian's /usr/bin/python3, where python3-websockets
// installs it (a PATH can put another python3 first, such as pyenv's).
func findPythonClient() ([]string, error) {
	var tried []string
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			tried = append(tried, py+": not found")
			continue
		}
		if err := exec.Command(path, "-c", "import websockets").Run(); err != nil {
			tried = append(tried, path+": no websockets module")
			continue
		}
		return []string{path, "../examples/python/dmxd_client.py"}, nil
	}
	return nil, fmt.Errorf("no python3 with the websockets library (%s): apt-get install python3-websockets (.ci/run does)",
		strings.Join(tried, "; "))
}

// findNodeClient returns node and the Node client, once `npm ci` has
// installed its dependencies.
func findNodeClient() ([]string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node is not installed: apt-get install nodejs npm (.ci/run does)")
	}
	if _, err := os.Stat("../examples/node/node_modules/ws/package.json"); err != nil {
		return nil, errors.New("examples/node has no node_modules/ws: run npm ci --prefix examples/node (.ci/run does)")
	}
	return []string{node, "../examples/node/dmxd_client.js"}, nil
}

// runExample runs the client with args to its end and returns its exit
// status, stdout and stderr.
func runExample(t *testing.T, argv []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exampleTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%v did not end within %v\nstdout:\n%s\nstderr:\n%s", cmd.Args, exampleTimeout, &stdout, &stderr)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// startWatch starts the client's watch command and returns its stdout
// lines once it printed that it is watching.
func startWatch(t *testing.T, argv []string, args ...string) (<-chan string, *exec.Cmd) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exampleTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("watch stderr:\n%s", &stderr)
		}
	})
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		line, ok := <-lines
		if !ok {
			t.Fatalf("watch ended before it watched: %s", &stderr)
		}
		if strings.HasPrefix(line, "watching universe") {
			return lines, cmd
		}
	}
}

// TestExampleClients runs each client of examples/ against a real dmxd:
// a watcher prints the update that the client's set causes, the level is
// in dmxd's state, a refused set exits 1 with the error code and a
// malformed command line exits 2.
func TestExampleClients(t *testing.T) {
	for _, c := range exampleClients {
		t.Run(c.name, func(t *testing.T) {
			argv, err := c.find()
			if err != nil {
				if testing.Short() {
					t.Skipf("-short: skipping the %s example client: %v", c.name, err)
				}
				t.Fatalf("the %s example client cannot run: %v", c.name, err)
			}
			p := startDMXD(t, "--universes", "2")
			url := "--url=" + p.WSURL("/ws")
			lines, watch := startWatch(t, argv, url, "watch", "--count", "1")

			code, stdout, stderr := runExample(t, argv, url, "set", "1=255", "7=99")
			if code != 0 || !strings.Contains(stdout, "acknowledged") {
				t.Fatalf("set exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			d := dial(t, p)
			st := getState(t, d, 1)
			if st.Values[0] != 255 || st.Values[6] != 99 {
				t.Errorf("after set 1=255 7=99, dmxd has 1=%d 7=%d", st.Values[0], st.Values[6])
			}
			if line := <-lines; line != "universe 1: 1=255 7=99" {
				t.Errorf("watch printed %q, want %q", line, "universe 1: 1=255 7=99")
			}
			if err := watch.Wait(); err != nil {
				t.Errorf("watch --count 1 after one update: %v", err)
			}

			code, stdout, stderr = runExample(t, argv, url, "--universe", "2", "set", "3=30")
			if code != 0 || !strings.Contains(stdout, "acknowledged") {
				t.Fatalf("set on universe 2 exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if st := getState(t, d, 2); st.Values[2] != 30 {
				t.Errorf("after set 3=30 on universe 2, dmxd has 3=%d", st.Values[2])
			}

			code, _, stderr = runExample(t, argv, url, "set", "513=1")
			if code != 1 || !strings.Contains(stderr, "bad_channel") {
				t.Errorf("set 513=1 exited %d with stderr %q, want 1 and bad_channel", code, stderr)
			}
			code, _, stderr = runExample(t, argv, url, "set", "one=1")
			if code != 2 || !strings.Contains(stderr, "CHANNEL=LEVEL") {
				t.Errorf("set one=1 exited %d with stderr %q, want 2 and a usage line", code, stderr)
			}
		})
	}
}

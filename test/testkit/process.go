package testkit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startTimeout bounds how long dmxd may take to log its listen address.
const startTimeout = 20 * time.Second

// Build compiles cmd/dmxd into dir and returns the binary's path.
func Build(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "dmxd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/dmxd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the dmxd module")
	}
	return filepath.Dir(mod), nil
}

// Process is a running dmxd.
type Process struct {
	cmd *exec.Cmd
	// Addr is the host:port dmxd listens on (an output node's cluster
	// address, see StartNode).
	Addr string
	mu   sync.Mutex
	logs []map[string]any
	raw  []string
	exit chan struct{}
	err  error
}

// Start runs bin with args (plus --listen 127.0.0.1:0 and JSON logs unless
// args set them) and waits until it listens.
func Start(bin string, args ...string) (*Process, error) {
	return StartUnder("", bin, args...)
}

// StartUnder is Start with bin run by sh after the shell commands setup
// (for example "ulimit -n 200", or a trap that ignores HUP): sh then
// execs bin, so dmxd inherits what setup changed (limits, ignored
// signals) and Pid is dmxd's. An empty setup runs bin directly.
func StartUnder(setup, bin string, args ...string) (*Process, error) {
	joined := strings.Join(args, " ")
	if !strings.Contains(joined, "--listen") {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	if !strings.Contains(joined, "--log-format") {
		args = append(args, "--log-format", "json")
	}
	cmd := exec.Command(bin, args...)
	if setup != "" {
		cmd = exec.Command("sh", append([]string{"-c", setup + ` && exec "$0" "$@"`, bin}, args...)...)
	}
	cmd.Env = append(os.Environ(), "DMXD_TOKEN=", "DMXD_OUTPUT=")
	return startCmd(cmd, bin, "listen")
}

// startCmd starts cmd (running bin) and waits until it logs a line with
// the field ready, whose value becomes Addr.
func startCmd(cmd *exec.Cmd, bin, ready string) (*Process, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{cmd: cmd, exit: make(chan struct{})}
	listening := make(chan string, 1)
	go p.readLogs(stderr, ready, listening)
	go func() {
		p.err = cmd.Wait()
		close(p.exit)
	}()
	select {
	case p.Addr = <-listening:
		return p, nil
	case <-p.exit:
		return nil, fmt.Errorf("dmxd exited before listening: %v\n%s", p.err, strings.Join(p.RawLogs(), "\n"))
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("dmxd did not listen within %v", startTimeout)
	}
}

func (p *Process) readLogs(r io.Reader, ready string, listening chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		_ = json.Unmarshal([]byte(line), &m)
		p.mu.Lock()
		p.raw = append(p.raw, line)
		if m != nil {
			p.logs = append(p.logs, m)
		}
		p.mu.Unlock()
		if addr, ok := m[ready].(string); ok {
			select {
			case listening <- addr:
			default:
			}
		}
	}
}

// Logs returns the JSON log lines so far.
func (p *Process) Logs() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.logs...)
}

// RawLogs returns every stderr line so far.
func (p *Process) RawLogs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.raw...)
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// RSS returns dmxd's resident set size in bytes, from /proc/PID/status.
func (p *Process) RSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// Sched returns dmxd's CPU time and the time its threads spent waiting on
// the OS run queue, summed over its live threads (/proc/PID/task/*/schedstat).
func (p *Process) Sched() (cpu, wait time.Duration, err error) {
	dir := fmt.Sprintf("/proc/%d/task", p.Pid())
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("list threads: %w", err)
	}
	for _, t := range tasks {
		data, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		var run, delay int64
		if _, err := fmt.Sscan(string(data), &run, &delay); err == nil {
			cpu += time.Duration(run)
			wait += time.Duration(delay)
		}
	}
	return cpu, wait, nil
}

// Exited is closed when dmxd has exited.
func (p *Process) Exited() <-chan struct{} { return p.exit }

// Signal sends sig to dmxd.
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to d for dmxd to exit and returns its exit code.
func (p *Process) Wait(d time.Duration) (int, error) {
	select {
	case <-p.exit:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(d):
		return -1, fmt.Errorf("dmxd still running after %v", d)
	}
}

// Stop sends SIGTERM and waits up to d; it kills dmxd if it does not exit.
func (p *Process) Stop(d time.Duration) (int, error) {
	select {
	case <-p.exit:
		return p.cmd.ProcessState.ExitCode(), nil
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	code, err := p.Wait(d)
	if err != nil {
		_ = p.cmd.Process.Kill()
		<-p.exit
	}
	return code, err
}

// URL returns the http URL of path.
func (p *Process) URL(path string) string { return "http://" + p.Addr + path }

// WSURL returns the WebSocket URL of path.
func (p *Process) WSURL(path string) string { return "ws://" + p.Addr + path }

package harness

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// The flood phase's probe desk runs in a process of its own, at normal
// priority: a desk in a show is a tablet of its own, not one goroutine
// among the thousands of the load generator, which runs at loadNice on
// the same two cores. Timed inside the harness, a probe's clock started
// before its write and the write could wait tens of milliseconds for the
// harness's Go scheduler, counted as dmxd's latency.
//
// The harness re-executes its own binary with probeEnv set (as
// testkit.Device does for its recorder), writes a probeSpec as the first
// line of the child's stdin, and reads one probeReport per line from its
// stdout; the child ends when its stdin closes.

// probeEnv makes a binary that calls RunProbeIfAsked act as the probe.
const probeEnv = "DMXD_CHAOS_PROBE"

// probeSpec is what the probe process is told.
type probeSpec struct {
	URL      string        `json:"url"`
	Universe int           `json:"universe"`
	Channel  int           `json:"channel"`
	Prev     uint8         `json:"prev"` // the level on the stage: never the first probe's
	Delay    time.Duration `json:"delay"`
	Every    time.Duration `json:"every"`
	AckWait  time.Duration `json:"ack_wait"`
}

// probeReport is one line of the probe process: ready once its first
// connection attempt is over, then one per change.
type probeReport struct {
	Ready bool   `json:"ready,omitempty"`
	Level uint8  `json:"level,omitempty"`
	Sent  int64  `json:"sent,omitempty"` // unix ns, just before the write
	Ack   int64  `json:"ack,omitempty"`  // ns from Sent to the ack
	Code  string `json:"code,omitempty"` // the error code when dmxd refused it
	Err   string `json:"err,omitempty"`  // why it got no answer
	Kind  string `json:"kind,omitempty"` // how its connection ended, with Err
}

// RunProbeIfAsked turns the process into the flood phase's probe desk
// when it was started as one, and then exits; otherwise it returns at
// once. The binary that runs the harness must call it first thing in main
// (or TestMain).
func RunProbeIfAsked() {
	if os.Getenv(probeEnv) != "1" {
		return
	}
	os.Exit(runProbe(os.Stdin, os.Stdout))
}

func runProbe(in io.Reader, out io.Writer) int {
	r := bufio.NewReader(in)
	line, err := r.ReadBytes('\n')
	var spec probeSpec
	if err == nil {
		err = json.Unmarshal(line, &spec)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe: spec:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, r)
		cancel() // the harness is done with the probe
	}()
	enc := json.NewEncoder(out)
	p := &probeConn{spec: spec}
	defer p.close()
	rep := probeReport{Ready: true}
	if err := p.connect(ctx); err != nil {
		rep.Err, rep.Kind = err.Error(), "dial"
	}
	if enc.Encode(rep) != nil {
		return 1
	}
	prev := spec.Prev
	select {
	case <-ctx.Done():
		return 0
	case <-time.After(spec.Delay):
	}
	t := time.NewTicker(spec.Every)
	defer t.Stop()
	for id := int64(1); ; id++ {
		select {
		case <-ctx.Done():
			return 0
		case <-t.C:
		}
		if p.ws == nil {
			if err := p.connect(ctx); err != nil {
				if enc.Encode(probeReport{Err: err.Error(), Kind: "dial"}) != nil {
					return 1
				}
				continue
			}
		}
		v := prev%255 + 1 // 1..255: a blacked-out frame never carries it
		prev = v
		rep := p.change(id, v)
		if enc.Encode(rep) != nil {
			return 1
		}
	}
}

// probeConn is the probe process's connection; a reader goroutine routes
// the answers to ids.
type probeConn struct {
	spec    probeSpec
	ws      *websocket.Conn
	answers chan serverMsg // acks (Type "ack") and errors that name an id
	done    chan struct{}
	endErr  error // valid after done
}

func (p *probeConn) connect(ctx context.Context) error {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ws, _, err := d.DialContext(dctx, p.spec.URL, nil)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	p.ws, p.answers, p.done = ws, make(chan serverMsg, 16), make(chan struct{})
	go p.read(ws, p.answers, p.done)
	return nil
}

// read reads every message until the connection ends, passing on acks and
// errors that carry an id.
func (p *probeConn) read(ws *websocket.Conn, answers chan<- serverMsg, done chan<- struct{}) {
	defer close(done)
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			p.endErr = err
			return
		}
		kind := kindOf(data)
		if kind != "ack" && kind != "error" {
			continue
		}
		var m serverMsg
		if json.Unmarshal(data, &m) != nil || len(m.ID) == 0 {
			continue
		}
		select {
		case answers <- m:
		default: // a late answer of a change already reported
		}
	}
}

// change sets the probe's channel to v with id and waits for the answer.
func (p *probeConn) change(id int64, v uint8) probeReport {
	cmd := fmt.Sprintf(`{"dmx":{"%d":%d},"universe":%d,"id":%d}`, p.spec.Channel, v, p.spec.Universe, id)
	want := strconv.FormatInt(id, 10)
	rep := probeReport{Level: v}
	_ = p.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	sent := time.Now()
	rep.Sent = sent.UnixNano()
	if err := p.ws.WriteMessage(websocket.TextMessage, []byte(cmd)); err != nil {
		return p.fail(rep, fmt.Errorf("send %s: %w", cmd, err))
	}
	t := time.NewTimer(p.spec.AckWait)
	defer t.Stop()
	for {
		select {
		case m := <-p.answers:
			if string(m.ID) != want {
				continue
			}
			rep.Ack = int64(time.Since(sent))
			if m.Type == "error" {
				rep.Code = m.Code
			}
			return rep
		case <-p.done:
			return p.fail(rep, fmt.Errorf("%s: connection ended: %w", cmd, p.endErr))
		case <-t.C:
			return p.fail(rep, fmt.Errorf("%s: no answer within %v", cmd, p.spec.AckWait))
		}
	}
}

// fail reports err and drops the connection (the next change reconnects).
func (p *probeConn) fail(rep probeReport, err error) probeReport {
	p.close()
	<-p.done
	rep.Err, rep.Kind = err.Error(), closeKind(p.endErr)
	p.ws = nil
	return rep
}

func (p *probeConn) close() {
	if p.ws != nil {
		_ = p.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = p.ws.Close()
	}
}

// probeProc is the harness's side of a running probe process.
type probeProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	reports *bufio.Scanner
}

// startProbe starts the probe process from the launcher's thread (normal
// priority) and waits for its first connection attempt.
func (h *harness) startProbe(spec probeSpec) (*probeProc, probeReport, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, probeReport{}, fmt.Errorf("own executable: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), probeEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, probeReport{}, fmt.Errorf("probe stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, probeReport{}, fmt.Errorf("probe stdout: %w", err)
	}
	h.launch.do(func() { err = cmd.Start() })
	if err != nil {
		return nil, probeReport{}, fmt.Errorf("start probe: %w", err)
	}
	p := &probeProc{cmd: cmd, stdin: stdin, reports: bufio.NewScanner(out)}
	line, _ := json.Marshal(spec)
	if _, err := stdin.Write(append(line, '\n')); err != nil {
		p.stop()
		return nil, probeReport{}, fmt.Errorf("probe spec: %w", err)
	}
	first, err := p.next()
	if err != nil || !first.Ready {
		p.stop()
		return nil, probeReport{}, errors.Join(errors.New("probe did not report ready"), err)
	}
	return p, first, nil
}

// next returns the probe's next report; io.EOF once it has ended.
func (p *probeProc) next() (probeReport, error) {
	if !p.reports.Scan() {
		return probeReport{}, cmp.Or(p.reports.Err(), io.EOF)
	}
	var r probeReport
	if err := json.Unmarshal(p.reports.Bytes(), &r); err != nil {
		return probeReport{}, fmt.Errorf("probe report %q: %w", p.reports.Bytes(), err)
	}
	return r, nil
}

// wait waits for the probe to end once its stdin is closed, killing it
// after 5 s.
func (p *probeProc) wait() {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
		}
	}()
	_ = p.cmd.Wait()
	close(done)
}

// stop ends the probe: closing its stdin ends it; what it still reports
// is read and dropped.
func (p *probeProc) stop() {
	_ = p.stdin.Close()
	for {
		if _, err := p.next(); err != nil {
			break
		}
	}
	p.wait()
}

package testkit

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/dmxd/dmxd/dmx"
)

// recorderEnv makes a binary that calls RunRecorderIfAsked act as the
// recorder of a Device.
const recorderEnv = "DMXD_TESTKIT_RECORDER"

// recordSize is one frame on the recorder's stdout: arrival time in unix
// nanoseconds (8 bytes, little endian) and the 512 slots.
const recordSize = 8 + dmx.Slots

// Device is an Enttec-compatible serial device whose pty master lives in
// a separate recorder process: that process does nothing but read and
// time-stamp frames, so the arrival times stay honest when the process
// under test and the test itself keep both cores busy. Killing the
// recorder is pulling the device out.
//
// The binary that creates Devices must call RunRecorderIfAsked first thing
// in main (or TestMain): the recorder is the same binary, re-executed.
type Device struct {
	cmd *exec.Cmd
	// Path is the slave device, /dev/pts/N.
	Path string
	// Link, when set, is a symlink that points at Path.
	Link   string
	frames chan Frame
	done   chan struct{}
}

// StartDevice starts a recorder process with a new pty and, when link is
// not empty, points link at its slave atomically. The recorder reads at a
// real-time priority (see recorderRTPriority).
func StartDevice(link string) (*Device, error) { return startDevice(link, "1") }

// StartNormalDevice is StartDevice with a recorder that keeps the normal
// priority: a reader that, like most programs, gets no favour from the
// kernel, but is a process of its own, so that the load a test generates
// in its own process does not delay it.
func StartNormalDevice(link string) (*Device, error) { return startDevice(link, recorderNormal) }

// recorderNormal is recorderEnv's value for a recorder at normal priority.
const recorderNormal = "normal"

func startDevice(link, mode string) (*Device, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("own executable: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), recorderEnv+"="+mode, "GOMAXPROCS=2")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // the recorder ends when this closes
	if err != nil {
		return nil, fmt.Errorf("recorder stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("recorder stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start recorder: %w", err)
	}
	_ = stdin // kept open until the recorder is killed
	r := bufio.NewReaderSize(out, 64*recordSize)
	path, err := r.ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("recorder did not report its pty: %w", err)
	}
	d := &Device{
		cmd:    cmd,
		Path:   strings.TrimSpace(path),
		frames: make(chan Frame, 4096),
		done:   make(chan struct{}),
	}
	go d.read(r)
	if link != "" {
		d.Link = link
		tmp := link + ".new"
		_ = os.Remove(tmp)
		if err := os.Symlink(d.Path, tmp); err != nil {
			_ = d.Unplug()
			return nil, fmt.Errorf("symlink: %w", err)
		}
		if err := os.Rename(tmp, link); err != nil {
			_ = d.Unplug()
			return nil, fmt.Errorf("rename link: %w", err)
		}
	}
	return d, nil
}

func (d *Device) read(r io.Reader) {
	defer close(d.done)
	var rec [recordSize]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			return
		}
		var f Frame
		f.At = time.Unix(0, int64(binary.LittleEndian.Uint64(rec[:8])))
		copy(f.Values[:], rec[8:])
		select {
		case d.frames <- f:
		default: // a test that stopped reading
		}
	}
}

// Frames returns the channel of decoded frames.
func (d *Device) Frames() <-chan Frame { return d.frames }

// Done is closed when the recorder has ended and its frames are read.
func (d *Device) Done() <-chan struct{} { return d.done }

// Unplug kills the recorder, which closes the pty master, and removes the
// link: to dmxd the device is gone.
func (d *Device) Unplug() error {
	var errs []error
	if err := d.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		errs = append(errs, fmt.Errorf("kill recorder: %w", err))
	}
	_ = d.cmd.Wait()
	<-d.done
	if d.Link != "" {
		if err := os.Remove(d.Link); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove link: %w", err))
		}
	}
	return errors.Join(errs...)
}

// RunRecorderIfAsked turns the process into a Device's recorder when it
// was started as one, and then exits; otherwise it returns at once.
func RunRecorderIfAsked() {
	switch os.Getenv(recorderEnv) {
	case "1":
		os.Exit(runRecorder(true))
	case recorderNormal:
		os.Exit(runRecorder(false))
	}
}

// runRecorder opens a pty, prints its slave path, then writes a record per
// decoded frame to stdout until stdin closes or the master fails. raise
// gives it a real-time priority.
func runRecorder(raise bool) int {
	if raise {
		raiseProcessPriority()
	}
	p, err := openPTY(decodeEnttec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		return 1
	}
	w := bufio.NewWriterSize(os.Stdout, 64*recordSize)
	fmt.Fprintln(w, p.Path)
	if err := w.Flush(); err != nil {
		return 1
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0) // the test is gone
	}()
	// The pty is read without ever waiting for the test: records queue in
	// memory, and a second goroutine writes them out.
	recs := make(chan [recordSize]byte, 1<<16)
	go func() {
		for rec := range recs {
			_, _ = w.Write(rec[:])
			if len(recs) == 0 && w.Flush() != nil {
				os.Exit(0)
			}
		}
	}()
	// The pty is read with blocking reads on a thread of its own (of the
	// recorder's priority): the frame's time stamp is taken the moment the
	// kernel hands the bytes over.
	runtime.LockOSThread()
	fd := int(p.master.Fd())
	defer runtime.KeepAlive(p.master) // its finalizer would close fd
	if err := unix.SetNonblock(fd, false); err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		return 1
	}
	err = decodeEnttec(&eioRetryReader{f: blockingReader{fd: fd}}, func(f Frame) {
		var rec [recordSize]byte
		binary.LittleEndian.PutUint64(rec[:8], uint64(f.At.UnixNano()))
		copy(rec[8:], f.Values[:])
		select {
		case recs <- rec:
		default:
			fmt.Fprintln(os.Stderr, "recorder: the test reads no frames; dropping")
		}
	})
	fmt.Fprintln(os.Stderr, "recorder:", err)
	return 1
}

// The recorder's scheduling. The recorder stands for the interface's
// hardware, which reads its USB port whatever the host's CPUs are doing; a
// starved recorder reads two frames at once and makes its own lateness
// look like dmxd's (or stops reading the pty and blocks dmxd's writes). It
// therefore runs with a real-time policy (SCHED_FIFO, priority
// recorderRTPriority, below dmxd's output threads), or at nice recorderNice
// without the privilege for that, or at normal priority without either. It
// only reads and time-stamps two frames per refresh, so it cannot starve
// the machine.
const (
	recorderRTPriority = 10
	recorderNice       = -15
)

// raiseProcessPriority raises every thread of the process; threads created
// later inherit it.
func raiseProcessPriority() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		rt := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: recorderRTPriority}
		if unix.SchedSetAttr(tid, rt, 0) != nil {
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, recorderNice)
		}
	}
}

package testkit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dmxd/dmxd/dmx"
)

// Frame is one DMX frame decoded on a pty master, with its arrival time.
type Frame struct {
	At     time.Time
	Values dmx.Frame
}

// PTY is a pseudo-terminal: dmxd opens the slave (Path) as its serial
// device; the test reads the master, decoding what dmxd wrote.
type PTY struct {
	master *os.File
	// Path is the slave device, /dev/pts/N.
	Path string
	// Link, when set by NewLinkedPTY, is a symlink that points at Path.
	Link      string
	frames    chan Frame
	done      chan struct{}
	decode    func(r io.Reader, emit func(Frame)) error
	startOnce sync.Once
	mu        sync.Mutex
	err       error
	bytesRead atomic.Int64 // bytes read from the master
	decoded   atomic.Int64 // frames decoded from them
}

// Stream returns how many bytes were read from the master so far and how
// many frames were decoded from them: a stream of whole Enttec messages
// has bytes == frames × dmx.EnttecFrameSize.
func (p *PTY) Stream() (bytes, frames int64) { return p.bytesRead.Load(), p.decoded.Load() }

// countingReader adds what it reads to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n.Add(int64(k))
	return k, err
}

// NewPTY opens a new pty pair and starts decoding Enttec label 6 frames
// written to its slave. The master is non-blocking so that Close ends the
// decoder at once.
func NewPTY() (*PTY, error) {
	return newPTY(decodeEnttec)
}

// NewRawPTY is NewPTY for Open DMX output: every 513 bytes (start code 0
// and 512 slots) make one frame.
func NewRawPTY() (*PTY, error) {
	return newPTY(decodeRaw)
}

// NewStalledPTY is NewPTY with nobody reading the master until Resume: to
// dmxd the device accepts no data and its writes block once the pty's
// buffer is full.
func NewStalledPTY() (*PTY, error) {
	p, err := openPTY(decodeEnttec)
	return p, err
}

func newPTY(decode func(r io.Reader, emit func(Frame)) error) (*PTY, error) {
	p, err := openPTY(decode)
	if err != nil {
		return nil, err
	}
	p.Resume()
	return p, nil
}

// Resume starts reading and decoding the master (NewStalledPTY).
func (p *PTY) Resume() {
	p.startOnce.Do(func() { go p.decodeLoop() })
}

func (p *PTY) decodeLoop() {
	defer close(p.done)
	err := p.decode(&countingReader{r: &eioRetryReader{f: p.master}, n: &p.bytesRead}, func(f Frame) {
		p.decoded.Add(1)
		select {
		case p.frames <- f:
		default: // a test that stopped reading; keep decoding
		}
	})
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

func openPTY(decode func(r io.Reader, emit func(Frame)) error) (*PTY, error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("pty number: %w", err)
	}
	p := &PTY{
		master: os.NewFile(uintptr(fd), "/dev/ptmx"),
		Path:   fmt.Sprintf("/dev/pts/%d", n),
		frames: make(chan Frame, 4096),
		done:   make(chan struct{}),
		decode: decode,
	}
	return p, nil
}

// eioRetryReader reads the master, waiting while no slave is open (the
// master then reports EIO) until the master is closed.
type eioRetryReader struct{ f io.Reader }

func (r *eioRetryReader) Read(b []byte) (int, error) {
	for {
		n, err := r.f.Read(b)
		if err != nil && errors.Is(err, unix.EIO) {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		return n, err
	}
}

// blockingReader reads a descriptor with plain blocking read(2) calls: the
// thread sleeps in the kernel and wakes the moment data arrives, without a
// trip through the Go runtime's network poller.
type blockingReader struct{ fd int }

func (r blockingReader) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(r.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// Frames returns the channel of decoded frames.
func (p *PTY) Frames() <-chan Frame { return p.frames }

// Close closes the master: to dmxd the device is unplugged.
func (p *PTY) Close() error {
	err := p.master.Close()
	p.startOnce.Do(func() { close(p.done) })
	<-p.done
	return err
}

// NewLinkedPTY is NewPTY with a stable path: a symlink in dir that points at
// the slave, so a test can unplug the device and plug in a new one under
// the same name.
func NewLinkedPTY(dir string) (*PTY, error) {
	p, err := NewPTY()
	if err != nil {
		return nil, err
	}
	p.Link = filepath.Join(dir, "ttyDMX")
	if err := os.Symlink(p.Path, p.Link); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("symlink: %w", err)
	}
	return p, nil
}

// Replug closes p's master and returns a new pty behind the same link.
func (p *PTY) Replug() (*PTY, error) {
	if err := p.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return nil, fmt.Errorf("close master: %w", err)
	}
	q, err := NewPTY()
	if err != nil {
		return nil, err
	}
	q.Link = p.Link
	tmp := p.Link + ".new"
	if err := os.Symlink(q.Path, tmp); err != nil {
		return nil, fmt.Errorf("symlink: %w", err)
	}
	if err := os.Rename(tmp, q.Link); err != nil {
		return nil, fmt.Errorf("rename link: %w", err)
	}
	return q, nil
}

// WaitFrame returns the first frame for which ok returns true, or an error
// after timeout.
func (p *PTY) WaitFrame(timeout time.Duration, ok func(Frame) bool) (Frame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case f := <-p.frames:
			if ok(f) {
				return f, nil
			}
		case <-t.C:
			return Frame{}, fmt.Errorf("no matching frame within %v", timeout)
		case <-p.done:
			return Frame{}, fmt.Errorf("pty closed: %v", p.err)
		}
	}
}

// Drain discards the frames received so far.
func (p *PTY) Drain() {
	for {
		select {
		case <-p.frames:
		default:
			return
		}
	}
}

// decodeEnttec decodes Enttec DMX USB Pro label 6 messages from r. It
// resynchronises on the start byte after any malformed message.
func decodeEnttec(r io.Reader, emit func(Frame)) error {
	buf := make([]byte, 0, 64*1024)
	chunk := make([]byte, 16*1024)
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			buf = append(buf, chunk[:n]...)
			now := time.Now()
			for {
				i := indexByte(buf, 0x7E)
				if i < 0 {
					buf = buf[:0]
					break
				}
				buf = buf[i:]
				if len(buf) < dmx.EnttecFrameSize {
					break
				}
				if buf[1] != 6 || buf[2] != 0x01 || buf[3] != 0x02 || buf[4] != 0 || buf[dmx.EnttecFrameSize-1] != 0xE7 {
					buf = buf[1:]
					continue
				}
				var f Frame
				f.At = now
				copy(f.Values[:], buf[5:5+dmx.Slots])
				emit(f)
				buf = buf[dmx.EnttecFrameSize:]
			}
			buf = append(buf[:0:0], buf...)
		}
		if err != nil {
			return err
		}
	}
}

// decodeRaw decodes Open DMX output: start code 0 then 512 slots.
func decodeRaw(r io.Reader, emit func(Frame)) error {
	buf := make([]byte, 0, 64*1024)
	chunk := make([]byte, 16*1024)
	const size = 1 + dmx.Slots
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			buf = append(buf, chunk[:n]...)
			now := time.Now()
			for len(buf) >= size {
				var f Frame
				f.At = now
				copy(f.Values[:], buf[1:size])
				emit(f)
				buf = buf[size:]
			}
			buf = append(buf[:0:0], buf...)
		}
		if err != nil {
			return err
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

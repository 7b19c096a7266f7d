package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/dmxd/dmxd/test/testkit"
)

// The web desk is tested in Debian's Chromium, headless, driven over the
// DevTools protocol by chromedp.
const (
	// chromiumPath is where Debian's chromium package puts the browser.
	chromiumPath = "/usr/bin/chromium"
	// browserTimeout bounds a whole browser test.
	browserTimeout = 60 * time.Second
	// uiWait bounds the wait for one condition on a page.
	uiWait = 10 * time.Second
	// reconnectWait bounds a page's reconnection after a restart (backoff
	// reaches 5 s between tries).
	reconnectWait = 20 * time.Second
	// screenW and screenH are a landscape tablet's viewport.
	screenW, screenH = 1280, 800
)

// newBrowser starts a fresh headless Chromium (its own profile directory)
// that is closed when the test ends, and returns its context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the web desk tests need Debian's Chromium at %s (%v); install it with: apt-get install chromium", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		// Two pages share the browser; neither may be throttled as hidden.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.WindowSize(screenW, screenH),
	}
	// Chromium itself sometimes exits while starting ("chrome failed to
	// start" with nothing but its usual D-Bus noise), on a loaded machine
	// and once (2026-12-03) twice within a second on a quiet one; that is
	// the browser, not the desk: start it again, waiting a little longer
	// each time, before giving up.
	var err error
	for attempt := 1; attempt <= browserStarts; attempt++ {
		deadline, cancelDeadline := context.WithTimeout(context.Background(), browserTimeout)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(deadline, opts...)
		ctx, cancel := chromedp.NewContext(allocCtx)
		stop := func() {
			cancel()
			cancelAlloc()
			cancelDeadline()
		}
		if err = chromedp.Do(ctx); err == nil {
			t.Cleanup(stop)
			return ctx
		}
		stop()
		t.Logf("start %s (attempt %d of %d): %v", chromiumPath, attempt, browserStarts, err)
		if attempt < browserStarts {
			time.Sleep(time.Duration(attempt) * browserRetryWait)
		}
	}
	t.Fatalf("start %s: %v", chromiumPath, err)
	return nil
}

// browserStarts is how many times newBrowser tries to start Chromium;
// before attempt n+1 it waits n × browserRetryWait.
const (
	browserStarts    = 4
	browserRetryWait = 500 * time.Millisecond
)

// page is one desk open in its own tab.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// openDesk opens url in a new tab of browser and waits until the desk is
// connected. The test fails if the page throws or logs a script or
// security error (a blocked module or WebSocket, for example).
func openDesk(t *testing.T, browser context.Context, name, url string) *page {
	t.Helper()
	p := newPage(t, browser, name)
	p.run(chromedp.EmulateViewport(screenW, screenH), chromedp.Navigate(url))
	p.waitConnected()
	return p
}

// newPage opens an empty tab that is closed when the test ends, and watches
// its console.
func newPage(t *testing.T, browser context.Context, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	p := &page{t: t, name: name, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("page %s: open a tab: %v", name, err)
	}
	console := chromedp.Console(ctx)
	var bad []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException ||
				(m.Type == chromedp.ConsoleError && m.Source != "network") {
				bad = append(bad, fmt.Sprintf("%s %s: %s (%s:%d)", m.Type, m.Source, m.Text, m.URL, m.Line+1))
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, b := range bad {
			t.Errorf("page %s console: %s", name, b)
		}
	})
	return p
}

// run runs actions on the page in turn, failing the test on an error. An
// action whose node the page replaced between the query and the action is
// run again, on the new node (see staleNode), up to staleTries times.
func (p *page) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	for _, a := range actions {
		for try := 1; ; try++ {
			err := chromedp.Do(p.ctx, a)
			if err == nil {
				break
			}
			if !staleNode(err) || try == staleTries {
				p.t.Fatalf("page %s: %v", p.name, err)
			}
		}
	}
}

// staleTries bounds the runs of one action whose node keeps being replaced.
const staleTries = 5

// staleNode reports whether err is Chromium's answer for a node that is no
// longer in the document: the desk rebuilds a list (strips, cues, looks)
// on every state message, so a node queried a moment before can be gone
// when a click or a tap asks for its position. chromedp's input actions
// look the node up (scroll into view, content quads, focus) before they
// send any input, so such an action did nothing and may run again.
func staleNode(err error) bool {
	var ce *cdproto.Error
	return errors.As(err, &ce) && ce.Code == cdpServerError && strings.Contains(ce.Message, "Could not find node with given id")
}

// cdpServerError is the DevTools protocol's code for a failed command.
const cdpServerError = -32000

// eval evaluates a JavaScript expression (awaiting a promise) on page p.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("page %s: evaluate %s: %v", p.name, expr, err)
	}
	return v
}

// poll polls expr until it is truthy or d has passed.
func (p *page) poll(expr string, d time.Duration) error {
	_, err := chromedp.Run(p.ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(d)))
	return err
}

// waitFor polls expr until it is truthy, failing after d with the page's
// status line and toast.
func (p *page) waitFor(what, expr string, d time.Duration) {
	p.t.Helper()
	if err := p.poll(expr, d); err != nil {
		status, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](
			`document.getElementById("conn").textContent + " | toast: " + document.getElementById("toast").textContent`))
		p.t.Fatalf("page %s: %s not within %v: %v (page says: %s)", p.name, what, d, err, status)
	}
}

func (p *page) waitConnected() {
	p.t.Helper()
	p.waitFor("connected", `document.getElementById("conn").dataset.state === "open"`, reconnectWait)
}

// faderJS is the expression of channel ch's fader on the shown page.
func faderJS(ch int) string {
	return fmt.Sprintf(`document.querySelector('.strip[data-ch="%d"] .fader')`, ch)
}

// waitLevel waits until channel ch's fader and numeric field show level.
func (p *page) waitLevel(ch, level int) {
	p.t.Helper()
	err := p.poll(fmt.Sprintf(
		`(() => { const s = document.querySelector('.strip[data-ch="%d"]');
		  return s && s.querySelector(".fader").getAttribute("aria-valuenow") === "%d" &&
		    s.querySelector(".val").value === "%d"; })()`, ch, level, level), uiWait)
	if err != nil {
		p.t.Fatalf("page %s: channel %d shows %d, want %d (waited %v)", p.name, ch, p.level(ch), level, uiWait)
	}
}

// level reads channel ch's fader.
func (p *page) level(ch int) int {
	p.t.Helper()
	return eval[int](p, fmt.Sprintf(`Number(%s.getAttribute("aria-valuenow"))`, faderJS(ch)))
}

// typeLevel types level into channel ch's numeric field and commits it
// with Enter, as a user on a keyboard would.
func (p *page) typeLevel(ch, level int) {
	p.t.Helper()
	sel := chromedp.CSS(fmt.Sprintf(`.strip[data-ch="%d"] .val`, ch))
	p.run(chromedp.Click(sel), chromedp.SendKeys(sel, fmt.Sprintf("%d\r", level)))
}

// faderGeometry is where a fader sits in the viewport.
type faderGeometry struct {
	X, Top, Bottom, Thumb float64
}

// yFor is the clientY that puts the thumb's centre at level.
func (g faderGeometry) yFor(level int) float64 {
	travel := g.Bottom - g.Top - g.Thumb
	return g.Bottom - g.Thumb/2 - travel*float64(level)/255
}

func (p *page) geometry(ch int) faderGeometry {
	p.t.Helper()
	return eval[faderGeometry](p, fmt.Sprintf(`(() => { const f = %s; f.scrollIntoView({block: "center"});
	  const r = f.getBoundingClientRect(), t = f.querySelector(".thumb").getBoundingClientRect();
	  return {X: r.left + r.width / 2, Top: r.top, Bottom: r.bottom, Thumb: t.height}; })()`, faderJS(ch)))
}

// mouse dispatches a real mouse event through the browser's input pipeline.
func mouse(typ input.DispatchMouseEventType, x, y float64) chromedp.Action[chromedp.Void] {
	return chromedp.MouseEvent(typ, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1),
		func(ev *input.DispatchMouseEventParams) {
			if typ != chromedp.MouseReleased {
				ev.Buttons = 1 // the left button is held
			}
		})
}

// countSends makes the page count what it sends on its WebSocket.
func (p *page) countSends() {
	p.t.Helper()
	eval[bool](p, `(() => { window.sent = [];
	  const send = WebSocket.prototype.send;
	  WebSocket.prototype.send = function (d) { window.sent.push(d); return send.call(this, d); };
	  return true; })()`)
}

// TestDeskDragDrivesTheLightAndOtherDesks drags a fader with the mouse on
// page A: the decoded serial frame carries the level A shows, page B's
// fader follows, and a burst of pointer moves within one animation frame
// is sent as one message.
func TestDeskDragDrivesTheLightAndOtherDesks(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	browser := newBrowser(t)
	a := openDesk(t, browser, "A", p.URL("/"))
	b := openDesk(t, browser, "B", p.URL("/"))
	b.waitFor("two desks counted", `document.getElementById("desks").textContent === "2 desks"`, uiWait)
	b.waitFor("output up", `document.querySelector('#outputs [data-universe="1"]')?.dataset.state === "up"`, uiWait)

	const ch = 3
	g := a.geometry(ch)
	a.countSends()
	a.run(mouse(chromedp.MousePressed, g.X, g.yFor(0)))
	// Twenty pointer moves in one task land in one animation frame.
	sentInFrame := eval[int](a, fmt.Sprintf(`new Promise((resolve) => {
	  const f = %s, before = window.sent.length;
	  for (let i = 1; i <= 20; i++) {
	    f.dispatchEvent(new PointerEvent("pointermove", {bubbles: true, pointerId: 1, pointerType: "mouse",
	      buttons: 1, clientX: %f, clientY: %f - i * 2}));
	  }
	  requestAnimationFrame(() => setTimeout(() => resolve(window.sent.length - before)));
	})`, faderJS(ch), g.X, g.yFor(0)))
	if sentInFrame != 1 {
		t.Errorf("20 pointer moves within one animation frame sent %d messages, want 1", sentInFrame)
	}
	const target = 180
	for i := 1; i <= 10; i++ {
		a.run(mouse(chromedp.MouseMoved, g.X, g.yFor(target*i/10)))
	}
	a.run(mouse(chromedp.MouseReleased, g.X, g.yFor(target)))

	got := a.level(ch)
	if got < target-3 || got > target+3 {
		t.Fatalf("page A shows channel %d at %d after dragging to %d", ch, got, target)
	}
	a.waitLevel(ch, got)
	sent := eval[[]string](a, `window.sent`)
	if len(sent) < 2 || !strings.Contains(sent[len(sent)-1], fmt.Sprintf(`"%d":%d`, ch, got)) {
		t.Errorf("page A sent %q; want several moves ending with channel %d at %d", sent, ch, got)
	}
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return int(f.Values[ch-1]) == got }); err != nil {
		t.Fatalf("serial frame never carried channel %d at %d: %v", ch, got, err)
	}
	b.waitLevel(ch, got)
	if others := b.level(ch - 1); others != 0 {
		t.Errorf("page B shows channel %d at %d, want 0", ch-1, others)
	}
}

// TestDeskBlackoutReachesOtherDesksAndTheLight switches blackout on page A:
// page B shows it, the serial frames go dark while the levels are kept,
// and switching it off on page B brings the levels back.
func TestDeskBlackoutReachesOtherDesksAndTheLight(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	browser := newBrowser(t)
	a := openDesk(t, browser, "A", p.URL("/"))
	b := openDesk(t, browser, "B", p.URL("/"))

	a.typeLevel(1, 200)
	b.waitLevel(1, 200)
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 200 }); err != nil {
		t.Fatalf("typed level never reached the frame: %v", err)
	}

	a.run(chromedp.Click(chromedp.CSS("#blackout")))
	b.waitFor("blackout shown", `document.getElementById("blackout").getAttribute("aria-pressed") === "true"`, uiWait)
	a.waitFor("blackout shown", `document.getElementById("blackout").getAttribute("aria-pressed") === "true"`, uiWait)
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values == [512]byte{} }); err != nil {
		t.Fatalf("no dark frame after blackout: %v", err)
	}
	pty.Drain()
	if f, err := pty.WaitFrame(5*time.Second, func(testkit.Frame) bool { return true }); err != nil || f.Values[0] != 0 {
		t.Fatalf("frame after blackout: slot 1 = %d, %v; want 0", f.Values[0], err)
	}
	b.waitLevel(1, 200) // blackout keeps the levels

	b.run(chromedp.Click(chromedp.CSS("#blackout")))
	a.waitFor("blackout off", `document.getElementById("blackout").getAttribute("aria-pressed") === "false"`, uiWait)
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 200 }); err != nil {
		t.Fatalf("levels did not come back after blackout off: %v", err)
	}
}

// TestDeskReconnectsAfterRestart restarts dmxd with --state on the same
// address: both pages notice, reconnect on their own and show the levels
// the new process restored from the state file.
func TestDeskReconnectsAfterRestart(t *testing.T) {
	pty := newPTY(t)
	state := filepath.Join(t.TempDir(), "state.json")
	first := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path, "--state", state)
	browser := newBrowser(t)
	a := openDesk(t, browser, "A", first.URL("/"))
	b := openDesk(t, browser, "B", first.URL("/"))

	a.typeLevel(5, 77)
	for _, ch := range []int{6, 7} {
		a.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(`.strip[data-ch="%d"] .ch`, ch))))
	}
	a.waitFor("two selected", `document.getElementById("sel-count").textContent === "2 selected"`, uiWait)
	a.run(chromedp.SetValue(chromedp.CSS("#set-level"), "123"),
		chromedp.Click(chromedp.CSS(`#set-selected button[type="submit"]`)))
	for ch, v := range map[int]int{5: 77, 6: 123, 7: 123} {
		b.waitLevel(ch, v)
	}
	set := func(f testkit.Frame) bool { return f.Values[4] == 77 && f.Values[5] == 123 && f.Values[6] == 123 }
	if _, err := pty.WaitFrame(5*time.Second, set); err != nil {
		t.Fatalf("levels never reached the frame: %v", err)
	}

	if code, err := first.Stop(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop dmxd: exit %d, %v", code, err)
	}
	for _, pg := range []*page{a, b} {
		pg.waitFor("disconnect noticed", `document.getElementById("conn").dataset.state !== "open"`, uiWait)
	}
	startDMXD(t, "--output", "1=enttec-pro:"+pty.Path, "--state", state, "--listen", first.Addr)
	for _, pg := range []*page{a, b} {
		pg.waitConnected()
		for ch, v := range map[int]int{5: 77, 6: 123, 7: 123} {
			pg.waitLevel(ch, v)
		}
	}
	if _, err := pty.WaitFrame(5*time.Second, set); err != nil {
		t.Fatalf("restored levels never reached the frame: %v", err)
	}
}

// TestDeskScreenshot renders the desk at a tablet's size with a few levels
// set and writes artifacts/desk.png (docs/desk.png is a copy of one).
func TestDeskScreenshot(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--universes", "2", "--output", "1=enttec-pro:"+pty.Path)
	other := dial(t, p)
	levels := []int{255, 255, 200, 160, 128, 96, 64, 32, 0, 0, 180, 180, 180, 0, 90, 45}
	if err := other.Send(map[string]any{"dmx": levels, "start": 1}); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	a := openDesk(t, browser, "A", p.URL("/"))
	for ch, v := range levels {
		a.waitLevel(ch+1, v)
	}
	for _, ch := range []int{11, 12, 13} {
		a.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(`.strip[data-ch="%d"] .ch`, ch))))
	}
	a.waitFor("two desks counted", `document.getElementById("desks").textContent === "2 desks"`, uiWait)
	a.waitFor("universe switcher", `document.getElementById("universe").options.length === 2`, uiWait)
	shot, err := chromedp.Run(a.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(shot))
	if err != nil || cfg.Width != screenW || cfg.Height != screenH {
		t.Fatalf("screenshot: %dx%d, %v; want a %dx%d PNG", cfg.Width, cfg.Height, err, screenW, screenH)
	}
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("artifacts", "desk.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDeskTokenAndErrors runs dmxd with --token and a tight --conn-rate: a
// page without the token is told why it cannot connect, a page with
// ?token= connects (and reads /healthz), and a refused command shows up as
// a message to the user.
func TestDeskTokenAndErrors(t *testing.T) {
	p := startDMXD(t, "--token", "s3cret", "--conn-rate", "1")
	browser := newBrowser(t)

	r := newPage(t, browser, "without token")
	r.run(chromedp.Navigate(p.URL("/")))
	r.waitFor("refusal explained", `!document.getElementById("toast").hidden &&
	  document.getElementById("toast").textContent.includes("token") &&
	  document.getElementById("conn").dataset.state !== "open"`, uiWait)

	a := openDesk(t, browser, "with token", p.URL("/?token=s3cret"))
	a.waitFor("desk count from /healthz", `document.getElementById("desks").textContent === "1 desk"`, uiWait)
	// --conn-rate 1 allows a burst of 2 commands: the third click is refused.
	for range 4 {
		a.run(chromedp.Click(chromedp.CSS("#blackout")))
	}
	a.waitFor("rate_limited shown", `!document.getElementById("toast").hidden &&
	  document.getElementById("toast").textContent.includes("rate_limited")`, uiWait)
}

// TestDeskPagesUniversesAndFades jumps to a channel on another page,
// switches universes and moves a channel with a fade time set: the page
// sends a fade, the serial frame reaches the target and the fader follows.
func TestDeskPagesUniversesAndFades(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--universes", "2", "--output", "1=enttec-pro:"+pty.Path)
	other := dial(t, p)
	if err := other.Send(`{"dmx": {"100": 42}, "universe": 2}`); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	a := openDesk(t, browser, "A", p.URL("/"))

	a.run(chromedp.SetValue(chromedp.CSS("#jump-ch"), "100"), chromedp.Click(chromedp.CSS(`#jump button[type="submit"]`)))
	a.waitFor("page 97–128 with channel 100 focused", `document.getElementById("page").selectedOptions[0].textContent === "97–128" &&
	  document.activeElement === document.querySelector('.strip[data-ch="100"] .fader')`, uiWait)
	a.waitLevel(100, 0)
	a.run(chromedp.SetValue(chromedp.CSS("#universe"), "2"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("universe").dispatchEvent(new Event("change"))`))
	a.waitLevel(100, 42)
	a.run(chromedp.SetValue(chromedp.CSS("#universe"), "1"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("universe").dispatchEvent(new Event("change"))`))
	a.waitLevel(100, 0)

	a.countSends()
	a.run(chromedp.SetValue(chromedp.CSS("#fade"), "0.5"))
	a.typeLevel(100, 250)
	sent := eval[[]string](a, `window.sent`)
	if len(sent) != 1 || !strings.Contains(sent[0], `"fade":{"100":250}`) || !strings.Contains(sent[0], `"ms":500`) {
		t.Fatalf("page sent %q, want one fade of channel 100 to 250 over 500 ms", sent)
	}
	var mid bool
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool {
		mid = mid || (f.Values[99] > 0 && f.Values[99] < 250)
		return f.Values[99] == 250
	}); err != nil {
		t.Fatalf("fade never reached 250 on the serial frame: %v", err)
	}
	if !mid {
		t.Error("no frame between 0 and 250: the level jumped instead of fading")
	}
	a.waitLevel(100, 250)
}

// TestStaleNode: only Chromium's "no such node" answer, however wrapped,
// makes an action run again.
func TestStaleNode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&cdproto.Error{Code: cdpServerError, Message: "Could not find node with given id"}, true},
		{fmt.Errorf("click: %w", &cdproto.Error{Code: cdpServerError, Message: "Could not find node with given id"}), true},
		{&cdproto.Error{Code: cdpServerError, Message: "Node is detached from document"}, false},
		{&cdproto.Error{Code: -32602, Message: "Could not find node with given id"}, false},
		{errors.New("Could not find node with given id (-32000)"), false},
		{context.DeadlineExceeded, false},
	} {
		if got := staleNode(tc.err); got != tc.want {
			t.Errorf("staleNode(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/dmxd/dmxd/test/testkit"
)

// The desk's show control (looks, cue list, masters, flash, names, monitor),
// driven in headless Chromium against the built dmxd with a pty as the
// serial device.

// minGo is the least width and height of GO and BACK, in CSS pixels.
const minGo = 64

// showControls are the controls of the Show panel the layout checks reach.
const showControls = "#show button, #show input, #show select"

// openShow opens the Show panel (a tap on a phone, a click elsewhere).
func (p *page) openShow(touch bool) {
	p.t.Helper()
	p.waitFor("Show offered", `!document.getElementById("show-toggle").hidden`, uiWait)
	if touch {
		p.run(chromedp.Tap(chromedp.CSS("#show-toggle")))
	} else {
		p.run(chromedp.Click(chromedp.CSS("#show-toggle")))
	}
	p.waitFor("Show panel open", `document.body.classList.contains("show-open") &&
	  document.getElementById("show").getClientRects().length > 0`, uiWait)
}

// press clicks (or taps) the element sel.
func (p *page) press(sel string, touch bool) {
	p.t.Helper()
	if touch {
		p.run(chromedp.Tap(chromedp.CSS(sel)))
	} else {
		p.run(chromedp.Click(chromedp.CSS(sel)))
	}
}

// lookRow is the selector of look name's row in the Show panel.
func lookRow(name string) string {
	return fmt.Sprintf(`#looks .look[data-name=%q]`, name)
}

// looksShown lists the looks the page shows, "name:size" each.
func looksShownJS(want string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#looks .look")].map((l) =>
	  l.dataset.name + ":" + l.querySelector(".look-size").textContent).join() === %q`, want)
}

// waitFrame waits until the pty decodes a frame ok accepts.
func waitFrame(t *testing.T, pty *testkit.PTY, what string, ok func(testkit.Frame) bool) {
	t.Helper()
	if _, err := pty.WaitFrame(5*time.Second, ok); err != nil {
		t.Fatalf("the pty never carried %s: %v", what, err)
	}
}

// setRange moves a range input to v as a drag ending there does (input
// events while moving, change at the end).
func (p *page) setRange(id string, v int) {
	p.t.Helper()
	eval[bool](p, fmt.Sprintf(`(() => { const r = document.getElementById(%q);
	  r.value = "%d"; r.dispatchEvent(new Event("input", {bubbles: true}));
	  r.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`, id, v))
}

// TestDeskShowLooks saves the levels as a look on page A (all channels,
// then the selected ones): page B lists both live. Recalled on page B, the
// look's levels reach the pty and page A; a rename on B and a delete on A
// show on the other page.
func TestDeskShowLooks(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	other := dial(t, p)
	if err := other.Send(`{"dmx": [200, 100, 50], "start": 1}`); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	a := openDesk(t, browser, "A", p.URL("/"))
	b := openDesk(t, browser, "B", p.URL("/"))
	a.waitLevel(3, 50)
	a.openShow(false)
	b.openShow(false)
	b.waitFor("no looks yet", `document.querySelector("#looks .empty") !== null`, uiWait)

	a.run(chromedp.SetValue(chromedp.CSS("#look-name"), "Warm"))
	a.press(`#look-save button[type="submit"]`, false)
	b.waitFor("Warm listed on B", looksShownJS("Warm:all"), uiWait)
	a.press(`.strip[data-ch="2"] .ch`, false)
	a.waitFor("one selected", `document.getElementById("sel-count").textContent === "1 selected"`, uiWait)
	a.run(chromedp.SetValue(chromedp.CSS("#look-name"), "Two"))
	a.press("#look-save-sel", false)
	b.waitFor("Two (1 channel) listed on B", looksShownJS("Warm:all,Two:1 ch"), uiWait)

	if err := other.Send(`{"dmx": [0, 0, 0], "start": 1}`); err != nil {
		t.Fatal(err)
	}
	waitFrame(t, pty, "channels 1 to 3 at 0", func(f testkit.Frame) bool { return f.Values[0]+f.Values[1]+f.Values[2] == 0 })
	a.waitLevel(1, 0)
	b.countSends()
	b.press(lookRow("Warm")+" .recall", false)
	waitFrame(t, pty, "the recalled look", func(f testkit.Frame) bool {
		return f.Values[0] == 200 && f.Values[1] == 100 && f.Values[2] == 50
	})
	for ch, v := range map[int]int{1: 200, 2: 100, 3: 50} {
		a.waitLevel(ch, v)
		b.waitLevel(ch, v)
	}
	if sent := eval[[]string](b, `window.sent`); len(sent) != 1 || sent[0] != `{"look_recall":"Warm","ms":0,"universe":1}` {
		t.Errorf("page B sent %q for a recall, want one look_recall of Warm", sent)
	}

	b.press(lookRow("Warm")+" .rename", false)
	b.waitFor("rename field", `document.querySelector('#looks .rename-form input') !== null`, uiWait)
	b.run(chromedp.SetValue(chromedp.CSS("#looks .rename-form input"), "Warm wash"))
	b.press(`#looks .rename-form button[type="submit"]`, false)
	a.waitFor("the rename shown on A", looksShownJS("Warm wash:all,Two:1 ch"), uiWait)

	a.press(lookRow("Two")+" .delete", false)
	a.waitFor("delete asks first", `document.querySelector('#looks .look[data-name="Two"] .delete').textContent === "Sure?"`, uiWait)
	if n := eval[int](b, `document.querySelectorAll("#looks .look").length`); n != 2 {
		t.Fatalf("one tap on Delete removed a look: page B lists %d", n)
	}
	a.press(lookRow("Two")+" .delete", false)
	b.waitFor("the delete shown on B", looksShownJS("Warm wash:all"), uiWait)
}

// TestDeskShowCueList builds a cue list from looks on a phone, GOes and
// goes BACK on both pages: the pty follows each cue and both pages mark the
// current and the next cue.
func TestDeskShowCueList(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	other := dial(t, p)
	for _, c := range []string{
		`{"dmx": {"1": 255, "2": 0}}`, `{"look_save": "One"}`,
		`{"dmx": {"1": 0, "2": 255}}`, `{"look_save": "Two"}`,
		`{"dmx": {"2": 0}}`,
	} {
		command(t, other, c)
	}
	browser := newBrowser(t)
	a := openDeskOn(t, browser, "phone", p.URL("/"), phonePortrait)
	b := openDesk(t, browser, "B", p.URL("/"))
	a.openShow(true)
	b.openShow(false)
	a.waitFor("looks listed", looksShownJS("One:all,Two:all"), uiWait)
	a.run(chromedp.SetValue(chromedp.CSS("#cue-fade"), "0"))
	a.press(lookRow("One")+" .cue-add", true)
	a.waitFor("cue 1 listed", `document.querySelectorAll("#cues .cue").length === 1`, uiWait)
	a.press(lookRow("Two")+" .cue-add", true)
	b.waitFor("two cues on B, before the first", `document.querySelectorAll("#cues .cue").length === 2 &&
	  document.getElementById("cue-now").dataset.current === "0" && document.getElementById("cue-now").dataset.next === "1" &&
	  document.getElementById("back").disabled`, uiWait)

	at := func(n, next int) string {
		return fmt.Sprintf(`document.getElementById("cue-now").dataset.current === "%d" &&
		  document.getElementById("cue-now").dataset.next === "%d" &&
		  document.querySelector("#cues .cue.current")?.dataset.n === "%d"`, n, next, n)
	}
	a.press("#go", true)
	waitFrame(t, pty, "cue 1 (One)", func(f testkit.Frame) bool { return f.Values[0] == 255 && f.Values[1] == 0 })
	a.waitFor("cue 1 current on the phone", at(1, 2), uiWait)
	b.waitFor("cue 1 current on B", at(1, 2), uiWait)

	a.press("#go", true)
	waitFrame(t, pty, "cue 2 (Two)", func(f testkit.Frame) bool { return f.Values[0] == 0 && f.Values[1] == 255 })
	b.waitFor("cue 2 current on B", at(2, 0)+` && document.getElementById("go").disabled`, uiWait)
	a.waitFor("cue 2 current on the phone", at(2, 0), uiWait)
	b.waitLevel(2, 255)

	b.press("#back", false)
	waitFrame(t, pty, "back at cue 1", func(f testkit.Frame) bool { return f.Values[0] == 255 && f.Values[1] == 0 })
	a.waitFor("back at cue 1 on the phone", at(1, 2), uiWait)

	b.press(`#cues .cue[data-n="2"] .cue-remove`, false)
	a.waitFor("cue 2 removed on the phone", `document.querySelectorAll("#cues .cue").length === 1 &&
	  document.querySelector("#cues .cue").textContent.includes("One")`, uiWait)
}

// TestDeskShowMastersAndMonitor sets the grand master to 50 % on page A:
// the pty frame is halved while both pages' faders keep the level, and
// page B's monitor shows what goes out beside it. The universe's master at
// 50 % on page B halves it again, and page A's slider follows.
func TestDeskShowMastersAndMonitor(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	other := dial(t, p)
	command(t, other, `{"dmx": {"1": 200, "2": 255}}`)
	browser := newBrowser(t)
	a := openDesk(t, browser, "A", p.URL("/"))
	b := openDeskOn(t, browser, "phone", p.URL("/"), phonePortrait)
	a.waitLevel(1, 200)
	a.openShow(false)
	b.openShow(true)
	b.press("#monitor", true)
	b.waitFor("monitor shows the output", `document.querySelector('.strip[data-ch="1"]').dataset.out === "200"`, uiWait)

	a.setRange("grand", 128) // 50 %
	// 200 × 128 / 255 = 100.4; 255 × 128 / 255 = 128.
	waitFrame(t, pty, "the halved frame", func(f testkit.Frame) bool { return f.Values[0] == 100 && f.Values[1] == 128 })
	a.waitLevel(1, 200)
	b.waitLevel(1, 200)
	b.waitFor("grand master shown on the phone", `document.getElementById("grand").dataset.level === "128" &&
	  document.getElementById("grand").value === "128" && document.getElementById("grand-val").value === "50 %"`, uiWait)
	b.waitFor("monitor shows the halved output", `(() => { const s = document.querySelector('.strip[data-ch="1"]');
	  return s.dataset.out === "100" && s.classList.contains("differs") && s.querySelector(".outv").textContent === "100"; })()`, uiWait)
	if out := eval[string](a, `document.querySelector('.strip[data-ch="1"]').dataset.out ?? "none"`); out != "none" {
		t.Errorf("page A shows an output (%s) without the monitor on", out)
	}

	b.setRange("master", 128)
	// 200 × 128 × 128 / 255² = 50.4.
	waitFrame(t, pty, "the frame under both masters", func(f testkit.Frame) bool { return f.Values[0] == 50 })
	a.waitFor("master shown on A", `document.getElementById("master").dataset.level === "128" &&
	  document.getElementById("master").value === "128"`, uiWait)
	b.waitFor("monitor shows both masters", `document.querySelector('.strip[data-ch="1"]').dataset.out === "50"`, uiWait)
	a.waitLevel(1, 200)

	b.press("#monitor", true)
	b.waitFor("monitor off", `document.querySelector('.strip[data-ch="1"]').dataset.out === undefined`, uiWait)
}

// TestDeskShowFlash holds flash buttons: with the mouse on page A (in flash
// mode, a channel number) and with a finger on a phone (Flash selected).
// The pty shows full while held, and the level again on pointerup, when the
// mouse leaves the button, and when the page holding it is closed.
func TestDeskShowFlash(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	other := dial(t, p)
	command(t, other, `{"dmx": {"5": 20, "6": 30}}`)
	browser := newBrowser(t)
	a := openDesk(t, browser, "A", p.URL("/"))
	a.openShow(false)
	a.press("#flash-mode", false)
	a.waitFor("flash mode", `document.body.classList.contains("flash-mode")`, uiWait)

	at := func(pg *page, sel string) (float64, float64) {
		xy := eval[[]float64](pg, fmt.Sprintf(`(() => { const b = document.querySelector(%q);
		  b.scrollIntoView({block: "nearest"}); const r = b.getBoundingClientRect();
		  return [r.left + r.width / 2, r.top + r.height / 2]; })()`, sel))
		return xy[0], xy[1]
	}
	released := func(what string) {
		t.Helper()
		waitFrame(t, pty, "channel 5 back at 20 "+what, func(f testkit.Frame) bool { return f.Values[4] == 20 && f.Values[5] == 30 })
	}
	x, y := at(a, `.strip[data-ch="5"] .ch`)
	a.run(mouse(chromedp.MousePressed, x, y))
	waitFrame(t, pty, "channel 5 flashed", func(f testkit.Frame) bool { return f.Values[4] == 255 && f.Values[5] == 30 })
	a.waitFor("strip marked", `document.querySelector('.strip[data-ch="5"]').classList.contains("flashing")`, uiWait)
	a.run(mouse(chromedp.MouseReleased, x, y))
	released("after pointerup")
	if n := eval[string](a, `document.getElementById("sel-count").textContent`); n != "0 selected" {
		t.Errorf("a flash in flash mode selected the channel: %s", n)
	}

	a.run(mouse(chromedp.MousePressed, x, y))
	waitFrame(t, pty, "channel 5 flashed again", func(f testkit.Frame) bool { return f.Values[4] == 255 })
	a.run(mouse(chromedp.MouseMoved, x, y+300)) // off the button, still held
	released("after the mouse left the button")
	a.run(mouse(chromedp.MouseReleased, x, y+300))

	ph := openDeskOn(t, browser, "phone", p.URL("/"), phonePortrait)
	ph.press(`.strip[data-ch="6"] .ch`, true)
	ph.waitFor("one selected", `document.getElementById("sel-count").textContent === "1 selected"`, uiWait)
	ph.openShow(true)
	fx, fy := at(ph, "#flash-sel")
	ph.touch(fx, fy, true)
	waitFrame(t, pty, "channel 6 flashed by a finger", func(f testkit.Frame) bool { return f.Values[5] == 255 && f.Values[4] == 20 })
	ph.touch(fx, fy, false)
	released("after the finger lifted")

	ph.touch(fx, fy, true)
	waitFrame(t, pty, "channel 6 flashed before the page closes", func(f testkit.Frame) bool { return f.Values[5] == 255 })
	if _, err := chromedp.Call(ph.ctx, cdppage.Close, cdp.Empty{}); err != nil {
		t.Fatalf("close the phone's page: %v", err)
	}
	released("after the page holding it closed")

	a.run(mouse(chromedp.MousePressed, x, y))
	waitFrame(t, pty, "channel 5 flashed before the page closes", func(f testkit.Frame) bool { return f.Values[4] == 255 })
	if _, err := chromedp.Call(a.ctx, cdppage.Close, cdp.Empty{}); err != nil {
		t.Fatalf("close page A: %v", err)
	}
	released("after the page holding the mouse closed")
	if st := getState(t, other, 1); st.Values[4] != 20 || st.Values[5] != 30 {
		t.Errorf("levels after the flashes: channel 5 %d, 6 %d; want 20 and 30 (a flash never changes levels)", st.Values[4], st.Values[5])
	}
}

// touch puts a finger down at (x, y), or lifts it.
func (p *page) touch(x, y float64, down bool) {
	p.t.Helper()
	one, id := 1.0, 0.0
	typ, pts := input.DispatchTouchEventTypeTouchEnd, []*input.TouchPoint{}
	if down {
		typ = input.DispatchTouchEventTypeTouchStart
		pts = []*input.TouchPoint{{X: x, Y: y, RadiusX: &one, RadiusY: &one, Force: &one, ID: &id}}
	}
	if _, err := chromedp.Call(p.ctx, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: pts}); err != nil {
		p.t.Fatalf("page %s: touch %s: %v", p.name, typ, err)
	}
}

// TestDeskShowNames names a channel (by a long press on its number) and the
// universe on page A: page B shows both live, on the fader and in the
// universe switcher.
func TestDeskShowNames(t *testing.T) {
	p := startDMXD(t, "--universes", "2")
	browser := newBrowser(t)
	a := openDeskOn(t, browser, "phone", p.URL("/"), phonePortrait)
	b := openDesk(t, browser, "B", p.URL("/"))

	g := eval[[]float64](a, `(() => { const r = document.querySelector('.strip[data-ch="3"] .ch').getBoundingClientRect();
	  return [r.left + r.width / 2, r.top + r.height / 2]; })()`)
	a.touch(g[0], g[1], true)
	a.waitFor("a long press opens the name field", `document.body.classList.contains("show-open") &&
	  document.getElementById("label-ch").value === "3" && document.activeElement === document.getElementById("label-text")`, uiWait)
	a.touch(g[0], g[1], false)
	if n := eval[string](a, `document.getElementById("sel-count").textContent`); n != "0 selected" {
		t.Errorf("a long press also selected the channel: %s", n)
	}
	// The lift of the finger must not click the panel that opened under it
	// (it once moved the grand master slider there).
	if gm := eval[string](a, `document.getElementById("grand").value`); gm != "255" {
		t.Errorf("the long press's lift moved the grand master to %s", gm)
	}
	a.run(chromedp.SetValue(chromedp.CSS("#label-text"), "Front wash"))
	a.press(`#label-form button[type="submit"]`, true)
	b.waitFor("the name on B's fader", `document.querySelector('.strip[data-ch="3"] .ch .name').textContent === "Front wash" &&
	  document.querySelector('.strip[data-ch="3"] .ch').getAttribute("aria-label") === "Channel 3, Front wash"`, uiWait)

	a.run(chromedp.SetValue(chromedp.CSS("#label-ch"), "5 thru 6"), chromedp.SetValue(chromedp.CSS("#label-text"), "Back"))
	a.press(`#label-form button[type="submit"]`, true)
	b.waitFor("a range named on B", `["5", "6"].every((c) => document.querySelector('.strip[data-ch="' + c + '"] .name').textContent === "Back")`, uiWait)

	a.run(chromedp.SetValue(chromedp.CSS("#uname"), "Stage left"))
	// A name arriving from another desk between typing and submitting must
	// not undo the typing (it once reset the field, and "" was sent).
	other, _, err := testkit.Dial(p.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Send(`{"label": {"7": "Spare"}}`); err != nil {
		t.Fatal(err)
	}
	a.waitFor("another desk's name on A", `document.querySelector('.strip[data-ch="7"] .name').textContent === "Spare"`, uiWait)
	if v := eval[string](a, `document.getElementById("uname").value`); v != "Stage left" {
		t.Errorf("the universe name typed on A reads %q after another desk's change, want \"Stage left\"", v)
	}
	a.press(`#uname-form button[type="submit"]`, true)
	b.waitFor("the universe name on B", `document.getElementById("universe").options[0].textContent === "1: Stage left" &&
	  document.getElementById("universe").options[1].textContent === "Universe 2"`, uiWait)
	b.openShow(false)
	b.waitFor("the panel's title", `document.getElementById("show-title").textContent === "Universe 1: Stage left"`, uiWait)
	a.waitFor("the name on A's own fader", `document.querySelector('.strip[data-ch="3"] .name').textContent === "Front wash"`, uiWait)
}

// TestDeskShowOnlyWithFeatures opens the desk against a server whose hello
// lists no features (as a version 1 server's): no Show button, the plain
// desk works.
func TestDeskShowOnlyWithFeatures(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	browser := newBrowser(t)
	a := newPage(t, browser, "v1")
	// The page reads every message with JSON.parse: drop hello's features.
	if _, err := chromedp.Call(a.ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
		Source: `{ const parse = JSON.parse; JSON.parse = function (t, r) { const v = parse(t, r);
		  if (v && v.type === "hello") delete v.features; return v; }; }`,
	}); err != nil {
		t.Fatal(err)
	}
	a.run(chromedp.EmulateViewport(screenW, screenH), chromedp.Navigate(p.URL("/")))
	a.waitConnected()
	a.typeLevel(1, 42)
	waitFrame(t, pty, "a plain level", func(f testkit.Frame) bool { return f.Values[0] == 42 })
	if shown := eval[bool](a, `!document.getElementById("show-toggle").hidden ||
	  document.getElementById("show").getClientRects().length > 0`); shown {
		t.Error("a server without features gets the Show panel")
	}

	full := openDesk(t, browser, "full", p.URL("/"))
	full.waitFor("Show offered with features", `!document.getElementById("show-toggle").hidden`, uiWait)
}

// TestDeskShowFitsPhones opens the Show panel with looks, cues and names
// at phone sizes and beside the faders at desktop sizes and measures it as
// TestDeskFitsPhonesAndTablets measures the desk; with flash mode and the
// monitor on and names on the faders, the faders still pass. It writes
// artifacts/desk-show.png and artifacts/desk-show-phone.png (docs/ holds
// copies).
func TestDeskShowFitsPhones(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--universes", "2", "--output", "1=enttec-pro:"+pty.Path)
	other := dial(t, p)
	levels := []int{255, 255, 200, 160, 128, 96, 64, 32, 0, 0, 180, 180, 180, 0, 90, 45}
	for _, c := range []string{
		`{"dmx": [255, 255, 200, 160, 128, 96, 64, 32, 0, 0, 180, 180, 180, 0, 90, 45], "start": 1}`,
		`{"look_save": "Warm wash"}`, `{"look_save": "Front", "channels": [1, 2, 3]}`,
		`{"look_save": "Blue specials for the second act"}`,
		`{"cue_list": [{"look": "Warm wash", "ms": 3000}, {"look": "Front", "ms": 0}, {"look": "Blue specials for the second act", "ms": 1500}]}`,
		`{"go": true}`,
		`{"label": {"1": "Front L", "2": "Front R", "3": "Back wash", "4": "Cyc", "11": "Specials"}}`,
		`{"universe_name": "Stage"}`, `{"master": 230}`,
	} {
		command(t, other, c)
	}
	browser := newBrowser(t)
	for _, vp := range []viewport{phonePortrait, phoneLandscape, tabletPortrait, tabletWide} {
		t.Run(vp.name, func(t *testing.T) {
			a := openDeskOn(t, browser, vp.name, p.URL("/"), vp)
			for ch, v := range levels {
				a.waitLevel(ch+1, v)
			}
			a.waitFor("names on the faders", `document.querySelector('.strip[data-ch="1"] .name').textContent === "Front L"`, uiWait)
			a.openShow(vp.phone)
			a.waitFor("looks and cues listed", `document.querySelectorAll("#looks .look").length === 3 &&
			  document.querySelector("#cues .cue.current")?.dataset.n === "1"`, uiWait)
			a.press("#monitor", vp.phone)
			a.waitFor("monitor on", `document.querySelector('.strip[data-ch="1"]').dataset.out === "230"`, uiWait)
			a.press("#flash-mode", vp.phone)
			checkLayout(t, "show panel", vp, a.measure(showControls), !vp.phone)
			// GO and BACK are the buttons hit in the dark: bigger than any other.
			for _, id := range []string{"go", "back"} {
				wh := eval[[]float64](a, fmt.Sprintf(`(() => { const r = document.getElementById(%q).getBoundingClientRect();
				  return [r.width, r.height]; })()`, id))
				t.Logf("#%s at %dx%d: %.0fx%.0f px", id, vp.w, vp.h, wh[0], wh[1])
				if wh[0] < minGo || wh[1] < minGo {
					t.Errorf("#%s is %.0fx%.0f px, want at least %dx%d", id, wh[0], wh[1], minGo, minGo)
				}
			}
			a.waitFor("panel at its top", `(document.getElementById("show").scrollTop = 0) === 0`, uiWait)
			a.waitFor("first row shown", `(document.getElementById("strips").scrollTop = 0) === 0`, uiWait)
			switch vp {
			case phonePortrait:
				a.screenshot("desk-show-phone.png")
				eval[bool](a, `(document.getElementById("looks-sec").scrollIntoView({block: "start"}), true)`)
				a.screenshot("desk-show-phone-looks.png")
				a.waitFor("panel at its top", `(document.getElementById("show").scrollTop = 0) === 0`, uiWait)
			case tabletWide:
				a.screenshot("desk-show.png")
			}
			if vp.phone {
				a.press("#show-toggle", true)
				a.waitFor("panel closed", `document.getElementById("show").getClientRects().length === 0`, uiWait)
				checkLayout(t, "desk in flash mode with the monitor", vp, a.measure(".bar button, .bar select"), true)
				a.press("#menu", true)
				a.waitFor("menu open", `document.getElementById("controls").getClientRects().length > 0`, uiWait)
				a.press("#show-toggle", true)
				a.waitFor("Show replaces Menu", `document.getElementById("controls").getClientRects().length === 0 &&
				  document.getElementById("show").getClientRects().length > 0`, uiWait)
			}
		})
	}
}

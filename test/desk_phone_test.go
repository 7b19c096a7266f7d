package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/dmxd/dmxd/test/testkit"
)

// The desk on phones: what the issue asks of it, measured in the page.
const (
	// minTravel is the least fader travel (track length) in CSS pixels on
	// a phone.
	minTravel = 150
	// minTabletTravel is the least on a tablet, where two rows of strips
	// (32 channels) share the screen under two rows of controls.
	minTabletTravel = 110
	// minFaders is the least number of faders wholly on screen.
	minFaders = 8
	// minTarget is the least width and height of a touch target.
	minTarget = 44
)

// viewport is a screen the desk is opened on.
type viewport struct {
	name string
	w, h int64
	// phone turns on mobile and touch emulation (the page's meta viewport
	// applies, taps are touches).
	phone bool
	// shot names the screenshot written to artifacts/, "" for none.
	shot string
}

var (
	phonePortrait  = viewport{name: "phone-portrait", w: 390, h: 844, phone: true, shot: "desk-phone.png"}
	phoneLandscape = viewport{name: "phone-landscape", w: 844, h: 390, phone: true, shot: "desk-phone-landscape.png"}
	tabletPortrait = viewport{name: "tablet-portrait", w: 768, h: 1024}
	tabletWide     = viewport{name: "tablet-landscape", w: screenW, h: screenH}
)

// openDeskOn opens url in a new tab emulating vp and waits until the desk
// is connected.
func openDeskOn(t *testing.T, browser context.Context, name, url string, vp viewport) *page {
	t.Helper()
	p := newPage(t, browser, name)
	var opts []chromedp.EmulateViewportOption
	if vp.phone {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		if vp.w > vp.h {
			opts = append(opts, chromedp.EmulateLandscape)
		} else {
			opts = append(opts, chromedp.EmulatePortrait)
		}
	}
	p.run(chromedp.EmulateViewport(vp.w, vp.h, opts...), chromedp.Navigate(url))
	p.waitConnected()
	return p
}

// layout is what measureJS finds on a page.
type layout struct {
	ScrollWidth, InnerWidth, InnerHeight float64
	// Faders is how many faders lie wholly inside the viewport, uncovered.
	Faders int
	// Travel is the shortest track among those faders, in CSS pixels.
	Travel float64
	// Small lists the visible buttons, fields and faders under
	// minTarget×minTarget.
	Small []string
	// Sideways lists the elements that scroll sideways.
	Sideways []string
	// Unreachable lists the controls of the measured part that are off
	// screen or covered after being scrolled into view.
	Unreachable []string
}

// measureJS measures the page; %s is the selector of the controls whose
// reach is checked.
const measureJS = `(() => {
  const vw = innerWidth, vh = innerHeight, min = %d;
  const name = (el) => el.id ? "#" + el.id :
    (el.getAttribute("aria-label") || el.textContent.trim() || el.tagName.toLowerCase()).slice(0, 40);
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const inside = (r) => r.left >= 0 && r.top >= 0 && r.right <= vw + 0.5 && r.bottom <= vh + 0.5;
  const hits = (el, x, y) => { const at = document.elementFromPoint(x, y); return at !== null && (at === el || el.contains(at)); };
  const strips = document.getElementById("strips");
  strips.scrollTop = 0;
  const full = [...document.querySelectorAll(".fader")].filter((f) => {
    const r = f.getBoundingClientRect(), x = r.left + r.width / 2;
    return inside(r) && hits(f, x, r.top + 2) && hits(f, x, r.bottom - 2);
  });
  const travel = full.length ? Math.min(...full.map((f) => f.querySelector(".track").getBoundingClientRect().height)) : 0;
  const small = [...document.querySelectorAll("button, input, select, .fader")].filter(shown).flatMap((el) => {
    const r = el.getBoundingClientRect();
    return r.width < min || r.height < min ? [name(el) + " " + Math.round(r.width) + "x" + Math.round(r.height)] : [];
  });
  const unreachable = [...document.querySelectorAll("%s")].filter(shown).flatMap((el) => {
    el.scrollIntoView({block: "nearest", inline: "nearest"});
    const r = el.getBoundingClientRect();
    return inside(r) && hits(el, r.left + r.width / 2, r.top + r.height / 2) ? [] : [name(el)];
  });
  const sideways = [...document.querySelectorAll("body *")].filter((el) =>
    ["auto", "scroll"].includes(getComputedStyle(el).overflowX) && el.scrollWidth > el.clientWidth).map(name);
  strips.scrollTop = 0;
  return {Sideways: sideways, ScrollWidth: document.documentElement.scrollWidth, InnerWidth: vw, InnerHeight: vh,
    Faders: full.length, Travel: travel, Small: small, Unreachable: unreachable};
})()`

func (p *page) measure(controls string) layout {
	p.t.Helper()
	return eval[layout](p, fmt.Sprintf(measureJS, minTarget, controls))
}

// checkLayout fails the test with every requirement l misses.
func checkLayout(t *testing.T, what string, vp viewport, l layout, faders bool) {
	travel := float64(minTravel)
	if !vp.phone {
		travel = minTabletTravel
	}
	t.Helper()
	t.Logf("%s at %dx%d: page %v px wide in %vx%v", what, vp.w, vp.h, l.ScrollWidth, l.InnerWidth, l.InnerHeight)
	if faders {
		t.Logf("%s at %dx%d: %d faders wholly on screen, travel %.0f px", what, vp.w, vp.h, l.Faders, l.Travel)
	}
	if l.InnerWidth != float64(vp.w) || l.InnerHeight != float64(vp.h) {
		t.Errorf("%s: viewport %vx%v, want %dx%d", what, l.InnerWidth, l.InnerHeight, vp.w, vp.h)
	}
	if l.ScrollWidth > l.InnerWidth {
		t.Errorf("%s: page is %v px wide in a %v px viewport: it scrolls sideways", what, l.ScrollWidth, l.InnerWidth)
	}
	if len(l.Sideways) > 0 {
		t.Errorf("%s: parts of the page scroll sideways: %s", what, strings.Join(l.Sideways, ", "))
	}
	if faders && l.Faders < minFaders {
		t.Errorf("%s: %d faders wholly on screen, want at least %d", what, l.Faders, minFaders)
	}
	if faders && l.Travel < travel {
		t.Errorf("%s: fader travel %.0f px, want at least %.0f", what, l.Travel, travel)
	}
	if len(l.Small) > 0 {
		t.Errorf("%s: touch targets under %dx%d px: %s", what, minTarget, minTarget, strings.Join(l.Small, ", "))
	}
	if len(l.Unreachable) > 0 {
		t.Errorf("%s: controls off screen or covered: %s", what, strings.Join(l.Unreachable, ", "))
	}
}

// screenshot writes the page's viewport to artifacts/name.
func (p *page) screenshot(name string) {
	p.t.Helper()
	shot, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("page %s: screenshot: %v", p.name, err)
	}
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("artifacts", name), shot, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// TestDeskFitsPhonesAndTablets opens the desk at phone sizes (portrait and
// landscape, with mobile and touch emulation) and tablet sizes and measures
// it: no sideways scrolling, enough faders and fader travel, touch targets
// of at least 44×44 px, and every control of the bar and of the Menu panel
// reachable and uncovered. It writes artifacts/desk-phone.png and
// artifacts/desk-phone-landscape.png (docs/ holds copies).
func TestDeskFitsPhonesAndTablets(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--universes", "2", "--output", "1=enttec-pro:"+pty.Path)
	other := dial(t, p)
	levels := []int{255, 255, 200, 160, 128, 96, 64, 32, 0, 0, 180, 180, 180, 0, 90, 45}
	if err := other.Send(map[string]any{"dmx": levels, "start": 1}); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	for _, vp := range []viewport{phonePortrait, phoneLandscape, tabletPortrait, tabletWide} {
		t.Run(vp.name, func(t *testing.T) {
			a := openDeskOn(t, browser, vp.name, p.URL("/"), vp)
			for ch, v := range levels {
				a.waitLevel(ch+1, v)
			}
			a.waitFor("universe switcher", `document.getElementById("universe").options.length === 2`, uiWait)
			a.waitFor("output shown", `document.querySelector('#outputs [data-universe="1"]') !== null`, uiWait)
			if !vp.phone {
				checkLayout(t, "desk", vp, a.measure(".bar button, .bar select, #controls button, #controls input, #controls select"), true)
				return
			}
			checkLayout(t, "desk with the menu closed", vp, a.measure(".bar button, .bar select"), true)
			if vis := eval[bool](a, `document.getElementById("controls").getClientRects().length > 0`); vis {
				t.Errorf("the controls panel shows before Menu is tapped")
			}
			a.run(chromedp.Tap(chromedp.CSS("#menu")))
			a.waitFor("menu open", `document.getElementById("menu").getAttribute("aria-expanded") === "true"`, uiWait)
			checkLayout(t, "desk with the menu open", vp, a.measure("#controls button, #controls input, #controls select"), false)
			a.waitFor("panel at its top", `(document.getElementById("controls").scrollTop = 0) === 0`, uiWait)
			a.screenshot(strings.TrimSuffix(vp.shot, ".png") + "-menu.png")
			a.run(chromedp.Tap(chromedp.CSS("#menu")))
			a.waitFor("menu closed", `document.getElementById("controls").getClientRects().length === 0`, uiWait)

			for _, ch := range []int{3, 4, 5} {
				a.run(chromedp.Tap(chromedp.CSS(fmt.Sprintf(`.strip[data-ch="%d"] .ch`, ch))))
			}
			a.waitFor("three selected", `document.getElementById("sel-count").textContent === "3 selected"`, uiWait)
			a.waitFor("first row shown", `(document.getElementById("strips").scrollTop = 0) === 0`, uiWait)
			a.screenshot(vp.shot)
		})
	}
}

// touchDrag drags a finger from (x, y0) to (x, y1) in steps, through the
// browser's touch input pipeline.
func (p *page) touchDrag(x, y0, y1 float64, steps int) {
	p.t.Helper()
	one := 1.0
	id := 0.0
	point := func(y float64) []*input.TouchPoint {
		return []*input.TouchPoint{{X: x, Y: y, RadiusX: &one, RadiusY: &one, Force: &one, ID: &id}}
	}
	send := func(typ input.DispatchTouchEventType, pts []*input.TouchPoint) {
		if _, err := chromedp.Call(p.ctx, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: pts}); err != nil {
			p.t.Fatalf("page %s: touch %s: %v", p.name, typ, err)
		}
	}
	send(input.DispatchTouchEventTypeTouchStart, point(y0))
	for i := 1; i <= steps; i++ {
		send(input.DispatchTouchEventTypeTouchMove, point(y0+(y1-y0)*float64(i)/float64(steps)))
	}
	send(input.DispatchTouchEventTypeTouchEnd, []*input.TouchPoint{})
}

// TestDeskPhoneTouchDragAndClamping drags a fader with a finger on a phone
// in portrait: the level reaches the pty. Then it types out-of-range values
// into a channel's field: the field shows them clamped before Enter, and
// the clamped level is what is sent and reaches the pty.
func TestDeskPhoneTouchDragAndClamping(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	browser := newBrowser(t)
	a := openDeskOn(t, browser, "phone", p.URL("/"), phonePortrait)

	g := a.geometry(2)
	a.touchDrag(g.X, g.yFor(0), g.yFor(255)-20, 10)
	a.waitLevel(2, 255)
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[1] == 255 }); err != nil {
		t.Fatalf("a touch drag to the top never put channel 2 at 255 on the pty: %v", err)
	}

	a.countSends()
	for _, tc := range []struct {
		typed string
		want  int
	}{
		{"300", 255},
		{"-5", 0},
		{"99999", 255},
		{"77", 77},
	} {
		sel := chromedp.CSS(`.strip[data-ch="1"] .val`)
		// Focusing the field selects its text, so typing replaces it.
		eval[bool](a, `(document.activeElement.blur(), true)`)
		a.run(chromedp.Click(sel), chromedp.SendKeys(sel, tc.typed))
		if shown := eval[string](a, `document.querySelector('.strip[data-ch="1"] .val').value`); shown != fmt.Sprint(tc.want) {
			t.Errorf("typed %q: the field shows %q before Enter, want %d", tc.typed, shown, tc.want)
		}
		before := eval[int](a, `window.sent.length`)
		a.run(chromedp.SendKeys(sel, "\r"))
		a.waitLevel(1, tc.want)
		sent := eval[[]string](a, `window.sent`)[before:]
		if len(sent) != 1 || !strings.Contains(sent[0], fmt.Sprintf(`"1":%d`, tc.want)) {
			t.Errorf("typed %q: the page sent %q, want channel 1 at %d", tc.typed, sent, tc.want)
		}
		if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return int(f.Values[0]) == tc.want }); err != nil {
			t.Fatalf("typed %q: channel 1 never reached %d on the pty: %v", tc.typed, tc.want, err)
		}
	}
}

// TestDeskSelectsRanges selects channels on a phone through the Menu panel
// in each written form of a range and sets them to a level, which reaches
// the pty; a bad range is explained. At desktop size a shift-click extends
// the selection from the last channel clicked.
func TestDeskSelectsRanges(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	browser := newBrowser(t)
	a := openDeskOn(t, browser, "phone", p.URL("/"), phonePortrait)
	a.run(chromedp.Tap(chromedp.CSS("#menu")))

	selectRange := func(text string) {
		t.Helper()
		a.run(chromedp.SetValue(chromedp.CSS("#range"), text),
			chromedp.Tap(chromedp.CSS(`#select-range button[type="submit"]`)))
	}
	for _, tc := range []struct {
		text        string
		first, last int
	}{
		{"1 thru 24", 1, 24},
		{"3-26", 3, 26},
		{"10>33", 10, 33},
		{"40 THROUGH 17", 17, 40},
	} {
		selectRange(tc.text)
		a.waitFor(tc.text+" selects 24", `document.getElementById("sel-count").textContent === "24 selected"`, uiWait)
		got := eval[[]int](a, `[...document.querySelectorAll(".strip.selected")].map((s) => Number(s.dataset.ch))`)
		var want []int
		for ch := tc.first; ch <= min(tc.last, 32); ch++ {
			want = append(want, ch)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: strips %v are marked selected, want %v", tc.text, got, want)
		}
	}

	selectRange("1 thru 24")
	a.waitFor("24 selected", `document.getElementById("sel-count").textContent === "24 selected"`, uiWait)
	a.run(chromedp.SetValue(chromedp.CSS("#set-level"), "200"),
		chromedp.Tap(chromedp.CSS(`#set-selected button[type="submit"]`)))
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool {
		for ch := range 24 {
			if f.Values[ch] != 200 {
				return false
			}
		}
		return f.Values[24] == 0
	}); err != nil {
		t.Fatalf("Set selected never put channels 1 to 24 (and only those) at 200 on the pty: %v", err)
	}

	selectRange("5 thru 600")
	a.waitFor("a bad range explained", `!document.getElementById("toast").hidden &&
	  document.getElementById("toast").textContent.includes("1 to 512")`, uiWait)
	if n := eval[string](a, `document.getElementById("sel-count").textContent`); n != "24 selected" {
		t.Errorf("a bad range changed the selection to %s", n)
	}

	d := openDesk(t, browser, "desktop", p.URL("/"))
	at := func(ch int) (float64, float64) {
		xy := eval[[]float64](d, fmt.Sprintf(`(() => { const b = document.querySelector('.strip[data-ch="%d"] .ch');
		  b.scrollIntoView({block: "center"}); const r = b.getBoundingClientRect();
		  return [r.left + r.width / 2, r.top + r.height / 2]; })()`, ch))
		return xy[0], xy[1]
	}
	x, y := at(3)
	d.run(chromedp.MouseClickXY(x, y))
	x, y = at(10)
	d.run(chromedp.MouseClickXY(x, y, chromedp.ButtonModifiers(chromedp.ModifierShift)))
	d.waitFor("3 to 10 selected", `document.getElementById("sel-count").textContent === "8 selected" &&
	  [...document.querySelectorAll(".strip.selected")].map((s) => s.dataset.ch).join() === "3,4,5,6,7,8,9,10"`, uiWait)
	x, y = at(6)
	d.run(chromedp.MouseClickXY(x, y, chromedp.ButtonModifiers(chromedp.ModifierShift)))
	d.waitFor("shift-click inside the selection keeps it", `document.getElementById("sel-count").textContent === "8 selected"`, uiWait)
}

// TestDeskPercentDisplay switches the desk to percent: fields show
// percent, a typed percent is sent as its level, and the choice outlives a
// reload (localStorage); switching back shows 0–255 again.
func TestDeskPercentDisplay(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path)
	other := dial(t, p)
	if err := other.Send(`{"dmx": {"1": 128, "2": 255}}`); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	a := openDesk(t, browser, "A", p.URL("/"))
	a.waitLevel(1, 128)
	val := func(ch int) string {
		return eval[string](a, fmt.Sprintf(`document.querySelector('.strip[data-ch="%d"] .val').value`, ch))
	}

	a.run(chromedp.Click(chromedp.CSS("#units")))
	a.waitFor("percent shown", `document.getElementById("units").getAttribute("aria-pressed") === "true" &&
	  document.querySelector('.strip[data-ch="1"] .val').value === "50"`, uiWait)
	if v2, lvl := val(2), eval[string](a, `document.getElementById("set-level").value`); v2 != "100" || lvl != "100" {
		t.Errorf("in percent, channel 2 (255) shows %q and the level field %q; want 100 and 100", v2, lvl)
	}
	a.countSends()
	sel := chromedp.CSS(`.strip[data-ch="3"] .val`)
	a.run(chromedp.Click(sel), chromedp.SendKeys(sel, "150"))
	if v := val(3); v != "100" {
		t.Errorf("typed 150 %%: the field shows %q, want 100", v)
	}
	a.run(chromedp.SendKeys(sel, "\b\b\b40\r"))
	// 40 % of 255 is 102.
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[2] == 102 }); err != nil {
		t.Fatalf("typed 40 %% never put channel 3 at 102 on the pty: %v", err)
	}
	if sent := eval[[]string](a, `window.sent`); len(sent) != 1 || !strings.Contains(sent[0], `"3":102`) {
		t.Errorf("the page sent %q, want channel 3 at 102", sent)
	}
	a.waitFor("level field labelled", `document.getElementById("level-label").textContent === "Level (%)"`, uiWait)

	a.run(chromedp.Reload())
	a.waitConnected()
	a.waitFor("percent remembered", `document.getElementById("units").getAttribute("aria-pressed") === "true" &&
	  document.querySelector('.strip[data-ch="1"] .val').value === "50" &&
	  document.querySelector('.strip[data-ch="3"] .val').value === "40"`, uiWait)

	a.run(chromedp.Click(chromedp.CSS("#units")))
	a.waitLevel(1, 128)
	a.waitLevel(3, 102)
	if lvl := eval[string](a, `document.getElementById("set-level").value`); lvl != "255" {
		t.Errorf("back in 0–255 the level field shows %q, want 255", lvl)
	}
}

// TestDeskBlackoutAll switches blackout on in every universe from one
// page: the other page and the HTTP API show every universe blacked out,
// both ptys go dark, and switching it off brings the levels back.
func TestDeskBlackoutAll(t *testing.T) {
	pty1, pty2 := newPTY(t), newPTY(t)
	p := startDMXD(t, "--universes", "3", "--output", "1=enttec-pro:"+pty1.Path, "--output", "2=enttec-pro:"+pty2.Path)
	other := dial(t, p)
	for u := 1; u <= 2; u++ {
		if err := other.Send(map[string]any{"dmx": map[string]int{"1": 99}, "universe": u}); err != nil {
			t.Fatal(err)
		}
	}
	browser := newBrowser(t)
	a := openDeskOn(t, browser, "phone", p.URL("/"), phoneLandscape)
	b := openDesk(t, browser, "B", p.URL("/"))
	b.waitFor("three universes", `document.getElementById("universe").options.length === 3`, uiWait)

	a.countSends()
	a.run(chromedp.Tap(chromedp.CSS("#menu")), chromedp.Tap(chromedp.CSS("#blackout-all")))
	b.waitFor("all blacked out", `document.getElementById("blackout-all").getAttribute("aria-pressed") === "true" &&
	  document.getElementById("blackout").getAttribute("aria-pressed") === "true"`, uiWait)
	// waitBlackout polls universe u's state until its blackout is on.
	waitBlackout := func(u int, on bool) {
		t.Helper()
		deadline := time.Now().Add(uiWait)
		for getState(t, other, u).Blackout != on {
			if time.Now().After(deadline) {
				t.Fatalf("universe %d: blackout is not %v after Blackout all (waited %v)", u, on, uiWait)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for u := 1; u <= 3; u++ {
		waitBlackout(u, true)
	}
	// One blackout_all, not one blackout per universe: the universes switch
	// together.
	if sent := eval[[]string](a, `window.sent`); len(sent) != 1 || sent[0] != `{"blackout_all":true}` {
		t.Errorf("Blackout all sent %q, want one {\"blackout_all\":true}", sent)
	}
	for i, pt := range []*testkit.PTY{pty1, pty2} {
		if _, err := pt.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values == [512]byte{} }); err != nil {
			t.Fatalf("universe %d: no dark frame after Blackout all: %v", i+1, err)
		}
	}

	a.run(chromedp.Tap(chromedp.CSS("#blackout-all")))
	b.waitFor("blackout off everywhere", `document.getElementById("blackout-all").getAttribute("aria-pressed") === "false" &&
	  document.getElementById("blackout").getAttribute("aria-pressed") === "false"`, uiWait)
	for i, pt := range []*testkit.PTY{pty1, pty2} {
		if _, err := pt.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[0] == 99 }); err != nil {
			t.Fatalf("universe %d: levels did not come back: %v", i+1, err)
		}
	}
	for u := 1; u <= 3; u++ {
		waitBlackout(u, false)
	}
}

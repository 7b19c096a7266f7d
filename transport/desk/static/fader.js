// fader.js: one channel strip — a select button with the channel number, a
// vertical fader (role="slider", pointer and keyboard driven) and a numeric
// field. The strip reports what the user does; it never talks to the server.

import { MAX, clampField } from "./units.js";

/** How long a press of the channel number must last to name the channel. */
const LONG_PRESS_MS = 700;

const KEY_STEPS = {
  ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1,
  PageUp: 16, PageDown: -16,
};

/**
 * Strip is the view of one channel.
 * handlers: onMove(level) while dragging, onEnd(level) when a drag ends,
 * onSet(level) for a key press or a typed value, onSelect(extend) for the
 * label (extend: shift was held). units (units.js) says how the numeric
 * field shows and reads levels; it may change (call show again).
 */
export class Strip {
  constructor(ch, handlers, units) {
    this.ch = ch;
    this.h = handlers;
    this.units = units;
    this.level = 0;
    this.dragging = false;

    const el = (this.el = document.createElement("div"));
    el.className = "strip";
    el.dataset.ch = String(ch);
    el.setAttribute("role", "group");
    el.setAttribute("aria-labelledby", `ch-${ch}`);

    const label = (this.label = document.createElement("button"));
    label.type = "button";
    label.className = "ch";
    label.id = `ch-${ch}`;
    label.dataset.holdId = `ch-${ch}`;
    label.innerHTML = '<span class="num"></span><span class="name"></span>';
    label.querySelector(".num").textContent = String(ch);
    label.title = `Select channel ${ch}`;
    label.setAttribute("aria-pressed", "false");
    label.setAttribute("aria-label", `Channel ${ch}`);
    label.addEventListener("click", (e) => {
      if (this.longPressed) {
        this.longPressed = false;
        return;
      }
      this.h.onSelect(e.shiftKey);
    });
    this.longPressed = false;
    this.pressTimer = 0;
    if (this.h.onLongPress) {
      label.addEventListener("pointerdown", (e) => {
        if (e.pointerType === "mouse" && e.button !== 0) return;
        if (this.h.canLongPress && !this.h.canLongPress()) return;
        clearTimeout(this.pressTimer);
        this.longPressed = false;
        this.pressTimer = setTimeout(() => {
          this.longPressed = true;
          this.h.onLongPress();
        }, LONG_PRESS_MS);
      });
      for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
        label.addEventListener(type, () => clearTimeout(this.pressTimer));
      }
      // On a phone the long press opens the Show panel over the faders:
      // the finger's lift must not then click whatever is under it (the
      // browser aims the click of a tap at the element under the finger
      // when it lifts). Cancelling the touchend cancels that click.
      label.addEventListener("touchend", (e) => {
        if (this.longPressed) e.preventDefault();
      }, { passive: false });
      label.addEventListener("contextmenu", (e) => {
        if (!this.h.canLongPress || this.h.canLongPress()) e.preventDefault();
      });
    }

    const fader = (this.fader = document.createElement("div"));
    fader.className = "fader";
    fader.tabIndex = 0;
    fader.setAttribute("role", "slider");
    fader.setAttribute("aria-label", `Channel ${ch} level`);
    fader.setAttribute("aria-orientation", "vertical");
    fader.setAttribute("aria-valuemin", "0");
    fader.setAttribute("aria-valuemax", String(MAX));
    fader.innerHTML = '<div class="track"><div class="fill"></div></div><div class="out" hidden></div>' +
      '<div class="thumb"></div><span class="outv" hidden></span>';
    fader.addEventListener("pointerdown", (e) => this.down(e));
    fader.addEventListener("pointermove", (e) => this.drag(e));
    fader.addEventListener("pointerup", (e) => this.up(e));
    fader.addEventListener("pointercancel", (e) => this.up(e));
    fader.addEventListener("lostpointercapture", (e) => this.up(e));
    fader.addEventListener("keydown", (e) => this.key(e));

    const num = (this.num = document.createElement("input"));
    num.type = "number";
    num.className = "val";
    num.min = "0";
    num.inputMode = "numeric";
    num.setAttribute("aria-label", `Channel ${ch} value`);
    clampField(num);
    num.addEventListener("change", () => {
      const v = this.units.level(num.valueAsNumber);
      if (v === null) {
        this.show(this.level);
        return;
      }
      num.value = this.units.text(v);
      this.h.onSet(v);
    });
    num.addEventListener("focus", () => num.select());

    el.append(label, fader, num);
    this.show(0);
  }

  /** show displays level (not while the user types into the field). */
  show(level) {
    this.level = level;
    this.fader.style.setProperty("--v", String(level / MAX));
    this.fader.setAttribute("aria-valuenow", String(level));
    this.fader.setAttribute("aria-valuetext", `${level} (${Math.round((level * 100) / MAX)} %)`);
    if (this.el.dataset.out !== undefined) this.el.classList.toggle("differs", Number(this.el.dataset.out) !== level);
    this.num.max = String(this.units.max);
    if (document.activeElement !== this.num) this.num.value = this.units.text(level);
  }

  /** name shows the channel's name ("" for none) on its number button. */
  name(text) {
    this.label.querySelector(".name").textContent = text;
    this.label.setAttribute("aria-label", text ? `Channel ${this.ch}, ${text}` : `Channel ${this.ch}`);
    this.label.title = text ? `${this.ch} ${text}` : `Select channel ${this.ch}`;
    this.el.classList.toggle("named", text !== "");
  }

  /**
   * output shows what goes out on the channel (after merge, flash, masters
   * and blackout) beside the fader's own level; null hides it.
   */
  output(level) {
    const bar = this.fader.querySelector(".out");
    const text = this.fader.querySelector(".outv");
    if (level === null) {
      bar.hidden = text.hidden = true;
      delete this.el.dataset.out;
      return;
    }
    bar.hidden = text.hidden = false;
    bar.style.setProperty("--o", String(level / MAX));
    text.textContent = this.units.text(level);
    text.title = `Output ${level}`;
    this.el.dataset.out = String(level);
    this.el.classList.toggle("differs", level !== this.level);
  }

  /** selected marks the strip as selected or not. */
  selected(on) {
    this.el.classList.toggle("selected", on);
    this.label.setAttribute("aria-pressed", String(on));
  }

  /** levelAt maps a pointer's clientY to a level along the fader. */
  levelAt(clientY) {
    const r = this.fader.getBoundingClientRect();
    const thumb = this.fader.querySelector(".thumb").getBoundingClientRect().height;
    const travel = r.height - thumb;
    if (travel <= 0) return this.level;
    const pos = (r.bottom - thumb / 2 - clientY) / travel;
    return Math.round(Math.min(1, Math.max(0, pos)) * MAX);
  }

  down(e) {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    if (this.h.canMove && !this.h.canMove()) return;
    e.preventDefault();
    this.fader.focus({ preventScroll: true });
    this.fader.setPointerCapture(e.pointerId);
    this.dragging = true;
    this.fader.classList.add("active");
    this.moveTo(this.levelAt(e.clientY));
  }

  drag(e) {
    if (!this.dragging) return;
    // Coalesced events carry every position; only the latest one matters.
    this.moveTo(this.levelAt(e.clientY));
  }

  up(e) {
    if (!this.dragging) return;
    this.dragging = false;
    this.fader.classList.remove("active");
    if (this.fader.hasPointerCapture(e.pointerId)) this.fader.releasePointerCapture(e.pointerId);
    this.h.onEnd(this.level);
  }

  moveTo(level) {
    if (level === this.level) return;
    this.show(level);
    this.h.onMove(level);
  }

  key(e) {
    let v;
    if (e.key in KEY_STEPS) v = this.level + KEY_STEPS[e.key];
    else if (e.key === "Home") v = 0;
    else if (e.key === "End") v = MAX;
    else return;
    e.preventDefault();
    v = Math.min(MAX, Math.max(0, v));
    if (v !== this.level) this.h.onSet(v);
  }
}

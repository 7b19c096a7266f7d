// hold.js: buttons that act while they are held, as a flash (bump) button
// on a lighting desk does. A press starts, and every way a press can end
// ends it: the pointer lifted (pointerup), taken by the browser for a
// gesture (pointercancel), moved off the button (pointerleave), its capture
// lost, the window losing focus or the tab being hidden.

/**
 * Holds tracks the presses of every hold button of a page. onChange() is
 * called whenever a press starts or ends; active() lists the values of the
 * presses held now.
 */
export class Holds {
  constructor(onChange) {
    this.onChange = onChange;
    this.held = new Map(); // press key -> value
    const all = () => this.releaseAll();
    addEventListener("blur", all);
    addEventListener("pagehide", all);
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) all();
    });
  }

  /** active returns the values of the presses held now. */
  active() {
    return [...this.held.values()];
  }

  start(key, value) {
    this.held.set(key, value);
    this.onChange();
  }

  end(key) {
    if (this.held.delete(key)) this.onChange();
  }

  releaseAll() {
    if (this.held.size === 0) return;
    this.held.clear();
    this.onChange();
  }

  /**
   * attach makes el a hold button: while enabled() says so, a press of el
   * holds the value value() returns at the press (null: nothing to hold).
   * Mouse, touch, pen and the keyboard (Space or Enter) all press it.
   */
  attach(el, { enabled = () => true, value }) {
    let keyDown = false;
    const id = (e) => `${el.id || el.dataset.holdId}:${e.pointerId}`;
    el.addEventListener("pointerdown", (e) => {
      if (!enabled()) return;
      if (e.pointerType === "mouse" && e.button !== 0) return;
      const v = value();
      if (v === null) return;
      e.preventDefault(); // no focus steal, text selection or emulated mouse events
      this.start(id(e), v);
    });
    for (const type of ["pointerup", "pointercancel", "pointerleave", "lostpointercapture"]) {
      el.addEventListener(type, (e) => this.end(id(e)));
    }
    // A long touch would open the context menu (and cancel the pointer).
    el.addEventListener("contextmenu", (e) => {
      if (enabled()) e.preventDefault();
    });
    el.addEventListener("keydown", (e) => {
      if ((e.key !== " " && e.key !== "Enter") || !enabled()) return;
      e.preventDefault();
      if (keyDown || e.repeat) return;
      const v = value();
      if (v === null) return;
      keyDown = true;
      this.start(`${el.id || el.dataset.holdId}:key`, v);
    });
    const keyUp = () => {
      if (!keyDown) return;
      keyDown = false;
      this.end(`${el.id || el.dataset.holdId}:key`);
    };
    el.addEventListener("keyup", (e) => {
      if (e.key === " " || e.key === "Enter") keyUp();
    });
    el.addEventListener("blur", keyUp);
  }
}

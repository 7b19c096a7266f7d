// show.js: the desk's show control — looks, the cue list with GO and BACK,
// masters, flash, channel and universe names and the output monitor
// (docs/protocol.md, Show control). It keeps what the server reported of
// each universe's show and draws the Show panel; the strips ask it for
// names and output levels. Only the features hello lists are offered.

import { parseChannels } from "./channels.js";

const CHANNELS = 512;
/** The show features this desk knows, as hello's features names them. */
export const FEATURES = ["looks", "cues", "masters", "flash", "labels", "monitor"];
/** How long a Delete button waits for its confirming second tap. */
const CONFIRM_MS = 3000;
/** How long a moved master slider outranks the server's level (its echo is on the way). */
const MOVED_MS = 800;

const $ = (id) => document.getElementById(id);

/** seconds reads a number field in seconds as milliseconds (0..600000). */
function millis(input) {
  const s = input.valueAsNumber;
  return Number.isFinite(s) && s > 0 ? Math.min(600000, Math.round(s * 1000)) : 0;
}

function button(text, cls, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  return b;
}

function seconds(ms) {
  return ms > 0 ? `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s` : "cut";
}

/**
 * Show is the show state of every universe and the Show panel.
 * desk: {send(msg) → bool (false when offline, after telling the user),
 * u() the shown universe, selected() the sorted selected channels,
 * units() the display units, fadeMs() the desk's fade time, toast(text,
 * kind), onNames(u), onOutput(u, channels|null) (null: all of them),
 * onFlashMode()}.
 */
export class Show {
  constructor(desk) {
    this.desk = desk;
    this.features = new Set();
    this.looks = new Map(); // u -> [{name, channels}]
    this.cues = new Map(); // u -> {cues, current, next}
    this.masters = new Map(); // u -> master level
    this.grand = 255;
    this.names = new Map(); // u -> {name, channels: {ch: text}}
    this.out = new Map(); // u -> Uint8Array of output levels (while monitoring)
    this.monitoring = false;
    this.monitored = 0; // the universe the server sends us the output of
    this.flashMode = false;
    this.moved = new Map(); // slider -> until when it shows what the user set, not the server
    this.renaming = ""; // the look whose row shows the rename field
    this.confirm = { name: "", timer: 0 };
    this.ui = {
      toggle: $("show-toggle"), panel: $("show"), title: $("show-title"),
      secs: Object.fromEntries(FEATURES.map((f) => [f, $(`${f}-sec`)])),
      go: $("go"), back: $("back"), cueNow: $("cue-now"), cueList: $("cues"), cueFade: $("cue-fade"),
      flashSel: $("flash-sel"), flashMode: $("flash-mode"),
      master: $("master"), masterVal: $("master-val"), masterName: $("master-name"),
      grand: $("grand"), grandVal: $("grand-val"),
      monitor: $("monitor"),
      saveForm: $("look-save"), lookName: $("look-name"), saveSel: $("look-save-sel"), lookList: $("looks"),
      unameForm: $("uname-form"), uname: $("uname"), labelForm: $("label-form"), labelCh: $("label-ch"),
      labelText: $("label-text"),
    };
    this.wire();
  }

  has(feature) {
    return this.features.has(feature);
  }

  // ---- what the strips ask ------------------------------------------------

  /** label is channel ch's name in universe u, "" for none. */
  label(u, ch) {
    const n = this.names.get(u);
    return (n && n.channels[String(ch)]) || "";
  }

  /** universeName is universe u's name, "" for none. */
  universeName(u) {
    const n = this.names.get(u);
    return n ? n.name : "";
  }

  /** output is what goes out on channel ch of u, or null when not monitored. */
  output(u, ch) {
    if (!this.monitoring || this.monitored !== u) return null;
    const a = this.out.get(u);
    return a ? a[ch - 1] : null;
  }

  // ---- server messages ------------------------------------------------------

  /**
   * hello starts a fresh view of the show: after it the server sends only
   * what differs from an empty show, so anything not sent again is empty.
   */
  hello(m) {
    this.features = new Set(Array.isArray(m.features) ? m.features.filter((f) => FEATURES.includes(f)) : []);
    this.looks.clear();
    this.cues.clear();
    this.masters.clear();
    this.grand = 255;
    this.names.clear();
    this.out.clear();
    this.monitored = 0;
    if (!this.has("monitor")) this.monitoring = false;
    if (!this.has("flash")) this.flashMode = false;
    this.ui.toggle.hidden = this.features.size === 0;
    if (this.features.size === 0) this.open(false);
    for (const f of FEATURES) this.ui.secs[f].hidden = !this.has(f);
    this.follow();
    this.render();
    this.desk.onNames(0);
    this.desk.onOutput(0, null);
    this.desk.onFlashMode();
  }

  /** message takes a show message; it returns false for other types. */
  message(m) {
    const u = m.universe;
    switch (m.type) {
      case "looks":
        this.looks.set(u, Array.isArray(m.looks) ? m.looks : []);
        if (u === this.desk.u()) this.renderLooks();
        return true;
      case "cues":
        this.cues.set(u, { cues: Array.isArray(m.cues) ? m.cues : [], current: m.current | 0, next: m.next | 0 });
        if (u === this.desk.u()) this.renderCues();
        return true;
      case "masters":
        if (Number.isInteger(m.master)) this.masters.set(u, m.master);
        if (Number.isInteger(m.grand_master)) this.grand = m.grand_master;
        this.renderMasters();
        return true;
      case "labels":
        this.names.set(u, { name: typeof m.name === "string" ? m.name : "", channels: m.channels || {} });
        this.renderTitle();
        this.desk.onNames(u);
        return true;
      case "monitor": {
        let a = this.out.get(u);
        if (!a) this.out.set(u, (a = new Uint8Array(CHANNELS)));
        if (Array.isArray(m.values)) {
          a.set(m.values.slice(0, CHANNELS));
          this.desk.onOutput(u, null);
        } else if (m.changes) {
          const chs = [];
          for (const [c, v] of Object.entries(m.changes)) {
            a[Number(c) - 1] = v;
            chs.push(Number(c));
          }
          this.desk.onOutput(u, chs);
        }
        return true;
      }
    }
    return false;
  }

  /** universeShown redraws the panel for a newly shown universe. */
  universeShown() {
    this.renaming = "";
    this.follow();
    this.render();
  }

  // ---- the monitor ------------------------------------------------------------

  /**
   * follow makes the server send the output of the shown universe while
   * the monitor is on, and of none while it is off.
   */
  follow() {
    const want = this.monitoring && this.has("monitor") ? this.desk.u() : 0;
    if (want === this.monitored) return;
    if (this.monitored !== 0) this.desk.send({ monitor: false, universe: this.monitored }, true);
    this.out.delete(this.monitored);
    this.monitored = 0;
    if (want !== 0 && this.desk.send({ monitor: true, universe: want })) this.monitored = want;
    this.desk.onOutput(0, null);
  }

  // ---- drawing ------------------------------------------------------------------

  render() {
    this.renderTitle();
    this.renderLooks();
    this.renderCues();
    this.renderMasters();
    this.ui.monitor.setAttribute("aria-pressed", String(this.monitoring));
    this.ui.flashMode.setAttribute("aria-pressed", String(this.flashMode));
  }

  renderTitle() {
    const u = this.desk.u();
    const name = this.universeName(u);
    this.ui.title.textContent = name ? `Universe ${u}: ${name}` : `Universe ${u}`;
    // The field follows the name unless someone is editing it: it has the
    // focus, or holds text typed since it last showed the name (a message
    // arriving between typing and submitting must not undo the typing). A
    // switch of universe always shows the new universe's name.
    const field = this.ui.uname;
    if (this.unameU !== u || (document.activeElement !== field && field.value === this.unameShown)) {
      field.value = name;
      this.unameShown = name;
      this.unameU = u;
    }
    this.ui.masterName.textContent = `Master U${u}`;
  }

  renderLooks() {
    const u = this.desk.u();
    const looks = this.looks.get(u) || [];
    if (this.renaming && !looks.some((l) => l.name === this.renaming)) this.renaming = "";
    const rows = looks.map((l) => {
      const li = document.createElement("li");
      li.className = "look";
      li.dataset.name = l.name;
      if (l.name === this.renaming) {
        const form = document.createElement("form");
        form.className = "rename-form";
        const input = document.createElement("input");
        input.type = "text";
        input.maxLength = 64;
        input.value = l.name;
        input.setAttribute("aria-label", `New name of ${l.name}`);
        const ok = button("OK", "ok", `Rename ${l.name}`);
        ok.type = "submit";
        const cancel = button("✕", "cancel", "Cancel renaming");
        cancel.addEventListener("click", () => {
          this.renaming = "";
          this.renderLooks();
        });
        form.addEventListener("submit", (e) => {
          e.preventDefault();
          const to = input.value.trim();
          if (to === "" || to === l.name) {
            this.renaming = "";
            this.renderLooks();
            return;
          }
          if (this.desk.send({ look_rename: l.name, to, universe: u })) {
            this.renaming = "";
            this.renderLooks();
          }
        });
        form.append(input, ok, cancel);
        li.append(form);
        setTimeout(() => input.focus());
        return li;
      }
      const recall = button("", "recall", `Recall ${l.name}`);
      recall.innerHTML = '<span class="look-name"></span><span class="look-size"></span>';
      recall.querySelector(".look-name").textContent = l.name;
      recall.querySelector(".look-size").textContent = l.channels === CHANNELS ? "all" : `${l.channels} ch`;
      recall.addEventListener("click", () => {
        this.desk.send({ look_recall: l.name, ms: this.desk.fadeMs(), universe: u });
      });
      const kids = [recall];
      if (this.has("cues")) {
        const add = button("+ Cue", "cue-add", `Add ${l.name} as a cue`);
        add.addEventListener("click", () => this.addCue(l.name));
        kids.push(add);
      }
      const rename = button("✎", "rename", `Rename ${l.name}`);
      rename.addEventListener("click", () => {
        this.renaming = l.name;
        this.renderLooks();
      });
      const del = button(this.confirm.name === l.name ? "Sure?" : "✕", "delete", `Delete ${l.name}`);
      del.classList.toggle("confirming", this.confirm.name === l.name);
      del.addEventListener("click", () => this.deleteLook(l.name));
      kids.push(rename, del);
      li.append(...kids);
      return li;
    });
    if (rows.length === 0) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "No looks yet: set levels, name them above and save.";
      rows.push(li);
    }
    this.ui.lookList.replaceChildren(...rows);
  }

  renderCues() {
    const u = this.desk.u();
    const c = this.cues.get(u) || { cues: [], current: 0, next: 0 };
    const rows = c.cues.map((cue, i) => {
      const n = i + 1;
      const li = document.createElement("li");
      li.className = "cue";
      li.dataset.n = String(n);
      li.classList.toggle("current", n === c.current);
      li.classList.toggle("next", n === c.next);
      if (n === c.current) li.setAttribute("aria-current", "step");
      const text = document.createElement("span");
      text.className = "cue-text";
      text.textContent = `${n}. ${cue.look} · ${seconds(cue.ms)}`;
      const remove = button("✕", "cue-remove", `Remove cue ${n}`);
      remove.addEventListener("click", () => this.removeCue(i));
      li.append(text, remove);
      return li;
    });
    this.ui.cueList.replaceChildren(...rows);
    const look = (n) => c.cues[n - 1].look;
    let now;
    if (c.cues.length === 0) now = "No cues: add looks with + Cue.";
    else if (c.current === 0) now = `Before cue 1 · next: 1 ${look(1)}`;
    else now = `Cue ${c.current} of ${c.cues.length}: ${look(c.current)} · next: ${c.next ? `${c.next} ${look(c.next)}` : "none"}`;
    this.ui.cueNow.textContent = now;
    this.ui.cueNow.dataset.current = String(c.current);
    this.ui.cueNow.dataset.next = String(c.next);
    this.ui.go.disabled = c.next === 0;
    this.ui.back.disabled = c.current <= 1;
  }

  renderMasters() {
    const units = this.desk.units();
    const show = (input, out, level) => {
      // The server's level, unless the user is moving the slider.
      const moving = input.matches(":active") || Date.now() < (this.moved.get(input) || 0);
      if (!moving) input.value = String(level);
      const v = input.valueAsNumber;
      out.value = `${Math.round((v * 100) / 255)} %`;
      input.setAttribute("aria-valuetext", units.percent ? `${Math.round((v * 100) / 255)} %` : String(v));
    };
    const m = this.masters.has(this.desk.u()) ? this.masters.get(this.desk.u()) : 255;
    show(this.ui.master, this.ui.masterVal, m);
    show(this.ui.grand, this.ui.grandVal, this.grand);
    this.ui.master.dataset.level = String(m);
    this.ui.grand.dataset.level = String(this.grand);
  }

  // ---- commands -----------------------------------------------------------------

  addCue(look) {
    const u = this.desk.u();
    const c = this.cues.get(u) || { cues: [] };
    const list = [...c.cues, { look, ms: millis(this.ui.cueFade) }];
    this.desk.send({ cue_list: list, universe: u });
  }

  removeCue(i) {
    const u = this.desk.u();
    const c = this.cues.get(u) || { cues: [] };
    this.desk.send({ cue_list: c.cues.filter((_, j) => j !== i), universe: u });
  }

  /** deleteLook deletes a look on the second tap of its Delete button. */
  deleteLook(name) {
    clearTimeout(this.confirm.timer);
    if (this.confirm.name !== name) {
      this.confirm = {
        name,
        timer: setTimeout(() => {
          this.confirm = { name: "", timer: 0 };
          this.renderLooks();
        }, CONFIRM_MS),
      };
      this.renderLooks();
      return;
    }
    this.confirm = { name: "", timer: 0 };
    this.desk.send({ look_delete: name, universe: this.desk.u() });
    this.renderLooks();
  }

  saveLook(selectedOnly) {
    const name = this.ui.lookName.value.trim();
    if (name === "") {
      this.desk.toast("Name the look first.", "warn");
      this.ui.lookName.focus();
      return;
    }
    const msg = { look_save: name, universe: this.desk.u() };
    if (selectedOnly) {
      const chs = this.desk.selected();
      if (chs.length === 0) {
        this.desk.toast("Select channels first: tap their numbers.", "warn");
        return;
      }
      msg.channels = chs;
    }
    if (this.desk.send(msg)) this.ui.lookName.value = "";
  }

  /** editName opens the Names section with channel ch ready to be named. */
  editName(ch) {
    this.open(true);
    this.ui.labelCh.value = String(ch);
    this.ui.labelText.value = this.label(this.desk.u(), ch);
    this.ui.labelText.focus();
    this.ui.labelText.select();
    this.ui.labelForm.scrollIntoView({ block: "nearest" });
  }

  /** flashChannels is the union of the channels of the presses held now. */
  flashMessage(held) {
    const u = this.desk.u();
    const set = new Set();
    for (const h of held) if (h.u === u) for (const ch of h.chs) set.add(ch);
    return { flash: [...set].sort((a, b) => a - b), universe: u };
  }

  // ---- panel --------------------------------------------------------------------

  isOpen() {
    return document.body.classList.contains("show-open");
  }

  /** open shows or hides the Show panel. */
  open(on) {
    if (on && this.features.size === 0) return;
    document.body.classList.toggle("show-open", on);
    this.ui.toggle.setAttribute("aria-expanded", String(on));
    if (on) this.desk.onOpen();
  }

  wire() {
    const ui = this.ui;
    ui.toggle.addEventListener("click", () => this.open(!this.isOpen()));
    ui.go.addEventListener("click", () => this.desk.send({ go: true, universe: this.desk.u() }));
    ui.back.addEventListener("click", () => this.desk.send({ back: true, universe: this.desk.u() }));
    ui.flashMode.addEventListener("click", () => {
      this.flashMode = !this.flashMode;
      ui.flashMode.setAttribute("aria-pressed", String(this.flashMode));
      this.desk.onFlashMode();
    });
    ui.monitor.addEventListener("click", () => {
      this.monitoring = !this.monitoring;
      ui.monitor.setAttribute("aria-pressed", String(this.monitoring));
      this.follow();
    });
    // A master moves live while dragged, at most one message an animation frame.
    const live = (input, msg) => {
      let queued = false;
      input.addEventListener("input", () => {
        this.moved.set(input, Date.now() + MOVED_MS);
        setTimeout(() => this.renderMasters(), MOVED_MS + 10);
        this.renderMasters();
        if (queued) return;
        queued = true;
        requestAnimationFrame(() => {
          queued = false;
          this.desk.send(msg(input.valueAsNumber));
        });
      });
      input.addEventListener("change", () => {
        this.moved.set(input, Date.now() + MOVED_MS);
        this.desk.send(msg(input.valueAsNumber));
      });
    };
    live(ui.master, (v) => ({ master: v, universe: this.desk.u() }));
    live(ui.grand, (v) => ({ grand_master: v }));
    ui.saveForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.saveLook(false);
    });
    ui.saveSel.addEventListener("click", () => this.saveLook(true));
    ui.unameForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.desk.send({ universe_name: ui.uname.value.trim(), universe: this.desk.u() });
      this.unameShown = ui.uname.value; // sent: the next labels message may replace it
      ui.uname.blur();
    });
    ui.labelForm.addEventListener("submit", (e) => {
      e.preventDefault();
      let chs;
      if (ui.labelCh.value.trim() === "") {
        chs = this.desk.selected();
        if (chs.length === 0) {
          this.desk.toast("Type channels (such as 1 thru 4) or select them first.", "warn");
          return;
        }
      } else {
        const r = parseChannels(ui.labelCh.value, CHANNELS);
        if (r.error) {
          this.desk.toast(r.error, "warn");
          return;
        }
        chs = r.channels;
      }
      const text = ui.labelText.value.trim();
      const label = Object.fromEntries(chs.map((ch) => [String(ch), text]));
      if (this.desk.send({ label, universe: this.desk.u() })) {
        ui.labelText.value = "";
        ui.labelText.blur();
      }
    });
  }
}

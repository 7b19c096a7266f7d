// main.js: the desk. It keeps the last levels the server reported for every
// universe, shows one page of channel strips of the selected universe and
// turns what the user does into commands (see sender.js).

import { Link, endpoint } from "./link.js";
import { Sender } from "./sender.js";
import { Strip } from "./fader.js";
import { Units, clampField } from "./units.js";
import { parseChannels } from "./channels.js";
import { Show } from "./show.js";
import { Holds } from "./hold.js";

const CHANNELS = 512;
const PAGE_SIZE = 32;
const PAGES = CHANNELS / PAGE_SIZE;
/** How long a local change outranks server updates that do not echo it. */
const HOLD_MS = 800;
const HEALTH_MS = 5000;
const TOAST_MS = 6000;
/** localStorage key of the display units ("percent" or "dmx"). */
const UNITS_KEY = "dmxd.desk.units";
/** The layout in which Menu and Show are panels over the faders (desk.css). */
const PHONE = matchMedia("(max-width: 700px), (max-height: 500px)");

const $ = (id) => document.getElementById(id);

const ui = {
  bar: document.querySelector(".bar"),
  menu: $("menu"),
  conn: $("conn"),
  desks: $("desks"),
  outputs: $("outputs"),
  universe: $("universe"),
  blackout: $("blackout"),
  blackoutAll: $("blackout-all"),
  units: $("units"),
  fade: $("fade"),
  page: $("page"),
  prev: $("prev"),
  next: $("next"),
  jump: $("jump"),
  jumpCh: $("jump-ch"),
  setForm: $("set-selected"),
  setLevel: $("set-level"),
  levelLabel: $("level-label"),
  rangeForm: $("select-range"),
  range: $("range"),
  selCount: $("sel-count"),
  selPage: $("sel-page"),
  selClear: $("sel-clear"),
  strips: $("strips"),
  toast: $("toast"),
};

const desk = {
  universes: [1],
  u: 1,
  page: 0,
  server: new Map(), // universe -> Uint8Array of levels the server reported
  blackout: new Map(), // universe -> bool
  outputs: new Map(), // universe -> {driver, state, error}
  selected: new Map(), // universe -> Set of channels
  holds: new Map(), // "u:ch" -> {level, until}: local changes not echoed yet
  strips: new Map(), // channel -> Strip on the current page
  anchor: 0, // the channel a shift-click extends the selection from
  units: new Units(loadUnits() === "percent"),
};

const link = new Link({ onMessage, onStatus });
const sender = new Sender((msg) => link.send(msg));

const show = new Show({
  send(msg, quiet = false) {
    if (!quiet && !online()) return false;
    return link.send(msg);
  },
  u: () => desk.u,
  selected: () => [...selection(desk.u)].sort((a, b) => a - b),
  units: () => desk.units,
  fadeMs,
  toast,
  onNames(u) {
    if (u === 0 || u === desk.u) for (const s of desk.strips.values()) nameStrip(s);
    showUniverseNames();
  },
  onOutput(u, chs) {
    if (u !== 0 && u !== desk.u) return;
    for (const ch of chs || desk.strips.keys()) {
      const s = desk.strips.get(ch);
      if (s) s.output(show.output(desk.u, ch));
    }
  },
  onFlashMode() {
    document.body.classList.toggle("flash-mode", show.flashMode);
    for (const s of desk.strips.values()) nameStrip(s);
    if (!show.flashMode) holds.releaseAll();
  },
  onOpen() {
    if (PHONE.matches && menuOpen()) setMenu(false);
  },
});

/**
 * Flash: every press held now (a channel number in flash mode, Flash
 * selected) holds its channels at full; each universe gets the union of its
 * presses whenever it changes, and an empty flash when the last one ends.
 */
const flashSent = new Map(); // universe -> channels last sent, joined
const holds = new Holds(() => {
  const want = new Map();
  for (const { u, chs } of holds.active()) {
    if (!want.has(u)) want.set(u, new Set());
    for (const ch of chs) want.get(u).add(ch);
  }
  for (const u of new Set([...want.keys(), ...flashSent.keys()])) {
    const chs = [...(want.get(u) || [])].sort((a, b) => a - b);
    const k = chs.join();
    if ((flashSent.get(u) ?? "") === k) continue;
    if (k === "") flashSent.delete(u);
    else flashSent.set(u, k);
    link.send({ flash: chs, universe: u });
  }
  for (const [ch, s] of desk.strips) {
    s.el.classList.toggle("flashing", (want.get(desk.u) || new Set()).has(ch));
  }
});

// ---- model helpers -------------------------------------------------------

function levels(u) {
  let a = desk.server.get(u);
  if (!a) desk.server.set(u, (a = new Uint8Array(CHANNELS)));
  return a;
}

/** loadUnits reads the remembered display units; storage may be off. */
function loadUnits() {
  try {
    return localStorage.getItem(UNITS_KEY);
  } catch {
    return null;
  }
}

function saveUnits(percent) {
  try {
    localStorage.setItem(UNITS_KEY, percent ? "percent" : "dmx");
  } catch {
    // Private browsing: the choice lasts until the page is closed.
  }
}

function selection(u) {
  let s = desk.selected.get(u);
  if (!s) desk.selected.set(u, (s = new Set()));
  return s;
}

const key = (u, ch) => `${u}:${ch}`;

/** shown is the level a channel's strip displays. */
function shown(u, ch) {
  const h = desk.holds.get(key(u, ch));
  return h ? h.level : levels(u)[ch - 1];
}

function render(u, ch) {
  if (u !== desk.u) return;
  const s = desk.strips.get(ch);
  if (s && !s.dragging) s.show(shown(u, ch));
}

function fadeMs() {
  const s = ui.fade.valueAsNumber;
  return Number.isFinite(s) && s > 0 ? Math.min(600000, Math.round(s * 1000)) : 0;
}

/** hold makes a local level outrank server updates for a moment. */
function hold(u, ch, level) {
  const k = key(u, ch);
  desk.holds.set(k, { level, until: Date.now() + HOLD_MS });
  setTimeout(() => {
    const h = desk.holds.get(k);
    if (h && Date.now() >= h.until) release(u, ch);
  }, HOLD_MS + 10);
}

function release(u, ch) {
  const s = u === desk.u ? desk.strips.get(ch) : null;
  if (s && s.dragging) return;
  desk.holds.delete(key(u, ch));
  render(u, ch);
}

// ---- user actions --------------------------------------------------------

function online() {
  if (link.open) return true;
  toast("Not connected: the change was not sent.", "warn");
  return false;
}

/** setLevels applies levels (Map channel -> level) of the shown universe. */
function setLevels(map) {
  if (!online()) {
    for (const ch of map.keys()) render(desk.u, ch);
    return;
  }
  const u = desk.u;
  const ms = fadeMs();
  for (const [ch, v] of map) {
    if (ms > 0) release(u, ch);
    else hold(u, ch, v);
    render(u, ch);
  }
  sender.set(u, map, ms);
}

function stripHandlers(ch) {
  return {
    canMove: online,
    onMove(level) {
      const u = desk.u;
      hold(u, ch, level);
      if (fadeMs() === 0) sender.move(u, ch, level);
    },
    onEnd(level) {
      if (fadeMs() > 0) setLevels(new Map([[ch, level]]));
      else hold(desk.u, ch, level);
    },
    onSet(level) {
      setLevels(new Map([[ch, level]]));
    },
    onSelect(extend) {
      if (show.flashMode) return;
      const s = selection(desk.u);
      if (extend && desk.anchor > 0) {
        const [a, b] = desk.anchor < ch ? [desk.anchor, ch] : [ch, desk.anchor];
        for (let c = a; c <= b; c++) s.add(c);
      } else if (s.has(ch)) s.delete(ch);
      else s.add(ch);
      desk.anchor = ch;
      showSelection();
    },
    canLongPress: () => show.has("labels") && !show.flashMode,
    onLongPress() {
      show.editName(ch);
    },
  };
}

// ---- rendering -----------------------------------------------------------

function buildPage() {
  ui.strips.replaceChildren();
  desk.strips.clear();
  const first = desk.page * PAGE_SIZE + 1;
  const frag = document.createDocumentFragment();
  for (let ch = first; ch < first + PAGE_SIZE; ch++) {
    const s = new Strip(ch, stripHandlers(ch), desk.units);
    s.show(shown(desk.u, ch));
    nameStrip(s);
    s.output(show.output(desk.u, ch));
    holds.attach(s.label, {
      enabled: () => show.flashMode && show.has("flash"),
      value: () => (link.open ? { u: desk.u, chs: [ch] } : null),
    });
    desk.strips.set(ch, s);
    frag.append(s.el);
  }
  ui.strips.append(frag);
  ui.strips.setAttribute("aria-label", `Universe ${desk.u}, channels ${first} to ${first + PAGE_SIZE - 1}`);
  ui.page.value = String(desk.page);
  ui.prev.disabled = desk.page === 0;
  ui.next.disabled = desk.page === PAGES - 1;
  showSelection();
}

/** nameStrip shows a strip's channel name, and what its number button does. */
function nameStrip(s) {
  s.name(show.label(desk.u, s.ch));
  if (show.flashMode) s.label.title = `Hold to flash channel ${s.ch}`;
}

function showSelection() {
  const s = selection(desk.u);
  for (const [ch, strip] of desk.strips) strip.selected(s.has(ch));
  ui.selCount.textContent = `${s.size} selected`;
}

function showBlackout() {
  const on = desk.blackout.get(desk.u) === true;
  ui.blackout.setAttribute("aria-pressed", String(on));
  ui.blackout.textContent = on ? "Blackout on" : "Blackout";
  document.body.classList.toggle("blacked-out", on);
  const all = allBlackedOut();
  ui.blackoutAll.setAttribute("aria-pressed", String(all));
  ui.blackoutAll.textContent = all ? "Blackout all on" : "Blackout all";
}

/** allBlackedOut says whether every universe of the server is blacked out. */
function allBlackedOut() {
  return desk.universes.every((u) => desk.blackout.get(u) === true);
}

/** showUnits shows every level and the level field in the chosen units. */
function showUnits() {
  const units = desk.units;
  ui.units.setAttribute("aria-pressed", String(units.percent));
  const old = ui.setLevel.valueAsNumber;
  const wasPercent = ui.setLevel.max === "100";
  if (Number.isFinite(old) && wasPercent !== units.percent) {
    const level = new Units(wasPercent).level(old);
    ui.setLevel.value = units.text(level);
  }
  ui.setLevel.max = String(units.max);
  ui.levelLabel.textContent = `Level${units.suffix}`;
  for (const [ch, s] of desk.strips) {
    s.show(shown(desk.u, ch));
    s.output(show.output(desk.u, ch));
  }
  show.renderMasters();
}

function showUniverses() {
  const cur = desk.universes.includes(desk.u) ? desk.u : desk.universes[0] || 1;
  ui.universe.replaceChildren(...desk.universes.map((u) => new Option("", String(u), false, u === cur)));
  showUniverseNames();
  ui.universe.disabled = desk.universes.length < 2;
  if (cur !== desk.u) {
    desk.u = cur;
    desk.anchor = 0;
    buildPage();
    show.universeShown();
  }
  showBlackout();
}

/** showUniverseNames names the universes in the switcher. */
function showUniverseNames() {
  for (const o of ui.universe.options) {
    const u = Number(o.value), name = show.universeName(u);
    o.textContent = name ? `${u}: ${name}` : `Universe ${u}`;
  }
}

function showOutputs() {
  const items = [...desk.outputs.entries()].sort((a, b) => a[0] - b[0]).map(([u, o]) => {
    const li = document.createElement("li");
    li.className = "pill output";
    li.dataset.universe = String(u);
    li.dataset.state = o.state;
    li.textContent = `U${u} ${o.driver}: ${o.state}`;
    if (o.error) li.title = o.error;
    return li;
  });
  ui.outputs.replaceChildren(...items);
}

let toastTimer = 0;
function toast(text, kind = "error") {
  ui.toast.textContent = text;
  ui.toast.dataset.kind = kind;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (ui.toast.hidden = true), TOAST_MS);
}

// ---- server side ---------------------------------------------------------

function onStatus(state, info) {
  document.body.dataset.conn = state;
  ui.conn.dataset.state = state;
  ui.conn.title = link.servers.length > 1 ? new URL(link.base).host : "";
  if (state === "open") ui.conn.textContent = link.servers.length > 1 ? `Connected to ${new URL(link.base).host}` : "Connected";
  else if (state === "connecting") ui.conn.textContent = "Connecting…";
  else ui.conn.textContent = `Offline, retrying in ${(info.delay / 1000).toFixed(1)} s`;
  if (state === "open") {
    refreshHealth();
    return;
  }
  ui.desks.hidden = true;
  // One failure may be a restart in progress; two in a row while the
  // server answers over HTTP are a refusal.
  if (state === "waiting" && !info.opened && info.failures >= 2) explainRefusal();
}

/**
 * explainRefusal tells the user why the WebSocket did not open when the
 * server itself answers: browsers hide the HTTP status of a refused upgrade,
 * and the likely causes are a missing or wrong token or a disallowed origin.
 */
async function explainRefusal() {
  try {
    const res = await fetch(endpoint("healthz", false, link.base), { cache: "no-store" });
    await res.json();
  } catch {
    return; // the server is down or unreachable: the status line says so
  }
  toast("dmxd is running but refused this desk: check the ?token= in the address (dmxd --token), or dmxd --origins.");
}

function onMessage(m) {
  switch (m.type) {
    case "hello":
      if (Array.isArray(m.universes) && m.universes.length > 0) desk.universes = m.universes;
      flashSent.clear(); // a new connection holds no flash
      holds.releaseAll();
      showUniverses();
      show.hello(m);
      break;
    case "state": {
      const a = levels(m.universe);
      a.set(m.values.slice(0, CHANNELS));
      for (let ch = 1; ch <= CHANNELS; ch++) {
        const h = desk.holds.get(key(m.universe, ch));
        if (h && h.level === a[ch - 1]) release(m.universe, ch);
      }
      desk.blackout.set(m.universe, m.blackout === true);
      if (m.universe === desk.u) for (const ch of desk.strips.keys()) render(desk.u, ch);
      showBlackout();
      break;
    }
    case "update": {
      const a = levels(m.universe);
      const now = Date.now();
      for (const [c, v] of Object.entries(m.changes)) {
        const ch = Number(c);
        a[ch - 1] = v;
        const h = desk.holds.get(key(m.universe, ch));
        if (!h) render(m.universe, ch);
        else if (h.level === v || now >= h.until) release(m.universe, ch);
      }
      break;
    }
    case "blackout":
      desk.blackout.set(m.universe, m.on === true);
      showBlackout();
      break;
    case "output":
      desk.outputs.set(m.universe, { driver: m.driver, state: m.state, error: m.error || "" });
      showOutputs();
      refreshHealth();
      break;
    case "error":
      toast(`Refused (${m.code}): ${m.message}`);
      break;
    default:
      show.message(m);
  }
}

let healthBusy = false;
async function refreshHealth() {
  if (healthBusy) return;
  healthBusy = true;
  try {
    const res = await fetch(endpoint("healthz", false, link.base), { cache: "no-store" });
    const h = await res.json();
    if (Number.isInteger(h.connections)) {
      ui.desks.textContent = h.connections === 1 ? "1 desk" : `${h.connections} desks`;
      ui.desks.hidden = false;
    }
    if (Array.isArray(h.universes)) {
      for (const o of h.universes) {
        desk.outputs.set(o.universe, { driver: o.output, state: o.state, error: o.error || "" });
      }
      showOutputs();
    }
  } catch {
    // The WebSocket status says whether the server is reachable.
  } finally {
    healthBusy = false;
  }
}

// ---- wiring --------------------------------------------------------------

function goToPage(p) {
  desk.page = Math.min(PAGES - 1, Math.max(0, p));
  buildPage();
}

for (let p = 0; p < PAGES; p++) {
  const first = p * PAGE_SIZE + 1;
  ui.page.append(new Option(`${first}–${first + PAGE_SIZE - 1}`, String(p)));
}
ui.page.addEventListener("change", () => goToPage(Number(ui.page.value)));
ui.prev.addEventListener("click", () => goToPage(desk.page - 1));
ui.next.addEventListener("click", () => goToPage(desk.page + 1));

ui.universe.addEventListener("change", () => {
  holds.releaseAll();
  desk.u = Number(ui.universe.value);
  desk.anchor = 0;
  buildPage();
  showBlackout();
  show.universeShown();
});

ui.blackout.addEventListener("click", () => {
  if (!online()) return;
  link.send({ blackout: !(desk.blackout.get(desk.u) === true), universe: desk.u });
});

ui.blackoutAll.addEventListener("click", () => {
  if (!online()) return;
  const on = !allBlackedOut();
  // One command for every universe where the server has it (its show
  // features); a version-1 server gets one blackout per universe.
  if (show.has("masters")) link.send({ blackout_all: on });
  else for (const u of desk.universes) link.send({ blackout: on, universe: u });
});

ui.units.addEventListener("click", () => {
  desk.units = new Units(!desk.units.percent);
  for (const s of desk.strips.values()) s.units = desk.units;
  saveUnits(desk.units.percent);
  showUnits();
});

function menuOpen() {
  return document.body.classList.contains("menu-open");
}

/** setMenu opens or closes the controls panel (phones; see desk.css). */
function setMenu(open) {
  if (open && PHONE.matches) show.open(false);
  document.body.classList.toggle("menu-open", open);
  ui.menu.setAttribute("aria-expanded", String(open));
}

ui.menu.addEventListener("click", () => setMenu(!menuOpen()));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && menuOpen()) {
    setMenu(false);
    ui.menu.focus();
  } else if (e.key === "Escape" && show.isOpen()) {
    show.open(false);
    document.getElementById("show-toggle").focus();
  }
});
// The panel opens just below the bar, whose height depends on the screen.
new ResizeObserver(() => {
  document.documentElement.style.setProperty("--bar-h", `${ui.bar.offsetHeight}px`);
}).observe(ui.bar);

ui.jump.addEventListener("submit", (e) => {
  e.preventDefault();
  const ch = Math.round(ui.jumpCh.valueAsNumber);
  if (!(ch >= 1 && ch <= CHANNELS)) {
    toast("Channels are 1 to 512.", "warn");
    return;
  }
  goToPage(Math.floor((ch - 1) / PAGE_SIZE));
  setMenu(false);
  const s = desk.strips.get(ch);
  s.fader.focus();
  s.el.classList.add("found");
  setTimeout(() => s.el.classList.remove("found"), 1500);
});

ui.setForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const v = desk.units.level(ui.setLevel.valueAsNumber);
  const chans = [...selection(desk.u)].sort((a, b) => a - b);
  if (v === null) {
    toast(`Enter a level from 0 to ${desk.units.max}${desk.units.percent ? " %" : ""}.`, "warn");
    return;
  }
  if (chans.length === 0) {
    toast("Select channels first: tap their numbers.", "warn");
    return;
  }
  ui.setLevel.value = desk.units.text(v);
  setLevels(new Map(chans.map((ch) => [ch, v])));
});
ui.rangeForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const r = parseChannels(ui.range.value, CHANNELS);
  if (r.error) {
    toast(r.error, "warn");
    return;
  }
  const s = selection(desk.u);
  s.clear();
  for (const ch of r.channels) s.add(ch);
  desk.anchor = r.channels[r.channels.length - 1];
  showSelection();
});
ui.selPage.addEventListener("click", () => {
  const s = selection(desk.u);
  for (const ch of desk.strips.keys()) s.add(ch);
  showSelection();
});
ui.selClear.addEventListener("click", () => {
  selection(desk.u).clear();
  showSelection();
});

setInterval(() => {
  if (link.open && !document.hidden) refreshHealth();
}, HEALTH_MS);

holds.attach(document.getElementById("flash-sel"), {
  enabled: () => show.has("flash"),
  value() {
    const chs = [...selection(desk.u)].sort((a, b) => a - b);
    if (!link.open) return null;
    if (chs.length === 0) {
      toast("Select channels first: tap their numbers.", "warn");
      return null;
    }
    return { u: desk.u, chs };
  },
});

for (const f of [ui.setLevel, ui.fade, ui.jumpCh, document.getElementById("cue-fade")]) clampField(f);

buildPage();
showBlackout();
showUnits();
link.start();

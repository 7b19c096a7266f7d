// link.js: the WebSocket link to dmxd. It derives every URL from the page's
// own location (same origin, relative paths), passes the page's ?token= on,
// reconnects with exponential backoff and notices a silent dead link. A
// server started with --desk-servers names other servers of the same show
// (the edges of one dmxd core) in the page: when its server is lost the page
// tries the next.

/** Backoff between reconnection attempts, in milliseconds. */
export const BACKOFF_MIN = 500;
export const BACKOFF_MAX = 5000;
/** A link silent this long is probed with a `get`; an unanswered probe closes it. */
const QUIET_MS = 15000;
const PROBE_MS = 5000;

/** The token from the page URL (?token=SECRET), or "". */
export function pageToken() {
  return new URLSearchParams(location.search).get("token") || "";
}

/**
 * serverList returns the base URLs of the servers the desk may use: the
 * page's own first, then the others its server names (comma-separated
 * HOST:PORT, the page's scheme), without duplicates or entries that are not
 * addresses.
 * @param {string} href the page's address
 * @param {string} others the dmxd-servers tag's content
 */
export function serverList(href = location.href, others = serversTag()) {
  const page = new URL(href);
  const own = new URL(".", page);
  own.search = own.hash = "";
  const list = [own.toString()];
  for (let s of others.split(",")) {
    s = s.trim();
    if (!s) continue;
    let u;
    try {
      u = new URL(`${page.protocol}//${s}/`);
    } catch {
      continue;
    }
    if (!list.includes(u.toString())) list.push(u.toString());
  }
  return list;
}

/** serversTag is what the server put in the page's dmxd-servers tag. */
function serversTag() {
  const m = document.querySelector('meta[name="dmxd-servers"]');
  return (m && m.content) || "";
}

/**
 * endpoint returns the URL of path relative to base (the page by default),
 * carrying the token.
 * @param {string} path e.g. "ws" or "healthz"
 * @param {boolean} ws whether to use ws: / wss:
 * @param {string} base the server's base URL (see serverList)
 */
export function endpoint(path, ws = false, base = location.href) {
  const u = new URL(path, base);
  u.hash = "";
  u.search = "";
  const token = pageToken();
  if (token) u.searchParams.set("token", token);
  if (ws) u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

/** nextDelay returns the wait before attempt n (0-based), with ±20 % jitter. */
export function nextDelay(n) {
  const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** n);
  const jittered = base * (0.8 + Math.random() * 0.4);
  return Math.round(Math.min(BACKOFF_MAX, Math.max(BACKOFF_MIN, jittered)));
}

/**
 * Link keeps one WebSocket to dmxd open.
 * onMessage(msg) gets every decoded server message; onStatus(state, info)
 * gets "connecting", "open", or "waiting" with info {delay, code, opened,
 * failures}: the retry delay in ms, the close code, whether the socket had
 * opened (a refused upgrade, such as a wrong token, never opens) and how
 * many attempts in a row have failed.
 */
export class Link {
  constructor({ onMessage, onStatus }) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = 0;
    this.lastRx = 0;
    this.probeAt = 0;
    this.greeted = false;
    this.opened = false;
    this.servers = serverList();
    this.current = 0;
    setInterval(() => this.watch(), PROBE_MS);
    addEventListener("online", () => this.retryNow());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.retryNow();
    });
  }

  /** base is the base URL of the server the link uses or tries now. */
  get base() {
    return this.servers[this.current];
  }

  /** open reports whether messages can be sent now. */
  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.greeted;
  }

  start() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    this.greeted = false;
    this.onStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(endpoint("ws", true, this.base));
    } catch {
      const delay = this.schedule();
      this.onStatus("waiting", { delay, code: 0, opened: false, failures: this.attempt });
      return;
    }
    this.ws = ws;
    this.opened = false;
    ws.onopen = () => (this.opened = true);
    ws.onmessage = (ev) => {
      this.lastRx = Date.now();
      this.probeAt = 0;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === "hello") {
        this.greeted = true;
        this.attempt = 0;
        this.onStatus("open");
      }
      this.onMessage(msg);
    };
    ws.onclose = (ev) => this.lost(ws, ev.code);
  }

  /** lost handles the end of ws (closed, failed or declared dead). */
  lost(ws, code) {
    if (ws !== this.ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    this.ws = null;
    this.greeted = false;
    // Another server of the show is tried next: this one is gone, never
    // answered, or is an edge whose core is away (1012).
    if (this.servers.length > 1) this.current = (this.current + 1) % this.servers.length;
    const delay = this.schedule();
    this.onStatus("waiting", { delay, code, opened: this.opened, failures: this.attempt });
  }

  schedule() {
    const delay = nextDelay(this.attempt++);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.start(), delay);
    return delay;
  }

  /** retryNow skips the backoff wait (the network or the tab came back). */
  retryNow() {
    if (this.ws === null && this.retryTimer) {
      this.attempt = 0;
      this.start();
    }
  }

  /** send writes msg as JSON; it returns false when the link is down. */
  send(msg) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** watch probes a quiet link and drops one whose probe went unanswered. */
  watch() {
    if (!this.open) return;
    const now = Date.now();
    if (this.probeAt && now - this.probeAt > PROBE_MS) {
      const ws = this.ws;
      this.lost(ws, 4000);
      ws.close();
      return;
    }
    if (!this.probeAt && now - this.lastRx > QUIET_MS) {
      this.probeAt = now;
      this.ws.send(JSON.stringify({ get: true }));
    }
  }
}

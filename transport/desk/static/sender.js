// sender.js: turns level changes into protocol commands. Moves without a
// fade time are coalesced: however often a fader reports a position, each
// universe gets at most one `dmx` message per animation frame, carrying the
// latest level of every channel that moved.

export class Sender {
  /** @param {(msg: object) => boolean} send writes one command; false when offline */
  constructor(send) {
    this.send = send;
    this.pending = new Map(); // universe -> Map(channel -> level)
    this.scheduled = false;
  }

  /** move queues channel ch of universe u at level for the next frame. */
  move(u, ch, level) {
    let m = this.pending.get(u);
    if (!m) this.pending.set(u, (m = new Map()));
    m.set(ch, level);
    if (this.scheduled) return;
    this.scheduled = true;
    // A hidden tab gets no animation frames; a timer keeps it sending.
    if (document.hidden) setTimeout(() => this.flush(), 50);
    else requestAnimationFrame(() => this.flush());
  }

  /** flush sends every queued move now, one message per universe. */
  flush() {
    this.scheduled = false;
    const pending = this.pending;
    this.pending = new Map();
    for (const [u, m] of pending) {
      if (m.size > 0) this.send({ dmx: Object.fromEntries(m), universe: u });
    }
  }

  /**
   * set sends levels (a Map channel -> level) of universe u at once: a
   * `fade` over ms when ms > 0, else a `dmx`. Queued moves go first so that
   * they cannot cancel the fade.
   */
  set(u, levels, ms) {
    const m = this.pending.get(u);
    if (m) for (const ch of levels.keys()) m.delete(ch);
    this.flush();
    if (levels.size === 0) return true;
    const body = Object.fromEntries(levels);
    return ms > 0
      ? this.send({ fade: body, ms: Math.round(ms), universe: u })
      : this.send({ dmx: body, universe: u });
  }
}

// units.js: how levels are shown and typed — as DMX values 0–255 or as
// percent 0–100. Levels on the wire are always 0–255.

export const MAX = 255;

/** Units converts between levels (0..255) and what the desk shows. */
export class Units {
  /** @param {boolean} percent show percent instead of 0–255 */
  constructor(percent) {
    this.percent = percent;
  }

  /** max is the largest number a field accepts: 100 or 255. */
  get max() {
    return this.percent ? 100 : MAX;
  }

  /** suffix names the unit for labels: " (%)" or "". */
  get suffix() {
    return this.percent ? " (%)" : "";
  }

  /** text is how level is shown in a field. */
  text(level) {
    return String(this.percent ? Math.round((level * 100) / MAX) : level);
  }

  /** clamp returns n moved into 0..max, or null when n is not a number. */
  clamp(n) {
    if (!Number.isFinite(n)) return null;
    return Math.min(this.max, Math.max(0, n));
  }

  /** level turns a typed number into a level 0..255, or null. */
  level(n) {
    const v = this.clamp(n);
    if (v === null) return null;
    return Math.round(this.percent ? (v * MAX) / 100 : v);
  }
}

/**
 * clampField makes a number field show a typed value that is out of its
 * min..max at once as the nearest bound (300 → 255, -5 → 0); values in
 * range, and half-typed ones, are left alone.
 */
export function clampField(input) {
  input.addEventListener("input", () => {
    const n = input.valueAsNumber;
    if (!Number.isFinite(n)) return;
    const lo = Number(input.min), hi = Number(input.max);
    if (input.min !== "" && n < lo) input.value = String(lo);
    else if (input.max !== "" && n > hi) input.value = String(hi);
  });
}

// channels.js: reads a typed list of channels, as a lighting desk's command
// line has them: "1 thru 24", "1-24", "1>24", "1 through 24", and several
// of these or single channels joined by "," or "+" ("1-4, 9, 12 thru 16").

const ITEM = /^(\d+)(?:\s*(?:thru|through|-|>)\s*(\d+))?$/;

/**
 * parseChannels returns the channels text names, in order and without
 * duplicates, or an error message for the user.
 * @returns {{channels: number[]} | {error: string}}
 */
export function parseChannels(text, max) {
  const items = text.trim().toLowerCase().split(/\s*[,+]\s*/);
  if (items.length === 1 && items[0] === "") return { error: "Type channels, such as 1 thru 24." };
  const set = new Set();
  for (const item of items) {
    const m = ITEM.exec(item);
    if (!m) return { error: `Cannot read "${item}": write channels as 1 thru 24, 1-24 or 1>24, joined by commas.` };
    let a = Number(m[1]);
    let b = m[2] === undefined ? a : Number(m[2]);
    if (a > b) [a, b] = [b, a];
    if (a < 1 || b > max) return { error: `Channels are 1 to ${max}: "${item}" is not.` };
    for (let ch = a; ch <= b; ch++) set.add(ch);
  }
  return { channels: [...set].sort((x, y) => x - y) };
}

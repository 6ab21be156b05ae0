/** Lower case without separators, so `load-threshold`, `LOAD_THRESHOLD` and `loadThreshold` compare equal. */
export function looseForm(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

/** Optimal string alignment distance (Levenshtein plus adjacent swaps); anything past `limit` is `limit + 1`. */
export function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_v, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current.push(d);
    }
    before = previous;
    previous = current;
  }
  return Math.min(previous[b.length]!, limit + 1);
}

/** Edits a name may be away from a known one and still count as a typo of it. */
export const NEAR_MISS_EDITS = 2;

/**
 * The known name that `name` most likely misspells: the same letters in
 * another case or with other separators, or at most NEAR_MISS_EDITS edits
 * away once lower-cased. Undefined when nothing is that close.
 */
export function nearMiss(name: string, known: Iterable<string>): string | undefined {
  const loose = looseForm(name);
  let best: string | undefined;
  let bestDistance = NEAR_MISS_EDITS + 1;
  for (const candidate of known) {
    const d = editDistance(loose, looseForm(candidate), NEAR_MISS_EDITS);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

// How the experiment's reports write numbers: seconds with the precision their
// size deserves, intervals in brackets, JSON numbers rounded to three decimals.

import type { Interval } from '../stats.js';

/** A number for summary.json: three decimals, null when not finite. */
export const finite = (n: number): number | null => (Number.isFinite(n) ? Number(n.toFixed(3)) : null);
export const intervalJson = (i: Interval | null | undefined): { estimate: number | null; low: number | null; high: number | null } | null =>
  i ? { estimate: finite(i.estimate), low: finite(i.low), high: finite(i.high) } : null;

export function seconds(ms: number, digits = 2): string {
  if (!Number.isFinite(ms)) return '-';
  const s = ms / 1000;
  const size = Math.abs(s);
  return size >= 100 ? s.toFixed(0) : size >= 10 ? s.toFixed(1) : s.toFixed(digits);
}

export function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** `12.3 [11.0, 13.9]` in seconds, or the estimate alone without an interval. */
export function withInterval(i: Interval | undefined | null, estimateMs: number): string {
  if (!i || !Number.isFinite(i.low)) return seconds(estimateMs);
  return `${seconds(estimateMs)} [${seconds(i.low)}, ${seconds(i.high)}]`;
}

/** A paired difference in seconds with its interval: `-2.10 [-2.50, -1.70]`. */
export function differenceText(i: Interval): string {
  return `${seconds(i.estimate)} [${seconds(i.low)}, ${seconds(i.high)}]`;
}

/** A ratio with its interval: `0.62x [0.58, 0.66]`. */
export function ratioText(i: Interval): string {
  const r = (n: number): string => fixed(n, n >= 10 ? 1 : 2);
  return Number.isFinite(i.low) ? `${r(i.estimate)}x [${r(i.low)}, ${r(i.high)}]` : `${r(i.estimate)}x`;
}

/** Seed-to-seed spread of a mean in seconds: `SD 0.95 (8.10-11.3)`. */
export function spreadText(s: { sd: number; min: number; max: number }): string {
  return Number.isFinite(s.sd) ? `${seconds(s.sd)} (${seconds(s.min)}-${seconds(s.max)})` : '-';
}

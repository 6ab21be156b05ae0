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
  return s >= 100 ? s.toFixed(0) : s >= 10 ? s.toFixed(1) : s.toFixed(digits);
}

export function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** `12.3 [11.0, 13.9]` in seconds, or the estimate alone without an interval. */
export function withInterval(i: Interval | undefined | null, estimateMs: number): string {
  if (!i || !Number.isFinite(i.low)) return seconds(estimateMs);
  return `${seconds(estimateMs)} [${seconds(i.low)}, ${seconds(i.high)}]`;
}


// How the reports write numbers and tables: seconds with the precision their
// size deserves, intervals in brackets, JSON numbers rounded to three decimals,
// and the one markdown table writer (calibrate's reports use it too).

import type { Interval, Range, RunGrid, RunsInterval } from '../stats.js';

/** A number for summary.json: three decimals, null when not finite. */
export const finite = (n: number): number | null => (Number.isFinite(n) ? Number(n.toFixed(3)) : null);
/** The named numbers of `from` through `finite`, in the order named. */
export const finiteFields = <K extends string>(from: Readonly<Record<K, number>>, keys: readonly K[]): Record<K, number | null> =>
  Object.fromEntries(keys.map((k) => [k, finite(from[k])])) as Record<K, number | null>;
export const intervalJson = (i: Interval | null | undefined): { estimate: number | null; low: number | null; high: number | null } | null =>
  i ? { estimate: finite(i.estimate), low: finite(i.low), high: finite(i.high) } : null;
/** An interval for summary.json with its rerun interval as `rerun: { low, high }`. */
export const runsIntervalJson = (i: RunsInterval | null | undefined): { estimate: number | null; low: number | null; high: number | null; rerun: { low: number | null; high: number | null } } | null =>
  i ? { estimate: finite(i.estimate), low: finite(i.low), high: finite(i.high), rerun: { low: finite(i.rerun.low), high: finite(i.rerun.high) } } : null;

/** Per-run means in summary.json: milliseconds to 0.1 ms, null when not finite. */
export const gridJson = (grid: RunGrid): (number | null)[][] =>
  grid.map((row) => row.map((v) => (Number.isFinite(v) ? Math.round(v * 10) / 10 : null)));

const GRID_ROW = '\u0000grid-row';

/**
 * summary.json's text: two-space indentation, except that each row of a run
 * grid (key `meanMsGrid`) stays on one line, so the grids keep the file short.
 */
export function summaryJsonText(summary: unknown): string {
  const text = JSON.stringify(summary, (key, value: unknown) =>
    key === 'meanMsGrid' && Array.isArray(value) ? value.map((row) => `${GRID_ROW}${JSON.stringify(row)}`) : value, 2);
  return text.replace(/"\\u0000grid-row(\[[^"]*\])"/g, '$1') + '\n';
}

/** A markdown table: the head, its alignment line (the first `left` columns left-aligned, the rest right-aligned), one line per row. */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[], left = 1): string[] {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i < left ? '---' : '---:'))), ...rows.map(line)];
}

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

/** A rerun interval in seconds: `[10.9, 14.1]`. */
export function rangeText(r: Range): string {
  return Number.isFinite(r.low) ? `[${seconds(r.low)}, ${seconds(r.high)}]` : '-';
}

const ratioNumber = (n: number): string => fixed(n, n >= 10 ? 1 : 2);

/** A ratio's rerun interval: `[0.55, 0.70]`. */
export function ratioRangeText(r: Range): string {
  return Number.isFinite(r.low) ? `[${ratioNumber(r.low)}, ${ratioNumber(r.high)}]` : '-';
}

/** A ratio with its interval: `0.62x [0.58, 0.66]`. */
export function ratioText(i: Interval): string {
  return Number.isFinite(i.low) ? `${ratioNumber(i.estimate)}x [${ratioNumber(i.low)}, ${ratioNumber(i.high)}]` : `${ratioNumber(i.estimate)}x`;
}

/** Seed-to-seed spread of a mean in seconds: `SD 0.95 (8.10-11.3)`. */
export function spreadText(s: { sd: number; min: number; max: number }): string {
  return Number.isFinite(s.sd) ? `${seconds(s.sd)} (${seconds(s.min)}-${seconds(s.max)})` : '-';
}

// Comparison with earlier results (`simulate --against`): another engine's
// summary.json of the same cell, its rows set beside these with both rankings.

import { parseJsonText } from '../../src/config-error.js';
import type { AgainstResults, ExperimentResult } from './result.js';
import { markdownTable, seconds, withInterval } from './format.js';
import type { RowStats } from './rows.js';

/** Reads a summary.json written by experiment or simulate; throws an Error naming the file and the problem. */
export function parseAgainst(text: string, path: string): AgainstResults {
  const data = parseJsonText(text, path);
  const d = data as { engine?: unknown; rows?: unknown };
  if (typeof data !== 'object' || data === null || !Array.isArray(d.rows)) throw new Error(`${path}: not a summary.json of pipbench experiment or simulate (no "rows")`);
  const rows = new Map<string, { meanMs: number; windowMeanMs: number; p80Ms: number }>();
  for (const r of d.rows as { id?: unknown; meanMs?: unknown; p80Ms?: unknown; answeredWithinDuration?: { meanMs?: unknown } }[]) {
    if (typeof r.id !== 'string' || typeof r.meanMs !== 'number') throw new Error(`${path}: a row without "id" and "meanMs"`);
    rows.set(r.id, { meanMs: r.meanMs, p80Ms: typeof r.p80Ms === 'number' ? r.p80Ms : Number.NaN, windowMeanMs: typeof r.answeredWithinDuration?.meanMs === 'number' ? r.answeredWithinDuration.meanMs : Number.NaN });
  }
  return { path, engine: typeof d.engine === 'string' ? d.engine : 'experiment', rows };
}

/** Ranks (1 = fastest) of the rows by a value; ties share the lower rank. */
function ranks(values: ReadonlyMap<string, number>): Map<string, number> {
  const sorted = [...values.values()].sort((a, b) => a - b);
  return new Map([...values].map(([id, v]) => [id, sorted.indexOf(v) + 1]));
}

/** This result's rows beside another engine's: mean, difference, rank in each (policies only; the bounds apart). */
export function againstTable(result: ExperimentResult, stats: readonly RowStats[]): string[] {
  const against = result.against;
  if (against === undefined) return [];
  const shared = stats.filter((s) => against.rows.has(s.plan.id));
  const policies = shared.filter((s) => s.plan.bound === undefined);
  const mine = ranks(new Map(policies.map((s) => [s.plan.id, s.figures.meanMs])));
  const theirs = ranks(new Map(policies.map((s) => [s.plan.id, against.rows.get(s.plan.id)?.meanMs as number])));
  const lines = ['## Against the other engine', '', `The same cell run by \`pipbench ${against.engine}\` (\`${against.path}\`). "off": this engine's mean over the other's, minus 1.`, ''];
  const pct = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%` : '-');
  let worst = 0;
  const rows = shared.map((s) => {
    const other = against.rows.get(s.plan.id) as { meanMs: number; windowMeanMs: number };
    const off = s.figures.meanMs / other.meanMs - 1;
    if (s.plan.bound === undefined) worst = Math.max(worst, Math.abs(off));
    const rank = s.plan.bound === undefined ? `${theirs.get(s.plan.id) ?? '-'} / ${mine.get(s.plan.id) ?? '-'}` : '(bound)';
    return [s.plan.label, seconds(other.meanMs), withInterval(s.intervals?.meanMs, s.figures.meanMs), pct(off), seconds(other.windowMeanMs), seconds(s.figures.windowMeanMs), pct(s.figures.windowMeanMs / other.windowMeanMs - 1), rank];
  });
  const [them, us] = [against.engine, result.engine];
  lines.push(...markdownTable(['row', `${them} mean (s)`, `${us} mean (s)`, 'off', `${them} window mean (s)`, `${us} window mean (s)`, 'off', `rank (${them} / ${us})`], rows));
  const sameRanking = policies.every((s) => mine.get(s.plan.id) === theirs.get(s.plan.id));
  lines.push('', `Policies: largest difference of the mean ${(100 * worst).toFixed(1)}%; ranking ${sameRanking ? 'identical' : '**differs**'}.`, '');
  return lines;
}

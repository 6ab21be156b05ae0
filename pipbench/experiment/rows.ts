// Statistics of rows over their repeats (placements x request sequences): the
// mean of every figure with its hierarchical bootstrap interval and the
// seed-to-seed spread, paired differences and ratios against the compared row,
// the clairvoyant static row and the best of each threshold sweep, and which
// rows a chart compares.

import { seededRandom as streamRandom } from '../random.js';
import { finiteMean, hierarchicalInterval, pairedInterval, seedSpread, type Interval, type PairedStatistic, type RunGrid, type RunsInterval, type SeedSpread } from '../stats.js';
import { runFigures, type RunFigures } from './figures.js';
import { isNumericThreshold, type RowPlan } from './plan.js';
import type { ExperimentResult, RowResult, RunData } from './result.js';

/** Figures with intervals over repeats. */
export const INTERVAL_METRICS = ['meanMs', 'p50Ms', 'p80Ms', 'p99Ms', 'windowMeanMs', 'steadyMeanMs', 'throughputPerSec', 'backlogAtEnd'] as const;
export type IntervalMetric = (typeof INTERVAL_METRICS)[number];

/** A paired statistic with its interval and rerun interval: the difference (ms) and the ratio of two rows' means. */
export interface PairedFigures {
  readonly difference: RunsInterval;
  readonly ratio: RunsInterval;
}

export interface RowStats {
  readonly plan: RowPlan;
  /** Runs of the row. */
  readonly repeats: number;
  readonly seeds: number;
  /** Placements the row ran at: 1 for a row the placement does not change. */
  readonly placements: number;
  /** Mean over repeats of each figure. */
  readonly figures: RunFigures;
  /** Hierarchical bootstrap 95% intervals of the mean, with rerun intervals (null with fewer than two request sequences). */
  readonly intervals: Record<IntervalMetric, RunsInterval> | null;
  /** Each run's mean latency (ms) by request sequence and placement, both in ascending seed order (see RunGrid). */
  readonly meanGrid: RunGrid;
  /** Spread of the mean latency from one request sequence to the next. */
  readonly seedSpread: SeedSpread;
  /** Per-minute means with intervals over repeats. */
  readonly perMinute: Interval[];
  /** Against the compared row (this minus / over it); null for the compared row itself or without intervals. */
  readonly vsCompared: PairedFigures | null;
  /** Against the clairvoyant static row, where there is one. */
  readonly vsClairvoyant: PairedFigures | null;
}

/**
 * A figure of a row's runs laid out by request sequence and placement (see
 * RunGrid); a row that ran once per sequence has one column.
 */
function gridOf(runs: readonly RunData[], values: readonly number[]): RunGrid {
  const seeds = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
  const placements = [...new Set(runs.map((r) => r.placementSeed))].sort((a, b) => a - b);
  const grid = seeds.map(() => new Array<number>(placements.length).fill(Number.NaN));
  runs.forEach((run, i) => {
    (grid[seeds.indexOf(run.seed)] as number[])[placements.indexOf(run.placementSeed)] = values[i] as number;
  });
  if (runs.length !== seeds.length * placements.length) throw new Error(`a row's runs do not cover its ${seeds.length} request sequences x ${placements.length} placements`);
  return grid;
}

/** Every figure's mean over the runs (a row has at least one), finite values only; per minute, minute by minute. */
function meanFigures(list: readonly RunFigures[]): RunFigures {
  const first = list[0] as RunFigures;
  const perMinuteMeanMs = first.perMinuteMeanMs.map((_, m) => finiteMean(list.map((r) => r.perMinuteMeanMs[m] as number)));
  const keys = Object.keys(first) as (keyof RunFigures)[];
  return Object.fromEntries(keys.map((k) => [k, k === 'perMinuteMeanMs' ? perMinuteMeanMs : finiteMean(list.map((r) => r[k] as number))])) as unknown as RunFigures;
}

/** The row every other is paired against: --compare-to, else the first policy row. */
export function comparedRow(result: ExperimentResult): RowResult | undefined {
  const id = result.params.compareTo;
  return id !== undefined ? result.rows.find((r) => r.plan.id === id) : result.rows.find((r) => r.plan.bound === undefined);
}

/** Mean-latency grids of every row, for paired statistics. */
function meanGrids(result: ExperimentResult): Map<string, RunGrid> {
  const warmupMs = result.params.warmupSec * 1000;
  return new Map(result.rows.map((r) => [r.plan.id, gridOf(r.runs, r.runs.map((run) => runFigures(run, warmupMs).meanMs))]));
}

/** Difference and ratio of two rows' mean latency, resampled together (null without two request sequences). */
function paired(grids: ReadonlyMap<string, RunGrid>, a: RowPlan, b: RowPlan): PairedFigures | null {
  const ga = grids.get(a.id);
  const gb = grids.get(b.id);
  if (ga === undefined || gb === undefined || a.id === b.id || ga.length < 2) return null;
  const one = (statistic: PairedStatistic): RunsInterval => pairedInterval(ga, gb, statistic, { random: streamRandom(`paired\u0000${a.id}\u0000${b.id}\u0000${statistic}`) });
  return { difference: one('difference'), ratio: one('ratio') };
}

/** Every row's figures and intervals. Seeded per row and metric, so the intervals are repeatable. */
export function rowStats(result: ExperimentResult): RowStats[] {
  const warmupMs = result.params.warmupSec * 1000;
  const compared = comparedRow(result);
  const clairvoyant = result.rows.find((r) => r.plan.bound === 'clairvoyant-static');
  const grids = meanGrids(result);
  return result.rows.map((row) => {
    const list = row.runs.map((run) => runFigures(run, warmupMs));
    const grid = (values: number[]): RunGrid => gridOf(row.runs, values);
    const interval = (metric: string, values: number[]): RunsInterval =>
      hierarchicalInterval(grid(values), { random: streamRandom(`interval\u0000${row.plan.id}\u0000${metric}`) });
    const meanGrid = grids.get(row.plan.id) as RunGrid;
    const seeds = meanGrid.length;
    const intervals = seeds < 2 ? null : Object.fromEntries(INTERVAL_METRICS.map((m) => [m, interval(m, list.map((f) => f[m]))])) as Record<IntervalMetric, RunsInterval>;
    const minutes = list[0]?.perMinuteMeanMs.length ?? 0;
    const perMinute = Array.from({ length: minutes }, (_, m) => {
      const values = list.map((f) => f.perMinuteMeanMs[m] as number);
      return seeds < 2 ? { estimate: finiteMean(values), low: Number.NaN, high: Number.NaN, confidence: 0.95 } : interval(`minute${m}`, values);
    });
    return {
      plan: row.plan,
      repeats: list.length,
      seeds,
      placements: meanGrid[0]?.length ?? 0,
      figures: meanFigures(list),
      intervals,
      meanGrid,
      seedSpread: seedSpread(meanGrid),
      perMinute,
      vsCompared: compared !== undefined ? paired(grids, row.plan, compared.plan) : null,
      vsClairvoyant: clairvoyant !== undefined ? paired(grids, row.plan, clairvoyant.plan) : null,
    };
  });
}

/** A policy against the best hand-tuned threshold of a sweep, paired. */
export interface AgainstBest {
  readonly row: RowPlan;
  readonly best: RowPlan;
  readonly figures: PairedFigures;
}

/**
 * Every policy row outside the sweeps (auto thresholds among them) against
 * the best threshold of each sweep. "Best" is chosen on these same runs, which
 * flatters the sweep a little; the interval does not account for that choice.
 */
export function againstBestThresholds(result: ExperimentResult, stats: readonly RowStats[]): AgainstBest[] {
  const grids = meanGrids(result);
  const out: AgainstBest[] = [];
  const bests = [...bestOfSweeps(stats)];
  for (const s of stats) {
    if (s.plan.bound !== undefined || isNumericThreshold(s.plan.threshold)) continue;
    for (const best of bests) {
      const figures = paired(grids, s.plan, best.plan);
      if (figures !== null) out.push({ row: s.plan, best: best.plan, figures });
    }
  }
  return out;
}

/** Rows that sweep a numeric load threshold, by policy ("auto" rows are not points of a sweep). */
export function thresholdSweeps<T extends { plan: RowPlan }>(rows: readonly T[]): Map<string, T[]> {
  const sweeps = new Map<string, T[]>();
  for (const r of rows) {
    if (r.plan.bound !== undefined || !isNumericThreshold(r.plan.threshold)) continue;
    const list = sweeps.get(r.plan.balancer) ?? [];
    list.push(r);
    sweeps.set(r.plan.balancer, list);
  }
  return sweeps;
}

/** The best row by mean latency of each threshold sweep with more than one row: the best hand-tuned threshold ("auto" is not a candidate). */
export function bestOfSweeps(stats: readonly RowStats[]): Set<RowStats> {
  const best = new Set<RowStats>();
  for (const sweep of thresholdSweeps(stats).values()) {
    if (sweep.length < 2) continue;
    let top = sweep[0] as RowStats;
    for (const r of sweep) if (r.figures.meanMs < top.figures.meanMs || !Number.isFinite(top.figures.meanMs)) top = r;
    best.add(top);
  }
  return best;
}

/**
 * The rows a chart compares: every policy without a threshold, each threshold
 * policy at its best numeric threshold (or its only one) and at "auto", and the bounds.
 */
export function comparedRows(stats: readonly RowStats[]): RowStats[] {
  const best = bestOfSweeps(stats);
  const sweeps = thresholdSweeps(stats);
  return stats.filter((r) => !isNumericThreshold(r.plan.threshold) || best.has(r) || (sweeps.get(r.plan.balancer)?.length ?? 0) === 1);
}

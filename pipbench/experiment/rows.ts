// Statistics of rows over their repeats (placements x request sequences): the
// mean of every figure with its bootstrap interval, the paired difference from
// the compared row, and which rows a chart compares (the best of each
// threshold sweep).

import { seededRandom as streamRandom } from '../random.js';
import { bootstrapInterval, mean, pairedDifferenceInterval, type Interval } from '../stats.js';
import { runFigures, type RunFigures } from './figures.js';
import { isNumericThreshold, type RowPlan } from './plan.js';
import type { ExperimentResult, RowResult } from './result.js';

/** Figures with intervals over repeats. */
export const INTERVAL_METRICS = ['meanMs', 'p50Ms', 'p80Ms', 'p99Ms', 'windowMeanMs', 'steadyMeanMs', 'throughputPerSec', 'backlogAtEnd'] as const;
export type IntervalMetric = (typeof INTERVAL_METRICS)[number];

export interface RowStats {
  readonly plan: RowPlan;
  readonly repeats: number;
  /** Mean over repeats of each figure. */
  readonly figures: RunFigures;
  /** Bootstrap 95% intervals of the mean over repeats (null with one repeat). */
  readonly intervals: Record<IntervalMetric, Interval> | null;
  /** Per-minute means with intervals over repeats. */
  readonly perMinute: Interval[];
  /** Paired difference of the mean (this row minus the compared row), null for the compared row itself or one repeat. */
  readonly vsCompared: Interval | null;
  /** Per-repeat means, for charts. */
  readonly repeatMeansMs: number[];
}

function meanFigures(list: readonly RunFigures[]): RunFigures {
  const avg = (f: (r: RunFigures) => number): number => mean(list.map(f).filter((v) => Number.isFinite(v)));
  const minutes = list[0]?.perMinuteMeanMs.length ?? 0;
  return {
    requests: avg((r) => r.requests), successes: avg((r) => r.successes), failures: avg((r) => r.failures),
    throughputPerSec: avg((r) => r.throughputPerSec), meanMs: avg((r) => r.meanMs), p50Ms: avg((r) => r.p50Ms), p80Ms: avg((r) => r.p80Ms),
    p95Ms: avg((r) => r.p95Ms), p99Ms: avg((r) => r.p99Ms), maxMs: avg((r) => r.maxMs),
    windowAnswers: avg((r) => r.windowAnswers), windowMeanMs: avg((r) => r.windowMeanMs), windowP50Ms: avg((r) => r.windowP50Ms),
    windowP80Ms: avg((r) => r.windowP80Ms), windowP99Ms: avg((r) => r.windowP99Ms), steadyMeanMs: avg((r) => r.steadyMeanMs),
    backlogAtEnd: avg((r) => r.backlogAtEnd), unansweredAtDrain: avg((r) => r.unansweredAtDrain), coldShare: avg((r) => r.coldShare),
    perMinuteMeanMs: Array.from({ length: minutes }, (_, m) => avg((r) => r.perMinuteMeanMs[m] as number)),
  };
}

/** The row every other is paired against: --compare-to, else the first policy row. */
export function comparedRow(result: ExperimentResult): RowResult | undefined {
  const id = result.params.compareTo;
  return id !== undefined ? result.rows.find((r) => r.plan.id === id) : result.rows.find((r) => r.plan.bound === undefined);
}

/** Every row's figures and intervals. Seeded per row and metric, so the intervals are repeatable. */
export function rowStats(result: ExperimentResult): RowStats[] {
  const warmupMs = result.params.warmupSec * 1000;
  const figuresOf = new Map(result.rows.map((r) => [r, r.runs.map((run) => runFigures(run, warmupMs))]));
  const compared = comparedRow(result);
  const comparedMeans = compared ? (figuresOf.get(compared) as RunFigures[]).map((f) => f.meanMs) : [];
  return result.rows.map((row) => {
    const list = figuresOf.get(row) as RunFigures[];
    const n = list.length;
    const interval = (metric: string, values: number[]): Interval =>
      bootstrapInterval(values, { random: streamRandom(`interval\u0000${row.plan.id}\u0000${metric}`) });
    const intervals = n < 2 ? null : Object.fromEntries(INTERVAL_METRICS.map((m) => [m, interval(m, list.map((f) => f[m]))])) as Record<IntervalMetric, Interval>;
    const minutes = list[0]?.perMinuteMeanMs.length ?? 0;
    const perMinute = Array.from({ length: minutes }, (_, m) => {
      const values = list.map((f) => f.perMinuteMeanMs[m] as number).filter((v) => Number.isFinite(v));
      return n < 2 ? { estimate: mean(values), low: Number.NaN, high: Number.NaN, confidence: 0.95 } : interval(`minute${m}`, values);
    });
    const means = list.map((f) => f.meanMs);
    const vsCompared = n < 2 || compared === undefined || compared === row || comparedMeans.length !== n
      ? null
      : pairedDifferenceInterval(means, comparedMeans, { random: streamRandom(`paired\u0000${row.plan.id}`) });
    return { plan: row.plan, repeats: n, figures: meanFigures(list), intervals, perMinute, vsCompared, repeatMeansMs: means };
  });
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

// ---------------------------------------------------------------- reporting

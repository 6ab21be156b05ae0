// The comparison's charts (vega-lite, rendered to SVG): mean latency per row,
// the threshold sweep, the cold-start transient per minute, the latency CDF and
// the per-handler-group heat map.

import { AUTO_THRESHOLD } from '../../balancers/settings.js';
import { cdfCurves, curveChart, estimateChart, heatMap, type CurvePoint } from '../charts.js';
import { fixed } from './format.js';
import { BASELINE_ID, isNumericThreshold, POOLED_ID, type RowPlan } from './plan.js';
import type { ExperimentResult } from './result.js';
import { comparedRows, rowStats, thresholdSweeps, type IntervalMetric, type RowStats } from './rows.js';

export const CHART_FILES = {
  meanLatency: 'mean-latency.svg',
  thresholdSweep: 'threshold-sweep.svg',
  latencyCdf: 'latency-cdf.svg',
  perHandler: 'latency-per-handler.svg',
  perMinute: 'latency-per-minute.svg',
} as const;

/** The colour key of a row: its policy, or its reference. */
function seriesOf(plan: RowPlan): string {
  if (plan.bound === 'all-warm') return BASELINE_ID;
  if (plan.bound === 'pooled') return POOLED_ID;
  if (plan.bound !== undefined) return plan.id;
  return plan.threshold === AUTO_THRESHOLD ? `${plan.balancer} auto` : plan.balancer;
}

function chartSubtitle(result: ExperimentResult): string {
  const p = result.params;
  const load = p.mode === 'async' ? `${fixed(1000 / p.waitMs, 1)} req/s for ${p.durationSec} s; offered load ${fixed(result.workload.offeredLoad, 2)}` : `${p.runners} sync runners for ${p.durationSec} s`;
  const reps = p.placements * p.seeds;
  return `${p.workers} workers, ${load}; ${reps > 1 ? `mean of ${reps} runs, 95% intervals` : 'one run'}`;
}

/** Charts as file name -> SVG text. */
export async function experimentCharts(result: ExperimentResult): Promise<Map<string, string>> {
  const stats = rowStats(result);
  const subtitle = chartSubtitle(result);
  const charts = new Map<string, string>();
  const sec = (ms: number): number => ms / 1000;
  const bounds = stats.filter((s) => s.plan.bound !== undefined);
  const referenceName = { 'all-warm': 'all-warm', pooled: 'compulsory', 'one-worker': 'one-worker', 'clairvoyant-static': 'clairvoyant static' } as const;
  const references = bounds.map((b) => ({ name: referenceName[b.plan.bound ?? 'all-warm'], value: sec(b.figures.meanMs), series: seriesOf(b.plan) }));
  // An estimate and its interval in seconds; a bound that is not known is the estimate.
  const inSeconds = (e: number, i: { low: number; high: number } | undefined): { estimate: number; low: number; high: number } =>
    ({ estimate: sec(e), low: sec(i && Number.isFinite(i.low) ? i.low : e), high: sec(i && Number.isFinite(i.high) ? i.high : e) });
  const est = (s: RowStats, metric: IntervalMetric): { estimate: number; low: number; high: number } => inSeconds(s.figures[metric], s.intervals?.[metric]);

  const policyRows = stats.filter((s) => s.plan.bound === undefined);
  const meanData = policyRows.map((s) => ({ label: s.plan.label, series: seriesOf(s.plan), ...est(s, 'meanMs') }));
  const meanRefs = splitByAxis(meanData.map((d) => d.estimate), references.map(({ name, value }) => ({ name, value })));
  charts.set(CHART_FILES.meanLatency, await estimateChart({
    title: 'Mean latency',
    subtitle: withOffAxis(subtitle, meanRefs.off),
    xTitle: 'mean latency (s)',
    data: meanData,
    references: meanRefs.shown,
  }));

  const sweeps = thresholdSweeps(stats);
  const sweepPoints: CurvePoint[] = [...sweeps].flatMap(([policy, rows]) => rows.map((r) => ({ series: policy, x: r.plan.threshold as number, ...est(r, 'meanMs') })));
  // Rows without a numeric threshold ("auto" among them) are dashed reference lines.
  const others = stats.filter((s) => !isNumericThreshold(s.plan.threshold)).map((s) => ({ name: s.plan.label, value: sec(s.figures.meanMs), series: seriesOf(s.plan) }));
  const thresholds = [...new Set(sweepPoints.map((p) => p.x))].sort((a, b) => a - b);
  const sweepRefs = splitByAxis(sweepPoints.map((p) => p.estimate), others);
  charts.set(CHART_FILES.thresholdSweep, await curveChart({
    title: 'Latency by load threshold',
    subtitle: withOffAxis(`${subtitle}; dashed: the other rows`, sweepRefs.off),
    xTitle: 'load threshold (in-flight at the home worker)',
    yTitle: 'mean latency (s)',
    points: sweepPoints,
    references: sweepRefs.shown,
    xLog: thresholds.length > 1 && (thresholds[thresholds.length - 1] as number) / (thresholds[0] as number) >= 20,
    xTicks: thresholds,
  }));

  const compared = comparedRows(stats);
  const label = (s: RowStats): string => (isNumericThreshold(s.plan.threshold) ? s.plan.label : seriesOf(s.plan));
  // A bound far below every policy in every minute (all-warm) is named, not drawn: on the axis it would squeeze the policies together.
  const policyMinutes = compared.filter((s) => s.plan.bound === undefined).flatMap((s) => s.perMinute.map((m) => sec(m.estimate)));
  const minuteRefs = splitByAxis(policyMinutes, compared.filter((s) => s.plan.bound !== undefined).map((s) => ({ name: seriesOf(s.plan), value: sec(Math.max(...s.perMinute.map((m) => m.estimate))) })));
  const offMinutes = new Set(minuteRefs.off.map((r) => r.name));
  charts.set(CHART_FILES.perMinute, await curveChart({
    title: 'Latency by minute sent',
    subtitle: withOffAxis(`${subtitle}; the cold start, then the steady state`, minuteRefs.off.map((r) => ({ ...r, name: `${r.name} at most` }))),
    xTitle: 'minute of the run (requests sent in it)',
    yTitle: 'mean latency (s)',
    points: compared.filter((s) => !offMinutes.has(seriesOf(s.plan))).flatMap((s) => s.perMinute.map((m, i) => ({ series: seriesOf(s.plan), x: i + 1, ...inSeconds(m.estimate, m) }))),
    xTicks: (compared[0]?.perMinute ?? []).map((_, i) => i + 1),
  }));

  // Pooled over every run of a row: the distribution a user of that policy sees.
  const rowsById = new Map(result.rows.map((r) => [r.plan.id, r]));
  charts.set(CHART_FILES.latencyCdf, await cdfCurves({
    title: 'Latency distribution',
    subtitle: `${subtitle}; threshold policies at their best threshold`,
    xTitle: 'latency (s)',
    series: compared.map((s) => {
      const values: number[] = [];
      for (const run of rowsById.get(s.plan.id)?.runs ?? []) for (let i = 0; i < run.latencyMs.length; i++) if (run.ok[i] === 1) values.push(sec(run.latencyMs[i] as number));
      return { name: seriesOf(s.plan), values };
    }),
  }));

  // Handlers grouped by routing key (their largest package): the unit package-aware routing places.
  const groups = result.handlerKeys;
  const groupSize = new Map<string, number>();
  for (const key of groups.values()) groupSize.set(key, (groupSize.get(key) ?? 0) + 1);
  // The largest groups each get a column; the rest share one, so the map stays legible at a column's width.
  const ordered = [...groupSize.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = new Map(ordered.slice(0, ordered.length > 12 ? 11 : 12).map(([k, n]) => [k, `${k} (${n})`]));
  const rest = ordered.slice(shown.size);
  const restLabel = `${rest.length} other keys (${rest.reduce((a, [, n]) => a + n, 0)})`;
  const columns = [...shown.values(), ...(rest.length > 0 ? [restLabel] : [])];
  const columnOf = (handler: string): string => shown.get(groups.get(handler) ?? handler) ?? restLabel;
  const cells: { row: string; column: string; value: number; text: string }[] = [];
  for (const s of compared) {
    const sums = new Map<string, { sum: number; n: number }>();
    for (const run of rowsById.get(s.plan.id)?.runs ?? []) {
      for (let i = 0; i < run.latencyMs.length; i++) {
        if (run.ok[i] !== 1) continue;
        const c = columnOf(run.handlers[i] as string);
        const e = sums.get(c) ?? { sum: 0, n: 0 };
        e.sum += run.latencyMs[i] as number;
        e.n++;
        sums.set(c, e);
      }
    }
    for (const [column, e] of sums) {
      const v = sec(e.sum / e.n);
      cells.push({ row: label(s), column, value: v, text: v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2) });
    }
  }
  charts.set(CHART_FILES.perHandler, await heatMap({
    title: 'Mean latency per handler group',
    subtitle: `${subtitle}; columns: handlers by largest package`,
    xTitle: 'routing key (handlers)',
    legendTitle: 'mean (s)',
    rows: compared.map(label),
    columns,
    cells,
  }));
  return charts;
}

/**
 * How far (a factor) a reference may lie outside the rows' range and still be
 * drawn. One further away would stretch the axis (or force a log axis) and
 * squeeze the differences between the rows into a corner; it is named with its
 * value in the subtitle instead.
 */
const REFERENCE_REACH = 5;

/** The references that fit the rows' axis, and those left off it. */
function splitByAxis<R extends { name: string; value: number }>(rowValues: readonly number[], references: readonly R[]): { shown: R[]; off: R[] } {
  const values = rowValues.filter((v) => Number.isFinite(v) && v > 0);
  if (values.length === 0) return { shown: [...references], off: [] };
  const lo = Math.min(...values) / REFERENCE_REACH;
  const hi = Math.max(...values) * REFERENCE_REACH;
  const fits = (r: R): boolean => !Number.isFinite(r.value) || (r.value >= lo && r.value <= hi);
  return { shown: references.filter(fits), off: references.filter((r) => !fits(r)) };
}

/** The subtitle with one line per reference left off the axis. */
function withOffAxis(subtitle: string, off: readonly { name: string; value: number }[]): string {
  return [subtitle, ...off.map((r) => `${r.name.replace(' (bound)', '')}: ${fixed(r.value, r.value >= 10 ? 1 : 2)} s (off axis)`)].join('; ');
}

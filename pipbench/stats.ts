import type { Random } from './random.js';

// Summary statistics of a recorded run. Latency statistics cover successful
// requests only, as pipbench's own log does: a failure's "latency" is the time
// to an error page or a dead socket, which would flatter the mean.

/** One recorded invocation, as the runner writes it. */
export interface RequestRecord {
  /** Wall-clock start, milliseconds since the Unix epoch. */
  readonly startEpochMs: number;
  /** Start relative to the beginning of the run, in milliseconds. */
  readonly offsetMs: number;
  readonly handler: string;
  /** HTTP status; 0 when no response arrived (network error, drain timeout). */
  readonly status: number;
  /** From sending the request to the last byte of the answer (or the error). */
  readonly latencyMs: number;
  /** Worker that served it (x-warmroute-worker header or the worker's JSON `worker`); '' if unknown. */
  readonly worker: string;
  /** Why it failed; '' for a 2xx answer. */
  readonly error: string;
}

/** Latency statistics in milliseconds over successful requests (nearest-rank percentiles); NaN when there are none. */
export interface LatencyStats {
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p80Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface RunSummary extends LatencyStats {
  readonly requests: number;
  readonly successes: number;
  readonly failures: number;
  /** Seconds from the start of the run to its last answer (at least the configured duration). */
  readonly elapsedSec: number;
  /** Successful requests per second of `elapsedSec`. */
  readonly throughputPerSec: number;
  readonly minMs: number;
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/**
 * Nearest-rank percentile: the smallest sample such that at least p% of the
 * samples are less than or equal to it, i.e. the value at 1-based rank
 * ceil(p/100 * n). Always a value that was actually observed; no interpolation.
 * `sortedAsc` must be sorted ascending (an array or a typed array). NaN for an
 * empty sample.
 */
export function percentile(sortedAsc: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const n = sortedAsc.length;
  if (n === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * n));
  return sortedAsc[rank - 1] as number;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export function sortedAscending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** The latency statistics of latencies sorted ascending. */
export function latencyStats(sorted: readonly number[]): LatencyStats {
  return {
    meanMs: mean(sorted),
    p50Ms: percentile(sorted, 50),
    p80Ms: percentile(sorted, 80),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}

/**
 * Summarises records. `elapsedMs` is the length of the run; throughput is
 * measured over it, so a policy whose backlog drains long after the last
 * arrival shows a lower throughput than one that kept up.
 */
export function summarize(records: readonly RequestRecord[], elapsedMs: number): RunSummary {
  const latencies: number[] = [];
  for (const r of records) if (isSuccess(r.status)) latencies.push(r.latencyMs);
  const sorted = sortedAscending(latencies);
  const elapsedSec = elapsedMs / 1000;
  return {
    requests: records.length,
    successes: sorted.length,
    failures: records.length - sorted.length,
    elapsedSec,
    throughputPerSec: elapsedSec > 0 ? sorted.length / elapsedSec : Number.NaN,
    minMs: sorted.length > 0 ? (sorted[0] as number) : Number.NaN,
    ...latencyStats(sorted),
  };
}

/** Milliseconds as a short human string: "850 ms", "12.3 s". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (Math.abs(ms) >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (Math.abs(ms) >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (Math.abs(ms) >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/** The summary as the aligned text block `pipbench run` prints. */
export function formatSummary(s: RunSummary): string {
  const rows: [string, string][] = [
    ['requests', String(s.requests)],
    ['failures', String(s.failures)],
    ['elapsed', `${s.elapsedSec.toFixed(1)} s`],
    ['throughput', Number.isFinite(s.throughputPerSec) ? `${s.throughputPerSec.toFixed(2)} req/s` : '-'],
    ['mean', formatMs(s.meanMs)],
    ['p50', formatMs(s.p50Ms)],
    ['p80', formatMs(s.p80Ms)],
    ['p95', formatMs(s.p95Ms)],
    ['p99', formatMs(s.p99Ms)],
    ['max', formatMs(s.maxMs)],
  ];
  return rows.map(([k, v]) => `${k.padEnd(11)} ${v}`).join('\n') + '\n';
}

/** A point estimate with a confidence interval. */
export interface Interval {
  readonly estimate: number;
  readonly low: number;
  readonly high: number;
  /** Nominal coverage, e.g. 0.95. */
  readonly confidence: number;
}

export interface BootstrapOptions {
  /** The seeded stream the resamples draw from (pipbench/random.ts), so an interval is repeatable. */
  readonly random: Random;
  /** Resamples; default 2000. */
  readonly resamples?: number;
  /** Default 0.95. */
  readonly confidence?: number;
}

const DEFAULT_RESAMPLES = 2000;

function bootstrapSettings(opts: BootstrapOptions): { resamples: number; confidence: number } {
  const resamples = opts.resamples ?? DEFAULT_RESAMPLES;
  const confidence = opts.confidence ?? 0.95;
  if (!Number.isInteger(resamples) || resamples < 10) throw new RangeError(`resamples must be an integer of at least 10, got ${resamples}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be between 0 and 1, got ${confidence}`);
  return { resamples, confidence };
}

/** The percentile interval of resampled statistics, `tail` percent cut off each side (default: the plain interval's). */
function percentileInterval(estimate: number, stats: number[], confidence: number, tail = ((1 - confidence) / 2) * 100): Interval {
  const sorted = sortedAscending(stats);
  return { estimate, low: percentile(sorted, tail), high: percentile(sorted, 100 - tail), confidence };
}

/**
 * Percentile bootstrap confidence interval of `statistic` (default: the mean)
 * over `sample`: resample with replacement, recompute, take the middle
 * `confidence` of the resampled values. NaN bounds for an empty sample.
 */
export function bootstrapInterval(
  sample: readonly number[],
  opts: BootstrapOptions,
  statistic: (values: readonly number[]) => number = mean,
): Interval {
  const { resamples, confidence } = bootstrapSettings(opts);
  const n = sample.length;
  if (n === 0) return { estimate: Number.NaN, low: Number.NaN, high: Number.NaN, confidence };
  const stats: number[] = [];
  const resample = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) resample[i] = sample[opts.random.int(n)] as number;
    stats.push(statistic(resample));
  }
  return percentileInterval(statistic(sample), stats, confidence);
}

// ---------------------------------------------------------------- runs by request sequence and placement

/**
 * One figure of a row's runs, by request sequence (seed) and placement:
 * `grid[s][p]` is the run at the s-th sequence and the p-th placement. The
 * placements are crossed with the sequences (every sequence runs at the same
 * placements, as `simulate` runs them). A row whose runs do not depend on the
 * placement has one column: its one run per sequence, counted once.
 */
export type RunGrid = readonly (readonly number[])[];

/** Seed-to-seed spread of a row: its per-sequence means (each over the placements). */
export interface SeedSpread {
  readonly seeds: number;
  /** Sample standard deviation of the per-sequence means (NaN with fewer than two). */
  readonly sd: number;
  readonly min: number;
  readonly max: number;
}

/** A paired statistic of two rows on the same runs: a - b, or a / b, of their means. */
export type PairedStatistic = 'difference' | 'ratio';

/** The mean of the finite values (NaN when there are none). */
export function finiteMean(values: readonly number[]): number {
  return mean(values.filter((v) => Number.isFinite(v)));
}

function gridShape(grid: RunGrid, what: string): { seeds: number; placements: number } {
  const placements = grid[0]?.length ?? 0;
  if (grid.some((row) => row.length !== placements || row.length === 0)) {
    throw new RangeError(`${what}: every request sequence needs the same number of placements (at least one)`);
  }
  return { seeds: grid.length, placements };
}

export function seedSpread(grid: RunGrid): SeedSpread {
  gridShape(grid, 'seed spread');
  const means = grid.map(finiteMean).filter((v) => Number.isFinite(v));
  if (means.length === 0) return { seeds: 0, sd: Number.NaN, min: Number.NaN, max: Number.NaN };
  const m = mean(means);
  const sd = means.length > 1 ? Math.sqrt(means.reduce((a, v) => a + (v - m) ** 2, 0) / (means.length - 1)) : Number.NaN;
  return { seeds: means.length, sd, min: Math.min(...means), max: Math.max(...means) };
}

/**
 * P(|T| <= t) for Student's t with `df` degrees of freedom (a whole number),
 * by the closed forms of Abramowitz & Stegun 26.7.3-4.
 */
function studentTwoSided(t: number, df: number): number {
  const theta = Math.atan(Math.abs(t) / Math.sqrt(df));
  const c2 = Math.cos(theta) ** 2;
  const s = Math.sin(theta);
  let sum = 0;
  if (df % 2 === 1) {
    let term = Math.cos(theta);
    for (let k = 3; k <= df; k += 2) { sum += term; term *= (c2 * (k - 1)) / k; }
    return (2 / Math.PI) * (theta + s * sum);
  }
  let term = 1;
  for (let k = 2; k <= df; k += 2) { sum += term; term *= (c2 * (k - 1)) / k; }
  return s * sum;
}

/** The t such that P(|T| <= t) = coverage, by bisection. */
function studentQuantile(coverage: number, df: number): number {
  let low = 0;
  let high = 1;
  while (studentTwoSided(high, df) < coverage) high *= 2;
  for (let i = 0; i < 100; i++) {
    const mid = (low + high) / 2;
    if (studentTwoSided(mid, df) < coverage) low = mid; else high = mid;
  }
  return (low + high) / 2;
}

/** P(Z > x) for a standard normal, x >= 0 (Abramowitz & Stegun 7.1.26, error under 1e-7). */
function normalUpperTail(x: number): number {
  const z = x / Math.SQRT2;
  const k = 1 / (1 + 0.3275911 * z);
  const poly = k * (0.254829592 + k * (-0.284496736 + k * (1.421413741 + k * (-1.453152027 + k * 1.061405429))));
  return 0.5 * poly * Math.exp(-z * z);
}

/**
 * The tail (each side) of the expanded percentile interval (Hesterberg, "What
 * teachers should know about the bootstrap", 2015): with n top-level units the
 * plain percentile interval is too narrow by the factor sqrt((n-1)/n) z / t,
 * so the percentiles are taken at the normal tail of sqrt(n/(n-1)) t_{n-1}.
 * With 10 request sequences a 95% interval takes the 0.86% and 99.14% points.
 */
function expandedTail(confidence: number, units: number): number {
  const t = studentQuantile(confidence, units - 1);
  return normalUpperTail(Math.sqrt(units / (units - 1)) * t);
}

/** Bounds of a range, without an estimate of its own. */
export interface Range {
  readonly low: number;
  readonly high: number;
}

/**
 * A confidence interval of a statistic of runs with its rerun interval:
 * `low`..`high` holds the true value with probability `confidence`; `rerun`
 * holds, with the same probability, the estimate that a fresh run of the same
 * size (new request sequences, new placements, as many of each) would give.
 */
export interface RunsInterval extends Interval {
  readonly rerun: Range;
}

/**
 * The rerun interval (a prediction interval for the estimate of an independent
 * run of the same size) from the confidence interval of one run. A fresh
 * estimate X' and this one X are independent with the same spread, so X' - X
 * has twice the variance of X - truth: each side of the interval is widened by
 * sqrt(2) around the estimate. On the expanded percentile interval this is the
 * classical prediction interval for the mean of a new sample of n, X +- t_{n-1}
 * s sqrt(1/n + 1/n), and it keeps the skew of the resampled values (a ratio's
 * upper side is longer), which the distribution of the difference of two
 * resamples, symmetric by construction, would not. Never narrower than the
 * confidence interval on either side.
 */
function rerunRange(ci: Interval): Range {
  const { estimate, low, high } = ci;
  return {
    low: Math.min(low, estimate - Math.SQRT2 * (estimate - low)),
    high: Math.max(high, estimate + Math.SQRT2 * (high - estimate)),
  };
}

/**
 * Bootstrap of a statistic of grids resampled in two stages: request sequences
 * with replacement, then placements with replacement. Placements are crossed
 * with sequences (the same placement runs under every sequence), so one draw of
 * placements serves every resampled sequence: a placement that is bad under
 * every sequence is then a shared effect, as it is in the runs. `statistic`
 * gets the multiplicity of each sequence and each placement. The rerun interval
 * comes from the same resamples (rerunRange).
 */
function twoStageBootstrap(
  shape: { seeds: number; placements: number },
  opts: BootstrapOptions,
  statistic: (seedCounts: readonly number[], placementCounts: readonly number[]) => number,
): RunsInterval {
  const { resamples, confidence } = bootstrapSettings(opts);
  const { seeds, placements } = shape;
  const ones = (n: number): number[] => new Array<number>(n).fill(1);
  const estimate = statistic(ones(seeds), ones(placements));
  const unseen = { estimate, low: Number.NaN, high: Number.NaN, confidence, rerun: { low: Number.NaN, high: Number.NaN } };
  if (seeds < 2) return unseen;
  const stats: number[] = [];
  const seedCounts = new Array<number>(seeds);
  const placementCounts = new Array<number>(placements);
  for (let r = 0; r < resamples; r++) {
    seedCounts.fill(0);
    placementCounts.fill(0);
    for (let i = 0; i < seeds; i++) seedCounts[opts.random.int(seeds)]++;
    for (let j = 0; j < placements; j++) placementCounts[opts.random.int(placements)]++;
    const value = statistic(seedCounts, placementCounts);
    if (Number.isFinite(value)) stats.push(value);
  }
  if (stats.length === 0) return unseen;
  const ci = percentileInterval(estimate, stats, confidence, expandedTail(confidence, seeds) * 100);
  return { ...ci, rerun: rerunRange(ci) };
}

/** Sum and weight of a grid's finite entries under multiplicities (a one-column grid counts once per placement drawn). */
function weightedSum(grid: RunGrid, seedCounts: readonly number[], placementCounts: readonly number[]): { sum: number; weight: number } {
  let sum = 0;
  let weight = 0;
  const broadcast = grid[0]?.length === 1 && placementCounts.length > 1;
  for (let i = 0; i < grid.length; i++) {
    const r = seedCounts[i] as number;
    if (r === 0) continue;
    const row = grid[i] as readonly number[];
    for (let j = 0; j < placementCounts.length; j++) {
      const w = r * (placementCounts[j] as number);
      const v = row[broadcast ? 0 : j] as number;
      if (w === 0 || !Number.isFinite(v)) continue;
      sum += w * v;
      weight += w;
    }
  }
  return { sum, weight };
}

/**
 * The mean of a row's runs with its hierarchical bootstrap interval: request
 * sequences resampled first, then placements, never the runs as if they were
 * independent (runs of one sequence share its requests). The interval is the
 * expanded percentile interval over the sequences, with the rerun interval
 * beside it; NaN bounds with fewer than two sequences, whose spread cannot be
 * seen.
 */
export function hierarchicalInterval(grid: RunGrid, opts: BootstrapOptions): RunsInterval {
  const shape = gridShape(grid, 'interval');
  return twoStageBootstrap(shape, opts, (sc, pc) => {
    const { sum, weight } = weightedSum(grid, sc, pc);
    return weight > 0 ? sum / weight : Number.NaN;
  });
}

/**
 * A paired statistic of two rows run on the same sequences and placements:
 * mean(a) - mean(b) or mean(a) / mean(b), both rows resampled with the same
 * draws. A one-column grid (a row the placement does not change) pairs with
 * every placement of the other.
 */
export function pairedInterval(a: RunGrid, b: RunGrid, statistic: PairedStatistic, opts: BootstrapOptions): RunsInterval {
  const sa = gridShape(a, 'paired interval');
  const sb = gridShape(b, 'paired interval');
  if (sa.seeds !== sb.seeds) throw new RangeError(`paired rows must have the same request sequences, got ${sa.seeds} and ${sb.seeds}`);
  if (sa.placements !== sb.placements && sa.placements !== 1 && sb.placements !== 1) {
    throw new RangeError(`paired rows must have the same placements, got ${sa.placements} and ${sb.placements}`);
  }
  const shape = { seeds: sa.seeds, placements: Math.max(sa.placements, sb.placements) };
  return twoStageBootstrap(shape, opts, (sc, pc) => {
    const x = weightedSum(a, sc, pc);
    const y = weightedSum(b, sc, pc);
    const ma = x.weight > 0 ? x.sum / x.weight : Number.NaN;
    const mb = y.weight > 0 ? y.sum / y.weight : Number.NaN;
    return statistic === 'difference' ? ma - mb : ma / mb;
  });
}

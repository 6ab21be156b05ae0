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

export interface RunSummary {
  readonly requests: number;
  readonly successes: number;
  readonly failures: number;
  /** Seconds from the start of the run to its last answer (at least the configured duration). */
  readonly elapsedSec: number;
  /** Successful requests per second of `elapsedSec`. */
  readonly throughputPerSec: number;
  /** Latency statistics in milliseconds over successful requests; NaN when there are none. */
  readonly meanMs: number;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p80Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
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
    meanMs: mean(sorted),
    minMs: sorted.length > 0 ? (sorted[0] as number) : Number.NaN,
    p50Ms: percentile(sorted, 50),
    p80Ms: percentile(sorted, 80),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}

/** Per-handler latency summary (successful requests), for per-handler charts. */
export function meanLatencyByHandler(records: readonly RequestRecord[]): Map<string, { mean: number; count: number }> {
  const sums = new Map<string, { sum: number; count: number }>();
  for (const r of records) {
    if (!isSuccess(r.status)) continue;
    const s = sums.get(r.handler) ?? { sum: 0, count: 0 };
    s.sum += r.latencyMs;
    s.count += 1;
    sums.set(r.handler, s);
  }
  const out = new Map<string, { mean: number; count: number }>();
  for (const [h, s] of sums) out.set(h, { mean: s.sum / s.count, count: s.count });
  return out;
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

/** The percentile interval of resampled statistics, with the project's one percentile function. */
function percentileInterval(estimate: number, stats: number[], confidence: number): Interval {
  const sorted = sortedAscending(stats);
  const tail = ((1 - confidence) / 2) * 100;
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

/**
 * Paired percentile bootstrap of a difference: `a[i]` and `b[i]` are measured
 * on the same unit (placement, seed), so pairs are resampled together and the
 * interval is of statistic(a) - statistic(b). An interval excluding 0 says
 * the two differ at that confidence.
 */
export function pairedDifferenceInterval(
  a: readonly number[],
  b: readonly number[],
  opts: BootstrapOptions,
  statistic: (values: readonly number[]) => number = mean,
): Interval {
  if (a.length !== b.length) throw new RangeError(`paired samples must have the same length, got ${a.length} and ${b.length}`);
  const { resamples, confidence } = bootstrapSettings(opts);
  const n = a.length;
  if (n === 0) return { estimate: Number.NaN, low: Number.NaN, high: Number.NaN, confidence };
  const stats: number[] = [];
  const ra = new Array<number>(n);
  const rb = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) {
      const j = opts.random.int(n);
      ra[i] = a[j] as number;
      rb[i] = b[j] as number;
    }
    stats.push(statistic(ra) - statistic(rb));
  }
  return percentileInterval(statistic(a) - statistic(b), stats, confidence);
}

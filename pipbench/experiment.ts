// The policy comparison: for each routing policy (and pkg-aware at each load
// threshold), a fresh cluster of simulated workers with cold caches, a fresh
// warmroute proxy, and the same workload; plus an all-warm baseline, the
// latency no policy can beat. Results are reported in simulated time at
// scale 1 (measured wall time divided by the time scale), so they compare
// with measurements of real OpenLambda workers.

import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { balancerNames, policiesReading } from '../balancers/index.js';

/** Policies that read `loadThreshold`; experiments sweep it for these. */
export const thresholdPolicies: ReadonlySet<string> = new Set(policiesReading('loadThreshold'));
import { startProxy } from '../src/app.js';
import { formatRecordsCsv, rotationWindowSize, runWorkload, seededRandom, type HandlerChoice, type RunMode } from './runner.js';
import { isSuccess, meanLatencyByHandler, summarize, type RequestRecord, type RunSummary } from './stats.js';
import { barChart, categoryChart, cdfChart, lineChart, seriesColor, type ReferenceLine } from './svg.js';
import { startSimulatedWorker, type SimulatedWorker, type SimWorkerStatus } from './worker.js';
import { loadWorkload, type Workload } from './workload.js';

/** Every routing policy warmroute has, in the order balancers/index.ts lists them. */
export const POLICIES: readonly string[] = balancerNames;
export type PolicyName = string;
export const BASELINE_ID = 'all-warm';
const BASELINE_COLOR = '#222222';
export const DEFAULT_THRESHOLDS: readonly number[] = [1, 2, 3, 5, 10, 100];

export interface ExperimentParams {
  /** Folder name under outDir. */
  readonly name: string;
  readonly registry: string;
  readonly packages?: string;
  readonly handlers?: string;
  readonly workers: number;
  readonly policies: readonly PolicyName[];
  /** pkg-aware load thresholds; one row each. */
  readonly thresholds: readonly number[];
  /** Simulated seconds of sending per row. */
  readonly durationSec: number;
  readonly mode: RunMode;
  /** Simulated ms between arrivals (async) or think time (sync). */
  readonly waitMs: number;
  /** sync: closed-loop runners. */
  readonly runners: number;
  /** 0.1: every simulated cost runs 10x faster than at scale 1. */
  readonly timeScale: number;
  readonly cores?: number;
  readonly cacheMb?: number;
  readonly handlerMs?: number;
  /** Handler choice; a rotation period is in simulated milliseconds. Default uniform. */
  readonly choice?: HandlerChoice;
  /** Seeds the handler draw and the random policy. */
  readonly seed: number;
  /** Seeds the package sizes and costs filled in for registries without a package table (as \`pipbench worker --seed\`). */
  readonly workloadSeed: number;
  /** Simulated seconds to wait for outstanding requests after the duration. */
  readonly drainSec: number;
  readonly balanceFactor: number;
  readonly connectionsPerWorker: number;
  readonly outDir: string;
  /** The command line that produced the results, recorded in summary.md. */
  readonly command: string;
}

export interface RowPlan {
  /** File-name-safe id: `round-robin`, `pkg-aware-t3`, `all-warm`. */
  readonly id: string;
  /** Display name: `pkg-aware t=3`. */
  readonly label: string;
  /** Balancer name the proxy runs. */
  readonly balancer: string;
  readonly threshold?: number;
  readonly baseline: boolean;
  /** Stable colour across charts. */
  readonly color: string;
}

export interface WorkerSummary {
  readonly name: string;
  readonly invocations: number;
  readonly coldInvocations: number;
  readonly installs: number;
  readonly evictions: number;
  readonly peakRunning: number;
}

export interface RowResult {
  readonly plan: RowPlan;
  /** Simulated time at scale 1. */
  readonly summary: RunSummary;
  /** Simulated time at scale 1 (offset and latency); worker names are the simulated workers'. */
  readonly records: RequestRecord[];
  readonly unansweredAtDrain: number;
  readonly workers: WorkerSummary[];
  readonly wallSec: number;
}

export interface ExperimentResult {
  readonly params: ExperimentParams;
  readonly rows: RowResult[];
  readonly startedAt: string;
  readonly wallSec: number;
  /** Distinct handlers and total packages of the workload, for the record. */
  readonly handlerCount: number;
  /** Entries of the handler list the runner draws from. */
  readonly handlerListLength: number;
  readonly packageCount: number;
  readonly footprintMb: number;
}

export interface ExperimentHooks {
  onRowStart?(plan: RowPlan, index: number, total: number): void;
  onRecord?(plan: RowPlan, record: RequestRecord): void;
  onRowEnd?(row: RowResult, index: number, total: number): void;
}

/** The rows in run order: the policies as given (pkg-aware expanded per threshold), then the baseline. */
export function planRows(policies: readonly PolicyName[], thresholds: readonly number[]): RowPlan[] {
  const rows: Omit<RowPlan, 'color'>[] = [];
  for (const policy of policies) {
    if (thresholdPolicies.has(policy)) {
      for (const t of thresholds) rows.push({ id: `${policy}-t${t}`, label: `${policy} t=${t}`, balancer: policy, threshold: t, baseline: false });
    } else {
      rows.push({ id: policy, label: policy, balancer: policy, baseline: false });
    }
  }
  rows.push({ id: BASELINE_ID, label: 'all-warm (baseline)', balancer: 'least-loaded', baseline: true });
  // The baseline is the reference in every chart: always dark, never confused with a policy.
  return rows.map((r, i) => ({ ...r, color: r.baseline ? BASELINE_COLOR : seriesColor(i) }));
}

function toSimulated(r: RequestRecord, timeScale: number, workerNames: ReadonlyMap<string, string>): RequestRecord {
  return {
    ...r,
    offsetMs: r.offsetMs / timeScale,
    latencyMs: r.latencyMs / timeScale,
    worker: workerNames.get(r.worker) ?? r.worker,
  };
}

function workerSummary(s: SimWorkerStatus): WorkerSummary {
  return {
    name: s.name,
    invocations: s.invocations,
    coldInvocations: s.coldInvocations,
    installs: s.installs,
    evictions: s.evictions,
    peakRunning: s.peakRunning,
  };
}

async function runRow(plan: RowPlan, params: ExperimentParams, workload: Workload, hooks: ExperimentHooks): Promise<RowResult> {
  const started = performance.now();
  const workers: SimulatedWorker[] = [];
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  try {
    for (let i = 0; i < params.workers; i++) {
      workers.push(await startSimulatedWorker({
        workload,
        host: '127.0.0.1',
        port: 0,
        name: `worker${i + 1}`,
        cores: params.cores,
        cacheBytes: params.cacheMb !== undefined ? params.cacheMb * 1024 * 1024 : undefined,
        timeScale: params.timeScale,
        handlerMs: params.handlerMs,
        allWarm: plan.baseline,
      }));
    }
    const wallDurationMs = params.durationSec * 1000 * params.timeScale;
    const wallDrainMs = params.drainSec * 1000 * params.timeScale;
    // The proxy must never be the one to give up or queue: timeouts beyond the run, and
    // enough connections that requests wait in the workers' core queues, as with olscheduler.
    const patienceMs = Math.max(600_000, Math.ceil(wallDurationMs + wallDrainMs + 60_000));
    proxy = await startProxy({
      host: '127.0.0.1',
      port: 0,
      balancer: plan.balancer,
      loadThreshold: plan.threshold ?? 3,
      balanceFactor: params.balanceFactor,
      registry: resolve(params.registry),
      workers: workers.map((w) => ({ url: w.url, id: w.name, weight: 1 })),
      connectionsPerWorker: params.connectionsPerWorker,
      queueLimit: 1_000_000,
      queueTimeoutMs: patienceMs,
      headersTimeoutMs: patienceMs,
      bodyTimeoutMs: patienceMs,
      logLevel: 'silent',
    }, { random: seededRandom(params.seed + 1) });

    const result = await runWorkload({
      target: proxy.url,
      handlers: workload.handlers,
      mode: params.mode,
      runners: params.runners,
      intervalMs: params.waitMs * params.timeScale,
      durationMs: wallDurationMs,
      drainMs: wallDrainMs,
      seed: params.seed,
      choice: wallClockChoice(params.choice, params.timeScale),
      onRecord: (r) => hooks.onRecord?.(plan, r),
    });
    const workerNames = new Map(workers.map((w) => [w.name, w.name]));
    const records = result.records.map((r) => toSimulated(r, params.timeScale, workerNames));
    return {
      plan,
      summary: summarize(records, result.elapsedMs / params.timeScale),
      records,
      unansweredAtDrain: result.unansweredAtDrain,
      workers: workers.map((w) => workerSummary(w.status())),
      wallSec: (performance.now() - started) / 1000,
    };
  } finally {
    await proxy?.close();
    await Promise.all(workers.map((w) => w.close()));
  }
}

function wallClockChoice(choice: HandlerChoice | undefined, timeScale: number): HandlerChoice {
  if (!choice || choice.kind === 'uniform') return { kind: 'uniform' };
  return { ...choice, periodMs: choice.periodMs * timeScale };
}

function describeChoice(choice: HandlerChoice | undefined, handlerListLength: number): string {
  if (!choice || choice.kind === 'uniform') return 'uniform over the handler list';
  const size = rotationWindowSize(choice.slice, handlerListLength);
  return `rotation: uniform over a window of ${size} consecutive entries of the handler list, moving every ${choice.periodMs / 1000} s`;
}

/** The experiment's workload; throws an Error naming the file and the problem. */
export function loadExperimentWorkload(params: ExperimentParams): Promise<Workload> {
  return loadWorkload({ registry: params.registry, packages: params.packages, handlers: params.handlers, seed: params.workloadSeed });
}

/** Runs every row of the experiment, one after another, each on a fresh cluster. */
export async function runExperiment(params: ExperimentParams, hooks: ExperimentHooks = {}, preloaded?: Workload): Promise<ExperimentResult> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const workload = preloaded ?? await loadExperimentWorkload(params);
  const plans = planRows(params.policies, params.thresholds);
  const rows: RowResult[] = [];
  for (const [i, plan] of plans.entries()) {
    hooks.onRowStart?.(plan, i, plans.length);
    const row = await runRow(plan, params, workload, hooks);
    rows.push(row);
    hooks.onRowEnd?.(row, i, plans.length);
  }
  let footprint = 0;
  for (const info of workload.packages.values()) footprint += info.bytes;
  return {
    params,
    rows,
    startedAt,
    wallSec: (performance.now() - t0) / 1000,
    handlerCount: workload.registry.size,
    handlerListLength: workload.handlers.length,
    packageCount: workload.packages.size,
    footprintMb: footprint / (1024 * 1024),
  };
}

// ---------------------------------------------------------------- reporting

export const CHART_FILES = {
  meanLatency: 'mean-latency.svg',
  throughput: 'throughput.svg',
  thresholdSweep: 'threshold-sweep.svg',
  latencyCdf: 'latency-cdf.svg',
  perHandler: 'latency-per-handler.svg',
} as const;

/** Per-request files above this size are written with less detail. */
export const MAX_REQUEST_FILE_BYTES = 2 * 1024 * 1024;

export function requestFileName(plan: RowPlan): string {
  return `requests-${plan.id}.csv`;
}

function baselineOf(rows: readonly RowResult[]): RowResult | undefined {
  return rows.find((r) => r.plan.baseline);
}

/** Mean latency as a multiple of the all-warm baseline's (NaN without a baseline). */
export function meanVsBaseline(row: RowResult, rows: readonly RowResult[]): number {
  const base = baselineOf(rows);
  return base ? row.summary.meanMs / base.summary.meanMs : Number.NaN;
}

/**
 * The row as pipbench's own async runner measures it: its log stops when the
 * duration ends, so requests answered later are never counted. The thesis's
 * numbers are of this kind; ours include the backlog that drains afterwards.
 */
export function answeredWithinDuration(row: RowResult, durationSec: number): RunSummary {
  const end = durationSec * 1000;
  const inWindow = row.records.filter((r) => isSuccess(r.status) && r.offsetMs + r.latencyMs <= end);
  return summarize(inWindow, end);
}

function coldShare(row: RowResult): number {
  let cold = 0;
  let all = 0;
  for (const w of row.workers) { cold += w.coldInvocations; all += w.invocations; }
  return all > 0 ? cold / all : Number.NaN;
}

function seconds(ms: number, digits = 2): string {
  return Number.isFinite(ms) ? (ms / 1000).toFixed(digits) : '-';
}

function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** Rows that sweep a load threshold (pkg-aware and its kin), by policy. */
export function thresholdSweeps(rows: readonly RowResult[]): Map<string, RowResult[]> {
  const sweeps = new Map<string, RowResult[]>();
  for (const r of rows) {
    if (r.plan.baseline || r.plan.threshold === undefined) continue;
    const list = sweeps.get(r.plan.balancer) ?? [];
    list.push(r);
    sweeps.set(r.plan.balancer, list);
  }
  return sweeps;
}

/** The best row by mean latency of each threshold sweep with more than one row. */
export function bestOfSweeps(rows: readonly RowResult[]): Set<RowResult> {
  const best = new Set<RowResult>();
  for (const sweep of thresholdSweeps(rows).values()) {
    if (sweep.length < 2) continue;
    let top = sweep[0]!;
    for (const r of sweep) if (r.summary.meanMs < top.summary.meanMs || !Number.isFinite(top.summary.meanMs)) top = r;
    best.add(top);
  }
  return best;
}

/** CSV of a row's requests, less detailed when the full file would be too large. */
export function requestFileContent(row: RowResult): { content: string; note: string } {
  const full = formatRecordsCsv(row.records);
  if (Buffer.byteLength(full) <= MAX_REQUEST_FILE_BYTES) return { content: full, note: '' };
  // Keep what analysis needs (when, what, outcome, how long, where), in fewer bytes.
  const compact = (records: readonly RequestRecord[]): string => ['offset_ms,handler,status,latency_ms,worker']
    .concat(records.map((r) => `${r.offsetMs.toFixed(0)},${r.handler},${r.status},${r.latencyMs.toFixed(0)},${r.worker}`))
    .join('\n') + '\n';
  let content = compact(row.records);
  if (Buffer.byteLength(content) <= MAX_REQUEST_FILE_BYTES) return { content, note: 'compact columns (whole milliseconds, no start time or error text)' };
  const stride = Math.ceil(Buffer.byteLength(content) / MAX_REQUEST_FILE_BYTES);
  content = compact(row.records.filter((_, i) => i % stride === 0));
  return { content, note: `compact columns, every ${stride}th request only` };
}

export function summaryJson(result: ExperimentResult): unknown {
  const rows = result.rows;
  const finite = (n: number): number | null => (Number.isFinite(n) ? Number(n.toFixed(3)) : null);
  return {
    name: result.params.name,
    command: result.params.command,
    startedAt: result.startedAt,
    wallSec: finite(result.wallSec),
    timeUnit: 'simulated milliseconds at time scale 1 (measured wall time divided by timeScale)',
    workload: { handlers: result.handlerCount, handlerListLength: result.handlerListLength, packages: result.packageCount, footprintMb: finite(result.footprintMb) },
    params: { ...result.params, command: undefined, outDir: undefined },
    rows: rows.map((r) => ({
      id: r.plan.id,
      label: r.plan.label,
      balancer: r.plan.balancer,
      loadThreshold: r.plan.threshold ?? null,
      baseline: r.plan.baseline,
      requests: r.summary.requests,
      successes: r.summary.successes,
      failures: r.summary.failures,
      unansweredAtDrain: r.unansweredAtDrain,
      elapsedSec: finite(r.summary.elapsedSec),
      throughputPerSec: finite(r.summary.throughputPerSec),
      meanMs: finite(r.summary.meanMs),
      p50Ms: finite(r.summary.p50Ms),
      p80Ms: finite(r.summary.p80Ms),
      p95Ms: finite(r.summary.p95Ms),
      p99Ms: finite(r.summary.p99Ms),
      maxMs: finite(r.summary.maxMs),
      meanVsAllWarm: finite(meanVsBaseline(r, rows)),
      coldInvocationShare: finite(coldShare(r)),
      answeredWithinDuration: (() => {
        const w = answeredWithinDuration(r, result.params.durationSec);
        return { requests: w.requests, meanMs: finite(w.meanMs), p50Ms: finite(w.p50Ms), p80Ms: finite(w.p80Ms), p99Ms: finite(w.p99Ms) };
      })(),
      workers: r.workers,
      wallSec: finite(r.wallSec),
      requestsFile: requestFileName(r.plan),
    })),
  };
}

function describeParams(p: ExperimentParams, result: ExperimentResult): [string, string][] {
  const load = p.mode === 'async'
    ? `async (open loop), one request every ${p.waitMs} ms (${fixed(1000 / p.waitMs, 2)} req/s)`
    : `sync (closed loop), ${p.runners} runners${p.waitMs > 0 ? `, ${p.waitMs} ms think time` : ''}`;
  return [
    ['registry', `\`${p.registry}\` (${result.handlerCount} handlers, ${result.packageCount} packages, ${fixed(result.footprintMb, 1)} MB installed)`],
    ['package table', p.packages ? `\`${p.packages}\`` : `none: sizes and costs filled in from the measured samples, workload seed ${p.workloadSeed}`],
    ['handler list', p.handlers ? `\`${p.handlers}\`` : 'the registry\'s handlers'],
    ['workers', `${p.workers} simulated workers, cold caches (all-warm: every package installed and imported)`],
    ['worker cores', p.cores !== undefined ? String(p.cores) : 'worker default'],
    ['worker cache', p.cacheMb !== undefined ? `${p.cacheMb} MB` : 'worker default (a fraction of the footprint)'],
    ['handler run time', p.handlerMs !== undefined ? `${p.handlerMs} ms` : 'worker default'],
    ['load', load],
    ['handler choice', `${describeChoice(p.choice, result.handlerListLength)}, seed ${p.seed}`],
    ['duration', `${p.durationSec} s per row (simulated), then up to ${p.drainSec} s for outstanding answers`],
    ['time scale', `${p.timeScale} (a row takes ${fixed(p.durationSec * p.timeScale, 1)} s of wall time plus drain)`],
    ['proxy', `warmroute in-process, ${p.connectionsPerWorker} connections per worker, balance factor ${p.balanceFactor} (hashing-bounded)`],
  ];
}

export function summaryMarkdown(result: ExperimentResult, notes: ReadonlyMap<string, string>): string {
  const p = result.params;
  const rows = result.rows;
  const lines: string[] = [];
  lines.push(`# Experiment \`${p.name}\``, '');
  lines.push('Produced by:', '', '```sh', p.command, '```', '');
  lines.push(`Started ${result.startedAt}; took ${fixed(result.wallSec, 0)} s of wall time.`, '');
  lines.push('**All times are simulated time at time scale 1**: measured wall-clock latency divided by the time scale, so they compare with measurements of real OpenLambda workers. Throughput is successful requests per simulated second over the row\'s duration (or until its last answer, if later). Latency statistics cover successful requests; percentiles are nearest-rank.', '');
  lines.push('## Parameters', '', '| parameter | value |', '| --- | --- |');
  for (const [k, v] of describeParams(p, result)) lines.push(`| ${k} | ${v} |`);
  lines.push('');
  lines.push('## Results', '');
  lines.push('| policy | requests | failures | throughput (req/s) | mean (s) | p50 (s) | p80 (s) | p99 (s) | mean / all-warm | cold invocations |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const best = bestOfSweeps(rows);
  for (const r of rows) {
    const s = r.summary;
    const label = best.has(r) ? `${r.plan.label} (best)` : r.plan.label;
    lines.push(`| ${label} | ${s.requests} | ${s.failures} | ${fixed(s.throughputPerSec, 2)} | ${seconds(s.meanMs)} | ${seconds(s.p50Ms)} | ${seconds(s.p80Ms)} | ${seconds(s.p99Ms)} | ${fixed(meanVsBaseline(r, rows), 1)}x | ${Number.isFinite(coldShare(r)) ? `${(coldShare(r) * 100).toFixed(0)}%` : '-'} |`);
  }
  lines.push('');
  lines.push('"cold invocations": share of invocations that had to install or import at least one package.');
  lines.push('', '### Counting only answers that arrived within the duration', '');
  lines.push(`pipbench's async runner (run_workload.py) stops logging when the duration ends, so the requests still outstanding then are never counted; the thesis's figures were measured that way. The same rows, counted the same way (successful requests answered within the ${p.durationSec} s):`, '');
  lines.push('| policy | answered in time | mean (s) | p50 (s) | p80 (s) | p99 (s) |', '| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const w = answeredWithinDuration(r, p.durationSec);
    lines.push(`| ${r.plan.label} | ${w.requests} of ${r.summary.requests} | ${seconds(w.meanMs)} | ${seconds(w.p50Ms)} | ${seconds(w.p80Ms)} | ${seconds(w.p99Ms)} |`);
  }
  const unanswered = rows.filter((r) => r.unansweredAtDrain > 0);
  if (unanswered.length > 0) {
    lines.push('', `Requests without an answer at the end of the drain (counted as failures): ${unanswered.map((r) => `${r.plan.label} ${r.unansweredAtDrain}`).join(', ')}.`);
  }
  lines.push('', '## Charts', '');
  const charts: [string, string][] = [
    [CHART_FILES.meanLatency, 'Mean latency per policy'],
    [CHART_FILES.throughput, 'Throughput per policy'],
    [CHART_FILES.thresholdSweep, 'pkg-aware mean latency against its load threshold'],
    [CHART_FILES.latencyCdf, 'Latency CDF of every policy'],
    [CHART_FILES.perHandler, 'Mean latency per handler'],
  ];
  for (const [file, title] of charts) lines.push(`![${title}](${file})`, '');
  lines.push('## Files', '');
  lines.push('- `summary.json`: the numbers above, per-worker counts, parameters.');
  lines.push(`- \`requests-<policy>.csv\`: every request of a row (columns start, offset_ms, handler, status, latency_ms, worker, error; offset and latency in simulated ms, start in wall-clock time).`);
  for (const r of rows) {
    const note = notes.get(r.plan.id);
    if (note) lines.push(`  - \`${requestFileName(r.plan)}\` has ${note}.`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Charts as file name -> SVG text. */
export function experimentCharts(result: ExperimentResult): Map<string, string> {
  const rows = result.rows;
  const p = result.params;
  const rotation = p.choice?.kind === 'rotate'
    ? `, rotating ${rotationWindowSize(p.choice.slice, result.handlerListLength)} handlers every ${p.choice.periodMs / 1000} s`
    : '';
  const subtitle = `${p.workers} workers, ${p.mode === 'async' ? `1 request / ${p.waitMs} ms` : `${p.runners} sync runners`}${rotation}, ${p.durationSec} s; simulated time at scale 1`;
  const charts = new Map<string, string>();
  const base = baselineOf(rows);

  charts.set(CHART_FILES.meanLatency, barChart({
    title: 'Mean latency per policy',
    subtitle,
    xLabel: 'policy',
    yLabel: 'mean latency (s)',
    bars: rows.map((r) => ({ label: r.plan.label, value: r.summary.meanMs / 1000, color: r.plan.color })),
    formatValue: (v) => (v >= 10 ? v.toFixed(1) : v.toFixed(2)),
    reference: base ? { name: 'all-warm mean', value: base.summary.meanMs / 1000 } : undefined,
  }));

  charts.set(CHART_FILES.throughput, barChart({
    title: 'Throughput per policy',
    subtitle,
    xLabel: 'policy',
    yLabel: 'successful requests per second',
    bars: rows.map((r) => ({ label: r.plan.label, value: r.summary.throughputPerSec, color: r.plan.color })),
    formatValue: (v) => v.toFixed(2),
  }));

  const sweeps = thresholdSweeps(rows);
  const sweep = [...sweeps.values()].flat();
  const references: ReferenceLine[] = rows
    .filter((r) => r.plan.threshold === undefined || r.plan.baseline)
    .map((r) => ({ name: r.plan.label, value: r.summary.meanMs / 1000, color: r.plan.color }));
  charts.set(CHART_FILES.thresholdSweep, lineChart({
    title: `${[...sweeps.keys()].join(', ') || 'pkg-aware'}: mean latency against load threshold`,
    subtitle,
    xLabel: 'load threshold (in-flight requests at the home worker)',
    yLabel: 'mean latency (s)',
    xScale: sweep.length > 1 && Math.max(...sweep.map((r) => r.plan.threshold as number)) / Math.min(...sweep.map((r) => r.plan.threshold as number)) >= 20 ? 'log' : 'linear',
    xTicks: [...new Set(sweep.map((r) => r.plan.threshold as number))].sort((a, b) => a - b),
    series: [...sweeps].map(([name, rs]) => ({ name, color: rs[0]?.plan.color, points: rs.map((r) => ({ x: r.plan.threshold as number, y: r.summary.meanMs / 1000 })) })),
    references,
  }));

  charts.set(CHART_FILES.latencyCdf, cdfChart({
    title: 'Latency CDF per policy',
    subtitle,
    xLabel: 'latency (s, log scale)',
    series: rows.map((r) => ({
      name: r.plan.label,
      color: r.plan.color,
      values: r.records.filter((x) => isSuccess(x.status)).map((x) => x.latencyMs / 1000),
    })),
  }));

  // One series per policy: a threshold sweep only at its best threshold, to keep the chart legible.
  const best = bestOfSweeps(rows);
  const perHandlerRows = rows.filter((r) => r.plan.threshold === undefined || r.plan.baseline || best.has(r) || (thresholdSweeps(rows).get(r.plan.balancer)?.length ?? 0) === 1);
  const means = new Map(perHandlerRows.map((r) => [r.plan.id, meanLatencyByHandler(r.records)]));
  const handlers = [...new Set(rows.flatMap((r) => r.records.map((x) => x.handler)))];
  // Sorted by the mean over the policies shown (not by all-warm: with every package
  // warm, handlers differ only by noise), so the chart reads from cheap to costly.
  const policyMeans = perHandlerRows.filter((r) => !r.plan.baseline).map((r) => means.get(r.plan.id));
  const sortKey = new Map(handlers.map((h) => {
    const values = policyMeans.map((m) => m?.get(h)?.mean).filter((v): v is number => v !== undefined);
    return [h, values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : Number.POSITIVE_INFINITY];
  }));
  handlers.sort((a, b) => (sortKey.get(a) as number) - (sortKey.get(b) as number) || a.localeCompare(b));
  charts.set(CHART_FILES.perHandler, categoryChart({
    title: 'Mean latency per handler',
    subtitle: `${subtitle}; handlers sorted by their mean over the policies shown`,
    xLabel: 'handler (sorted by mean latency over the policies)',
    yLabel: 'mean latency (s, log scale)',
    yScale: 'log',
    style: 'lines',
    categories: handlers,
    series: perHandlerRows.map((r) => ({
      name: best.has(r) ? `${r.plan.label} (best)` : r.plan.label,
      color: r.plan.color,
      values: handlers.map((h) => {
        const m = means.get(r.plan.id)?.get(h);
        return m ? m.mean / 1000 : undefined;
      }),
    })),
  }));
  return charts;
}

const OWN_FILE = /^(summary\.(md|json)|requests-.+\.csv|(mean-latency|throughput|threshold-sweep|latency-cdf|latency-per-handler)\.svg)$/;

/** Writes results/<name>/ and returns the paths written. Removes files of an earlier run of the same name first. */
export async function writeExperimentResults(result: ExperimentResult): Promise<string[]> {
  const dir = join(result.params.outDir, result.params.name);
  await mkdir(dir, { recursive: true });
  for (const file of await readdir(dir)) {
    if (OWN_FILE.test(file)) await rm(join(dir, file));
  }
  const written: string[] = [];
  const put = async (file: string, content: string): Promise<void> => {
    const path = join(dir, file);
    await writeFile(path, content);
    written.push(path);
  };
  const notes = new Map<string, string>();
  for (const row of result.rows) {
    const { content, note } = requestFileContent(row);
    if (note) notes.set(row.plan.id, note);
    await put(requestFileName(row.plan), content);
  }
  for (const [file, svg] of experimentCharts(result)) await put(file, svg);
  await put('summary.json', JSON.stringify(summaryJson(result), null, 2) + '\n');
  await put('summary.md', summaryMarkdown(result, notes));
  return written;
}

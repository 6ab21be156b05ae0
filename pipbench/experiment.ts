// The policy comparison, shared by its two engines: `experiment` (real time:
// HTTP workers and a warmroute proxy per row) and `simulate` (virtual time: the
// same worker model, worker table, queues and policies, no sockets). Both plan
// the same rows, configure the proxy and the workers from the same parameters,
// reduce every run to the same data, and write the same summary.json rows,
// tables and charts. Results are in simulated time at scale 1, so they compare
// with measurements of real OpenLambda workers.

import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { balancerNames, policiesReading } from '../balancers/index.js';
import { AUTO_THRESHOLD } from '../balancers/settings.js';
import { startProxy } from '../src/app.js';
import { MODEL_DEFAULTS, type ModelParams } from './model.js';
import { seededRandom as streamRandom } from './random.js';
import { formatRecordsCsv, rotationWindowSize, runWorkload, seededRandom, type HandlerChoice, type RunMode } from './runner.js';
import {
  bootstrapInterval, isSuccess, mean, pairedDifferenceInterval, percentile, sortedAscending, type Interval, type RequestRecord,
} from './stats.js';
import { cdfCurves, curveChart, estimateChart, heatMap, type CurvePoint } from './charts.js';
import { sharedHostCpu, startSimulatedWorker, type SimulatedWorker, type SimWorkerStatus } from './worker.js';
import { footprintBytes, loadWorkload, type Workload } from './workload.js';

/** Policies that read `loadThreshold`; experiments sweep it for these. */
export const thresholdPolicies: ReadonlySet<string> = new Set(policiesReading('loadThreshold'));

/** Every routing policy warmroute has, in the order balancers/index.ts lists them. */
export const POLICIES: readonly string[] = balancerNames;
export type PolicyName = string;
export const BASELINE_ID = 'all-warm';
export const POOLED_ID = 'compulsory-install';
export const DEFAULT_THRESHOLDS: readonly Threshold[] = [1, 2, 3, 5, 10, 100];
/** A load threshold of pkg-aware: a number, or the proxy's `"auto"` (per worker, from observed costs). */
export type Threshold = number | typeof AUTO_THRESHOLD;

/** Whether a row's threshold is a hand-tuned number (one point of a sweep) rather than "auto". */
export function isNumericThreshold(t: Threshold | undefined): t is number {
  return typeof t === 'number';
}
/** The proxy's default status-poll interval (config key healthIntervalMs). */
export const DEFAULT_HEALTH_INTERVAL_MS = 2000;

/**
 * When requests arrive (open loop). `fixed`: one every waitMs, as pipbench's
 * async runner. `poisson`: exponential gaps of mean waitMs. `bursty`: Poisson
 * whose rate is `factor` times the mean for the first `burstSec` of every
 * `periodSec`, and lower for the rest, so that the mean rate stays 1/waitMs.
 */
export type ArrivalPattern =
  | { readonly kind: 'fixed' }
  | { readonly kind: 'poisson' }
  | { readonly kind: 'bursty'; readonly periodSec: number; readonly burstSec: number; readonly factor: number };

export interface ExperimentParams {
  /** Folder name under outDir. */
  readonly name: string;
  readonly registry: string;
  readonly packages?: string;
  /**
   * The package table the proxy's policies weigh, when it is not the workers'
   * (`--policy-packages`): another file, or "none" for no table at all.
   * Absent: the policies weigh `packages`, the costs the workers charge.
   */
  readonly policyPackages?: string;
  readonly handlers?: string;
  readonly workers: number;
  readonly policies: readonly PolicyName[];
  /** Load thresholds of the threshold policies (numbers, and "auto"); one row each. */
  readonly thresholds: readonly Threshold[];
  /** Simulated seconds of sending per row. */
  readonly durationSec: number;
  readonly mode: RunMode;
  /** Simulated ms between arrivals (async) or think time (sync). */
  readonly waitMs: number;
  readonly arrivals: ArrivalPattern;
  /** sync: closed-loop runners. */
  readonly runners: number;
  /** experiment only: 0.1 = every simulated cost runs 10x faster than at scale 1. */
  readonly timeScale: number;
  /** Processors per worker (the model's default when absent). */
  readonly cores?: number;
  /** Per-worker processors, overriding `cores` (unequal workers). */
  readonly workerCores?: readonly number[];
  /**
   * One CPU of this many processors shared by every worker (workers as
   * processes on one host: the thesis ran 5 workers on one 4-core machine);
   * instead of `cores` and `workerCores`.
   */
  readonly hostCores?: number;
  /** Per-worker routing weights (default 1 each). */
  readonly workerWeights?: readonly number[];
  /** Installed-package disk per worker, MiB (the model's default, unbounded, when absent). */
  readonly cacheMb?: number;
  readonly handlerMs?: number;
  /** Handler choice; a rotation period is in simulated milliseconds. Default uniform. */
  readonly choice?: HandlerChoice;
  /** First seed of the request sequence (handler draw, arrival times) and the random policy. */
  readonly seed: number;
  /** Request sequences per cell: seeds seed .. seed+seeds-1. */
  readonly seeds: number;
  /** First placement: worker ids are salted with it (0: plain worker1..N). */
  readonly placementSeed: number;
  /** Placements per cell: placementSeed .. placementSeed+placements-1. */
  readonly placements: number;
  /** Seeds the package sizes and costs filled in for registries without a package table. */
  readonly workloadSeed: number;
  /** Simulated seconds to wait for outstanding requests after the duration. */
  readonly drainSec: number;
  /** Requests sent in the first warmupSec are left out of the steady-state mean. */
  readonly warmupSec: number;
  readonly balanceFactor: number;
  readonly connectionsPerWorker: number;
  readonly healthIntervalMs: number;
  /** Row id every other row is paired against (default: the first policy row). */
  readonly compareTo?: string;
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
  readonly threshold?: Threshold;
  /** A lower bound rather than a policy: every package warm, or one pooled worker. */
  readonly bound?: 'all-warm' | 'pooled';
  /** True for the all-warm row (kept for the summary.json shape). */
  readonly baseline: boolean;
}

export interface WorkerSummary {
  readonly name: string;
  readonly invocations: number;
  readonly coldInvocations: number;
  readonly installs: number;
  readonly evictions: number;
  readonly peakRunning: number;
}

/**
 * One row at one placement and seed, reduced to what every table and chart
 * needs: typed arrays rather than record objects, so that thousands of runs fit.
 */
export interface RunData {
  readonly placementSeed: number;
  readonly seed: number;
  /** Per request, in send order: send time and latency (simulated ms), success, handler. */
  readonly sentMs: Float64Array;
  readonly latencyMs: Float64Array;
  readonly ok: Uint8Array;
  readonly handlers: readonly string[];
  readonly durationMs: number;
  /** From the first send to the last answer, at least the duration. */
  readonly elapsedMs: number;
  readonly unansweredAtDrain: number;
  /** Requests sent and not answered when the duration ended. */
  readonly backlogAtEnd: number;
  readonly workers: readonly WorkerSummary[];
  readonly wallSec: number;
}

export interface RowResult {
  readonly plan: RowPlan;
  /** One per repeat, in the same (placement, seed) order for every row: the pairing. */
  readonly runs: RunData[];
  /** The first repeat's requests, for requests-<row>.csv (empty when not kept). */
  readonly records: RequestRecord[];
}

export interface ExperimentResult {
  readonly engine: 'experiment' | 'simulate';
  readonly params: ExperimentParams;
  readonly rows: RowResult[];
  /** Real time only; left out of simulate's summary.json so that it is byte-identical across runs. */
  readonly startedAt?: string;
  readonly wallSec?: number;
  readonly workload: WorkloadFacts;
  /** Handler -> its routing key (largest package, or its own name without packages), for the per-group chart. */
  readonly handlerKeys: ReadonlyMap<string, string>;
  /** Another engine's results of the same cell, to set beside these (simulate --against). */
  readonly against?: AgainstResults;
}

/** The rows of another summary.json (the real-time experiment of the same cell), by row id. */
export interface AgainstResults {
  readonly path: string;
  readonly engine: string;
  readonly rows: ReadonlyMap<string, { meanMs: number; windowMeanMs: number; p80Ms: number }>;
}

/** Reads a summary.json written by experiment or simulate; throws an Error naming the file and the problem. */
export function parseAgainst(text: string, path: string): AgainstResults {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
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
export function ranks(values: ReadonlyMap<string, number>): Map<string, number> {
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
  lines.push(`| row | ${against.engine} mean (s) | ${result.engine} mean (s) | off | ${against.engine} window mean (s) | ${result.engine} window mean (s) | off | rank (${against.engine} / ${result.engine}) |`);
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  let worst = 0;
  for (const s of shared) {
    const other = against.rows.get(s.plan.id) as { meanMs: number; windowMeanMs: number };
    const off = s.figures.meanMs / other.meanMs - 1;
    const offWindow = s.figures.windowMeanMs / other.windowMeanMs - 1;
    if (s.plan.bound === undefined) worst = Math.max(worst, Math.abs(off));
    const pct = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%` : '-');
    const rank = s.plan.bound === undefined ? `${theirs.get(s.plan.id) ?? '-'} / ${mine.get(s.plan.id) ?? '-'}` : '(bound)';
    lines.push(`| ${s.plan.label} | ${seconds(other.meanMs)} | ${withInterval(s.intervals?.meanMs, s.figures.meanMs)} | ${pct(off)} | ${seconds(other.windowMeanMs)} | ${seconds(s.figures.windowMeanMs)} | ${pct(offWindow)} | ${rank} |`);
  }
  const sameRanking = policies.every((s) => mine.get(s.plan.id) === theirs.get(s.plan.id));
  lines.push('', `Policies: largest difference of the mean ${(100 * worst).toFixed(1)}%; ranking ${sameRanking ? 'identical' : '**differs**'}.`, '');
  return lines;
}

/** Handler -> the key package-aware policies hash: its first (largest) package. */
export function handlerKeysOf(workload: Workload): Map<string, string> {
  return new Map([...new Set(workload.handlers)].map((h) => [h, workload.registry.get(h)?.[0] ?? h]));
}

export interface WorkloadFacts {
  /** Distinct handlers and total packages of the workload. */
  readonly handlers: number;
  /** Entries of the handler list the runner draws from. */
  readonly handlerListLength: number;
  readonly packages: number;
  readonly footprintMb: number;
  /** CPU milliseconds one request costs with every package installed (sandbox, imports, handler), mean over the handler list. */
  readonly warmCpuMs: number;
  readonly totalCores: number;
  /** Requests per second the cluster serves once every package is installed: totalCores x 1000 / warmCpuMs. */
  readonly capacityPerSec: number;
  readonly arrivalRatePerSec: number;
  /** arrivalRatePerSec / capacityPerSec (open loop; NaN for closed loop). */
  readonly offeredLoad: number;
}

export interface ExperimentHooks {
  onRowStart?(plan: RowPlan, index: number, total: number): void;
  onRecord?(plan: RowPlan, record: RequestRecord): void;
  onRowEnd?(row: RowResult, index: number, total: number): void;
}

/**
 * The rows in run order: the policies as given (threshold policies once per
 * threshold), then the two lower bounds: all-warm (every package installed and
 * imported everywhere, routed least-loaded) and compulsory-install (one pooled
 * worker with every core and one shared cache: each package installed once).
 */
export function planRows(policies: readonly PolicyName[], thresholds: readonly Threshold[], bounds: { pooled: boolean } = { pooled: true }): RowPlan[] {
  const rows: RowPlan[] = [];
  for (const policy of policies) {
    if (thresholdPolicies.has(policy)) {
      for (const t of thresholds) rows.push({ id: `${policy}-t${t}`, label: `${policy} t=${t}`, balancer: policy, threshold: t, baseline: false });
    } else {
      rows.push({ id: policy, label: policy, balancer: policy, baseline: false });
    }
  }
  rows.push({ id: BASELINE_ID, label: 'all-warm (bound)', balancer: 'least-loaded', bound: 'all-warm', baseline: true });
  if (bounds.pooled) rows.push({ id: POOLED_ID, label: 'compulsory-install (bound)', balancer: 'round-robin', bound: 'pooled', baseline: false });
  return rows;
}

/** Worker ids of one placement: plain `worker1..N` for placement 0, else salted (`worker1~7`) so rings place keys anew. */
export function workerIds(count: number, placementSeed: number): string[] {
  return Array.from({ length: count }, (_, i) => (placementSeed === 0 ? `worker${i + 1}` : `worker${i + 1}~${placementSeed}`));
}

/** Placement and request-sequence seeds of every repeat, in pairing order. */
export function repeats(params: ExperimentParams): { placementSeed: number; seed: number }[] {
  const out: { placementSeed: number; seed: number }[] = [];
  for (let p = 0; p < params.placements; p++) {
    for (let s = 0; s < params.seeds; s++) out.push({ placementSeed: params.placementSeed + p, seed: params.seed + s });
  }
  return out;
}

function workerCores(params: ExperimentParams, index: number): number {
  if (params.hostCores !== undefined) return params.hostCores / params.workers;
  return params.workerCores?.[index] ?? params.cores ?? MODEL_DEFAULTS.cores;
}

/** The worker model's parameters for worker `index` of a row (the pooled row: the sum of every worker). */
export function modelParamsFor(params: ExperimentParams, plan: RowPlan, index: number): ModelParams {
  const pooled = plan.bound === 'pooled';
  const cores = pooled ? Array.from({ length: params.workers }, (_, i) => workerCores(params, i)).reduce((a, b) => a + b, 0) : workerCores(params, index);
  const disk = params.cacheMb !== undefined ? params.cacheMb * 1024 * 1024 : MODEL_DEFAULTS.diskBytes;
  return {
    ...MODEL_DEFAULTS,
    cores,
    diskBytes: pooled ? Number.POSITIVE_INFINITY : disk,
    importCacheBytes: pooled ? MODEL_DEFAULTS.importCacheBytes * params.workers : MODEL_DEFAULTS.importCacheBytes,
    handlerMs: params.handlerMs ?? MODEL_DEFAULTS.handlerMs,
    allWarm: plan.bound === 'all-warm',
  };
}

/** Routing weight of worker `index`. */
export function workerWeight(params: ExperimentParams, index: number): number {
  return params.workerWeights?.[index] ?? 1;
}

/** The package table the policies weigh: --policy-packages if given ("none": no table), else the workers' --packages. */
export function policyTableOf(params: ExperimentParams): string | undefined {
  if (params.policyPackages === undefined) return params.packages;
  return params.policyPackages === 'none' ? undefined : params.policyPackages;
}

/**
 * The proxy's configuration for a row, in the config-file format: the
 * real-time experiment starts a proxy from it, the simulator reads the same
 * values through the config loader. The proxy must never be the one to give up:
 * timeouts beyond the run, and enough connections that requests wait in the
 * workers' CPU, as they did behind olscheduler.
 */
export function proxyConfigFor(params: ExperimentParams, plan: RowPlan, workers: readonly { id: string; url: string; weight: number }[], timeScale: number): Record<string, unknown> {
  const patienceMs = Math.max(600_000, Math.ceil((params.durationSec + params.drainSec) * 1000 * timeScale + 60_000));
  const pooled = plan.bound === 'pooled';
  const policyTable = policyTableOf(params);
  return {
    host: '127.0.0.1',
    port: 0,
    balancer: plan.balancer,
    loadThreshold: plan.threshold ?? 3,
    balanceFactor: params.balanceFactor,
    registry: resolve(params.registry),
    // The workload's package table, so that cost-aware and "auto" weigh the costs the workers charge (or the
    // table --policy-packages names instead); without one every package counts the same.
    ...(policyTable !== undefined ? { packages: resolve(policyTable) } : {}),
    workers: workers.map((w) => ({ url: w.url, id: w.id, weight: w.weight })),
    connectionsPerWorker: pooled ? Math.min(100_000, params.connectionsPerWorker * params.workers) : params.connectionsPerWorker,
    queueLimit: 1_000_000,
    queueTimeoutMs: patienceMs,
    headersTimeoutMs: patienceMs,
    bodyTimeoutMs: patienceMs,
    healthIntervalMs: Math.max(1, Math.round(params.healthIntervalMs * timeScale)),
    logLevel: 'silent',
  };
}

export function workerSummary(s: { name: string; invocations: number; coldInvocations: number; installs: number; evictions: number; peakRunning: number }): WorkerSummary {
  return { name: s.name, invocations: s.invocations, coldInvocations: s.coldInvocations, installs: s.installs, evictions: s.evictions, peakRunning: s.peakRunning };
}

/** Records (simulated time) -> the run's compact data. */
export function runDataOf(records: readonly RequestRecord[], extra: Omit<RunData, 'sentMs' | 'latencyMs' | 'ok' | 'handlers'>): RunData {
  const n = records.length;
  const sentMs = new Float64Array(n);
  const latencyMs = new Float64Array(n);
  const ok = new Uint8Array(n);
  const handlers: string[] = new Array<string>(n);
  records.forEach((r, i) => {
    sentMs[i] = r.offsetMs;
    latencyMs[i] = r.latencyMs;
    ok[i] = isSuccess(r.status) ? 1 : 0;
    handlers[i] = r.handler;
  });
  return { ...extra, sentMs, latencyMs, ok, handlers };
}

// ---------------------------------------------------------------- the real-time engine

function toSimulated(r: RequestRecord, timeScale: number): RequestRecord {
  return { ...r, offsetMs: r.offsetMs / timeScale, latencyMs: r.latencyMs / timeScale };
}

async function runRow(plan: RowPlan, params: ExperimentParams, workload: Workload, hooks: ExperimentHooks): Promise<RowResult> {
  const started = performance.now();
  const workers: SimulatedWorker[] = [];
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  const count = plan.bound === 'pooled' ? 1 : params.workers;
  const ids = workerIds(count, params.placementSeed);
  try {
    // Workers on one host share its CPU; the pooled bound is one worker with all of it.
    const hostCpu = params.hostCores !== undefined && plan.bound !== 'pooled' ? sharedHostCpu(params.timeScale, MODEL_DEFAULTS.cpu, params.hostCores) : undefined;
    for (let i = 0; i < count; i++) {
      const model = modelParamsFor(params, plan, i);
      workers.push(await startSimulatedWorker({ workload, host: '127.0.0.1', port: 0, name: `worker${i + 1}`, timeScale: params.timeScale, model, hostCpu }));
    }
    const config = proxyConfigFor(params, plan, workers.map((w, i) => ({ id: ids[i] as string, url: w.url, weight: workerWeight(params, i) })), params.timeScale);
    proxy = await startProxy(config, { random: seededRandom(params.seed + 1) });
    // Sending stops at the duration; answers are awaited until duration + drain, counted from the start.
    let sent = 0;
    let answered = 0;
    let backlogAtEnd = 0;
    const endTimer = setTimeout(() => { backlogAtEnd = sent - answered; }, params.durationSec * 1000 * params.timeScale);
    const result = await runWorkload({
      target: proxy.url,
      handlers: workload.handlers,
      mode: params.mode,
      runners: params.runners,
      intervalMs: params.waitMs * params.timeScale,
      durationMs: params.durationSec * 1000 * params.timeScale,
      drainMs: params.drainSec * 1000 * params.timeScale,
      seed: params.seed,
      choice: wallClockChoice(params.choice, params.timeScale),
      onSend: () => { sent++; },
      onRecord: (r) => { answered++; hooks.onRecord?.(plan, r); },
    });
    clearTimeout(endTimer);
    const records = result.records.map((r) => toSimulated(r, params.timeScale));
    const run = runDataOf(records, {
      placementSeed: params.placementSeed,
      seed: params.seed,
      durationMs: params.durationSec * 1000,
      elapsedMs: result.elapsedMs / params.timeScale,
      unansweredAtDrain: result.unansweredAtDrain,
      backlogAtEnd,
      workers: workers.map((w) => workerSummary(w.status() as SimWorkerStatus)),
      wallSec: (performance.now() - started) / 1000,
    });
    return { plan, runs: [run], records };
  } finally {
    await proxy?.close();
    await Promise.all(workers.map((w) => w.close()));
  }
}

function wallClockChoice(choice: HandlerChoice | undefined, timeScale: number): HandlerChoice {
  if (!choice || choice.kind === 'uniform') return { kind: 'uniform' };
  return { ...choice, periodMs: choice.periodMs * timeScale };
}

/** The experiment's workload; throws an Error naming the file and the problem. */
export function loadExperimentWorkload(params: ExperimentParams): Promise<Workload> {
  return loadWorkload({ registry: params.registry, packages: params.packages, handlers: params.handlers, seed: params.workloadSeed });
}

/** CPU ms of one request on a worker holding every package it needs: what no routing avoids. */
export function warmCpuMs(workload: Workload, model: ModelParams): number {
  let sum = 0;
  for (const h of workload.handlers) {
    let ms = model.sandboxMs + model.handlerMs;
    if (model.importCacheBytes === 0) for (const p of new Set(workload.registry.get(h) ?? [])) ms += (workload.packages.get(p)?.importMs ?? 0) * model.importScale;
    sum += ms;
  }
  return sum / workload.handlers.length;
}

export function workloadFacts(workload: Workload, params: ExperimentParams): WorkloadFacts {
  const plan: RowPlan = { id: 'x', label: 'x', balancer: 'round-robin', baseline: false };
  const cpu = warmCpuMs(workload, modelParamsFor(params, plan, 0));
  let totalCores = 0;
  for (let i = 0; i < params.workers; i++) totalCores += workerCores(params, i);
  const capacityPerSec = (totalCores * 1000) / cpu;
  const arrivalRatePerSec = params.mode === 'async' ? 1000 / params.waitMs : Number.NaN;
  return {
    handlers: workload.registry.size,
    handlerListLength: workload.handlers.length,
    packages: workload.packages.size,
    footprintMb: footprintBytes(workload.packages.keys(), workload.packages) / (1024 * 1024),
    warmCpuMs: cpu,
    totalCores,
    capacityPerSec,
    arrivalRatePerSec,
    offeredLoad: arrivalRatePerSec / capacityPerSec,
  };
}

/** Runs every row of the experiment in real time, one after another, each on a fresh cluster and proxy. */
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
  return { engine: 'experiment', params, rows, startedAt, wallSec: (performance.now() - t0) / 1000, workload: workloadFacts(workload, params), handlerKeys: handlerKeysOf(workload) };
}

// ---------------------------------------------------------------- statistics over repeats

/** One run's figures; latency statistics over successful requests (nearest-rank percentiles). */
export interface RunFigures {
  requests: number;
  successes: number;
  failures: number;
  throughputPerSec: number;
  meanMs: number;
  p50Ms: number;
  p80Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers that arrived within the duration (as pipbench's own runner counts): their count and mean. */
  windowAnswers: number;
  windowMeanMs: number;
  windowP50Ms: number;
  windowP80Ms: number;
  windowP99Ms: number;
  /** Requests sent after the warm-up. */
  steadyMeanMs: number;
  backlogAtEnd: number;
  unansweredAtDrain: number;
  coldShare: number;
  /** Mean latency of the requests sent in each minute. */
  perMinuteMeanMs: number[];
}

export function runFigures(run: RunData, warmupMs: number): RunFigures {
  const all: number[] = [];
  const window: number[] = [];
  const steady: number[] = [];
  const minutes = Math.ceil(run.durationMs / 60_000);
  const minuteSum = new Array<number>(minutes).fill(0);
  const minuteCount = new Array<number>(minutes).fill(0);
  for (let i = 0; i < run.sentMs.length; i++) {
    if (run.ok[i] !== 1) continue;
    const sent = run.sentMs[i] as number;
    const lat = run.latencyMs[i] as number;
    all.push(lat);
    if (sent + lat <= run.durationMs) window.push(lat);
    if (sent >= warmupMs) steady.push(lat);
    const m = Math.min(minutes - 1, Math.floor(sent / 60_000));
    minuteSum[m] = (minuteSum[m] as number) + lat;
    minuteCount[m] = (minuteCount[m] as number) + 1;
  }
  const sorted = sortedAscending(all);
  const sortedWindow = sortedAscending(window);
  let cold = 0;
  let invocations = 0;
  for (const w of run.workers) { cold += w.coldInvocations; invocations += w.invocations; }
  return {
    requests: run.sentMs.length,
    successes: all.length,
    failures: run.sentMs.length - all.length,
    throughputPerSec: all.length / (run.elapsedMs / 1000),
    meanMs: mean(sorted),
    p50Ms: percentile(sorted, 50),
    p80Ms: percentile(sorted, 80),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
    windowAnswers: window.length,
    windowMeanMs: mean(sortedWindow),
    windowP50Ms: percentile(sortedWindow, 50),
    windowP80Ms: percentile(sortedWindow, 80),
    windowP99Ms: percentile(sortedWindow, 99),
    steadyMeanMs: mean(steady),
    backlogAtEnd: run.backlogAtEnd,
    unansweredAtDrain: run.unansweredAtDrain,
    coldShare: invocations > 0 ? cold / invocations : Number.NaN,
    perMinuteMeanMs: minuteSum.map((s, m) => (minuteCount[m] as number) > 0 ? s / (minuteCount[m] as number) : Number.NaN),
  };
}

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

export const CHART_FILES = {
  meanLatency: 'mean-latency.svg',
  thresholdSweep: 'threshold-sweep.svg',
  latencyCdf: 'latency-cdf.svg',
  perHandler: 'latency-per-handler.svg',
  perMinute: 'latency-per-minute.svg',
} as const;

/** Per-request files above this size are written with less detail. */
export const MAX_REQUEST_FILE_BYTES = 2 * 1024 * 1024;

export function requestFileName(plan: RowPlan): string {
  return `requests-${plan.id}.csv`;
}

/** CSV of a row's requests, less detailed when the full file would be too large. */
export function requestFileContent(records: readonly RequestRecord[]): { content: string; note: string } {
  const full = formatRecordsCsv(records);
  if (Buffer.byteLength(full) <= MAX_REQUEST_FILE_BYTES) return { content: full, note: '' };
  // Keep what analysis needs (when, what, outcome, how long, where), in fewer bytes.
  const compact = (list: readonly RequestRecord[]): string => ['offset_ms,handler,status,latency_ms,worker']
    .concat(list.map((r) => `${r.offsetMs.toFixed(0)},${r.handler},${r.status},${r.latencyMs.toFixed(0)},${r.worker}`))
    .join('\n') + '\n';
  let content = compact(records);
  if (Buffer.byteLength(content) <= MAX_REQUEST_FILE_BYTES) return { content, note: 'compact columns (whole milliseconds, no start time or error text)' };
  const stride = Math.ceil(Buffer.byteLength(content) / MAX_REQUEST_FILE_BYTES);
  content = compact(records.filter((_, i) => i % stride === 0));
  return { content, note: `compact columns, every ${stride}th request only` };
}

const finite = (n: number): number | null => (Number.isFinite(n) ? Number(n.toFixed(3)) : null);
const intervalJson = (i: Interval | null | undefined): { estimate: number | null; low: number | null; high: number | null } | null =>
  i ? { estimate: finite(i.estimate), low: finite(i.low), high: finite(i.high) } : null;

function describeArrivals(p: ExperimentParams): string {
  if (p.mode === 'sync') return `sync (closed loop), ${p.runners} runners${p.waitMs > 0 ? `, ${p.waitMs} ms think time` : ''}`;
  const rate = `${fixed(1000 / p.waitMs, 2)} req/s`;
  const a = p.arrivals;
  if (a.kind === 'fixed') return `async (open loop), one request every ${fixed(p.waitMs, 1)} ms (${rate})`;
  if (a.kind === 'poisson') return `async (open loop), Poisson arrivals, mean ${rate}`;
  return `async (open loop), bursty Poisson arrivals, mean ${rate}: ${a.factor}x the mean rate for the first ${a.burstSec} s of every ${a.periodSec} s, less in between`;
}

function describeChoice(choice: HandlerChoice | undefined, handlerListLength: number): string {
  if (!choice || choice.kind === 'uniform') return 'uniform over the handler list';
  const size = rotationWindowSize(choice.slice, handlerListLength);
  return `rotation: uniform over a window of ${size} consecutive entries of the handler list, moving every ${choice.periodMs / 1000} s`;
}

export function summaryJson(result: ExperimentResult): unknown {
  const stats = rowStats(result);
  const warm = stats.find((s) => s.plan.bound === 'all-warm');
  const compared = comparedRow(result);
  const w = result.workload;
  const p = result.params;
  return {
    name: p.name,
    engine: result.engine,
    command: p.command,
    ...(result.startedAt !== undefined ? { startedAt: result.startedAt, wallSec: finite(result.wallSec ?? Number.NaN) } : {}),
    timeUnit: result.engine === 'simulate'
      ? 'simulated milliseconds (virtual time, scale 1)'
      : 'simulated milliseconds at time scale 1 (measured wall time divided by timeScale)',
    workload: {
      handlers: w.handlers, handlerListLength: w.handlerListLength, packages: w.packages, footprintMb: finite(w.footprintMb),
      warmCpuMs: finite(w.warmCpuMs), totalCores: finite(w.totalCores), capacityPerSec: finite(w.capacityPerSec),
      arrivalRatePerSec: finite(w.arrivalRatePerSec), offeredLoad: finite(w.offeredLoad),
    },
    params: { ...p, command: undefined, outDir: undefined, timeScale: result.engine === 'simulate' ? undefined : p.timeScale },
    repeats: { placements: p.placements, seeds: p.seeds, runsPerRow: p.placements * p.seeds, pairedAgainst: compared?.plan.id ?? null },
    rows: stats.map((s, i) => {
      const f = s.figures;
      const row = result.rows[i] as RowResult;
      return {
        id: s.plan.id,
        label: s.plan.label,
        balancer: s.plan.balancer,
        loadThreshold: s.plan.threshold ?? null,
        baseline: s.plan.baseline,
        bound: s.plan.bound ?? null,
        repeats: s.repeats,
        requests: finite(f.requests),
        successes: finite(f.successes),
        failures: finite(f.failures),
        unansweredAtDrain: finite(f.unansweredAtDrain),
        backlogAtEnd: finite(f.backlogAtEnd),
        throughputPerSec: finite(f.throughputPerSec),
        meanMs: finite(f.meanMs),
        p50Ms: finite(f.p50Ms),
        p80Ms: finite(f.p80Ms),
        p95Ms: finite(f.p95Ms),
        p99Ms: finite(f.p99Ms),
        maxMs: finite(f.maxMs),
        steadyMeanMs: finite(f.steadyMeanMs),
        perMinuteMeanMs: s.perMinute.map((m) => finite(m.estimate)),
        meanVsAllWarm: warm ? finite(f.meanMs / warm.figures.meanMs) : null,
        coldInvocationShare: finite(f.coldShare),
        answeredWithinDuration: { requests: finite(f.windowAnswers), meanMs: finite(f.windowMeanMs), p50Ms: finite(f.windowP50Ms), p80Ms: finite(f.windowP80Ms), p99Ms: finite(f.windowP99Ms) },
        intervals: s.intervals ? Object.fromEntries(INTERVAL_METRICS.map((m) => [m, intervalJson(s.intervals?.[m])])) : null,
        meanMinusCompared: intervalJson(s.vsCompared),
        workers: row.runs[0]?.workers ?? [],
        ...(result.engine === 'experiment' ? { wallSec: finite(row.runs[0]?.wallSec ?? Number.NaN) } : {}),
        requestsFile: row.records.length > 0 ? requestFileName(s.plan) : null,
      };
    }),
  };
}

function seconds(ms: number, digits = 2): string {
  if (!Number.isFinite(ms)) return '-';
  const s = ms / 1000;
  return s >= 100 ? s.toFixed(0) : s >= 10 ? s.toFixed(1) : s.toFixed(digits);
}

function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** `12.3 [11.0, 13.9]` in seconds, or the estimate alone without an interval. */
function withInterval(i: Interval | undefined | null, estimateMs: number): string {
  if (!i || !Number.isFinite(i.low)) return seconds(estimateMs);
  return `${seconds(estimateMs)} [${seconds(i.low)}, ${seconds(i.high)}]`;
}

function describeParams(p: ExperimentParams, result: ExperimentResult): [string, string][] {
  const w = result.workload;
  const cores = p.workerCores ? p.workerCores.join(', ') : String(p.cores ?? MODEL_DEFAULTS.cores);
  return [
    ['registry', `\`${p.registry}\` (${w.handlers} handlers, ${w.packages} packages, ${fixed(w.footprintMb, 1)} MiB installed)`],
    ['package table', p.packages ? `\`${p.packages}\`` : `none: sizes and costs filled in from the measured samples, workload seed ${p.workloadSeed}`],
    ...(p.policyPackages !== undefined ? [['package table the policies weigh', p.policyPackages === 'none' ? 'none (every package counts the same)' : `\`${p.policyPackages}\``] as [string, string]] : []),
    ['handler list', p.handlers ? `\`${p.handlers}\`` : 'the registry\'s handlers'],
    ['workers', `${p.workers}, cold caches; ${p.hostCores !== undefined ? `one ${MODEL_DEFAULTS.cpu} CPU of ${p.hostCores} cores for them all (one host)` : `cores ${cores} (${MODEL_DEFAULTS.cpu} CPU)`}; weights ${p.workerWeights ? p.workerWeights.join(', ') : '1 each'}`],
    ['installed-package disk', p.cacheMb !== undefined ? `${p.cacheMb} MiB per worker` : 'unbounded (model default)'],
    ['load', describeArrivals(p)],
    ['offered load', p.mode === 'async' ? `${fixed(w.offeredLoad, 2)} of capacity: ${fixed(w.arrivalRatePerSec, 2)} req/s against ${fixed(w.capacityPerSec, 2)} req/s (${fixed(w.totalCores, 1)} cores / ${fixed(w.warmCpuMs, 0)} CPU ms per request with its packages installed; installs come on top)` : '- (closed loop)'],
    ['handler choice', describeChoice(p.choice, w.handlerListLength)],
    ['duration', `${p.durationSec} s of sending, then up to ${p.drainSec} s for outstanding answers`],
    ['repeats', `${p.placements} placement(s) (seeds ${p.placementSeed}..${p.placementSeed + p.placements - 1}) x ${p.seeds} request sequence(s) (seeds ${p.seed}..${p.seed + p.seeds - 1}), every row on the same ones`],
    ['proxy', `${p.connectionsPerWorker} connections per worker, status poll every ${p.healthIntervalMs} ms, balance factor ${p.balanceFactor} (hashing-bounded)`],
    ...(result.engine === 'experiment' ? [['time scale', `${p.timeScale} (real time: HTTP workers and a warmroute proxy per row)`] as [string, string]] : []),
  ];
}

export function summaryMarkdown(result: ExperimentResult, notes: ReadonlyMap<string, string> = new Map()): string {
  const p = result.params;
  const stats = rowStats(result);
  const warm = stats.find((s) => s.plan.bound === 'all-warm');
  const compared = comparedRow(result);
  const best = bestOfSweeps(stats);
  const label = (s: RowStats): string => (best.has(s) ? `${s.plan.label} (best)` : s.plan.label);
  const n = p.placements * p.seeds;
  const lines: string[] = [];
  lines.push(`# ${result.engine === 'simulate' ? 'Simulation' : 'Experiment'} \`${p.name}\``, '');
  lines.push('Produced by:', '', '```sh', p.command, '```', '');
  if (result.engine === 'experiment') lines.push(`Started ${result.startedAt ?? '-'}; took ${fixed(result.wallSec ?? Number.NaN, 0)} s of wall time.`, '');
  lines.push(result.engine === 'simulate'
    ? '**Virtual time**: the worker model, the proxy\'s worker table, queues and policies run on a virtual clock; times are simulated seconds at scale 1.'
    : '**Simulated time at time scale 1**: measured wall-clock latency divided by the time scale.');
  lines.push(`Latency statistics cover successful requests; percentiles are nearest-rank. ${n > 1 ? `Every figure is the mean over ${n} runs (placements x request sequences); brackets are bootstrap 95% intervals of that mean.` : 'One run per row: no intervals.'}`, '');
  lines.push('## Parameters', '', '| parameter | value |', '| --- | --- |');
  for (const [k, v] of describeParams(p, result)) lines.push(`| ${k} | ${v} |`);
  lines.push('');
  lines.push('## Latency (every request, the backlog drained)', '');
  lines.push(`| row | mean (s) | p50 (s) | p80 (s) | p99 (s) | mean / all-warm | ${compared ? `mean - ${compared.plan.label} (s)` : 'paired'} | cold invocations |`);
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of stats) {
    const f = s.figures;
    const iv = s.intervals;
    const diff = s.vsCompared ? `${seconds(s.vsCompared.estimate)} [${seconds(s.vsCompared.low)}, ${seconds(s.vsCompared.high)}]` : s.plan.id === compared?.plan.id ? '(reference)' : '-';
    lines.push(`| ${label(s)} | ${withInterval(iv?.meanMs, f.meanMs)} | ${withInterval(iv?.p50Ms, f.p50Ms)} | ${withInterval(iv?.p80Ms, f.p80Ms)} | ${withInterval(iv?.p99Ms, f.p99Ms)} | ${warm ? `${fixed(f.meanMs / warm.figures.meanMs, 1)}x` : '-'} | ${diff} | ${Number.isFinite(f.coldShare) ? `${(f.coldShare * 100).toFixed(0)}%` : '-'} |`);
  }
  lines.push('');
  lines.push('"cold invocations": share of invocations that installed or imported at least one package. all-warm: every package installed and imported on every worker, routed least-loaded. compulsory-install: one pooled worker with every core and one unbounded disk, so each package is installed once; what no placement can beat on installs.', '');
  lines.push('## Within the window, the backlog, the cold-start transient', '');
  lines.push(`pipbench's own async runner stops logging when the duration ends; the thesis's figures were counted that way ("window": answers within the ${p.durationSec} s). "backlog": requests sent and not answered when the duration ended. "steady": requests sent after the first ${p.warmupSec} s (the warm-up, left out).`, '');
  lines.push('| row | window mean (s) | window answers | drained mean (s) | steady mean (s) | backlog at end | throughput (req/s) | failures |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of stats) {
    const f = s.figures;
    const iv = s.intervals;
    lines.push(`| ${label(s)} | ${withInterval(iv?.windowMeanMs, f.windowMeanMs)} | ${fixed(f.windowAnswers, 0)} of ${fixed(f.requests, 0)} | ${seconds(f.meanMs)} | ${withInterval(iv?.steadyMeanMs, f.steadyMeanMs)} | ${fixed(f.backlogAtEnd, 1)}${iv ? ` [${fixed(iv.backlogAtEnd.low, 1)}, ${fixed(iv.backlogAtEnd.high, 1)}]` : ''} | ${fixed(f.throughputPerSec, 2)} | ${fixed(f.failures, 1)} |`);
  }
  lines.push('', 'Mean latency (s) of the requests sent in each minute:', '');
  const minutes = stats[0]?.perMinute.length ?? 0;
  lines.push(`| row | ${Array.from({ length: minutes }, (_, m) => `min ${m + 1}`).join(' | ')} |`);
  lines.push(`| --- |${' ---: |'.repeat(minutes)}`);
  for (const s of comparedRows(stats)) lines.push(`| ${label(s)} | ${s.perMinute.map((m) => seconds(m.estimate)).join(' | ')} |`);
  lines.push('', ...againstTable(result, stats));
  lines.push('## Charts', '');
  const charts: [string, string][] = [
    [CHART_FILES.meanLatency, 'Mean latency per row'],
    [CHART_FILES.thresholdSweep, 'Mean latency against the load threshold'],
    [CHART_FILES.perMinute, 'Mean latency per minute: the cold-start transient'],
    [CHART_FILES.latencyCdf, 'Latency CDF of the compared policies'],
    [CHART_FILES.perHandler, 'Mean latency per handler group'],
  ];
  for (const [file, title] of charts) lines.push(`![${title}](${file})`, '');
  lines.push('## Files', '');
  lines.push('- `summary.json`: the numbers above (means over repeats, intervals, per-worker counts of the first run), parameters.');
  if (result.rows.some((r) => r.records.length > 0)) {
    lines.push('- `requests-<row>.csv`: every request of the first run of a row (columns start, offset_ms, handler, status, latency_ms, worker, error; offset and latency in simulated ms).');
    for (const r of result.rows) {
      const note = notes.get(r.plan.id);
      if (note) lines.push(`  - \`${requestFileName(r.plan)}\` has ${note}.`);
    }
  }
  lines.push('');
  return lines.join('\n');
}

const OWN_FILE = /^(summary\.(md|json)|requests-.+\.csv|[a-z-]+\.svg)$/;

/** Writes <outDir>/<name>/ and returns the paths written. Removes files of an earlier run of the same name first. */
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
    if (row.records.length === 0) continue;
    const { content, note } = requestFileContent(row.records);
    if (note) notes.set(row.plan.id, note);
    await put(requestFileName(row.plan), content);
  }
  for (const [file, svg] of await experimentCharts(result)) await put(file, svg);
  await put('summary.json', JSON.stringify(summaryJson(result), null, 2) + '\n');
  await put('summary.md', summaryMarkdown(result, notes));
  return written;
}

// ---------------------------------------------------------------- charts

/** The colour key of a row: its policy, or its bound. */
function seriesOf(plan: RowPlan): string {
  if (plan.bound !== undefined) return plan.bound === 'all-warm' ? BASELINE_ID : POOLED_ID;
  return plan.threshold === AUTO_THRESHOLD ? `${plan.balancer} auto` : plan.balancer;
}

function chartSubtitle(result: ExperimentResult): string {
  const p = result.params;
  const load = p.mode === 'async' ? `${fixed(1000 / p.waitMs, 1)} req/s (load ${fixed(result.workload.offeredLoad, 2)})` : `${p.runners} sync runners`;
  const reps = p.placements * p.seeds;
  return `${p.workers} workers, ${load}, ${p.durationSec} s; ${reps > 1 ? `mean of ${reps} runs, 95% intervals` : 'one run'}`;
}

/** Charts as file name -> SVG text. */
export async function experimentCharts(result: ExperimentResult): Promise<Map<string, string>> {
  const stats = rowStats(result);
  const subtitle = chartSubtitle(result);
  const charts = new Map<string, string>();
  const sec = (ms: number): number => ms / 1000;
  const bounds = stats.filter((s) => s.plan.bound !== undefined);
  const references = bounds.map((b) => ({ name: b.plan.bound === 'all-warm' ? 'all-warm' : 'compulsory', value: sec(b.figures.meanMs), series: seriesOf(b.plan) }));
  const est = (s: RowStats, metric: IntervalMetric): { estimate: number; low: number; high: number } => {
    const e = s.figures[metric];
    const i = s.intervals?.[metric];
    return { estimate: sec(e), low: sec(i && Number.isFinite(i.low) ? i.low : e), high: sec(i && Number.isFinite(i.high) ? i.high : e) };
  };

  charts.set(CHART_FILES.meanLatency, await estimateChart({
    title: 'Mean latency',
    subtitle,
    xTitle: 'mean latency (s)',
    data: stats.filter((s) => s.plan.bound === undefined).map((s) => ({ label: s.plan.label, series: seriesOf(s.plan), ...est(s, 'meanMs') })),
    references: references.map(({ name, value }) => ({ name, value })),
  }));

  const sweeps = thresholdSweeps(stats);
  const sweepPoints: CurvePoint[] = [...sweeps].flatMap(([policy, rows]) => rows.map((r) => ({ series: policy, x: r.plan.threshold as number, ...est(r, 'meanMs') })));
  // Rows without a numeric threshold ("auto" among them) are dashed reference lines.
  const others = stats.filter((s) => !isNumericThreshold(s.plan.threshold)).map((s) => ({ name: s.plan.label, value: sec(s.figures.meanMs), series: seriesOf(s.plan) }));
  const thresholds = [...new Set(sweepPoints.map((p) => p.x))].sort((a, b) => a - b);
  charts.set(CHART_FILES.thresholdSweep, await curveChart({
    title: 'Mean latency against the load threshold',
    subtitle: `${subtitle}; dashed: the other rows`,
    xTitle: 'load threshold (in-flight at the home worker)',
    yTitle: 'mean latency (s)',
    points: sweepPoints,
    references: others,
    xLog: thresholds.length > 1 && (thresholds[thresholds.length - 1] as number) / (thresholds[0] as number) >= 20,
    xTicks: thresholds,
  }));

  const compared = comparedRows(stats);
  const label = (s: RowStats): string => (isNumericThreshold(s.plan.threshold) ? s.plan.label : seriesOf(s.plan));
  charts.set(CHART_FILES.perMinute, await curveChart({
    title: 'Mean latency by minute sent: the cold start',
    subtitle,
    xTitle: 'minute of the run (requests sent in it)',
    yTitle: 'mean latency (s)',
    points: compared.flatMap((s) => s.perMinute.map((m, i) => ({
      series: seriesOf(s.plan), x: i + 1, estimate: sec(m.estimate), low: sec(Number.isFinite(m.low) ? m.low : m.estimate), high: sec(Number.isFinite(m.high) ? m.high : m.estimate),
    }))),
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
  const groups = new Map<string, string>();
  const groupSize = new Map<string, number>();
  const registry = result.handlerKeys;
  for (const [handler, key] of registry) {
    groups.set(handler, key);
    groupSize.set(key, (groupSize.get(key) ?? 0) + 1);
  }
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
    subtitle: `${subtitle}; a group: the handlers sharing a largest package`,
    xTitle: 'routing key (handlers)',
    legendTitle: 'mean (s)',
    rows: compared.map(label),
    columns,
    cells,
  }));
  return charts;
}

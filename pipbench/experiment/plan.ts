// The plan of a policy comparison, shared by its two engines (`experiment`: real
// time, HTTP workers and a warmroute proxy per row; `simulate`: virtual time):
// the parameters of a cell, its rows, the worker ids of each placement, the
// repeats, each worker's model parameters and the proxy's configuration. Both
// engines configure workers and proxy from these, so their rows are the same.

import { resolve } from 'node:path';
import { balancerNames, policiesReading } from '../../balancers/index.js';
import { AUTO_THRESHOLD } from '../../balancers/settings.js';
import { MAX_CONNECTIONS } from '../../src/worker-specs.js';
import { MODEL_DEFAULTS, type ModelParams } from '../model/index.js';
import type { HandlerChoice, RunMode } from '../runner.js';
import { footprintBytes, loadWorkload, type Workload } from '../workload.js';

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
  /** simulate: also the one-worker reference row (always with hostCores). */
  readonly oneWorker: boolean;
  /** simulate: runs the clairvoyant static search may spend per request sequence; 0: no such row. */
  readonly staticBudget: number;
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
  /**
   * A reference row rather than a policy: a lower bound (`all-warm`: every
   * package warm; `pooled`: compulsory-install, one pooled worker) or a fixed
   * routing (`one-worker`: every request to one worker; `clairvoyant-static`:
   * the best static key -> worker table an offline search finds).
   */
  readonly bound?: 'all-warm' | 'pooled' | 'one-worker' | 'clairvoyant-static';
  /** True for the all-warm row (kept for the summary.json shape). */
  readonly baseline: boolean;
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

export const ONE_WORKER_ID = 'one-worker';
/** Runs per request sequence the clairvoyant static search spends by default. */
export const DEFAULT_STATIC_BUDGET = 150;
const CLAIRVOYANT_ID = 'clairvoyant-static';

/** Which reference rows a comparison has beside the policies and all-warm. */
export interface ReferenceRows {
  readonly pooled: boolean;
  readonly oneWorker?: boolean;
  readonly clairvoyant?: boolean;
}

/** The policies' rows as given, threshold policies once per threshold. */
export function policyRows(policies: readonly PolicyName[], thresholds: readonly Threshold[]): RowPlan[] {
  return policies.flatMap((policy): RowPlan[] => thresholdPolicies.has(policy)
    ? thresholds.map((t) => ({ id: `${policy}-t${t}`, label: `${policy} t=${t}`, balancer: policy, threshold: t, baseline: false }))
    : [{ id: policy, label: policy, balancer: policy, baseline: false }]);
}

/**
 * The rows in run order: the policies as given (threshold policies once per
 * threshold), then the reference rows: all-warm (every package installed and
 * imported everywhere, routed least-loaded), compulsory-install (one pooled
 * worker with every core and one shared cache: each package installed once),
 * and where asked one-worker and the clairvoyant static assignment.
 */
export function planRows(policies: readonly PolicyName[], thresholds: readonly Threshold[], bounds: ReferenceRows = { pooled: true }): RowPlan[] {
  const rows = policyRows(policies, thresholds);
  rows.push({ id: BASELINE_ID, label: 'all-warm (bound)', balancer: 'least-loaded', bound: 'all-warm', baseline: true });
  if (bounds.pooled) rows.push({ id: POOLED_ID, label: 'compulsory-install (bound)', balancer: 'round-robin', bound: 'pooled', baseline: false });
  // The proxy config of a table-routed row names a real policy only to pass the config loader; the table routes.
  if (bounds.oneWorker === true) rows.push({ id: ONE_WORKER_ID, label: 'one-worker (reference)', balancer: 'round-robin', bound: 'one-worker', baseline: false });
  if (bounds.clairvoyant === true) rows.push({ id: CLAIRVOYANT_ID, label: 'clairvoyant static (offline)', balancer: 'round-robin', bound: 'clairvoyant-static', baseline: false });
  return rows;
}

/**
 * simulate's rows: the policies, both bounds, one-worker where the workers
 * share a CPU (or where asked), and the clairvoyant static assignment unless
 * its budget is 0.
 */
export function simulatedRows(params: ExperimentParams): RowPlan[] {
  return planRows(params.policies, params.thresholds, {
    pooled: true,
    oneWorker: params.oneWorker || params.hostCores !== undefined,
    clairvoyant: params.staticBudget > 0,
  });
}

/** Rows that route by a fixed key -> worker table instead of a policy. */
export function routesByTable(plan: RowPlan): boolean {
  return plan.bound === 'one-worker' || plan.bound === 'clairvoyant-static';
}

/**
 * Policies whose decisions read no worker id (list order, weights and load
 * only), so a placement's salted ids cannot change their runs. `random` is not
 * one: its draws are seeded with the placement too.
 */
const PLACEMENT_FREE_POLICIES: ReadonlySet<string> = new Set(['round-robin', 'least-loaded']);

/**
 * Whether a row's runs depend on the placement. Those that do not (the
 * placement-free policies, all-warm, the pooled worker, the table-routed
 * references, whose tables are by worker position) run once per request
 * sequence and count once, not once per placement.
 */
export function placementMatters(plan: RowPlan): boolean {
  if (plan.bound === 'pooled' || routesByTable(plan)) return false;
  return !PLACEMENT_FREE_POLICIES.has(plan.balancer);
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
    // The pooled worker has every worker's connections, within the most the proxy lets one worker have (a
    // workload holding more requests in flight than that at once would wait where the pool would not).
    connectionsPerWorker: pooled ? Math.min(MAX_CONNECTIONS, params.connectionsPerWorker * params.workers) : params.connectionsPerWorker,
    queueLimit: 1_000_000,
    queueTimeoutMs: patienceMs,
    headersTimeoutMs: patienceMs,
    bodyTimeoutMs: patienceMs,
    healthIntervalMs: Math.max(1, Math.round(params.healthIntervalMs * timeScale)),
    logLevel: 'silent',
  };
}

/** The experiment's workload; throws an Error naming the file and the problem. */
export function loadExperimentWorkload(params: ExperimentParams): Promise<Workload> {
  return loadWorkload({ registry: params.registry, packages: params.packages, handlers: params.handlers, seed: params.workloadSeed });
}

/** CPU ms of one request on a worker holding every package it needs: what no routing avoids. */
function warmCpuMs(workload: Workload, model: ModelParams): number {
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

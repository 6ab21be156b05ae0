// The policy comparison in virtual time. Requests go through the proxy's own
// worker table, scheduler (queues, deadlines) and the real policy from
// balancers/, configured through the proxy's config loader from the same
// values the real-time experiment gives its proxy; each dispatched lease
// invokes the worker model (the code the HTTP worker runs) on a virtual clock,
// and the model's answer releases the lease. The proxy's status poll is
// replayed: every healthIntervalMs each worker reports its installed packages,
// in-flight count and cores, as the HTTP worker's /status does.
//
// Nothing here opens a socket. A run is deterministic: the same parameters,
// placement and seed give the same records.

import { createBalancer, type LambdaInfo } from '../../balancers/index.js';
import { seededRandom as uniformStream } from '../../balancers/seeded-random.js';
import { Scheduler } from '../../src/admission.js';
import { loadConfig } from '../../src/config.js';
import { tableOptions } from '../../src/control-plane.js';
import { readPackageTable, type PackageTable } from '../../src/packages.js';
import { Lease, type LeaseOwner, type Rejection } from '../../src/lease.js';
import { Registry } from '../../src/registry.js';
import { WorkerTable, type Worker } from '../../src/workers.js';
import {
  handlerKeysOf, modelParamsFor, placementMatters, policyTableOf, proxyConfigFor, repeats, routesByTable, simulatedRows, workerIds, workerWeight, workloadFacts,
  type ArrivalPattern, type ExperimentParams, type RowPlan,
} from '../experiment/plan.js';
import { runDataOf, workerSummary, type ExperimentResult, type RowResult, type RunData, type StaticSearch } from '../experiment/result.js';
import { createCpu, MODEL_DEFAULTS, WorkerModel, type ModelParams } from '../model/index.js';
import { seededRandom as streamRandom, type Random } from '../random.js';
import { createHandlerPicker, DRAIN_TIMEOUT_ERROR } from '../runner.js';
import type { RequestRecord } from '../stats.js';
import { searchStaticAssignment, staticBalancer, largestWorker, routingKeyOf, type StaticAssignment } from './static-assignment.js';
import { VirtualClock } from './virtual-clock.js';
import type { Workload } from '../workload.js';

export interface SimulationSetup {
  readonly params: ExperimentParams;
  readonly workload: Workload;
  /** Function name -> packages, as the proxy's registry parser reads the file. */
  readonly lambdas: ReadonlyMap<string, LambdaInfo>;
  /**
   * The package table the policies weigh (PolicyEnv.packageCost), read by the
   * proxy's own reader from `params.packages` (or `--policy-packages`), as the
   * proxy reads its config key `packages`. Absent without one: every package
   * then counts the same.
   */
  readonly packageTable?: PackageTable;
  /**
   * Worker-model parameters in place of MODEL_DEFAULTS' (calibrate's fit tries
   * candidates through it); the set-up's own (cores, disk, all-warm) still apply.
   */
  readonly model?: Readonly<Partial<Pick<ModelParams, 'installScale' | 'importScale' | 'sandboxMs' | 'handlerMs' | 'installOnCpu' | 'installCallMs' | 'installSlots'>>>;
  /** Proxy config keys over the experiment's (e.g. least-loaded's `ties`), read by the proxy's config loader. */
  readonly proxySettings?: Readonly<Record<string, unknown>>;
}

/** The package table the policies weigh (--policy-packages, else --packages) as the proxy reads it; undefined without one. */
export async function loadPackageCosts(params: ExperimentParams): Promise<PackageTable | undefined> {
  const path = policyTableOf(params);
  return path !== undefined ? readPackageTable(path) : undefined;
}

/** Reads the registry the way the proxy does (its own parser), for the simulator's leases. */
export async function loadLambdas(registryPath: string, workload: Workload): Promise<Map<string, LambdaInfo>> {
  const registry = await Registry.fromFile(registryPath);
  const out = new Map<string, LambdaInfo>();
  for (const name of workload.registry.keys()) {
    const info = registry.lookup(name);
    if (info === undefined) throw new Error(`registry ${registryPath}: no entry for "${name}"`);
    out.set(name, info);
  }
  return out;
}

/** Send times (simulated ms) of an open-loop run; the draws come from a stream of their own, so handler choice stays as the runner's. */
export function arrivalTimes(pattern: ArrivalPattern, waitMs: number, durationMs: number, seed: number): number[] {
  if (!(waitMs > 0)) throw new RangeError(`the interval between arrivals must be positive, got ${waitMs} ms`);
  const out: number[] = [];
  if (pattern.kind === 'fixed') {
    for (let i = 0; i * waitMs < durationMs; i++) out.push(i * waitMs);
    return out;
  }
  const random: Random = streamRandom(`arrivals\u0000${pattern.kind}\u0000${seed}`);
  const gap = (meanMs: number): number => -Math.log(1 - random.next()) * meanMs;
  if (pattern.kind === 'poisson') {
    for (let t = gap(waitMs); t < durationMs; t += gap(waitMs)) out.push(t);
    return out;
  }
  const { periodSec, burstSec, factor } = pattern;
  const share = burstSec / periodSec;
  if (!(share > 0 && share < 1) || !(factor >= 1) || share * factor > 1) {
    throw new RangeError(`bursty arrivals need 0 < burst < period and factor x burst/period <= 1 (so the rate between bursts is not negative); got burst ${burstSec} s, period ${periodSec} s, factor ${factor}`);
  }
  // Thinning: candidates at the burst rate, kept in proportion to the rate in force.
  const quietRatio = (1 - share * factor) / ((1 - share) * factor);
  const fastMs = waitMs / factor;
  for (let t = gap(fastMs); t < durationMs; t += gap(fastMs)) {
    const inBurst = t % (periodSec * 1000) < burstSec * 1000;
    if (inBurst || random.next() < quietRatio) out.push(t);
  }
  return out;
}

interface Slot {
  handler: string;
  sentMs: number;
  /** NaN until answered. */
  doneMs: number;
  status: number;
  worker: string;
  error: string;
}

/**
 * One row at one placement and seed, run to the end of its drain. A reference
 * row that routes by a fixed table (one-worker, clairvoyant static) takes its
 * table as `assignment`; every other row runs its policy.
 */
export function simulateRun(setup: SimulationSetup, plan: RowPlan, placementSeed: number, seed: number, assignment?: StaticAssignment): { run: RunData; records: RequestRecord[] } {
  const started = performance.now();
  const { params, workload, lambdas } = setup;
  const clock = new VirtualClock();
  const count = plan.bound === 'pooled' ? 1 : params.workers;
  const ids = workerIds(count, placementSeed);
  const specs = ids.map((id, i) => ({ id, url: `http://127.0.0.1:${i + 1}`, weight: workerWeight(params, i) }));
  // The proxy's own config loader turns the experiment's proxy settings into the limits it runs with.
  const config = loadConfig({ values: { ...proxyConfigFor(params, plan, specs, 1), ...setup.proxySettings }, source: 'simulate' });
  // The policy's environment as the proxy builds it (src/app.ts): the package table of config key `packages`, when there is one.
  const packageTable = setup.packageTable;
  if (config.packages !== '' && packageTable === undefined) throw new Error(`the proxy config names the package table ${config.packages}, but the simulation was set up without it (loadPackageCosts)`);
  const packageCost = config.packages !== '' && packageTable !== undefined ? (name: string) => packageTable.get(name) : undefined;
  if (routesByTable(plan) !== (assignment !== undefined)) throw new Error(`row ${plan.id}: ${assignment === undefined ? 'a reference row that routes by a table needs one' : 'only a reference row routes by a fixed table'}`);
  const balancer = assignment !== undefined
    ? staticBalancer(assignment, ids)
    : createBalancer(config.balancer, config.policy, { random: uniformStream(seed * 7919 + placementSeed + 1), now: () => clock.now(), packageCost });
  const table = new WorkerTable(balancer, clock, tableOptions(config));
  const scheduler = new Scheduler(table, clock, { queueLimit: config.queueLimit, workerQueueLimit: config.workerQueueLimit, queueTimeoutMs: config.queueTimeoutMs });
  // The workers a proxy starts with are trusted, not held until their first status check.
  const workers = table.add(config.workers, false);
  // Workers on one host share its CPU; the pooled bound is one worker with all of it.
  const hostCpu = params.hostCores !== undefined && plan.bound !== 'pooled' ? createCpu(clock, MODEL_DEFAULTS.cpu, params.hostCores) : undefined;
  const models = new Map<Worker, WorkerModel>(workers.map((w, i) => [w, new WorkerModel(workload, clock, { ...modelParamsFor(params, plan, i), ...setup.model }, `worker${i + 1}`, hostCpu)]));

  const durationMs = params.durationSec * 1000;
  const deadline = durationMs + params.drainSec * 1000;
  const slots: Slot[] = [];
  let outstanding = 0;
  let sending = true;
  let lastAnswer = 0;

  // The status poll, as the proxy's health monitor runs it: at once, then every interval, while anything is left to do.
  const poll = (w: Worker, model: WorkerModel): void => {
    const status = model.status();
    table.checked(w, true, '');
    table.reported(w, { packages: status.packages, inFlight: status.inFlight, cores: status.cores });
    if (sending || outstanding > 0) clock.setTimer(config.healthIntervalMs, () => poll(w, model));
  };
  if (config.healthIntervalMs > 0) for (const [w, model] of models) clock.setTimer(0, () => poll(w, model));

  const pick = createHandlerPicker(workload.handlers, params.choice ?? { kind: 'uniform' }, uniformStream(seed));
  const send = (handler: string, onAnswer?: () => void): void => {
    const slot: Slot = { handler, sentMs: clock.now(), doneMs: Number.NaN, status: 0, worker: '', error: '' };
    slots.push(slot);
    outstanding++;
    const answer = (status: number, worker: string, error: string): void => {
      if (clock.now() > deadline) return;
      slot.doneMs = clock.now();
      slot.status = status;
      slot.worker = worker;
      slot.error = error;
      lastAnswer = Math.max(lastAnswer, slot.doneMs);
      outstanding--;
      onAnswer?.();
    };
    const owner: LeaseOwner = {
      dispatched(lease: Lease): void {
        const model = models.get(lease.worker as Worker) as WorkerModel;
        // The request reaches the worker after the scheduler's bookkeeping, as over a socket.
        clock.setTimer(0, () => model.invoke(handler, () => {
          scheduler.release(lease);
          answer(200, model.name, '');
        }));
      },
      rejected(_lease: Lease, reason: Rejection): void {
        answer(503, '', `HTTP 503: ${reason}`);
      },
    };
    const fn = lambdas.get(handler);
    if (fn === undefined) throw new Error(`handler "${handler}" is not in the registry`);
    scheduler.submit(new Lease(fn, owner, clock.now()));
  };

  if (params.mode === 'async') {
    const times = arrivalTimes(params.arrivals, params.waitMs, durationMs, seed);
    // One pending arrival at a time keeps the event heap small.
    const next = (i: number): void => {
      if (i >= times.length) {
        sending = false;
        return;
      }
      clock.setTimer((times[i] as number) - clock.now(), () => {
        send(pick(times[i] as number));
        next(i + 1);
      });
    };
    next(0);
  } else {
    const think = params.waitMs;
    let running = params.runners;
    const loop = (): void => {
      if (clock.now() >= durationMs) {
        if (--running === 0) sending = false;
        return;
      }
      send(pick(clock.now()), () => (think > 0 ? clock.setTimer(think, loop) : loop()));
    };
    for (let r = 0; r < params.runners; r++) clock.setTimer(think, loop);
  }
  let backlogAtEnd = 0;
  clock.setTimer(durationMs, () => { backlogAtEnd = outstanding; });
  clock.runUntil(deadline);
  for (const model of models.values()) model.close();

  let unansweredAtDrain = 0;
  const records: RequestRecord[] = slots.map((s) => {
    const answered = Number.isFinite(s.doneMs);
    if (!answered) unansweredAtDrain++;
    return {
      startEpochMs: s.sentMs,
      offsetMs: s.sentMs,
      handler: s.handler,
      status: s.status,
      latencyMs: (answered ? s.doneMs : deadline) - s.sentMs,
      worker: s.worker,
      error: answered ? s.error : DRAIN_TIMEOUT_ERROR,
    };
  });
  const run = runDataOf(records, {
    placementSeed,
    seed,
    durationMs,
    elapsedMs: Math.max(durationMs, unansweredAtDrain > 0 ? deadline : lastAnswer),
    unansweredAtDrain,
    backlogAtEnd,
    workers: [...models.values()].map((m) => workerSummary({ name: m.name, ...m.status() })),
    wallSec: (performance.now() - started) / 1000,
  });
  return { run, records };
}

export interface SimulateHooks {
  /** After each run (a run of the clairvoyant search included): done of total, the row it belonged to. */
  onRun?(done: number, total: number, plan: RowPlan): void;
}

/** Processors of each worker of a row, in list order. */
function workerCapacity(params: ExperimentParams, plan: RowPlan): number[] {
  return Array.from({ length: params.workers }, (_, i) => modelParamsFor(params, plan, i).cores);
}

/** Every routing key of the workload with its entries in the handler list (the share of requests a uniform draw gives it), most first. */
function keyDemand(setup: SimulationSetup): { key: string; requests: number }[] {
  const counts = new Map<string, number>();
  for (const handler of setup.workload.handlers) {
    const fn = setup.lambdas.get(handler);
    const key = fn !== undefined ? routingKeyOf(fn) : handler;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, requests]) => ({ key, requests })).sort((a, b) => b.requests - a.requests || a.key.localeCompare(b.key));
}

/** Mean latency of every request of a run, a failure counted with its time to the end of the drain: the search cannot gain by dropping requests. */
function searchObjective(records: readonly RequestRecord[]): number {
  let sum = 0;
  for (const r of records) sum += r.latencyMs;
  return records.length > 0 ? sum / records.length : Number.NaN;
}

/**
 * The clairvoyant static row at one request sequence: the search runs the
 * whole sequence under each candidate table (`--static-budget` runs at most)
 * and keeps the best; that best run is the row's run.
 */
function clairvoyantRun(setup: SimulationSetup, plan: RowPlan, placementSeed: number, seed: number, onRun: () => void): { run: RunData; records: RequestRecord[]; search: StaticSearch } {
  let best: { run: RunData; records: RequestRecord[]; value: number } | undefined;
  const found = searchStaticAssignment({
    keys: keyDemand(setup),
    capacity: workerCapacity(setup.params, plan),
    budget: setup.params.staticBudget,
    evaluate: (assignment) => {
      const out = simulateRun(setup, plan, placementSeed, seed, assignment);
      const value = searchObjective(out.records);
      if (best === undefined || value < best.value) best = { ...out, value };
      onRun();
      return value;
    },
  });
  const kept = best as { run: RunData; records: RequestRecord[] };
  const names = workerIds(setup.params.workers, 0);
  const assignment = Object.fromEntries([...found.assignment].map(([key, w]) => [key, names[w] as string]));
  return { ...kept, search: { seed, evaluations: found.evaluations, localOptimum: found.localOptimum, start: found.start, meanMs: found.objective, assignment } };
}

/** Runs of one row: every placement x seed, or one placement per seed for a row the placement does not change. */
export function rowRepeats(params: ExperimentParams, plan: RowPlan): { placementSeed: number; seed: number }[] {
  const cells = repeats(params);
  return placementMatters(plan) ? cells : cells.filter((c) => c.placementSeed === params.placementSeed);
}

/** Runs the whole simulation makes, the clairvoyant search's budget included (for progress). */
export function simulationRunCount(params: ExperimentParams): number {
  return simulatedRows(params).reduce((n, plan) => n + rowRepeats(params, plan).length * (plan.bound === 'clairvoyant-static' ? params.staticBudget : 1), 0);
}

/**
 * Every row at its placements and seeds (a row the placement does not change
 * runs once per seed, paired with every placement of the others); keeps the
 * first run's records of each row when asked.
 */
export function simulateExperiment(setup: SimulationSetup, opts: { keepRecords?: boolean } & SimulateHooks = {}): ExperimentResult {
  const { params, workload } = setup;
  const plans = simulatedRows(params);
  const total = simulationRunCount(params);
  let done = 0;
  const rows: RowResult[] = plans.map((plan) => {
    const runs: RunData[] = [];
    const searches: StaticSearch[] = [];
    let records: RequestRecord[] = [];
    const oneWorker = plan.bound === 'one-worker' ? oneWorkerAssignment(setup, plan) : undefined;
    for (const [i, cell] of rowRepeats(params, plan).entries()) {
      let out: { run: RunData; records: RequestRecord[] };
      if (plan.bound === 'clairvoyant-static') {
        const start = done;
        const found = clairvoyantRun(setup, plan, cell.placementSeed, cell.seed, () => opts.onRun?.(++done, total, plan));
        searches.push(found.search);
        // The budget was counted in the total; what the search left unspent counts as done.
        done = start + params.staticBudget;
        opts.onRun?.(done, total, plan);
        out = found;
      } else {
        out = simulateRun(setup, plan, cell.placementSeed, cell.seed, oneWorker);
        opts.onRun?.(++done, total, plan);
      }
      runs.push(out.run);
      if (i === 0 && opts.keepRecords === true) records = out.records;
    }
    return { plan, runs, records, ...(searches.length > 0 ? { staticSearches: searches } : {}) };
  });
  return { engine: 'simulate', params, rows, workload: workloadFacts(workload, params), handlerKeys: handlerKeysOf(workload) };
}

/** one-worker's table: every key on the worker with the most processors. */
function oneWorkerAssignment(setup: SimulationSetup, plan: RowPlan): StaticAssignment {
  const target = largestWorker(workerCapacity(setup.params, plan));
  return new Map(keyDemand(setup).map(({ key }) => [key, target]));
}

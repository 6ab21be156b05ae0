// The experiment on real workers (`experiment --engine process`): every row on
// fresh process-engine workers (real pip installs into an empty cache folder
// of their own, real interpreters, an optional CPU quota each) behind a fresh
// warmroute proxy, in real time (time scale 1). Repeats are paired: repeat r
// sends the same request sequence (seed + r) to every row, over the same
// worker ids.

import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../../balancers/seeded-random.js';
import { startProxy } from '../../src/app.js';
import { installAll, startProcessWorker, type ProcessWorker } from '../process-engine/index.js';
import type { Workload } from '../workload.js';
import {
  handlerKeysOf, loadExperimentWorkload, ONE_WORKER_ID, planRows, proxyConfigFor, workerIds, workerWeight, workloadFacts,
  type ExperimentParams, type RowPlan,
} from './plan.js';
import { runDataOf, type ExperimentResult, type RowResult, type RunData } from './result.js';
import { sendRow, type ExperimentHooks } from './run.js';

/** The real workers' settings (`--repo`, `--handlers-dir`, ...). */
export interface ProcessWorkerParams {
  readonly repo: string;
  readonly handlersDir: string;
  /** CPU quota of each worker in processors (a cgroup each); absent: the workers share the machine. */
  readonly cpusPerWorker?: number;
  /** Installed-package disk per worker, MiB; absent: unbounded. */
  readonly cacheMb?: number;
  /** Warm interpreters per worker, MiB; absent: the engine's default. */
  readonly importCacheMb?: number;
  /** Paired repeats (request sequences seed .. seed+repeats-1). */
  readonly repeats: number;
  readonly python?: string;
}

/**
 * The rows of a real experiment: the policies (threshold policies per
 * threshold), all-warm, and one-worker, a reference: every request to one
 * worker of the same size, which shows whether one worker would be the whole
 * cluster (a degenerate cell) or collapses.
 */
export function processRows(params: ExperimentParams): RowPlan[] {
  return [
    ...planRows(params.policies, params.thresholds, { pooled: false }),
    { id: ONE_WORKER_ID, label: 'one-worker (reference)', balancer: 'round-robin', baseline: false },
  ];
}

const MB = 1024 * 1024;

/**
 * Everything a running row holds: workers, proxy and their cache folder.
 * `abort()` (Ctrl-C) closes them, which kills every child process and removes
 * every cgroup the workers made.
 */
export class ProcessExperiment {
  private readonly workers = new Set<ProcessWorker>();
  private proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  private folder: string | undefined;
  private aborted = false;

  constructor(private readonly params: ExperimentParams, private readonly real: ProcessWorkerParams) {}

  /** Closes whatever runs now and makes the run stop; idempotent. */
  async abort(): Promise<void> {
    this.aborted = true;
    await this.closeRow();
  }

  // Workers first: their in-flight requests then fail at once, so the proxy has nothing left to wait for.
  private async closeRow(): Promise<void> {
    const workers = [...this.workers];
    this.workers.clear();
    await Promise.all(workers.map((w) => w.close()));
    const proxy = this.proxy;
    this.proxy = undefined;
    await proxy?.close();
    const folder = this.folder;
    this.folder = undefined;
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  }

  /** `onRepeat` gets the result so far after each full repeat (every row once more), so a long run can be written as it goes. */
  async run(hooks: ExperimentHooks = {}, preloaded?: Workload, onRepeat?: (soFar: ExperimentResult) => Promise<void>): Promise<ExperimentResult> {
    const params = this.params;
    const startedAt = new Date().toISOString();
    const t0 = performance.now();
    const workload = preloaded ?? await loadExperimentWorkload(params);
    const plans = processRows(params);
    const runs = new Map<RowPlan, RunData[]>(plans.map((p) => [p, []]));
    const records = new Map<RowPlan, RowResult['records'][]>(plans.map((p) => [p, []]));
    const total = plans.length * this.real.repeats;
    let index = 0;
    for (let r = 0; r < this.real.repeats; r++) {
      for (const plan of plans) {
        if (this.aborted) throw new Error('the experiment was stopped');
        hooks.onRowStart?.(plan, index, total);
        const row = await this.runRow(plan, params.seed + r, workload, hooks);
        runs.get(plan)?.push(row.runs[0] as RunData);
        records.get(plan)?.push(row.records);
        hooks.onRowEnd?.(row, index, total);
        index++;
      }
      if (r < this.real.repeats - 1) await onRepeat?.(resultOf(r + 1));
    }
    return resultOf(this.real.repeats);

    function resultOf(repeatsDone: number): ExperimentResult {
      const rows = plans.map((plan) => {
        const [first = [], ...later] = records.get(plan) ?? [];
        return { plan, runs: [...(runs.get(plan) ?? [])], records: first, laterRecords: later };
      });
      return {
        engine: 'experiment', workerEngine: 'process', params: { ...params, seeds: repeatsDone }, rows, startedAt,
        wallSec: (performance.now() - t0) / 1000, workload: workloadFacts(workload, params), handlerKeys: handlerKeysOf(workload),
      };
    }
  }

  private async runRow(plan: RowPlan, seed: number, workload: Workload, hooks: ExperimentHooks): Promise<RowResult> {
    const params = this.params;
    const real = this.real;
    const started = performance.now();
    const count = plan.id === ONE_WORKER_ID ? 1 : params.workers;
    const ids = workerIds(count, params.placementSeed);
    try {
      this.folder = await mkdtemp(join(tmpdir(), 'pipbench-real-'));
      const allWarm = plan.bound === 'all-warm';
      const filled = join(this.folder, 'all-packages');
      if (allWarm) await installAll({ workload, repo: real.repo, dir: filled, ...(real.python !== undefined ? { python: real.python } : {}) });
      const workers: ProcessWorker[] = [];
      for (let i = 0; i < count; i++) {
        const cache = join(this.folder, `worker${i + 1}`);
        if (allWarm) await cp(filled, cache, { recursive: true });
        const worker = await startProcessWorker({
          workload, repo: real.repo, handlers: real.handlersDir, cache,
          host: '127.0.0.1', port: 0, name: `worker${i + 1}`,
          // all-warm: a cache that holds every package (a bounded one would evict some before the first request).
          ...(real.cacheMb !== undefined && !allWarm ? { cacheBytes: real.cacheMb * MB } : {}),
          ...(real.importCacheMb !== undefined ? { importCacheBytes: real.importCacheMb * MB } : {}),
          ...(real.cpusPerWorker !== undefined ? { cpus: real.cpusPerWorker } : {}),
          ...(real.python !== undefined ? { python: real.python } : {}),
        });
        this.workers.add(worker);
        workers.push(worker);
      }
      const config = proxyConfigFor(params, plan, workers.map((w, i) => ({ id: ids[i] as string, url: w.url, weight: workerWeight(params, i) })), 1);
      this.proxy = await startProxy(config, { random: seededRandom(seed + 1) });
      const before = workers.map((w) => w.status());
      const { records, run } = await sendRow(this.proxy.url, plan, params, workload, seed, 1, hooks);
      const data = runDataOf(records, {
        ...run,
        // The warm-up pass of all-warm is left out: the counts are the measured run's.
        workers: workers.map((w, i) => {
          const s = w.status();
          const b = before[i] ?? s;
          return {
            name: s.name, invocations: s.invocations - b.invocations, coldInvocations: s.coldInvocations - b.coldInvocations,
            installs: s.installs - b.installs, evictions: s.evictions - b.evictions, peakRunning: Number.NaN,
          };
        }),
        wallSec: (performance.now() - started) / 1000,
      });
      return { plan, runs: [data], records };
    } finally {
      await this.closeRow();
    }
  }
}

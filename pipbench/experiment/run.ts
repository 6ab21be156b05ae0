// The real-time engine: every row on a fresh cluster of HTTP workers (the
// worker model on the real clock, scaled) behind a fresh warmroute proxy,
// loaded by pipbench's runner; latencies are converted back to simulated time.

import { startProxy } from '../../src/app.js';
import { MODEL_DEFAULTS } from '../model/index.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import { runWorkload } from '../runner.js';
import type { RequestRecord } from '../stats.js';
import { sharedHostCpu, startSimulatedWorker, type SimulatedWorker, type SimWorkerStatus } from '../worker.js';
import type { Workload } from '../workload.js';
import {
  handlerKeysOf, loadExperimentWorkload, modelParamsFor, planRows, proxyConfigFor, workerIds, workerWeight, workloadFacts,
  type ExperimentParams, type RowPlan,
} from './plan.js';
import { runDataOf, workerSummary, type ExperimentResult, type RowResult } from './result.js';

export interface ExperimentHooks {
  onRowStart?(plan: RowPlan, index: number, total: number): void;
  onRecord?(plan: RowPlan, record: RequestRecord): void;
  onRowEnd?(row: RowResult, index: number, total: number): void;
}

/**
 * Sends a row's workload through the proxy at `target` in wall time (simulated
 * time x timeScale) with request sequence `seed`; the records come back in
 * simulated time, with what the row's RunData needs of the run but its workers.
 */
export async function sendRow(target: string, plan: RowPlan, params: ExperimentParams, workload: Workload, seed: number, timeScale: number, hooks: ExperimentHooks) {
  // Sending stops at the duration; answers are awaited until duration + drain, counted from the start.
  let sent = 0;
  let answered = 0;
  let backlogAtEnd = 0;
  const endTimer = setTimeout(() => { backlogAtEnd = sent - answered; }, params.durationSec * 1000 * timeScale);
  const choice = params.choice ?? { kind: 'uniform' };
  const result = await runWorkload({
    target,
    handlers: workload.handlers,
    mode: params.mode,
    runners: params.runners,
    intervalMs: params.waitMs * timeScale,
    durationMs: params.durationSec * 1000 * timeScale,
    drainMs: params.drainSec * 1000 * timeScale,
    seed,
    choice: choice.kind === 'uniform' ? choice : { ...choice, periodMs: choice.periodMs * timeScale },
    onSend: () => { sent++; },
    onRecord: (r) => { answered++; hooks.onRecord?.(plan, r); },
  });
  clearTimeout(endTimer);
  return {
    records: result.records.map((r): RequestRecord => ({ ...r, offsetMs: r.offsetMs / timeScale, latencyMs: r.latencyMs / timeScale })),
    run: {
      placementSeed: params.placementSeed, seed, durationMs: params.durationSec * 1000, elapsedMs: result.elapsedMs / timeScale,
      unansweredAtDrain: result.unansweredAtDrain, backlogAtEnd,
    },
  };
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
    const { records, run } = await sendRow(proxy.url, plan, params, workload, params.seed, params.timeScale, hooks);
    const workerSummaries = workers.map((w) => workerSummary(w.status() as SimWorkerStatus));
    return { plan, runs: [runDataOf(records, { ...run, workers: workerSummaries, wallSec: (performance.now() - started) / 1000 })], records };
  } finally {
    await proxy?.close();
    await Promise.all(workers.map((w) => w.close()));
  }
}

/**
 * The rows of a real-time experiment on the worker model: the policies (threshold
 * policies per threshold), all-warm and compulsory-install; no one-worker or
 * clairvoyant static row, with --host-cores or not (simulate has those).
 */
export function modelRows(params: ExperimentParams): RowPlan[] {
  return planRows(params.policies, params.thresholds);
}

/** Runs every row of the experiment in real time, one after another, each on a fresh cluster and proxy. */
export async function runExperiment(params: ExperimentParams, hooks: ExperimentHooks = {}, preloaded?: Workload): Promise<ExperimentResult> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const workload = preloaded ?? await loadExperimentWorkload(params);
  const plans = modelRows(params);
  const rows: RowResult[] = [];
  for (const [i, plan] of plans.entries()) {
    hooks.onRowStart?.(plan, i, plans.length);
    const row = await runRow(plan, params, workload, hooks);
    rows.push(row);
    hooks.onRowEnd?.(row, i, plans.length);
  }
  return { engine: 'experiment', params, rows, startedAt, wallSec: (performance.now() - t0) / 1000, workload: workloadFacts(workload, params), handlerKeys: handlerKeysOf(workload) };
}

// What a run of the comparison produces, whichever engine ran it: per row and
// repeat the requests reduced to typed arrays, and the workers' counts. Results
// are in simulated time at scale 1, so they compare with measurements of real
// OpenLambda workers.

import { isSuccess, type RequestRecord } from '../stats.js';
import type { ExperimentParams, RowPlan, WorkloadFacts } from './plan.js';

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
  /**
   * One per repeat, in the same (placement, seed) order for every row: the
   * pairing. A row the placement does not change has one run per request
   * sequence, which pairs with every placement of the others.
   */
  readonly runs: RunData[];
  /** The first repeat's requests, for requests-<row>.csv (empty when not kept). */
  readonly records: RequestRecord[];
  /**
   * Real workers (`experiment --engine process`): the requests of each later
   * request sequence, in order (sequence seed + 1, seed + 2, ...), for
   * requests-<row>-seq<N>.csv. Absent where only the first run is kept.
   */
  readonly laterRecords?: readonly RequestRecord[][];
  /** The clairvoyant static row: what its search found at each request sequence. */
  readonly staticSearches?: readonly StaticSearch[];
}

/** The clairvoyant static search at one request sequence. */
export interface StaticSearch {
  readonly seed: number;
  /** Simulated runs it spent. */
  readonly evaluations: number;
  /** True when a whole pass of single-key moves improved nothing (else the budget ended it). */
  readonly localOptimum: boolean;
  /** The start it kept: the greedy spread or every key on one worker. */
  readonly start: 'greedy' | 'one-worker';
  /** Its objective: mean latency of every request, a failure counted to the end of the drain (ms). */
  readonly meanMs: number;
  /** Routing key -> worker name (`worker1`..). */
  readonly assignment: Readonly<Record<string, string>>;
}

export interface ExperimentResult {
  readonly engine: 'experiment' | 'simulate';
  /** What answered the requests: the worker model (default) or real process workers (`--engine process`). */
  readonly workerEngine?: 'model' | 'process';
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

/** A worker's status cut down to its summary. */
export function workerSummary(s: WorkerSummary): WorkerSummary {
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

// Reference rows that route by a fixed table from routing key (a function's
// largest package, the key pkg-aware hashes) to worker: `one-worker` (every key
// on one worker) and the clairvoyant best static assignment, found offline by a
// search that sees the whole request sequence. Neither is an online policy: they
// live here, not in balancers/, and no proxy config can name them.

import type { Balancer, LambdaInfo, WorkerView } from '../../balancers/index.js';

/** Routing key -> index of its worker in the worker list; a key it lacks goes to worker 0. */
export type StaticAssignment = ReadonlyMap<string, number>;

/** The key a package-aware policy hashes: the largest package, or the function's own name without packages. */
export function routingKeyOf(fn: LambdaInfo): string {
  return fn.packages[0] ?? fn.name;
}

/**
 * A balancer that sends each request to its key's worker, full or not (it
 * waits there, as a fixed placement would). `workerIds` are the ids of the
 * workers in list order. The few workers of a simulated cell make the lookup
 * by id a short scan; this never routes a real proxy.
 */
export function staticBalancer(assignment: StaticAssignment, workerIds: readonly string[]): Balancer {
  return {
    name: 'static-assignment',
    pick(fn: LambdaInfo, workers: readonly WorkerView[]): WorkerView | undefined {
      const id = workerIds[assignment.get(routingKeyOf(fn)) ?? 0];
      return workers.find((w) => w.id === id && w.routable);
    },
  };
}

/** A routing key and how many requests of the sequence carry it. */
export interface KeyDemand {
  readonly key: string;
  readonly requests: number;
}

export interface StaticSearchResult {
  readonly assignment: StaticAssignment;
  /** The objective of `assignment` (mean latency, ms). */
  readonly objective: number;
  /** Objective evaluations (simulated runs) spent. */
  readonly evaluations: number;
  /** True when a whole pass of single-key moves found nothing better: a local optimum, not the budget, ended the search. */
  readonly localOptimum: boolean;
  /** Which start the search kept: the greedy spread or every key on the largest worker. */
  readonly start: 'greedy' | 'one-worker';
}

export interface StaticSearchOptions {
  /** Keys, most requested first. */
  readonly keys: readonly KeyDemand[];
  /** Processors of each worker (the greedy start balances requests per processor). */
  readonly capacity: readonly number[];
  /** Most objective evaluations; at least 2 (the two starts). */
  readonly budget: number;
  /** Lower is better: the simulator's mean latency of the whole sequence under an assignment. */
  readonly evaluate: (assignment: StaticAssignment) => number;
}

/** The worker with the most processors (the first of equals). */
export function largestWorker(capacity: readonly number[]): number {
  let best = 0;
  capacity.forEach((c, i) => { if (c > (capacity[best] as number)) best = i; });
  return best;
}

/** Most requested key first, each to the worker with the fewest requests per processor so far. */
function greedySpread(keys: readonly KeyDemand[], capacity: readonly number[]): Map<string, number> {
  const load = capacity.map(() => 0);
  const out = new Map<string, number>();
  for (const { key, requests } of keys) {
    let best = 0;
    for (let w = 1; w < capacity.length; w++) {
      if ((load[w] as number) / (capacity[w] as number) < (load[best] as number) / (capacity[best] as number)) best = w;
    }
    out.set(key, best);
    load[best] = (load[best] as number) + requests;
  }
  return out;
}

/**
 * The best static assignment the budget finds: the better of two starts (the
 * greedy spread, and every key on the largest worker, so the result is never
 * worse than `one-worker`), then first-improvement local search that moves one
 * key to another worker and keeps the move when the objective improves, most
 * requested keys first, pass after pass until a pass improves nothing or the
 * budget is spent.
 */
export function searchStaticAssignment(opts: StaticSearchOptions): StaticSearchResult {
  const { keys, capacity, evaluate } = opts;
  if (!Number.isInteger(opts.budget) || opts.budget < 2) throw new RangeError(`the static search needs a budget of at least 2 runs, got ${opts.budget}`);
  if (capacity.length === 0) throw new RangeError('the static search needs at least one worker');
  const greedy = greedySpread(keys, capacity);
  const single = new Map(keys.map(({ key }) => [key, largestWorker(capacity)]));
  const greedyValue = evaluate(greedy);
  const singleValue = evaluate(single);
  let evaluations = 2;
  const start = singleValue < greedyValue ? 'one-worker' : 'greedy';
  const current = new Map(start === 'greedy' ? greedy : single);
  let value = Math.min(greedyValue, singleValue);
  let localOptimum = false;
  search: while (evaluations < opts.budget) {
    let improved = false;
    for (const { key } of keys) {
      for (let w = 0; w < capacity.length; w++) {
        if (w === current.get(key)) continue;
        if (evaluations >= opts.budget) break search;
        const v = evaluate(new Map(current).set(key, w));
        evaluations++;
        if (v < value) {
          value = v;
          current.set(key, w);
          improved = true;
        }
      }
    }
    if (!improved) {
      localOptimum = true;
      break;
    }
  }
  return { assignment: current, objective: value, evaluations, localOptimum, start };
}

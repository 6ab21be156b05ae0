import { HashRing, type RingWalker } from './hash-ring.js';
import { LeastLoadedPicker, loadOf } from './least-loaded.js';
import { murmur3 } from './murmur3.js';
import { routingKey } from './routing-key.js';
import type { Balancer, BalancerFactory, BalancerOptions, LambdaInfo, WorkerView } from './types.js';

/** Seeds of the two independent hashes of a routing key. */
export const FIRST_CANDIDATE_SEED = 0;
export const SECOND_CANDIDATE_SEED = 0x9747b28c;

/** The first healthy worker clockwise from `hash`, other than `exclude`. */
export function firstHealthyFrom(walker: RingWalker, hash: number, exclude?: WorkerView): WorkerView | undefined {
  walker.start(hash);
  for (let worker = walker.next(); worker !== undefined; worker = walker.next()) {
    if (worker.healthy && worker !== exclude) return worker;
  }
  return undefined;
}

/** Where a function goes once its home worker has reached the load threshold. */
export type Spillover = 'least-loaded' | 'ring';

/**
 * Package-aware scheduling (PASch). The routing key (largest package) is hashed
 * twice onto one ring; of the two candidate workers the less loaded wins, the
 * first on a tie so that a lone stream of one function keeps hitting one warm
 * worker. A winner whose in-flight count has reached `loadThreshold x weight`
 * is passed over:
 *
 * - `least-loaded` (PASch as published, `pkg-aware`): for the least-loaded
 *   healthy worker, whichever it is.
 * - `ring` (`pkg-aware-ring`, ours): for the first healthy worker under the
 *   threshold clockwise from the key's point, so a function's overflow always
 *   lands on the same few workers, which then hold its packages too, instead of
 *   on whichever worker is idle, cold for it, and whose own packages it evicts.
 *   When every worker is at the threshold, the least-loaded one.
 */
export function createPackageAware(options: BalancerOptions, spillover: Spillover): Balancer {
  const ring = new HashRing();
  const walker = ring.walker();
  const fallback = new LeastLoadedPicker();
  const loadThreshold = options.loadThreshold;

  function spillAlongRing(hash: number, workers: readonly WorkerView[]): WorkerView | undefined {
    walker.start(hash);
    for (let w = walker.next(); w !== undefined; w = walker.next()) {
      if (w.healthy && w.inFlight < loadThreshold * w.weight) return w;
    }
    return fallback.pick(workers);
  }

  return {
    name: spillover === 'ring' ? 'pkg-aware-ring' : 'pkg-aware',
    added(worker: WorkerView): void {
      ring.add(worker);
    },
    removed(worker: WorkerView): void {
      ring.remove(worker);
    },
    pick(fn: LambdaInfo, workers: readonly WorkerView[]): WorkerView | undefined {
      const key = routingKey(fn);
      const home = murmur3(key, FIRST_CANDIDATE_SEED);
      const first = firstHealthyFrom(walker, home);
      if (first === undefined) return fallback.pick(workers);
      const second = firstHealthyFrom(walker, murmur3(key, SECOND_CANDIDATE_SEED), first);
      const chosen = second !== undefined && loadOf(second) < loadOf(first) ? second : first;
      if (chosen.inFlight < loadThreshold * chosen.weight) return chosen;
      return spillover === 'ring' ? spillAlongRing(home, workers) : fallback.pick(workers);
    },
  };
}

export const createPkgAware: BalancerFactory = (options) => createPackageAware(options, 'least-loaded');

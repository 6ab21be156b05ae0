import type { Balancer, BalancerFactory, LambdaInfo, WorkerView } from './types.js';

/**
 * In-flight requests per unit of weight. A worker without a positive weight
 * counts as infinitely loaded: it is chosen only when nothing else is healthy.
 */
export function loadOf(worker: WorkerView): number {
  return worker.weight > 0 ? worker.inFlight / worker.weight : Infinity;
}

/**
 * The healthy worker with the lowest `inFlight / weight`, or undefined when none
 * is healthy. The scan begins at `start` (modulo the length) and keeps the first
 * strict minimum, so callers that advance `start` on every pick make equally
 * loaded workers take turns instead of always favouring the first in the table.
 */
export function pickLeastLoaded(workers: readonly WorkerView[], start = 0): WorkerView | undefined {
  const count = workers.length;
  if (count === 0) return undefined;
  let index = start % count;
  let best: WorkerView | undefined;
  let bestLoad = Infinity;
  for (let scanned = 0; scanned < count; scanned++) {
    const worker = workers[index];
    index = index + 1 === count ? 0 : index + 1;
    if (!worker.healthy) continue;
    const load = loadOf(worker);
    if (best === undefined || load < bestLoad) {
      best = worker;
      bestLoad = load;
    }
  }
  return best;
}

/** A rotating start index for `pickLeastLoaded`, one per policy instance. */
export class LeastLoadedPicker {
  private rotation = 0;

  pick(workers: readonly WorkerView[]): WorkerView | undefined {
    const start = this.rotation;
    this.rotation = workers.length > 0 ? (start + 1) % workers.length : 0;
    return pickLeastLoaded(workers, start);
  }
}

export const createLeastLoaded: BalancerFactory = (): Balancer => {
  const picker = new LeastLoadedPicker();
  return {
    name: 'least-loaded',
    pick(_fn: LambdaInfo, workers: readonly WorkerView[]): WorkerView | undefined {
      return picker.pick(workers);
    },
  };
};

import type { Balancer, BalancerFactory, LambdaInfo, WorkerView } from './types.js';

interface SmoothWeight {
  current: number;
}

/**
 * Smooth weighted round-robin as nginx does it: every healthy worker's current
 * weight grows by its weight, the largest is picked and loses the total. Weights
 * 5,1,1 give a a b a c a a rather than a a a a a b c, and over any window of
 * `total` picks each worker gets exactly its weight.
 */
export const createRoundRobin: BalancerFactory = (): Balancer => {
  // Keyed by the table's live objects, so workers may come and go at any time.
  const weights = new Map<WorkerView, SmoothWeight>();
  // The table passes the same array order pick after pick; remembering which state
  // sat at each index turns a Map lookup per worker into one identity check.
  const seenAt: (WorkerView | undefined)[] = [];
  const stateAt: SmoothWeight[] = [];

  function stateOf(worker: WorkerView): SmoothWeight {
    let state = weights.get(worker);
    if (state === undefined) {
      state = { current: 0 };
      weights.set(worker, state);
    }
    return state;
  }

  return {
    name: 'round-robin',
    added(worker: WorkerView): void {
      stateOf(worker);
    },
    removed(worker: WorkerView): void {
      weights.delete(worker);
      // A re-added worker must get fresh state, not the one still cached by position.
      seenAt.length = 0;
      stateAt.length = 0;
    },
    pick(_fn: LambdaInfo, workers: readonly WorkerView[]): WorkerView | undefined {
      let total = 0;
      let best: SmoothWeight | undefined;
      let bestWorker: WorkerView | undefined;
      for (let i = 0; i < workers.length; i++) {
        const worker = workers[i];
        if (!worker.healthy) continue;
        // A weight that is not a positive number would poison every sum with NaN or a sign flip.
        const weight = worker.weight > 0 ? worker.weight : 0;
        let state = stateAt[i];
        if (seenAt[i] !== worker) {
          state = stateOf(worker);
          seenAt[i] = worker;
          stateAt[i] = state;
        }
        state.current += weight;
        total += weight;
        if (best === undefined || state.current > best.current) {
          best = state;
          bestWorker = worker;
        }
      }
      if (best !== undefined) best.current -= total;
      return bestWorker;
    },
  };
};
